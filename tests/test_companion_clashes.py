"""A companion never takes another package's files: its source name, the names refused, nothing replaced;
and a companion that cannot build here is refused before anything is built."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from tap2pkg.companions import Companion, build_companions, check_build_requirements
from tap2pkg.companions.debian import publish_into, source_name
from tap2pkg.errors import MissingToolError, OutputError, ProjectError, RequirementError

MAINTAINER = "Jane Doe <jane@example.org>"


def _companion(tmp_path: Path, requires: list[str] | None = None, role: str = "dependency") -> Companion:
    """python3-pingsvc from an sdist whose pyproject.toml has ``requires`` in its [build-system]."""
    sdist = tmp_path / "pingsvc-0.3.0.tar.gz"
    text = (f"[build-system]\nrequires = {json.dumps(requires)}\nbuild-backend = \"hatchling.build\"\n"
            if requires is not None else "")
    with tarfile.open(sdist, "w:gz") as tar:
        data = text.encode()
        info = tarfile.TarInfo("pingsvc-0.3.0/pyproject.toml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return Companion("python3-pingsvc", "pingsvc", "0.3.0", role, sdist)


def test_a_companions_debian_source_is_python_dash_its_name(tmp_path: Path) -> None:
    """Debian's name for the source of python3-<name>: never the service named like the project."""
    assert source_name(_companion(tmp_path)) == "python-pingsvc"


@pytest.mark.parametrize(("fmt", "name"), [("deb", "python-pingsvc"), ("deb", "python3-pingsvc"),
                                           ("rpm", "python3-pingsvc")])
def test_a_service_named_like_its_companion_is_refused_before_building(tmp_path: Path, fmt: str,
                                                                       name: str) -> None:
    spec = SimpleNamespace(name=name, project=object(), companions=(_companion(tmp_path, []),),
                           option_names={"name": "-d/--debfile"})
    with pytest.raises(OutputError, match=f"{name}: the service's package name is also a name of its "
                                          "companion python3-pingsvc") as caught:
        build_companions(spec, fmt, tmp_path / "out")
    assert caught.value.exit_code == 73 and "-d/--debfile" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_publishing_a_companion_never_replaces_a_file_or_tree(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "pingsvc-0.3.0").mkdir(parents=True)
    (out / "pingsvc-0.3.0" / "edited").write_text("the service's tree")
    (out / "pingsvc_0.3.0-1.dsc").write_text("the service's")
    work = tmp_path / "work"
    (work / "pingsvc-0.3.0").mkdir(parents=True)
    (work / "pingsvc_0.3.0-1.dsc").write_text("the companion's")
    (work / "python3-pingsvc_0.3.0-1_all.deb").write_text("the companion's")
    for item in ("pingsvc_0.3.0-1.dsc", "pingsvc-0.3.0"):
        with pytest.raises(OutputError, match="already written by another package") as caught:
            publish_into([work / "python3-pingsvc_0.3.0-1_all.deb", work / item], out)
        assert caught.value.exit_code == 73
    assert (out / "pingsvc_0.3.0-1.dsc").read_text() == "the service's"
    assert (out / "pingsvc-0.3.0" / "edited").read_text() == "the service's tree"
    assert not (out / "python3-pingsvc_0.3.0-1_all.deb").exists()  # nothing of it moved


def test_a_build_plugin_the_host_lacks_is_refused_before_building(tmp_path: Path) -> None:
    """Twisted 26.10's backend needs hatch-fancy-pypi-readme, which bookworm lacks: one line, exit 93."""
    companion = _companion(tmp_path, ["hatchling >= 1.10.0", "hatch-fancy-pypi-readme >= 22.5.0"])
    installed = {"hatchling": "1.12.2", "hatch-fancy-pypi-readme": None}
    with pytest.raises(RequirementError) as caught:
        check_build_requirements([companion], installed=lambda names: {n: installed.get(n) for n in names},
                                 archive=lambda _package: None)
    message = str(caught.value)
    assert caught.value.exit_code == 93 and "\n" not in message
    assert "hatch-fancy-pypi-readme>=22.5.0" in message and "hatchling" not in message.split("requires")[1]
    assert "--skip-requirement pingsvc" in message
    # the archive has it: install it (exit 85); the app's own project: exit 92
    with pytest.raises(MissingToolError, match="apt-get install python3-hatch-fancy-pypi-readme"):
        check_build_requirements([companion], installed=lambda names: {n: installed.get(n) for n in names},
                                 archive=lambda _package: "22.8.0-1")
    project = _companion(tmp_path, ["hatchling", "hatch-fancy-pypi-readme"], role="project")
    with pytest.raises(ProjectError):
        check_build_requirements([project], installed=lambda names: {n: installed.get(n) for n in names},
                                 archive=lambda _package: None)


def test_a_build_requirement_too_old_on_the_host_is_refused(tmp_path: Path) -> None:
    companion = _companion(tmp_path, ["incremental >= 24.7.1"])
    with pytest.raises(RequirementError, match=r"incremental>=24.7.1 \(the build host has 21.3.0"):
        check_build_requirements([companion], installed=lambda names: {n: "21.3.0" for n in names},
                                 archive=lambda _package: "21.3.0-2")
    check_build_requirements([_companion(tmp_path, ["setuptools"])],  # what the host has passes
                             installed=lambda names: {n: "66.1.1" for n in names}, archive=lambda _p: None)


def _pingsvc(tmp_path: Path) -> Path:
    """A project named like its app file (pingsvc/pingsvc.tac), its requirements in the archive."""
    project = tmp_path / "pingsvc"
    (project / "src" / "pingsvc").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "pingsvc"\nversion = "0.3.0"\ndescription = "Line-based ping service"\n'
        'license = {text = "MIT"}\ndependencies = ["attrs>=21.3"]\n')
    (project / "src" / "pingsvc" / "__init__.py").write_text("")
    (project / "src" / "pingsvc" / "server.py").write_text(
        "from twisted.application import internet, service\nfrom twisted.internet import protocol\n\n\n"
        "def makeService():\n    return internet.TCPServer(7007, protocol.ServerFactory())\n")
    (project / "pingsvc.tac").write_text(
        "from twisted.application import service\n\nfrom pingsvc.server import makeService\n\n"
        "application = service.Application(\"pingsvc\")\nmakeService().setServiceParent(application)\n")
    return project / "pingsvc.tac"


@pytest.mark.slow
def test_a_project_named_like_its_app_file_keeps_the_services_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from debian.deb822 import Dsc

    from tap2pkg.cli import tap2deb

    out = tmp_path / "out"
    code = tap2deb.main(["-m", MAINTAINER, "--json", "-o", str(out), str(_pingsvc(tmp_path))])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    packages = json.loads(captured.out)["packages"]
    for package in packages:  # every file the --json names is the one on disk
        for artifact in package["artifacts"]:
            if "sha256" in artifact:
                assert hashlib.sha256(Path(artifact["path"]).read_bytes()).hexdigest() == artifact["sha256"]
    service = Dsc((out / "pingsvc_0.3.0-1.dsc").read_text())
    assert service["Binary"] == "pingsvc"
    companion = Dsc((out / "python-pingsvc_0.3.0-1.dsc").read_text())
    assert companion["Source"] == "python-pingsvc" and companion["Binary"] == "python3-pingsvc"
    assert "Source: pingsvc\n" in (out / "pingsvc-0.3.0" / "debian" / "control").read_text()
    assert "Source: python-pingsvc\n" in (out / "python-pingsvc-0.3.0" / "debian" / "control").read_text()
    assert "its source package is python-pingsvc" in captured.err
