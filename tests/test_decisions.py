"""Decisions made for the user are said: a derived package name, the runtime, dependencies, ports, accounts.

Each decision is a note on stderr and in ``--json``; a name that cannot be used names the option of the
tool that was run (``-d`` for tap2deb, ``-r`` for tap2rpm, ``-n`` for tap2pkg build).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb, tap2pkg, tap2rpm
from tap2pkg.settings import derive_name
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"

TWISTED_TAC = '''\
from twisted.application import service, strports
from twisted.internet import protocol
from twisted.protocols import wire

application = service.Application("finger", uid=1, gid=1)
factory = protocol.ServerFactory()
factory.protocol = wire.Echo
strports.service("tcp:79", factory).setServiceParent(application)
'''


def copy_echo(tmp_path: Path, name: str) -> Path:
    """The shared echo app file under another name, with its protocol module beside it."""
    app = tmp_path / name
    shutil.copy(ECHO / "echo.tac", app)
    shutil.copy(ECHO / "echoproto.py", tmp_path / "echoproto.py")
    return app


Main = Callable[[Sequence[str] | None], int]
FRONT_ENDS: list[tuple[str, Main, list[str], str]] = [
    ("tap2deb", tap2deb.main, ["--binary-only", "-u"], "-d/--debfile"),
    ("tap2rpm", tap2rpm.main, ["--binary-only"], "-r/--rpmfile"),
    ("build", lambda argv: tap2pkg.main(["build", *(argv or [])]), ["--binary-only", "--format", "deb"],
     "-n/--name"),
]


IDS = [f[0] for f in FRONT_ENDS]


@pytest.mark.parametrize(("tool", "main", "extra", "name_option"), FRONT_ENDS, ids=IDS)
def test_name_is_derived_from_the_file_name_and_said(tool: str, main: Main, extra: list[str],
                                                     name_option: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_echo(tmp_path, "echo_server.tac")
    out_dir = tmp_path / "out"
    code = main([str(app), "--include", str(tmp_path / "echoproto.py"), "-m", MAINTAINER, "-o", str(out_dir),
                 "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    package = json.loads(out)["packages"][0]
    assert package["name"] == "echo-server"
    assert package["runtime"] == "tapd"
    note = next(n for n in package["notes"] if "echo-server" in n)
    assert "echo_server.tac" in note and name_option in note
    assert f"note: {note}" in err
    assert any("runtime tapd" in n for n in package["notes"])
    assert any(p.name.startswith("echo-server") for p in out_dir.iterdir())


@pytest.mark.parametrize(("tool", "main", "extra", "name_option"), FRONT_ENDS, ids=IDS)
def test_a_bad_name_names_the_option_of_the_tool_run(tool: str, main: Main, extra: list[str],
                                                     name_option: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    flag = name_option.split("/")[0]
    code = main([str(ECHO / "echo.tac"), "-m", MAINTAINER, "-o", str(tmp_path / "out"), flag, "Bad_Name",
                 *extra])
    err = capsys.readouterr().err
    assert code == 80
    assert f"fix {name_option}" in err or f"set it with {name_option}" in err
    others = {f[3] for f in FRONT_ENDS} - {name_option}
    assert not any(other in err for other in others), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_name_that_cannot_be_made_valid_names_the_option(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_echo(tmp_path, "_.tac")
    assert tap2rpm.main([str(app), "-m", MAINTAINER, "-o", str(tmp_path / "out")]) == 80
    assert "-r/--rpmfile" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "name"), [("echo_server", "echo-server"), ("Echo Server", "echo-server"),
                                             ("my__web.app", "my-web.app"), ("_hidden_", "hidden"),
                                             ("finger", "finger"), ("c++", "c++"), ("x", "x")])
def test_derive_name(text: str, name: str) -> None:
    assert derive_name(text) == name


def test_a_twisted_app_depends_on_twisted_and_says_why(tmp_path: Path) -> None:
    app = tmp_path / "finger.tac"
    app.write_text(TWISTED_TAC)
    spec = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER})
    assert spec.runtime == "twisted"
    assert [d.debian() for d in spec.depends] == ["python3-twisted"]
    assert spec.ports == (79,)
    notes = "\n".join(spec.notes)
    assert "runtime twisted" in notes and "python3-twisted" in notes
    assert "uid=1, gid=1" in notes and "'finger'" in notes  # the package's own user, not uid 1
    assert "below 1024" in notes and "CAP_NET_BIND_SERVICE" in notes


def test_an_app_file_whose_port_is_not_found_says_so(tmp_path: Path) -> None:
    app = tmp_path / "dynamic.tac"
    app.write_text(TWISTED_TAC.replace('"tcp:79"', 'open("/etc/dynamic.port").read()'))
    notes = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER}).notes
    assert any(n.startswith("no port it listens on found in the app file") and "--port" in n for n in notes)
    given = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER, "port": [79]})
    assert given.ports == (79,) and not any("no port" in n for n in given.notes)


def test_twisted_already_in_depends_is_not_added_twice(tmp_path: Path) -> None:
    app = tmp_path / "finger.tac"
    app.write_text(TWISTED_TAC)
    spec = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER, "depends": ["python3-twisted (>= 22)"]})
    assert [d.debian() for d in spec.depends] == ["python3-twisted (>= 22)"]
    assert not any("depends on" in n for n in spec.notes)


def test_runtime_option_wins_and_is_said(tmp_path: Path) -> None:
    app = tmp_path / "finger.tac"
    app.write_text(TWISTED_TAC)
    spec = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER, "runtime": "tapd"})
    assert spec.runtime == "tapd" and not spec.depends
    assert any("--runtime" in n and "twisted" in n for n in spec.notes)


def test_runtime_from_settings_file_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_echo(tmp_path, "echo.tac")
    (tmp_path / "pyproject.toml").write_text('[tool.tap2pkg]\nruntime = "node"\n')
    assert tap2deb.main([str(app), "-m", MAINTAINER, "-o", str(tmp_path / "out")]) == 64
    assert "--runtime" in capsys.readouterr().err


def test_user_option_against_the_app_files_uid(tmp_path: Path) -> None:
    app = tmp_path / "finger.tac"
    app.write_text(TWISTED_TAC)
    spec = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER, "user": "fingerd"})
    assert spec.user == "fingerd"
    assert any("uid=1" in n and "'fingerd'" in n and "(--user)" in n for n in spec.notes)
