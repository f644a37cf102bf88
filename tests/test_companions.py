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
