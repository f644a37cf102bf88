"""Companion packages for Debian: stdeb where it works (its failures fixed), pybuild where it does not."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
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
    written, notes, builder = build_deb(companions[0], tmp_path, MAINTAINER)
    deb = next(p for p in written if p.suffix == ".deb")
    assert deb.name == f"python3-{project}_{meta.version}-1_all.deb"
    assert any(why in n for n in notes) and "pybuild" in notes[0] and builder == "pybuild"
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert f"/usr/lib/python3/dist-packages/{project}/__init__.py" in listing
    assert any(p.suffix == ".dsc" for p in written)  # an editable source package too


@pytest.mark.slow
def test_an_rpm_companion_provides_python3dist_and_installs_the_code(tmp_path: Path) -> None:
    from tap2pkg.companions.rpm import build_rpm, host_has_pyproject_macros

    meta = read_project(PROJECTS / "stapp")
    _resolved, companions = plan(meta, Resolver(index=None))
    written, notes = build_rpm(companions[0], tmp_path)
    rpm = next(p for p in written if p.name.endswith(".noarch.rpm"))
    assert ("pip install --no-deps" in notes[0]) is not host_has_pyproject_macros()  # the branch it took
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


#: Stand-ins for Fedora's pyproject macros (absent here): what they do, done with pip, so the macro branch
#: of the generated spec can be parsed and built on this host.
STAND_INS = {
    "pyproject_wheel": "/usr/bin/python3 -m pip wheel --no-deps --no-build-isolation "
                       "--disable-pip-version-check -w %{_builddir}/pyproject-wheeldir .",
    "pyproject_install": "/usr/bin/python3 -m pip install --no-deps --no-index --no-compile "
                         "--disable-pip-version-check --target %{buildroot}%{python3_sitelib} "
                         "%{_builddir}/pyproject-wheeldir/*.whl",
}


def _defines() -> list[str]:
    return [arg for name, body in STAND_INS.items() for arg in ("--define", f"{name} {body}")]


def _rpmspec(spec: Path, *query: str, macros: bool) -> str:
    return subprocess.run(["rpmspec", *(_defines() if macros else []), *query, str(spec)],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_the_rpm_spec_uses_the_pyproject_macros_where_the_target_has_them(tmp_path: Path) -> None:
    from tap2pkg.companions.debian import sdist_of
    from tap2pkg.companions.rpm import spec_text

    meta = read_project(PROJECTS / "stapp")
    _resolved, companions = plan(meta, Resolver(index=None))
    sdist = sdist_of(companions[0], tmp_path)
    spec = tmp_path / "python3-stapp.spec"
    spec.write_text(spec_text(companions[0], sdist, "stapp-1.4.0"))
    with_macros = _rpmspec(spec, "-P", macros=True)
    without = _rpmspec(spec, "-P", macros=False)
    # the Fedora branch: the macros in %build and %install, no pip; the other branch: pip only
    build, install = with_macros.split("%prep", 1)[1].split("%install", 1)  # %prep and %build, %install on
    assert "pip wheel" in build and "pyproject-wheeldir/*.whl" in install.split("%files", 1)[0]
    assert "pip install --no-deps --no-build" not in with_macros
    assert "pip install --no-deps --no-build-isolation" in without.split("%install", 1)[1]
    assert "pip wheel" not in without
    requires = _rpmspec(spec, "-q", "--buildrequires", macros=True).split()
    assert {"python3-devel", "pyproject-rpm-macros"} <= set(requires) and "python3dist(pip)" not in requires
    assert "python3dist(setuptools)" in requires and "61" in requires  # the project's [build-system]
    plain = _rpmspec(spec, "-q", "--buildrequires", macros=False).split()
    assert "python3dist(pip)" in plain and "python3-devel" not in plain and "python3dist(setuptools)" in plain
    # and the macro branch builds (with the stand-ins) into the same files as the pip branch
    sources = tmp_path / "SOURCES"
    sources.mkdir()
    (sources / sdist.name).write_bytes(sdist.read_bytes())
    subprocess.run(["rpmbuild", "-bb", "--nodeps", *_defines(), "--define", f"_topdir {tmp_path}",
                    "--define", f"_sourcedir {sources}", str(spec)], capture_output=True, text=True,
                   check=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)})
    rpm = next((tmp_path / "RPMS").rglob("*.noarch.rpm"))
    listing = subprocess.run(["rpm", "-qpl", str(rpm)], capture_output=True, text=True, check=True).stdout
    assert "/usr/lib/python3/dist-packages/stapp/__init__.py" in listing


@pytest.mark.slow
def test_stdebs_own_debian_dir_is_used_with_its_known_failures_worked_around(tmp_path: Path) -> None:
    """plainapp (setup.py, an rst long description, no author, no URL) is one stdeb can build: its rules call
    ``setup.py install --install-layout=deb`` (gone from setuptools), its control says ``Homepage: None``
    and a Policy version bookworm's lintian does not know; each is fixed, and lintian finds no error."""
    project = tmp_path / "plainapp"
    shutil.copytree(PROJECTS / "plainapp", project)
    meta = read_project(project)
    _resolved, companions = plan(meta, Resolver(index=None))
    written, notes, builder = build_deb(companions[0], tmp_path / "out", MAINTAINER, "bookworm")
    assert notes[0].startswith("companion python3-plainapp 0.3 (project) built with stdeb's debian/")
    assert builder == "stdeb"
    assert any("--install-layout=deb" in n and "replaced by pybuild's" in n for n in notes)
    assert any("Homepage: None" in n for n in notes)
    assert any("indented, as Debian's control syntax requires" in n for n in notes)  # ".. image::"
    debian = tmp_path / "out" / "python-plainapp-0.3" / "debian"  # Debian's source name: python-<name>
    control = (debian / "control").read_text()
    assert f"Maintainer: {MAINTAINER}" in control and "Homepage" not in control
    assert "Standards-Version: 4.6.2" in control
    assert "setup.py" not in (debian / "rules").read_text()
    assert control.startswith("Source: python-plainapp\n")
    assert (debian / "changelog").read_text().startswith("python-plainapp (0.3-1) ")
    deb = next(p for p in written if p.suffix == ".deb")
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "/usr/lib/python3/dist-packages/plainapp/__init__.py" in listing
    changes = next(p for p in written if p.suffix == ".changes")
    tags = subprocess.run(["lintian", "--no-cfg", "-E", str(changes)], capture_output=True, text=True,
                          check=False).stdout
    assert not [line for line in tags.splitlines() if line.startswith("E:")], tags
    assert "copyright" not in tags  # a DEP-5 copyright with its license paragraph and a notice


