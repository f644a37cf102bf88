"""``tap2pkg mktap --twisted``: a .tac from an installed Twisted plugin, run for real under twistd."""

from __future__ import annotations

import ast
import grp
import os
import pwd
import runpy
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.appfile import inspect
from tap2pkg.cli.tap2pkg import main

pytest.importorskip("twisted")

TWISTD = Path(sys.executable).parent / "twistd"

#: Arguments no code may be made of: quotes, backslashes, line breaks, triple quotes, ``${``, and a
#: character Python's repr must escape.
HOSTILE = ["it's", 'say "hi"', "back\\slash\\", "line\nbreak\r", '"""', "'''", "${HOME}", "a\u2028b",
           "#not a comment", "\\n"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def literal(tac: Path, name: str) -> Any:
    """The literal value assigned to ``name`` at the top of ``tac``."""
    for statement in ast.parse(tac.read_text()).body:
        targets = [getattr(t, "id", None) for t in getattr(statement, "targets", ())]
        if isinstance(statement, ast.Assign) and targets == [name]:
            return ast.literal_eval(statement.value)
    raise AssertionError(f"{name} not assigned in {tac}")


def application_call(tac: Path) -> tuple[list[Any], dict[str, Any]]:
    """The literal arguments of ``application = service.Application(...)`` in ``tac``."""
    for statement in ast.parse(tac.read_text()).body:
        if (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call)
                and [getattr(t, "id", None) for t in statement.targets] == ["application"]):
            call = statement.value
            return ([ast.literal_eval(arg) for arg in call.args],
                    {str(k.arg): ast.literal_eval(k.value) for k in call.keywords})
    raise AssertionError(f"no application = ...(...) in {tac}")


