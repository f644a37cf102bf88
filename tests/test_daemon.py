"""``tapd`` end to end: real processes, real sockets on 127.0.0.1, real signals.

The helpers at the top are shared by the other ``test_tapd_*`` files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tap2pkg.runtime import persist
from tap2pkg.runtime.plugins import get_plugins
from tap2pkg.runtime.reactors import REACTORS
from tap2pkg.runtime.service import Application, describe

DATA = Path(__file__).parent / "data" / "daemon"
ECHO_TAC = DATA / "echo.tac"
TAPD = [sys.executable, "-m", "tap2pkg.runtime.daemon"]


# --------------------------------------------------------------------------- helpers

def free_port() -> int:
    """A TCP (and UDP) port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def echo(port: int, payload: bytes = b"hello tapd\n") -> bytes:
    """Send ``payload`` over TCP to 127.0.0.1:``port`` and read the same number of bytes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
        return received


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def run_tapd(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
             timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``tapd`` to completion (a daemonizing one returns once the daemon is ready)."""
    return subprocess.run([*TAPD, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def start_tapd(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
               **popen: object) -> subprocess.Popen[str]:
    """Start a foreground ``tapd`` (the caller passes ``-n``)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    process: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]  # **popen is a free-form dict of Popen keywords
        [*TAPD, *args], cwd=cwd, env=env, text=True, **popen)
    return process


def serve(args: Sequence[str], cwd: Path, port: int,
          env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a foreground ``tapd`` and wait until it listens on ``port`` (or has exited)."""
    process = start_tapd(args, cwd, env)
    wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
    return process


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return False


def stop_daemon(pid: int) -> None:
    """SIGTERM a daemonized ``tapd`` and wait for it to exit."""
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), what="the daemon to exit")


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    """Signal a foreground ``tapd`` and collect its exit status and output."""
    if process.poll() is None:
        process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


def echo_env(port: int) -> dict[str, str]:
    """The environment for ``tests/data/daemon/echo.tac``: its port."""
    return {**os.environ, "ECHO_PORT": str(port)}


def save_echo_app(path: Path, port: int) -> Application:
    """Save an application with the built-in echo service on 127.0.0.1:``port`` to ``path``."""
    maker = get_plugins()["echo"]
    service = maker.make_service(maker.options_parser().parse_args(["--port", str(port),
                                                                    "--interface", "127.0.0.1"]))
    app = Application("echoapp")
    service.set_service_parent(app)
    persist.save(app, path)
    return app


@pytest.fixture
def daemons() -> Iterator[list[int]]:
    """Pids of daemonized ``tapd`` processes to kill if a test leaves them behind."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def one_line(stderr: str) -> str:
    """The one line of an error, with no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def read_pid(path: Path) -> int:
    """The pid written in a pidfile."""
    return int(path.read_text().strip())


# --------------------------------------------------------------------------- formats

def test_tac_in_the_foreground_answers_and_exits_by_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = serve(["-n", "-y", str(ECHO_TAC)], tmp_path, port, echo_env(port))
    assert echo(port) == b"hello tapd\n"
    assert read_pid(tmp_path / "tapd.pid") == process.pid
    code, out, err = stop(process)
    # as twistd: the signal's default action ends the process, so the status shows the signal
    assert code == -signal.SIGTERM
    assert not (tmp_path / "tapd.pid").exists()
    assert "[tapd] received SIGTERM, shutting down" in out
    assert "[echo] echo server closed" in out
    assert "echoapp stopped by SIGTERM" in out
    assert err == ""


