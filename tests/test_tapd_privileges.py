"""``tapd`` dropping root: ``-u``/``-g`` and the application's uid/gid (needs root; CI runs as root)."""

from __future__ import annotations

import grp
import os
import pwd
import signal
from pathlib import Path

import pytest
from service_helpers import process_ids
from test_daemon import echo, free_port, pid_alive, run_tapd, save_echo_app, wait_until

from tap2pkg.runtime import persist

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")


def _run_as(shared_dir: Path, args: list[str]) -> None:
    nobody = pwd.getpwnam("nobody")
    port = free_port()
    save_echo_app(shared_dir / "echo.tap", port)
    result = run_tapd([*args, "-o", "-f", "echo.tap"], shared_dir)
    assert result.returncode == 0, result.stderr
    pid = int((shared_dir / "tapd.pid").read_text())
    try:
        assert echo(port) == b"hello tapd\n"
        status = process_ids(pid)
        assert status["Uid"] == [nobody.pw_uid] * 4
        assert status["Gid"] == [nobody.pw_gid] * 4
        assert set(status["Groups"]) <= {nobody.pw_gid}
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), what="the daemon to exit")
    assert not (shared_dir / "tapd.pid").exists()
    log = (shared_dir / "tapd.log").read_text()
    assert f"running as nobody ({nobody.pw_uid}:{nobody.pw_gid})" in log
    assert "echoapp stopped by SIGTERM" in log


def test_uid_option_drops_to_nobody_and_its_group(shared_dir: Path) -> None:
    _run_as(shared_dir, ["-u", "nobody"])


def test_numeric_uid_and_gid(shared_dir: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    _run_as(shared_dir, ["-u", str(nobody.pw_uid), "-g", str(nobody.pw_gid)])


def test_application_uid_and_gid_are_used(shared_dir: Path) -> None:
    port = free_port()
    app = save_echo_app(shared_dir / "echo.tap", port)
    app.uid, app.gid = "nobody", "nogroup" if _group_exists("nogroup") else "nobody"
    persist.save(app, shared_dir / "echo.tap")
    process_result = run_tapd(["-o", "-f", "echo.tap"], shared_dir)
    assert process_result.returncode == 0, process_result.stderr
    pid = int((shared_dir / "tapd.pid").read_text())
    try:
        assert process_ids(pid)["Uid"][0] == pwd.getpwnam("nobody").pw_uid
        assert echo(port) == b"hello tapd\n"
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), what="the daemon to exit")


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
