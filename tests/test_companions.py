"""Companion packages for Debian: stdeb where it works (its failures fixed), pybuild where it does not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tap2pkg.companions import plan
from tap2pkg.companions.debian import build_deb, stdeb_failure
from tap2pkg.project import read_project
from tap2pkg.pydeps import Resolver

PROJECTS = Path(__file__).parent / "data" / "projects"
MAINTAINER = "Jane Doe <jane@example.org>"


def test_stdeb_failures_are_named() -> None:
    assert "no setup.py" in stdeb_failure("python3: can't open file '/x/setup.py': [Errno 2] No such file")
    assert "long_description" in stdeb_failure("TypeError: 'NoneType' object is not subscriptable")


@pytest.mark.slow
@pytest.mark.parametrize(("project", "why"), [
    ("stapp", "no setup.py"),        # setuptools, pyproject.toml only
    ("hatchapp", "no setup.py"),     # hatchling, dynamic version
    ("legacyapp", "long_description"),  # setup.py only, no long_description, no author, no license
])
def test_the_projects_own_package_installs_its_code(project: str, why: str, tmp_path: Path) -> None:
    meta = read_project(PROJECTS / project)
    _resolved, companions = plan(meta, Resolver(index=None))
    written, notes = build_deb(companions[0], tmp_path, MAINTAINER)
    deb = next(p for p in written if p.suffix == ".deb")
    assert deb.name == f"python3-{project}_{meta.version}-1_all.deb"
    assert any(why in n for n in notes) and "pybuild" in notes[0]
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert f"/usr/lib/python3/dist-packages/{project}/__init__.py" in listing
    assert any(p.suffix == ".dsc" for p in written)  # an editable source package too


@pytest.mark.slow
def test_an_rpm_companion_provides_python3dist_and_installs_the_code(tmp_path: Path) -> None:
    from tap2pkg.companions.rpm import build_rpm

    meta = read_project(PROJECTS / "stapp")
    _resolved, companions = plan(meta, Resolver(index=None))
    written, _notes = build_rpm(companions[0], tmp_path)
    rpm = next(p for p in written if p.name.endswith(".noarch.rpm"))
    query = ["rpm", "-qp", "--provides", "--requires", "--list", str(rpm)]
    info = subprocess.run(query, capture_output=True, text=True, check=True).stdout
    assert "python3dist(stapp) = 1.4.0" in info
    assert "python3dist(attrs) >= 21.3" in info and "python3dist(pyyaml) < 7" in info
    assert "/usr/lib/python3/dist-packages/stapp/__init__.py" in info


def _stapp(tmp_path: Path) -> Path:
    import shutil

    project = tmp_path / "stapp"
    shutil.copytree(PROJECTS / "stapp", project, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    return project / "echo.tac"


@pytest.mark.slow
def test_tap2pkg_build_writes_the_companions_of_each_format(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tap2pkg.cli.tap2pkg import main
    from tap2pkg.output import STAGE_PREFIX

    out = tmp_path / "out"
    code = main(["build", "-m", MAINTAINER, "--json", "-o", str(out), str(_stapp(tmp_path))])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    packages = json.loads(captured.out)["packages"]
    seen = {(p["name"], p["format"]): (p["role"], p.get("resolution"), p["builder"]) for p in packages}
    assert seen == {("echo", "deb"): ("service", None, "native"),
                    ("echo", "rpm"): ("service", None, "native"),
                    ("python3-stapp", "deb"): ("project", "companion", "pybuild"),
                    ("python3-stapp", "rpm"): ("project", "companion", "rpmbuild")}
    service = next(p for p in packages if p["name"] == "echo")
    assert {r["requirement"]: r["resolution"] for r in service["requirements"]}["attrs>=21.3"] == "archive"
    for package in packages:  # every file named is where it says, published from the staging directory
        assert all(Path(a["path"]).parent == out and Path(a["path"]).exists() for a in package["artifacts"])
    assert (out / "python3-stapp_1.4.0-1_all.deb").is_file()
    assert (out / "python3-stapp-1.4.0-1.noarch.rpm").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]
    assert "companion python3-stapp 1.4.0 (project) built as a noarch RPM" in captured.err


@pytest.mark.slow
def test_a_failing_companion_leaves_the_output_directory_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tap2pkg.cli.tap2pkg import main
    from tap2pkg.companions import rpm
    from tap2pkg.errors import BuildToolError

    def fail(*_args: object, **_kwargs: object) -> None:
        raise BuildToolError("building the companion python3-stapp 1.4.0 (rpmbuild) failed (exit 1)")

    monkeypatch.setattr(rpm, "build_set", fail)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["build", "-m", MAINTAINER, "-o", str(out), str(_stapp(tmp_path))])
    assert code == BuildToolError.exit_code and "python3-stapp" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # neither the deb companion built before it nor any service
