"""Starting one daemon on the echo app and measuring it, for ``bench/daemon.py``.

* :class:`Daemon` -- a daemon's command line; :meth:`Daemon.start` execs it
  with its output in a log under ``bench/.work/logs``, and every process it
  starts is in :data:`LIVE` until :func:`stop` (or :func:`stop_all`) ends it;
* :func:`wait_ready` -- start a daemon and poll until a connection gets its
  echo: the ready time; :func:`cpu_seconds` and ``rss_kib`` read the process
  right after;
* :func:`round_trips` -- echoes per second on one connection;
  :func:`hold_connections` -- many connections held open at once, each answered;
* :func:`measure` -- all of these for every daemon, round by round, each
  daemon first in turn (:func:`rotations`), into one :class:`Measurements`
  per daemon.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import WORK_DIR, BenchmarkError, free_port, open_files_limit, rss_kib, stop_process

LOG_DIR = WORK_DIR / "logs"

MESSAGE = b"0123456789abcdef"
START_TIMEOUT = 20.0
IO_TIMEOUT = 10.0
#: connection attempts in flight at once while opening the 1,000 (twistd's listen backlog is 50)
CONNECT_CONCURRENCY = 50


@dataclass(frozen=True)
class Daemon:
    """How to start one daemon on the echo app: its command line, with the port in the env."""

    label: str
    argv: tuple[str, ...]

    @property
    def slug(self) -> str:
        """The label as a file-name part: ``tapd --tls`` -> ``tapd-tls``."""
        return "-".join(self.label.replace("-", " ").split())

    def start(self, port: int, log_name: str) -> tuple[subprocess.Popen[bytes], Path]:
        """Exec the daemon listening on ``port``; its output goes to a log file under ``bench/.work``."""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log_path = LOG_DIR / f"{log_name}.log"
        env = dict(os.environ, BENCH_ECHO_PORT=str(port))
        env.pop("NOTIFY_SOCKET", None)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(self.argv, cwd=WORK_DIR, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT)
        LIVE.append(proc)
        return proc, log_path


@dataclass
class Measurements:
    """Everything measured for one daemon."""

    ready_s: list[float] = field(default_factory=list)
    cpu_to_ready_s: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    round_trips_per_s: list[float] = field(default_factory=list)
    connections_ok: int = 0
    connection_errors: int = 0
    first_connection_error: str = ""
    connections_s: float = 0.0
    rss_with_connections_kib: int = 0
    server_open_files_limit: int = 0


#: every process started, so that all are stopped even when the benchmark fails
LIVE: list[subprocess.Popen[bytes]] = []


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a daemon started by :meth:`Daemon.start`."""
    stop_process(proc)
    if proc in LIVE:
        LIVE.remove(proc)


def stop_all() -> None:
    """Stop every daemon still running."""
    for proc in list(LIVE):
        stop(proc)


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a daemon's log, for error messages."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " / ".join(text[-lines:])


# -- measurements -------------------------------------------------------------------------------

def echo_once(sock: socket.socket, message: bytes) -> None:
    """Send ``message`` and read until it has come back."""
    sock.sendall(message)
    got = 0
    while got < len(message):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection before echoing")
        got += len(chunk)


