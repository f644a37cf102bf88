"""Install, run, upgrade, remove and purge the .deb in a Debian bookworm chroot (debootstrap).

The chroot is made once with debootstrap and cached in ``/var/tmp/tap2pkg-deb-chroot``
(or ``$TAP2PKG_DEB_CHROOT``); each test works on a copy. Skipped when not root,
without debootstrap, or when the chroot cannot be made (no network). Inside a
chroot there is no init system, so starting is done with the init script and the
automatic start/restart is left to the container lifecycle tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from container_helpers import build_echo_deb
from test_daemon import free_port

CACHE = Path(os.environ.get("TAP2PKG_DEB_CHROOT", "/var/tmp/tap2pkg-deb-chroot"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot and dpkg -i need root"),
    pytest.mark.skipif(shutil.which("debootstrap") is None, reason="debootstrap is not installed"),
]


def base_chroot() -> Path:
    if (CACHE / "usr" / "bin" / "python3").exists():
        return CACHE
    staging = CACHE.with_name(CACHE.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    include = "--include=python3,adduser,systemd-standalone-sysusers"
    proc = subprocess.run(["debootstrap", "--variant=minbase", include, "bookworm", str(staging),
                           "http://deb.debian.org/debian"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.skip(f"debootstrap could not make a bookworm chroot: {proc.stderr.strip()[-200:]}")
    staging.rename(CACHE)
    return CACHE


@pytest.fixture
def chroot(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(base_chroot()), str(root)], check=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        yield root
    finally:
        subprocess.run(["chroot", str(root), "sh", "-c", "[ -x /etc/init.d/echo ] && /etc/init.d/echo stop"],
                       capture_output=True, check=False)
        subprocess.run(["umount", "-l", str(root / "proc")], check=False)
        shutil.rmtree(root, ignore_errors=True)


def sh(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), "sh", "-c", command], capture_output=True, text=True,
                          check=False)


def echo_roundtrip(port: int) -> bytes:
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(b"hello tap2deb\n")
                return conn.recv(100)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("builder", ["native", "dpkg"])
def test_lifecycle(chroot: Path, tmp_path: Path, builder: str) -> None:
    deb = build_echo_deb(tmp_path, builder, "1.0")
    shutil.copy(deb, chroot / "tmp" / deb.name)
    policy = chroot / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)

    # install: user, directories (with the package's marker), files
    proc = sh(chroot, f"dpkg -i /tmp/{deb.name}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "policy-rc.d denied" in proc.stderr  # policy-rc.d honoured: not started
    passwd = sh(chroot, "getent passwd echo").stdout.strip().split(":")
    assert passwd[5] == "/var/lib/echo" and passwd[6].endswith("nologin")
    assert sh(chroot, "stat -c '%U:%G %a' /var/lib/echo /var/log/echo").stdout.split("\n")[:2] == \
        ["echo:echo 750", "echo:echo 750"]
    for marked in ("var/lib/echo", "var/log/echo"):
        assert (chroot / marked / ".tap2pkg-owned").is_file(), marked
    for path in ("etc/echo/echo.tac", "usr/lib/echo/tapd", "usr/lib/echo/echoproto.py",
                 "usr/lib/echo/tap2pkg/runtime/daemon.py", "lib/systemd/system/echo.service",
                 "etc/init.d/echo",
                 "etc/default/echo", "etc/logrotate.d/echo", "usr/lib/sysusers.d/echo.conf",
                 "usr/share/doc/echo/copyright"):
        assert (chroot / path).exists(), path

    # run: the init script starts tapd as the user; it answers on its port
    port = free_port()
    with (chroot / "etc" / "default" / "echo").open("a") as fh:
        fh.write(f"ECHO_PORT={port}; export ECHO_PORT\n")
    proc = sh(chroot, "/etc/init.d/echo start")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert echo_roundtrip(port) == b"hello tap2deb\n"
    pid = int((chroot / "run" / "echo" / "echo.pid").read_text())
    uid = int(passwd[2])
    status = Path(f"/proc/{pid}/status").read_text()
    assert f"Uid:\t{uid}\t{uid}" in status
    assert sh(chroot, "/etc/init.d/echo status").returncode == 0
    assert sh(chroot, "/etc/init.d/echo stop").returncode == 0

    # upgrade: an edited app file is kept
    with (chroot / "etc" / "echo" / "echo.tac").open("a") as fh:
        fh.write("# edited by the administrator\n")
    new = build_echo_deb(tmp_path, builder, "1.1")
    shutil.copy(new, chroot / "tmp" / new.name)
    proc = sh(chroot, f"dpkg -i /tmp/{new.name}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sh(chroot, "dpkg-query -W -f '${Version}' echo").stdout == "1.1-1"
    assert (chroot / "etc" / "echo" / "echo.tac").read_text().endswith("# edited by the administrator\n")

    # remove: files gone, data kept
    proc = sh(chroot, "dpkg -r echo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (chroot / "usr" / "lib" / "echo").exists()
    assert not (chroot / "lib" / "systemd" / "system" / "echo.service").exists()
    assert (chroot / "var" / "lib" / "echo").is_dir()

    # purge: data, logs and conffiles gone; the account stays (its uid must not be reused)
    proc = sh(chroot, "dpkg -P echo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in ("var/lib/echo", "var/log/echo", "etc/echo", "etc/default/echo", "etc/init.d/echo"):
        assert not (chroot / path).exists(), path
    assert sh(chroot, "getent passwd echo").stdout.strip().split(":") == passwd
    assert sh(chroot, "getent group echo").returncode == 0
