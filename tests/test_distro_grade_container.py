"""The hardened unit (systemd-analyze security <= 1.5) still runs the services: the examples, a tapd app on
a port below 1024 (under systemd, and under the init script started as root with tapd dropping to the
user) and a Twisted app, each through ``tap2pkg verify`` on both families."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.cli.tap2pkg import main

pytestmark = [pytest.mark.container, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is needed")]

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "examples" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"
DISTROS = ("debian:bookworm", "rpm-on-debian")

TWISTED_ECHO = """\
from twisted.application import internet, service
from twisted.internet import protocol
from twisted.protocols import wire

application = service.Application("techo")
internet.TCPServer(8009, protocol.Factory.forProtocol(wire.Echo)).setServiceParent(application)
"""


def verify(app: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["verify", str(app), *(f"--distro={d}" for d in DISTROS), f"--build-arg=-m{MAINTAINER}",
                 "--json", *args])
    out, _err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}


def failed(document: dict[str, Any]) -> str:
    return "\n".join(f"{run['distro']} {run['init']} {step['name']}: {step['detail']}\n{step['log'][-2000:]}"
                     for run in document.get("runs", []) for step in run["steps"] if step["status"] == "fail")


def test_the_echo_example_runs_hardened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, document = verify(ECHO / "echo.tac", f"--build-arg=--include={ECHO / 'echoproto.py'}",
                            "--probe-send=hardened\\n", "--probe-expect=hardened", capsys=capsys)
    assert code == 0, failed(document)


def test_a_tapd_app_on_a_port_below_1024_runs_hardened_and_from_its_init_script(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("echo.tac", "echoproto.py"):
        shutil.copy(ECHO / name, tmp_path / name)
    app = tmp_path / "echo.tac"
    app.write_text(app.read_text().replace('"8007"', '"7"').replace('"127.0.0.1"', '"0.0.0.0"'))
    code, document = verify(app, f"--build-arg=--include={tmp_path / 'echoproto.py'}", "--build-arg=--port=7",
                            "--port=7", "--probe-send=low port\\n", "--probe-expect=low port", capsys=capsys)
    assert code == 0, failed(document)
    inits = {run["init"] for run in document["runs"]}
    assert "sysvinit" in inits  # the .deb's init script: started as root, tapd drops to the user


def test_a_twisted_app_runs_hardened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = tmp_path / "techo.tac"
    app.write_text(TWISTED_ECHO)
    code, document = verify(app, "--probe-send=twisted\\n", "--probe-expect=twisted", capsys=capsys)
    assert code == 0, failed(document)