def test_the_echo_example_runs_from_anywhere(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "examples" / "echo" / "echo.tac"
    port = free_port()
    process = serve(["-n", "-y", str(example)], tmp_path, port, echo_env(port))
    assert echo(port, b"example\n") == b"example\n"
    code, out, err = stop(process)
    assert code == -signal.SIGTERM, err
    assert "[echoproto] connection from 127.0.0.1:" in out


@pytest.mark.parametrize("suffix, option", [(".tap", "-f"), (".tas", "-s"), (".tax", "-x")])
def test_each_saved_format_runs_daemonized_and_stops_on_kill(
        tmp_path: Path, suffix: str, option: str, daemons: list[int]) -> None:
    port = free_port()
    app_file = tmp_path / f"echo{suffix}"
    app = save_echo_app(app_file, port)
    result = run_tapd([option, str(app_file)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    pid = read_pid(tmp_path / "tapd.pid")
    daemons.append(pid)
    assert echo(port) == b"hello tapd\n"

    subprocess.run("kill $(cat tapd.pid)", shell=True, cwd=tmp_path, check=True)
    wait_until(lambda: not pid_alive(pid), what="the daemon to exit")
    assert not (tmp_path / "tapd.pid").exists()
    log = (tmp_path / "tapd.log").read_text()
    assert f"echoapp started (pid {pid})" in log
    assert "received SIGTERM, shutting down" in log
    assert "echoapp stopped by SIGTERM" in log
    # twistd's habit: the application is saved on shutdown next to where it ran
    saved = tmp_path / f"echoapp-shutdown{suffix}"
    assert saved.exists()
    assert describe(persist.load(saved)) == describe(app)


def test_no_save_skips_the_shutdown_file(tmp_path: Path) -> None:
    port = free_port()
    save_echo_app(tmp_path / "echo.tap", port)
    process = serve(["-n", "-o", "-f", "echo.tap"], tmp_path, port)
    code, out, _ = stop(process, signal.SIGINT)
    assert code == -signal.SIGINT
    assert "received SIGINT" in out
    assert not (tmp_path / "echoapp-shutdown.tap").exists()


def test_plugin_subcommand_runs_the_plugin(tmp_path: Path) -> None:
    port = free_port()
    process = serve(["-n", "--pidfile=", "echo", "--port", str(port), "-i", "127.0.0.1"], tmp_path, port)
    assert echo(port, b"plugin\n") == b"plugin\n"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(10)
        udp.sendto(b"datagram", ("127.0.0.1", port))
        assert udp.recv(100) == b"datagram"
    assert list(tmp_path.iterdir()) == []  # --pidfile= writes no pidfile, -n logs to stdout
    code, out, _ = stop(process)
    assert code == -signal.SIGTERM
    assert "echo started" in out


@pytest.mark.parametrize("reactor", ["select", "poll", "epoll", "uvloop"])
def test_each_reactor_serves(tmp_path: Path, reactor: str) -> None:
    if not REACTORS[reactor].available:
        pytest.skip(f"{reactor} is not available here")
    port = free_port()
    process = serve(["-n", "-r", reactor, "-y", str(ECHO_TAC)], tmp_path, port, echo_env(port))
    assert echo(port) == b"hello tapd\n"
    code, out, _ = stop(process)
    assert code == -signal.SIGTERM
    assert f"event loop: {reactor}" in out
    assert "echoapp stopped by SIGTERM" in out


def test_services_stop_in_reverse_order_within_the_shutdown_timeout(tmp_path: Path) -> None:
    log = tmp_path / "tapd.log"
    process = start_tapd(["-n", "-l", "tapd.log", "--shutdown-timeout", "1", "-y", str(DATA / "order.tac")],
                         tmp_path)
    wait_until(lambda: log.exists() and "order started" in log.read_text(), what="the start-up")
    code, _, _ = stop(process)
    assert code == -signal.SIGTERM
    lines = [line.split("] ", 1)[1] for line in log.read_text().splitlines()]
    assert [line for line in lines if line.startswith(("start ", "stop "))] == [
        "start first", "start stuck", "start last", "stop last", "stop stuck", "stop first"]
    assert any(line.startswith("WARNING: service 'stuck' did not stop within") for line in lines)
    assert not (tmp_path / "tapd.pid").exists()


def test_runs_as_packaged_with_the_standard_library_only(tmp_path: Path) -> None:
    # the layout a package installs: /usr/lib/<pkg>/{tapd,tap2pkg/__init__.py,tap2pkg/runtime/}
    runtime = Path(persist.__file__).parent
    lib = tmp_path / "lib"
    shutil.copytree(runtime, lib / "tap2pkg" / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    (lib / "tap2pkg" / "__init__.py").write_text('__version__ = "9.9"\n')
    (lib / "tapd").write_text(f"import sys\nsys.path.insert(0, {str(lib)!r})\n"
                              "from tap2pkg.runtime.daemon import main\nsys.exit(main())\n")
    isolated = [sys.executable, "-I", "-S", str(lib / "tapd")]  # no site-packages at all
    version = subprocess.run([*isolated, "--version"], capture_output=True, text=True, check=False)
    assert version.stdout == "tapd (tap2pkg) 9.9\n"
    port = free_port()
    process = subprocess.Popen([*isolated, "-n", "--pidfile=", "echo", "--port", str(port),
                                "-i", "127.0.0.1"], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
    assert echo(port) == b"hello tapd\n"
    code, out, err = stop(process)
    assert code == -signal.SIGTERM, err
    assert "tapd 9.9" in out


def test_help_reactors_lists_the_event_loops() -> None:
    result = subprocess.run([*TAPD, "--help-reactors"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for name in ("asyncio", "uvloop", "select", "poll", "epoll"):
        assert f"    {name} " in result.stdout


def test_help_lists_the_plugins() -> None:
    result = subprocess.run([*TAPD, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "--nodaemon" in result.stdout
    for name in ("echo", "web", "portforward", "procmon", "timer"):
        assert f"\n  {name} " in result.stdout


# --------------------------------------------------------------------------- pidfile

def test_stale_pidfile_is_removed_with_a_log_line(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "tapd.pid").write_text(f"{dead.pid}\n")
    port = free_port()
    process = serve(["-n", "-y", str(ECHO_TAC)], tmp_path, port, echo_env(port))
    assert read_pid(tmp_path / "tapd.pid") == process.pid
    _, out, _ = stop(process)
    assert f"removed stale pidfile {tmp_path / 'tapd.pid'} (pid {dead.pid})" in out


def test_a_second_instance_is_refused(tmp_path: Path, daemons: list[int]) -> None:
    port = free_port()
    first = run_tapd(["-y", str(ECHO_TAC)], tmp_path, echo_env(port))
    assert first.returncode == 0, first.stderr
    pid = read_pid(tmp_path / "tapd.pid")
    daemons.append(pid)
    second = run_tapd(["-y", str(ECHO_TAC)], tmp_path, echo_env(free_port()))
    assert second.returncode == 75
    assert second.stderr == (f"tapd: error: another tapd is running with pid {pid} (pidfile "
                             f"{tmp_path / 'tapd.pid'}); stop it, or use --pidfile and --logfile "
                             "to run a second instance\n")
    assert read_pid(tmp_path / "tapd.pid") == pid
    stop_daemon(pid)
    assert not (tmp_path / "tapd.pid").exists()


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("daemonize", [True, False])
def test_port_in_use_is_one_line_and_exit_69(tmp_path: Path, daemonize: bool) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        save_echo_app(tmp_path / "echo.tap", port)
        result = run_tapd([*([] if daemonize else ["-n"]), "-f", "echo.tap"], tmp_path)
    assert result.returncode == 69
    line = one_line(result.stderr)
    assert line.startswith("tapd: error: cannot listen on TCP 127.0.0.1:")
    assert "address already in use" in line
    assert "Traceback" not in result.stdout
    assert not (tmp_path / "tapd.pid").exists()


@pytest.mark.parametrize("args, code, message", [
    (["--no-such-option"], 64, "tapd: error: unrecognized arguments: --no-such-option"),
    (["--umask", "99"], 64, "tapd: error: argument --umask: '99' is not an octal umask"),
    (["-n", "-f", "missing.tap"], 66, "tapd: error: "),
    (["-n", "echo", "--port", "many"], 64, "tapd: error: "),
    (["-n", "no-such-plugin"], 64, "tapd: error: unknown plugin 'no-such-plugin'"),
    (["-n", "-u", "no-such-user-here", "-y", str(ECHO_TAC)], 67, "tapd: error: unknown user"),
    (["-n", "-g", "no-such-group-here", "-y", str(ECHO_TAC)], 67, "tapd: error: unknown group"),
    (["-n", "-l", "no/such/dir/tapd.log", "-y", str(ECHO_TAC)], 73, "tapd: error: cannot open the log file"),
    (["-d", "no-such-dir", "-y", str(ECHO_TAC)], 78, "tapd: error: cannot change to the run directory"),
])
def test_errors_are_one_line_with_their_exit_code(tmp_path: Path, args: list[str], code: int,
                                                   message: str) -> None:
    result = run_tapd(args, tmp_path, echo_env(free_port()))
    assert result.returncode == code, result.stderr
    assert one_line(result.stderr).startswith(message)
    assert not (tmp_path / "tapd.pid").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run_tapd(["-n", "--debug", "-f", "missing.tap"], tmp_path)
    assert result.returncode == 66
    assert "Traceback" in result.stderr


def test_a_daemon_that_fails_after_forking_reports_to_the_parent(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "bad.tac").write_text(
        "from tap2pkg.runtime.service import Application, Service\n"
        "class Broken(Service):\n"
        "    async def start(self):\n"
        "        raise RuntimeError('cannot start the broken service')\n"
        "application = Application('broken')\n"
        "Broken('broken').set_service_parent(application)\n")
    result = run_tapd(["-y", "bad.tac"], tmp_path, echo_env(port))
    assert result.returncode == 70
    assert result.stderr.startswith("tapd: error: unexpected error: RuntimeError: cannot start the broken")
    assert "Traceback" not in result.stderr
    assert "Traceback" in (tmp_path / "tapd.log").read_text()
    assert not (tmp_path / "tapd.pid").exists()


# --------------------------------------------------------------------------- logging

def test_json_log_format(tmp_path: Path) -> None:
    port = free_port()
    process = serve(["-n", "--log-format", "json", "-l", "tapd.json", "-y", str(ECHO_TAC)],
                    tmp_path, port, echo_env(port))
    echo(port, b"json line\n")
    stop(process)
    entries = [json.loads(line) for line in (tmp_path / "tapd.json").read_text().splitlines()]
    assert {"time", "level", "logger", "message", "pid"} <= set(entries[0])
    assert {"level": "info", "logger": "echo", "message": "echo 'json line'"} in [
        {key: e[key] for key in ("level", "logger", "message")} for e in entries]
    assert entries[-1]["message"] == "echoapp stopped by SIGTERM"


def test_sighup_reopens_a_rotated_log_without_losing_a_line(tmp_path: Path) -> None:
    port = free_port()
    process = serve(["-n", "-l", "tapd.log", "-y", str(ECHO_TAC)], tmp_path, port, echo_env(port))
    total = 300
    sent = threading.Event()

    def chatter() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            reader = sock.makefile("rb")
            for number in range(total):
                sock.sendall(f"line {number}\n".encode())
                assert reader.readline() == f"line {number}\n".encode()
                if number == total // 3:
                    sent.set()
    worker = threading.Thread(target=chatter)
    worker.start()
    sent.wait(10)
    # logrotate's "create" mode: rename the file, then tell the daemon to reopen it
    (tmp_path / "tapd.log").rename(tmp_path / "tapd.log.1")
    process.send_signal(signal.SIGHUP)
    worker.join(30)
    wait_until(lambda: (tmp_path / "tapd.log").exists(), what="the new log file")
    wait_until(lambda: f"echo 'line {total - 1}'" in (tmp_path / "tapd.log").read_text(),
               what="the last line")
    code, _, _ = stop(process)
    assert code == -signal.SIGTERM
    old = (tmp_path / "tapd.log.1").read_text()
    new = (tmp_path / "tapd.log").read_text()
    assert "received SIGHUP, reopened the log" in new
    assert "echoapp started" in old
    assert f"echo 'line {total - 1}'" in new
    both = old + new
    for number in range(total):
        assert both.count(f"echo 'line {number}'\n") == 1, number


def test_sigusr1_reopens_the_log_too(tmp_path: Path) -> None:
    port = free_port()
    process = serve(["-n", "-l", "tapd.log", "-y", str(ECHO_TAC)], tmp_path, port, echo_env(port))
    (tmp_path / "tapd.log").rename(tmp_path / "old.log")
    process.send_signal(signal.SIGUSR1)
    wait_until(lambda: (tmp_path / "tapd.log").exists(), what="the new log file")
    stop(process)
    assert "received SIGUSR1, reopened the log" in (tmp_path / "tapd.log").read_text()
    assert "stopped by SIGTERM" in (tmp_path / "tapd.log").read_text()


def test_size_rotation_keeps_the_backups(tmp_path: Path) -> None:
    port = free_port()
    process = serve(["-n", "-l", "tapd.log", "--log-max-bytes", "2000", "--log-backups", "2",
                     "-y", str(ECHO_TAC)], tmp_path, port, echo_env(port))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for number in range(100):
            sock.sendall(f"rotation line {number}\n".encode())
            reader.readline()
    stop(process)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["tapd.log", "tapd.log.1", "tapd.log.2"]
    for name in names:
        assert (tmp_path / name).stat().st_size <= 2000
    newest = (tmp_path / "tapd.log.1").read_text() + (tmp_path / "tapd.log").read_text()
    assert "rotation line 99" in newest
    assert "stopped by SIGTERM" in (tmp_path / "tapd.log").read_text()
