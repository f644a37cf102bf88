"""A service on a framework the distribution lacks, verified as a set on both package families.

``tests/data/projects/kleinapp`` is a web app on Klein (not in Debian): its
project declares Twisted, attrs and PyYAML (in the archive, under other names)
and klein. ``tap2pkg verify web.tac`` builds the service at two versions, the
project's own package and klein's (from its real sdist, through the local
wheelhouse), publishes them into a signed repository, and installs the service
from it: apt (or the rpm stand-in's closure install) must pull the companions
from that repository and the archive packages from the derived image, the web
page must answer, and purging the set must leave nothing behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.cli.tap2pkg import main

pytestmark = [pytest.mark.container, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is needed")]

PROJECT = Path(__file__).parent / "data" / "projects" / "kleinapp"
MAINTAINER = "Jane Doe <jane@example.org>"


def failed(document: dict[str, Any]) -> str:
    lines = []
    for run in document.get("runs", []):
        for step in run["steps"]:
            if step["status"] != "pass":
                lines.append(f"{run['distro']} {run['init']} {step['name']} {step['status']}: "
                             f"{step['detail']}\n{step['log'][-3000:]}")
    return "\n".join(lines)


def test_the_klein_service_runs_from_its_set_of_packages_on_both_families(
        wheelhouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "kleinapp"
    shutil.copytree(PROJECT, project)
    code = main(["verify", str(project / "web.tac"), "--distro=debian:bookworm", "--distro=rpm-on-debian",
                 f"--build-arg=-m{MAINTAINER}", "--port=8080", "--probe-send=GET / HTTP/1.0\\r\\n\\r\\n",
                 "--probe-expect=hello: klein", "--json"])
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert code == 0, failed(document) + err[-2000:]
    runs = {(run["distro"], run["init"]): run for run in document["runs"]}
    assert set(runs) == {("debian:bookworm", "systemd"), ("debian:bookworm", "sysvinit"),
                         ("rpm-on-debian", "systemd")}
    for run in runs.values():
        details = {step["name"]: step["detail"] for step in run["steps"]}
        # installed by name from the repository; the package manager brought the companions with it
        assert "from the signed repository with" in details["install"], details["install"]
        assert "python3-klein" in details["install"] and "python3-kleinapp" in details["install"]
        assert "python3-kleinapp" in details["purge"]  # and they go again with the set
        assert all(step["status"] == "pass" for step in run["steps"]
                   if step["name"] != "probe" or run["init"] == "systemd"), failed(document)
    systemd = runs[("debian:bookworm", "systemd")]
    assert "hello: klein" in next(s["detail"] for s in systemd["steps"] if s["name"] == "probe")
    # what came from the archive: the mapped names, not guessed ones
    assert "python3-attr" in systemd["image_note"] and "python3-yaml" in systemd["image_note"]
    assert "companions python3-klein, python3-kleinapp" in err
