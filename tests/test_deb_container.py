"""Both builders' .deb under systemd as PID 1: install, run, upgrade, remove, purge (which keeps the account).

Uses the ``tap2pkg/debian`` bookworm image (``tap2pkg images build``); skipped
when docker or the image is missing. The container has no network; the app
is reached on 127.0.0.1 inside it.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap2pkg.deb.build import build_deb
from tap2pkg.spec import PackageSpec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "echo"

pytestmark = [pytest.mark.container, pytest.mark.slow]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120)


def debian_image() -> str:
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    proc = docker("images", "tap2pkg/debian", "--format", "{{.Repository}}:{{.Tag}}", check=False)
    images = sorted(line for line in proc.stdout.split() if ":bookworm" in line)
    if proc.returncode != 0 or not images:
        pytest.skip("no tap2pkg/debian bookworm image; run `tap2pkg images build debian:bookworm`")
    return images[-1]


@pytest.fixture
def container() -> Iterator[str]:
    image = debian_image()
    name = f"tap2pkg-test-deb-{secrets.token_hex(4)}"
    docker("run", "-d", "--name", name, "--network", "none", "--cap-add", "SYS_ADMIN",
           "--cap-add", "SYS_PTRACE", "--security-opt", "seccomp=unconfined",
           "--tmpfs", "/run:rw,exec,mode=755",
           "--tmpfs", "/run/lock:rw,mode=1777", "-e", "container=docker",
           "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "--stop-signal", "SIGRTMIN+3", image, "/sbin/init")
    try:
        deadline = time.monotonic() + 60
        while docker("exec", name, "systemctl", "is-system-running", check=False).stdout.strip() not in (
                "running", "degraded"):
            assert time.monotonic() < deadline, "systemd did not come up"
            time.sleep(0.5)
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def sh(name: str, command: str) -> subprocess.CompletedProcess[str]:
    return docker("exec", name, "sh", "-c", command, check=False)


def build(tmp_path: Path, builder: str, version: str) -> Path:
    spec = PackageSpec(name="echo", app_file=EXAMPLE / "echo.tac", app_kind="python",
                       maintainer="Jane Doe <jane@example.org>", version=version, ports=(8007,),
                       includes=(EXAMPLE / "echoproto.py",), source_date_epoch=1700000000)
    result = build_deb(spec, tmp_path / f"{builder}-{version}", builder=builder, source=False)
    [deb] = [p for p in result.artifacts if p.suffix == ".deb"]
    return deb


def main_pid(name: str) -> str:
    return sh(name, "systemctl show -p MainPID --value echo").stdout.strip()


def answers(name: str) -> str:
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
    return docker("exec", name, "python3", "-c", probe, check=False).stdout.strip()


@pytest.mark.parametrize("builder", ["native", "dpkg"])
def test_systemd_lifecycle(container: str, tmp_path: Path, builder: str) -> None:
    if builder == "dpkg" and shutil.which("dpkg-buildpackage") is None:
        pytest.skip("dpkg-buildpackage is not installed")
    first, second = build(tmp_path, builder, "1.0"), build(tmp_path, builder, "1.1")
    for deb in (first, second):
        docker("cp", str(deb), f"{container}:/tmp/{deb.name}")

    proc = sh(container, f"dpkg -i /tmp/{first.name}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sh(container, "systemctl is-enabled echo").stdout.strip() == "enabled"
    assert sh(container, "systemctl is-active echo").stdout.strip() == "active"
    assert sh(container, "ps -o user= -p $(systemctl show -p MainPID --value echo)").stdout.strip() == "echo"
    assert answers(container) == "ping"

    before = main_pid(container)
    assert sh(container, "echo '# edited' >> /etc/echo/echo.tac").returncode == 0
    proc = sh(container, f"dpkg -i /tmp/{second.name}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert main_pid(container) not in (before, "0")  # restarted on the new version
    assert sh(container, "tail -1 /etc/echo/echo.tac").stdout.strip() == "# edited"
    assert answers(container) == "ping"

    assert sh(container, "dpkg -r echo").returncode == 0
    assert sh(container, "systemctl is-active echo").stdout.strip() != "active"
    assert sh(container, "test -d /var/lib/echo && test ! -e /usr/lib/echo").returncode == 0

    assert sh(container, "dpkg -P echo").returncode == 0
    assert sh(container, "getent passwd echo").returncode == 0  # the account stays: its uid is not reused
    gone = "test ! -e /var/lib/echo && test ! -e /var/log/echo && test ! -e /etc/echo"
    assert sh(container, gone).returncode == 0