@pytest.mark.slow
def test_companions_built_twice_at_one_build_time_are_the_same_bytes(tmp_path: Path) -> None:
    """SOURCE_DATE_EPOCH (the service's build time) dates everything a companion build writes: the
    sdist, the changelog, the .buildinfo, the RPM's build time; nothing is replaced in the output."""
    from tap2pkg.companions.rpm import build_rpm

    _resolved, companions = plan(read_project(PROJECTS / "stapp"), Resolver(index=None))
    files: dict[str, dict[str, bytes]] = {}
    for run in ("a", "b"):
        out = tmp_path / run
        written, _notes, _builder = build_deb(companions[0], out, MAINTAINER, "bookworm", epoch=1700000000)
        written += build_rpm(companions[0], out, epoch=1700000000, packager=MAINTAINER)[0]
        files[run] = {p.name: p.read_bytes() for p in written if p.is_file()}
    assert set(files["a"]) == set(files["b"]) and len(files["a"]) == 8
    assert [name for name in files["a"] if files["a"][name] != files["b"][name]] == []
    buildinfo = next(text for name, text in files["a"].items() if name.endswith(".buildinfo"))
    assert b"Build-Date: Tue, 14 Nov 2023 22:13:20 +0000" in buildinfo
    rpm = next(tmp_path.glob("a/*.noarch.rpm"))
    query = ["rpm", "-qp", "--qf", "%{BUILDTIME} %{PACKAGER} %{GROUP} %{CHANGELOGNAME}", str(rpm)]
    info = subprocess.run(query, capture_output=True, text=True, check=True).stdout
    assert info.startswith(f"1700000000 {MAINTAINER} ") and info.endswith(f"{MAINTAINER} - 1.4.0-1")
    lint = subprocess.run(["rpmlint", str(rpm)], capture_output=True, text=True, check=False).stdout
    for tag in ("no-packager-tag", "no-group-tag", "no-changelogname-tag"):
        assert tag not in lint, lint