def wait_ready(daemon: Daemon, port: int, log_name: str) -> tuple[subprocess.Popen[bytes], float, Path]:
    """Start ``daemon`` and poll until a connection is answered; return the process and seconds."""
    start = time.perf_counter()
    proc, log_path = daemon.start(port, log_name)
    deadline = start + START_TIMEOUT
    problem = "nothing listening"
    while True:
        if proc.poll() is not None:
            stop(proc)
            raise BenchmarkError(f"{daemon.label} exited with status {proc.returncode} before answering: "
                                 f"{log_tail(log_path)} (full log: {log_path})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                echo_once(sock, MESSAGE)
            return proc, time.perf_counter() - start, log_path
        except ConnectionRefusedError:
            pass
        except OSError as exc:  # reset or timed out: not ready yet, or not our daemon on that port
            problem = str(exc) or type(exc).__name__
        if time.perf_counter() > deadline:
            stop(proc)
            raise BenchmarkError(f"{daemon.label} did not answer on 127.0.0.1:{port} within "
                                 f"{START_TIMEOUT:.0f}s ({problem}): {log_tail(log_path)} "
                                 f"(full log: {log_path})")
        time.sleep(0.0005)  # poll fast, but leave the CPU to the starting daemon


def cpu_seconds(pid: int) -> float:
    """The CPU time the live threads of process ``pid`` have used (``/proc/<pid>/task/*/schedstat``).

    Unlike the ready time, it hardly moves when other work shares the machine.
    Threads that have ended are not counted; neither daemon starts one to serve.
    """
    total_ns = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total_ns += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            continue
    return total_ns / 1e9


def round_trips(port: int, seconds: float) -> float:
    """Echo round trips per second on one connection, for about ``seconds``."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        echo_once(sock, MESSAGE)  # connection fully set up before the clock starts
        count = 0
        start = time.perf_counter()
        end = start + seconds
        now = start
        while now < end:
            echo_once(sock, MESSAGE)
            count += 1
            now = time.perf_counter()
        return count / (now - start)


@dataclass
class ConnectionsResult:
    """What the 1,000-connection test saw."""

    ok: int
    errors: int
    seconds: float
    first_error: str
    rss_at_peak_kib: int


async def _hold_connections(port: int, count: int, pid: int) -> ConnectionsResult:
    opened = asyncio.Event()
    answered = asyncio.Event()
    settled_open = 0
    settled_answer = 0
    ok = 0
    errors: list[str] = []
    limiter = asyncio.Semaphore(CONNECT_CONCURRENCY)

    def note_open() -> None:
        nonlocal settled_open
        settled_open += 1
        if settled_open == count:
            opened.set()

    def note_answer() -> None:
        nonlocal settled_answer
        settled_answer += 1
        if settled_answer == count:
            answered.set()

    async def one(i: int) -> None:
        nonlocal ok
        try:
            async with limiter:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), IO_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            errors.append(f"connect: {exc!r}")
            note_open()
            note_answer()
            return
        note_open()
        try:
            await opened.wait()  # every connection is open before any is answered
            message = b"%06d\n" % i
            writer.write(message)
            reply = await asyncio.wait_for(reader.readexactly(len(message)), IO_TIMEOUT)
            if reply == message:
                ok += 1
            else:
                errors.append(f"wrong echo {reply!r} for {message!r}")
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            errors.append(f"echo: {exc!r}")
        note_answer()
        await answered.wait()  # ...and stays open until all are answered
        writer.close()

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    await answered.wait()
    elapsed = time.perf_counter() - start
    rss = rss_kib(pid)
    await asyncio.gather(*tasks)
    return ConnectionsResult(ok, len(errors), elapsed, errors[0] if errors else "", rss)


def hold_connections(port: int, count: int, pid: int) -> ConnectionsResult:
    """Open ``count`` connections, hold them all open, get one echo on each."""
    return asyncio.run(asyncio.wait_for(_hold_connections(port, count, pid), 120))


# -- the run ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    runs: int
    round_trip_seconds: float
    connections: int


def rotations(daemons: Sequence[Daemon], round_number: int) -> list[Daemon]:
    """The daemons in round ``round_number``'s order: each goes first in turn, so noise hits all alike."""
    shift = round_number % len(daemons)
    return [*daemons[shift:], *daemons[:shift]]


def measure(daemons: Sequence[Daemon], settings: Settings,
            say: Callable[[str], None] = print) -> dict[str, Measurements]:
    """Measure every daemon, interleaving them round by round; one start gives one sample of each."""
    results = {d.label: Measurements() for d in daemons}
    say("warming up (one start each, not counted)")
    for d in daemons:
        proc, _, _ = wait_ready(d, free_port(), f"{d.slug}-warmup")
        stop(proc)
    say(f"start-up, memory and {settings.round_trip_seconds:g} s of round trips: {settings.runs} runs each")
    for run in range(settings.runs):
        for d in rotations(daemons, run):
            port = free_port()
            proc, seconds, log_path = wait_ready(d, port, f"{d.slug}-start")
            try:
                m = results[d.label]
                m.ready_s.append(seconds)
                m.cpu_to_ready_s.append(cpu_seconds(proc.pid))
                m.rss_kib.append(rss_kib(proc.pid))
                m.round_trips_per_s.append(round_trips(port, settings.round_trip_seconds))
            except OSError as exc:
                raise BenchmarkError(f"{d.label} failed under load: {exc}; {log_tail(log_path)} "
                                     f"(full log: {log_path})") from exc
            finally:
                stop(proc)
    say(f"{settings.connections} connections")
    for d in rotations(daemons, settings.runs):
        port = free_port()
        proc, _, log_path = wait_ready(d, port, f"{d.slug}-load")
        try:
            m = results[d.label]
            m.server_open_files_limit = open_files_limit(proc.pid)
            held = hold_connections(port, settings.connections, proc.pid)
            m.connections_ok, m.connection_errors = held.ok, held.errors
            m.first_connection_error = held.first_error
            m.connections_s = held.seconds
            m.rss_with_connections_kib = held.rss_at_peak_kib
        except OSError as exc:
            raise BenchmarkError(f"{d.label} failed under load: {exc}; {log_tail(log_path)} "
                                 f"(full log: {log_path})") from exc
        finally:
            stop(proc)
    return results
