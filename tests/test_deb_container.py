"""Both builders' .deb under systemd as PID 1: install, run, upgrade, remove, purge (which keeps the account).

Runs in verify's own container (``VerifyContainer``) on its offline bookworm
image (built once, reused by recipe hash); skipped without a docker engine.
The container has no network; the app is reached on 127.0.0.1 inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from container_helpers import build_echo_deb

from tap2pkg.verify import DISTROS, VerifyContainer, build_image, connect
from tap2pkg.verify.container import ExecResult
from tap2pkg.verify.errors import EngineUnavailableError

pytestmark = [pytest.mark.container, pytest.mark.slow]


@pytest.fixture
def container() -> Iterator[VerifyContainer]:
    """A fresh bookworm container with systemd as PID 1, from verify's own image and container code."""
    pytest.importorskip("docker")
    try:
        client = connect()
    except EngineUnavailableError as exc:
        pytest.skip(str(exc))
    tag = build_image(client, DISTROS["debian:bookworm"], offline=True).tag
    with VerifyContainer(client, tag) as box:
        yield box


def sh(box: VerifyContainer, command: str) -> ExecResult:
    return box.run(command)


def main_pid(box: VerifyContainer) -> str:
    return sh(box, "systemctl show -p MainPID --value echo").output.strip()


def answers(box: VerifyContainer) -> str:
    probe = (
        "import socket, time\n"
        "for _ in range(50):\n"
        "    try:\n"
        "        s = socket.create_connection(('127.0.0.1', 8007), 2)\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.2)\n"
        "s.sendall(b'ping\\n')\n"
        "print(s.recv(10).decode().strip())\n"
    )
    return box.run(["python3", "-c", probe]).output.strip()


@pytest.mark.parametrize("builder", ["native", "dpkg"])
def test_systemd_lifecycle(container: VerifyContainer, tmp_path: Path, builder: str) -> None:
    first, second = build_echo_deb(tmp_path, builder, "1.0"), build_echo_deb(tmp_path, builder, "1.1")
    for deb in (first, second):
        container.put_file(deb, "/tmp")

    proc = sh(container, f"dpkg -i /tmp/{first.name}")
    assert proc.exit_code == 0, proc.output
    assert sh(container, "systemctl is-enabled echo").output.strip() == "enabled"
    assert sh(container, "systemctl is-active echo").output.strip() == "active"
    assert sh(container, "ps -o user= -p $(systemctl show -p MainPID --value echo)").output.strip() == "echo"
    assert answers(container) == "ping"

    before = main_pid(container)
    assert sh(container, "echo '# edited' >> /etc/echo/echo.tac").exit_code == 0
    proc = sh(container, f"dpkg -i /tmp/{second.name}")
    assert proc.exit_code == 0, proc.output
    assert main_pid(container) not in (before, "0")  # restarted on the new version
    assert sh(container, "tail -1 /etc/echo/echo.tac").output.strip() == "# edited"
    assert answers(container) == "ping"

    assert sh(container, "dpkg -r echo").exit_code == 0
    assert sh(container, "systemctl is-active echo").output.strip() != "active"
    assert sh(container, "test -d /var/lib/echo && test ! -e /usr/lib/echo").exit_code == 0

    assert sh(container, "dpkg -P echo").exit_code == 0
    assert sh(container, "getent passwd echo").exit_code == 0  # the account stays: its uid is not reused
    gone = "test ! -e /var/lib/echo && test ! -e /var/log/echo && test ! -e /etc/echo"
    assert sh(container, gone).exit_code == 0