def _companion(**fields: str) -> object:
    from tap2pkg.companions import Companion

    values = {"package": "python3-evil", "name": "evil", "version": "1.0", "role": "dependency",
              "source": Path("evil-1.0.tar.gz"), **fields}
    return Companion(**values)  # type: ignore[arg-type]  # the fields under test are strings


def test_hostile_metadata_of_a_dependency_stays_literal_in_its_spec(tmp_path: Path) -> None:
    """A summary from someone else's sdist reaches the companion's .spec: rpm must not expand it."""
    from tap2pkg.companions import Companion
    from tap2pkg.companions.rpm import spec_text

    marker = tmp_path / "expanded"
    companion = _companion(summary=f"Fast %(touch {marker}) and %{{_bindir}} 100% sure",
                           license="MIT%{?x}", homepage="https://example.org/x y")
    assert isinstance(companion, Companion)
    sdist = tmp_path / "evil-1.0.tar.gz"
    (tmp_path / "evil-1.0").mkdir()
    (tmp_path / "evil-1.0" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(tmp_path / "evil-1.0", arcname="evil-1.0")
    spec = tmp_path / "python3-evil.spec"
    spec.write_text(spec_text(companion, sdist, "evil-1.0"))
    parsed = subprocess.run(["rpmspec", "-q", "--qf", "%{SUMMARY}|%{LICENSE}\n", str(spec)],
                            capture_output=True, text=True, check=False)
    assert parsed.stdout.splitlines()[0] == f"Fast %(touch {marker}) and %{{_bindir}} 100% sure|MIT%{{?x}}", \
        parsed.stdout + parsed.stderr
    assert not marker.exists()  # the shell expansion never ran
    assert companion.url == ""  # "https://example.org/x y" is not one URL: no Homepage is written


@pytest.mark.parametrize(("field", "value", "what"), [
    ("summary", "Nice\nDepends: evil", "U+000A"),
    ("homepage", "https://example.org/\r", "U+000D"),
    ("summary", "uses ${shlibs:Depends}", "'${'"),
    ("version", "1.0; rm -rf /", "not a PEP 440 version"),
])
def test_a_dependencys_metadata_with_a_control_character_is_refused_in_one_line(
        field: str, value: str, what: str) -> None:
    from tap2pkg.errors import ProjectError

    with pytest.raises(ProjectError, match="the metadata of the project 'evil'") as caught:
        _companion(**{field: value})
    assert what in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 92


@pytest.mark.slow
def test_a_long_description_with_a_dpkg_variable_is_refused_before_dpkg_reads_it(tmp_path: Path) -> None:
    from tap2pkg.errors import ProjectError

    project = tmp_path / "plainapp"
    shutil.copytree(PROJECTS / "plainapp", project)
    setup = project / "setup.py"
    setup.write_text(setup.read_text().replace("no license.", "no license.${Newline}Depends: evil"))
    _resolved, companions = plan(read_project(project), Resolver(index=None))
    with pytest.raises(ProjectError, match="description or author holds '\\$\\{'"):
        build_deb(companions[0], tmp_path / "out", MAINTAINER, "bookworm")
    assert not (tmp_path / "out").exists()