def test_web_tac_serves_the_directory_under_twistd(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "www"
    site.mkdir()
    (site / "hello.txt").write_text("hello from the site\n")
    port = free_port()
    tac = tmp_path / "web.tac"
    # --listen: accepted by the web plugin of Twisted 22.4 (Debian bookworm) and 26.x (--port is deprecated)
    assert main(["mktap", "--twisted", "web", "--path", str(site),
                 "--listen", f"tcp:{port}:interface=127.0.0.1", "-o", str(tac)]) == 0
    assert f"wrote {tac}" in capsys.readouterr().out
    assert application_call(tac) == (["web"], {})
    info = inspect(tac)
    assert (info.runtime, info.app_name) == ("twisted", "web")
    twistd = subprocess.Popen([str(TWISTD), "-ny", str(tac), "--pidfile="], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=5) as response:
                    assert response.read() == b"hello from the site\n"
                break
            except OSError:
                assert twistd.poll() is None, twistd.communicate()[0]
                assert time.monotonic() < deadline, "twistd did not answer within 30 s"
                time.sleep(0.1)
    finally:
        twistd.terminate()
        log = twistd.communicate(timeout=30)[0]
    assert "Loaded." in log and "Traceback" not in log


def test_bad_option_gives_the_plugins_message_and_writes_nothing(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    tac = tmp_path / "web.tac"
    assert main(["mktap", "--twisted", "web", "--path", str(tmp_path), "--no-such-option",
                 "-o", str(tac)]) == 64
    err = capsys.readouterr().err
    assert err == ("tap2pkg mktap: error: plugin 'web': option --no-such-option not recognized; "
                   "see 'twistd web --help'\n")
    assert list(tmp_path.iterdir()) == []


def test_bad_option_message_stays_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mktap", "--twisted", "web", "--no\nsuch", "-o", str(tmp_path / "web.tac")]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--no\\nsuch" in err
    assert list(tmp_path.iterdir()) == []


def test_bad_option_with_debug_shows_the_traceback(tmp_path: Path) -> None:
    from tap2pkg.errors import UsageError

    with pytest.raises(UsageError, match="--no-such-option"):
        main(["mktap", "--twisted", "--debug", "web", "--no-such-option", "-o", str(tmp_path / "web.tac")])
    assert list(tmp_path.iterdir()) == []


def test_unknown_plugin_names_the_installed_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mktap", "--twisted", "gopher", "-o", str(tmp_path / "g.tac")]) == 64
    err = capsys.readouterr().err
    assert err.startswith("tap2pkg mktap: error: no Twisted plugin 'gopher' is installed; "
                          "installed Twisted plugins: ")
    assert "web" in err.split("installed Twisted plugins: ")[1].split(" (")[0].split(", ")
    assert list(tmp_path.iterdir()) == []


def test_list_shows_the_installed_twisted_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    from twisted.application.service import IServiceMaker
    from twisted.plugin import getPlugins

    assert main(["mktap", "--twisted", "--list"]) == 0
    out = capsys.readouterr().out
    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(lines) == set(makers)
    assert makers["web"].description in lines["web"]


def test_hostile_arguments_round_trip_as_literals(tmp_path: Path) -> None:
    tac = tmp_path / "web.tac"
    arguments = ["--path", HOSTILE[0]] + [f"--index={value}" for value in HOSTILE]
    assert main(["mktap", "--twisted", "--appname", "x'\n\"\"\"${y}", "web", *arguments, "-o", str(tac)]) == 0
    assert literal(tac, "ARGUMENTS") == arguments
    assert literal(tac, "PLUGIN") == "web"
    assert application_call(tac) == (["x'\n\"\"\"${y}"], {})
    # nothing escaped its literal: the module is exactly the statements mktap writes
    kinds = [type(statement).__name__ for statement in ast.parse(tac.read_text()).body]
    assert kinds == ["ImportFrom", "ImportFrom", "Assign", "Assign", "Assign", "FunctionDef", "Assign",
                     "Expr"]
    # and the plugin parses them again when the file runs
    application = runpy.run_path(str(tac))["application"]
    from twisted.application import service

    assert service.IService(application).name == "x'\n\"\"\"${y}"
    assert len(list(service.IServiceCollection(application))) == 1


@pytest.mark.parametrize(("plugin", "arguments", "listens", "ports"), [
    # the plugin's default port, not in the arguments: dns listens on 53 unless told otherwise
    ("dns", ["--recursive"], ["tcp:53"], (53,)),
    ("dns", ["--recursive", "--port", "5353"], ["tcp:5353"], (5353,)),
    ("web", ["--path", "/srv/www"], ["tcp:8080"], (8080,)),
    ("web", ["--path", "/srv/www", "--listen", "tcp:80", "--listen", "ssl:443:privateKey=k.pem"],
     ["tcp:80", "ssl:443:privateKey=k.pem"], (80, 443)),
    # a client's port (dest_port) is not where the service listens
    ("portforward", ["--dest_port", "80"], ["tcp:6666"], (6666,)),
])
def test_the_tac_says_where_the_plugin_listens_its_defaults_included(
        plugin: str, arguments: list[str], listens: list[str], ports: tuple[int, ...],
        tmp_path: Path) -> None:
    """A port the plugin takes by default reaches the package: its note, and CAP_NET_BIND_SERVICE
    below 1024."""
    tac = tmp_path / f"{plugin}.tac"
    assert main(["mktap", "--twisted", plugin, *arguments, "-o", str(tac)]) == 0
    assert literal(tac, "LISTENS_ON") == listens
    assert literal(tac, "ARGUMENTS") == arguments  # the plugin still decides when the file runs
    assert inspect(tac).ports == ports


def test_a_plugin_that_listens_nowhere_known_states_nothing(tmp_path: Path) -> None:
    tac = tmp_path / "procmon.tac"
    assert main(["mktap", "--twisted", "procmon", "/bin/true", "-o", str(tac)]) == 0
    assert literal(tac, "LISTENS_ON") == []
    assert inspect(tac).ports == ()


def test_same_input_same_text_and_a_comment_saying_how(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tac", tmp_path / "b.tac"
    for tac in (first, second):
        assert main(["mktap", "--twisted", "web", "--path", "/srv/www", "-o", str(tac)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text().startswith("# A Twisted application made by `tap2pkg mktap --twisted`")


def test_existing_file_is_replaced_like_mktap_does(tmp_path: Path) -> None:
    tac = tmp_path / "web.tac"
    tac.write_text("old\n")
    tac.chmod(0o640)
    assert main(["mktap", "--twisted", "web", "--path", "/srv/www", "-o", str(tac)]) == 0
    assert literal(tac, "ARGUMENTS") == ["--path", "/srv/www"]
    assert tac.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["web.tac"]  # no temporary file left


def test_user_and_group_names_are_looked_up_when_the_tac_runs(tmp_path: Path) -> None:
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    tac = tmp_path / "web.tac"
    assert main(["mktap", "--twisted", "--appname", "site", "-u", user, "-g", group,
                 "web", "--path", "/srv/www", "-o", str(tac)]) == 0
    assert application_call(tac) == (["site"], {"uid": user, "gid": group})
    info = inspect(tac)
    assert (info.runtime, info.app_name, info.uid, info.gid) == ("twisted", "site", user, group)
    from twisted.application import service

    process = service.IProcess(runpy.run_path(str(tac))["application"])
    assert (process.uid, process.gid) == (os.getuid(), os.getgid())


def test_unknown_user_fails_for_root_and_is_dropped_for_others(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tac = tmp_path / "web.tac"
    assert main(["mktap", "--twisted", "-u", "no-such-user-here", "-g", "no-such-group-here",
                 "web", "--path", "/srv/www", "-o", str(tac)]) == 0
    from twisted.application import service

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(RuntimeError, match="no user or group 'no-such-user-here' on this host"):
        runpy.run_path(str(tac))
    # not root: twistd could not switch anyway (a packaged service runs as its own user)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    process = service.IProcess(runpy.run_path(str(tac))["application"])
    assert (process.uid, process.gid) == (None, None)


def test_numeric_user_and_group_are_written_as_numbers(tmp_path: Path) -> None:
    tac = tmp_path / "web.tac"
    assert main(["mktap", "--twisted", "-u", "33", "-g", "34", "web", "--path", "/srv/www",
                 "-o", str(tac)]) == 0
    assert application_call(tac) == (["web"], {"uid": 33, "gid": 34})
    assert "pwd" not in tac.read_text()


def test_options_after_the_plugin_are_the_plugins_except_output(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # web's own -u (serve ~/public_html): not mktap's --uid
    tac = tmp_path / "users.tac"
    assert main(["mktap", "--twisted", "web", "-u", "-o", str(tac)]) == 0
    assert literal(tac, "ARGUMENTS") == ["-u"]
    assert application_call(tac) == (["web"], {})
    # with -o before the plugin, nothing after it is taken: the default output is then APPNAME.tac
    monkeypatch.chdir(tmp_path)
    assert main(["mktap", "--twisted", "-o", "first.tac", "web", "--path", "/srv/www"]) == 0
    assert literal(tmp_path / "first.tac", "ARGUMENTS") == ["--path", "/srv/www"]
    assert main(["mktap", "--twisted", "web", "--path", "/srv/www"]) == 0
    assert literal(tmp_path / "web.tac", "PLUGIN") == "web"


def test_output_that_is_not_a_tac_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mktap", "--twisted", "web", "--path", "/srv/www", "-o", str(tmp_path / "web.tap")]) == 64
    assert "--twisted writes a Python application file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert main(["mktap", "--twisted", "-y", "python", "web", "-o", str(tmp_path / "web.app")]) == 0
    assert literal(tmp_path / "web.app", "PLUGIN") == "web"


def test_without_twisted_one_line_says_how_to_install_it(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['twisted'] = None; from tap2pkg.cli.tap2pkg import main; "
            "sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "mktap", "--twisted", "web", "-o", "web.tac"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 85
    assert result.stderr.count("\n") == 1
    assert "install Twisted (pip install twisted, or apt-get install python3-twisted)" in result.stderr
    assert list(tmp_path.iterdir()) == []
