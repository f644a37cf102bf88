"""The app's project: metadata from the [project] table or the build backend, defaults and notes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb
from tap2pkg.errors import ProjectError
from tap2pkg.project import read_project
from tap2pkg.settings import LICENSE_NOT_GIVEN
from tap2pkg.spec import PackageSpec

PROJECTS = Path(__file__).parent / "data" / "projects"
MAINTAINER = "Jane Doe <jane@example.org>"


def test_a_complete_project_table_is_read_without_running_anything() -> None:
    project = read_project(PROJECTS / "stapp")
    assert (project.name, project.version, project.license) == ("stapp", "1.4.0", "Apache-2.0")
    assert project.homepage == "https://example.org/stapp"
    assert project.authors == ("Jane Doe <jane@example.org>",)
    assert [str(r) for r in project.requires][:2] == ["attrs>=21.3", "PyYAML~=6.0"]
    assert project.source == "the [project] table of pyproject.toml"


def test_a_dynamic_version_and_a_setup_py_project_are_read_through_their_backends(tmp_path: Path) -> None:
    hatch = read_project(PROJECTS / "hatchapp")
    assert hatch.version == "0.3.1" and hatch.source == "the build backend (hatchling.build)"
    # a copy: other tests build the shared fixture, which may leave their own .egg-info in it
    shutil.copytree(PROJECTS / "legacyapp", tmp_path / "legacyapp",
                    ignore=shutil.ignore_patterns("*.egg-info", "build"))
    legacy = read_project(tmp_path / "legacyapp")
    assert (legacy.name, legacy.version, legacy.license) == ("legacyapp", "2.0.1", "")
    assert not list((tmp_path / "legacyapp").glob("*.egg-info"))  # reading left nothing behind


def test_a_directory_without_a_project_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as info:
        read_project(tmp_path)
    assert info.value.exit_code == 92 and "--project" in str(info.value)


def test_the_project_supplies_defaults_the_options_still_win() -> None:
    app = PROJECTS / "stapp" / "echo.tac"
    spec = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER})
    assert (spec.version, spec.license, spec.homepage) == ("1.4.0", "Apache-2.0", "https://example.org/stapp")
    assert spec.description == "A small echo service on setuptools"
    assert any(n.startswith("version '1.4.0' from the project stapp") for n in spec.notes)
    depends = [d.debian() for d in spec.depends]
    assert "python3-attr (>= 21.3)" in depends and "python3-stapp (= 1.4.0-1)" in depends
    assert not any("colorama" in d for d in depends)
    given = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER, "version": "9.0", "license": "MIT"})
    assert (given.version, given.license) == ("9.0", "MIT")
    assert not any("from the project" in n and "version" in n for n in given.notes)


def test_no_license_anywhere_is_said_not_invented(tmp_path: Path) -> None:
    app = tmp_path / "echo.tac"
    shutil.copy(PROJECTS / "stapp" / "echo.tac", app)
    spec = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER})
    assert spec.license == LICENSE_NOT_GIVEN
    assert any(n.startswith("license not given") for n in spec.notes)


def test_a_made_up_requirement_stops_before_anything_is_written(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "madeup"\nversion = "1.0"\n'
        'dependencies = ["attrs", "no-such-project-tap2pkg-zz>=1"]\n')
    shutil.copy(PROJECTS / "stapp" / "echo.tac", project / "echo.tac")
    out = tmp_path / "out"
    out.mkdir()
    code = tap2deb.main(["-m", MAINTAINER, "-o", str(out), str(project / "echo.tac")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 93
    assert len(err) == 1 and "no-such-project-tap2pkg-zz" in err[0] and "--skip-requirement" in err[0]
    assert list(out.iterdir()) == []


def _snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root`` (itself included) with its mode, mtime and content hash or link target."""
    import hashlib
    import os

    entries: dict[str, tuple[object, ...]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        content: object = (os.readlink(path) if path.is_symlink() else
                           hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None)
        entries[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns, info.st_size, content)
    return entries


def test_a_copy_of_the_project_keeps_git_and_leaves_out_caches_and_the_output(tmp_path: Path) -> None:
    from tap2pkg.project import project_copy

    project = tmp_path / "proj"
    shutil.copytree(PROJECTS / "stapp", project, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    for made in (".git/HEAD", ".venv/bin/python", "env/pyvenv.cfg", "src/stapp/__pycache__/x.pyc",
                 ".tox/log", "dist/web_1.0-1_all.deb"):
        (project / made).parent.mkdir(parents=True, exist_ok=True)
        (project / made).write_text("x")
    (project / "link").symlink_to("pyproject.toml")
    before = _snapshot(project)
    with project_copy(project, skip=[project / "dist"]) as copy:
        names = {str(p.relative_to(copy)) for p in copy.rglob("*")}
        assert copy.name == "proj" and {".git/HEAD", "src/stapp/__init__.py", "pyproject.toml"} <= names
        assert not names & {".venv", "env", "src/stapp/__pycache__", ".tox", "dist"}
        assert (copy / "link").is_symlink()
        (copy / "src" / "stapp.egg-info").mkdir()  # what a backend writes stays in the copy
    assert not copy.exists() and _snapshot(project) == before
    (project / "web_1.0-1_all.deb").write_text("x")  # the project is its own output directory
    (project / "stapp-1.4.0" / "debian").mkdir(parents=True)
    (project / "stapp-1.4.0" / "debian" / "control").write_text("Source: stapp\n")
    with project_copy(project, skip=[project]) as copy:
        assert not (copy / "web_1.0-1_all.deb").exists() and not (copy / "stapp-1.4.0").exists()
        assert (copy / "pyproject.toml").is_file()


def test_reading_metadata_through_the_backend_leaves_the_project_as_it_was(tmp_path: Path) -> None:
    shutil.copytree(PROJECTS / "legacyapp", tmp_path / "legacyapp",
                    ignore=shutil.ignore_patterns("*.egg-info", "build"))
    before = _snapshot(tmp_path / "legacyapp")
    assert read_project(tmp_path / "legacyapp").version == "2.0.1"
    assert _snapshot(tmp_path / "legacyapp") == before


@pytest.mark.slow
def test_a_build_beside_the_project_leaves_the_project_byte_for_byte_unchanged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "stapp"
    shutil.copytree(PROJECTS / "stapp", project, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    before = _snapshot(project)
    code = tap2deb.main(["-m", MAINTAINER, "-o", str(tmp_path / "out"), str(project / "echo.tac")])
    assert code == 0, capsys.readouterr().err
    assert next((tmp_path / "out").glob("python3-stapp_1.4.0-1_all.deb"))  # the sdist was made
    assert _snapshot(project) == before


@pytest.mark.slow
def test_tap2deb_beside_a_klein_project_writes_the_service_and_its_companions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = str(PROJECTS / "kleinapp" / "web.tac")
    code = tap2deb.main(["-m", MAINTAINER, "--json", "-o", str(tmp_path), app])
    assert code == 0
    packages = json.loads(capsys.readouterr().out)["packages"]
    roles = {p["name"]: (p["role"], p.get("resolution")) for p in packages}
    assert roles == {"web": ("service", None), "python3-kleinapp": ("project", "companion"),
                     "python3-klein": ("dependency", "companion")}
    resolved = {r["requirement"]: (r["resolution"], r["package"]) for r in packages[0]["requirements"]}
    assert resolved["attrs>=20.1"] == ("archive", "python3-attr")
    assert resolved["PyYAML>=5.3"] == ("archive", "python3-yaml")
    assert resolved["Twisted>=21.2"] == ("archive", "python3-twisted")
    assert resolved["klein>=21.8"][0] == "companion"
    from debian.debfile import DebFile

    service = DebFile(str(next(tmp_path.glob("web_*.deb"))))
    depends = service.debcontrol()["Depends"]
    assert "python3-attr (>= 20.1)" in depends and "python3-yaml (>= 5.3)" in depends
    assert "python3-kleinapp (= 1.0-1)" in depends and "python3-klein (= 24.8.0-1)" in depends
    klein = DebFile(str(next(tmp_path.glob("python3-klein_*.deb"))))
    assert "python3-tubes" in klein.debcontrol()["Depends"]  # bookworm has tubes: from the archive
    assert any(name.endswith("dist-packages/klein/__init__.py") for name in klein.data.tgz().getnames())
    assert (tmp_path / "python-klein-24.8.0" / "debian" / "rules").read_text().count("pybuild") == 1
