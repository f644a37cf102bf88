"""``tapd`` under systemd's protocols: readiness, watchdog, socket activation, the journal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from test_daemon import ECHO_TAC, TAPD, echo, echo_env, free_port, port_open, start_tapd, stop, wait_until

from tap2pkg.runtime import sdnotify


def _notify_socket(path: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    return sock


def _messages_until(sock: socket.socket, wanted: str) -> list[str]:
    messages = []
    while True:
        message = sock.recv(4096).decode()
        messages.append(message)
        if wanted in message.split("\n"):
            return messages


def test_ready_and_stopping_are_sent_to_notify_socket(tmp_path: Path) -> None:
    port = free_port()
    with _notify_socket(str(tmp_path / "notify")) as notify:
        env = {**echo_env(port), "NOTIFY_SOCKET": str(tmp_path / "notify")}
        process = start_tapd(["-n", "-y", str(ECHO_TAC)], tmp_path, env)
        ready = _messages_until(notify, "READY=1")[-1].split("\n")
        # ready means ready: the port answers as soon as READY=1 arrives
        assert echo(port) == b"hello tapd\n"
        assert f"MAINPID={process.pid}" in ready
        assert "STATUS=serving echoapp" in ready
        process.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in _messages_until(notify, "STOPPING=1")[-1].split("\n")
        code, _, _ = stop(process)
    assert code == -signal.SIGTERM


def test_abstract_notify_socket_and_watchdog_pings(tmp_path: Path) -> None:
    port = free_port()
    name = f"tapd-test-{os.getpid()}-{port}"
    with _notify_socket(b"\0" + name.encode()) as notify:
        env = {**echo_env(port), "NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "200000"}
        process = start_tapd(["-n", "-y", str(ECHO_TAC)], tmp_path, env)
        _messages_until(notify, "READY=1")
        pings = sum("WATCHDOG=1" in message for message in _messages_until(notify, "WATCHDOG=1"))
        pings += sum("WATCHDOG=1" in message for message in _messages_until(notify, "WATCHDOG=1"))
        assert pings >= 2
        stop(process)


def test_daemonized_ready_names_the_daemon_pid(tmp_path: Path) -> None:
    port = free_port()
    with _notify_socket(str(tmp_path / "notify")) as notify:
        env = {**echo_env(port), "NOTIFY_SOCKET": str(tmp_path / "notify")}
        result = subprocess.run([*TAPD, "-y", str(ECHO_TAC)], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        pid = int((tmp_path / "tapd.pid").read_text())
        try:
            assert f"MAINPID={pid}" in _messages_until(notify, "READY=1")[-1].split("\n")
        finally:
            os.kill(pid, signal.SIGTERM)
        _messages_until(notify, "STOPPING=1")


def test_socket_activation_serves_on_the_passed_socket(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    fd = listener.fileno()
    # systemd's contract: the sockets start at fd 3 and LISTEN_PID is the service's own pid
    launcher = ("import os, sys\n"
                f"os.dup2({fd}, 3)\n"
                "os.environ['LISTEN_PID'] = str(os.getpid())\n"
                "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n")
    env = {**os.environ, "LISTEN_FDS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", launcher, *TAPD[1:], "-n", "--pidfile=", "echo", "--port", str(port),
         "-i", "127.0.0.1"],
        cwd=tmp_path, env=env, pass_fds=(fd,), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    listener.close()
    wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
    assert echo(port, b"activated\n") == b"activated\n"
    code, out, err = stop(process)
    assert code == -signal.SIGTERM, err
    assert "socket activation: 1 socket(s) from systemd" in out
    assert "no service uses" not in out


def test_listen_fds_for_another_pid_are_ignored() -> None:
    env = {"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid() + 1)}
    assert sdnotify.listen_fds(env) == []
    assert env["LISTEN_FDS"] == "1"


def test_journal_stream_drops_timestamps(tmp_path: Path) -> None:
    port = free_port()
    out_path = tmp_path / "journal"
    with open(out_path, "w") as stdout:
        info = os.fstat(stdout.fileno())
        env = {**echo_env(port), "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        process = start_tapd(["-n", "--pidfile=", "-y", str(ECHO_TAC)], tmp_path, env, stdout=stdout)
        wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
        stop(process)
    lines = out_path.read_text().splitlines()
    assert f"<6>[tapd] echoapp started (pid {process.pid})" in lines
    assert all(line.startswith("<") for line in lines)


def test_without_journal_stream_lines_have_timestamps(tmp_path: Path) -> None:
    port = free_port()
    process = start_tapd(["-n", "--pidfile=", "-y", str(ECHO_TAC)], tmp_path,
                         {**echo_env(port), "JOURNAL_STREAM": "1:1"})
    wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
    _, out, _ = stop(process)
    first = out.splitlines()[0]
    assert first[:4].isdigit() and first[10] == "T"
