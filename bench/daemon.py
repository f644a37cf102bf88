"""Benchmark: the same TCP echo service under ``tapd`` and under ``twistd``, side by side.

Run ``python bench/daemon.py`` (``make bench``). It installs Twisted from the
package index into ``bench/.work/twisted-venv`` once, then measures both
daemons on 127.0.0.1 in one run, alternating which goes first:

* ready: time from exec to the first connection answered (median of ``--runs``);
* memory: resident memory (VmRSS) right after that first answer (median);
* round trips per second on one connection (16-byte message, wait for the echo);
* 1,000 connections opened, all held open at once, each answered once.

tapd is measured twice: as it starts by default (without the ``ssl``
module), and with ``--tls`` (asyncio with ``ssl``, as an application using
TLS runs it). The targets are judged on the default tapd; the ``--tls`` rows
are shown alongside for information.

It prints a table (metric, tapd, twistd, ratio, target, pass/fail) and writes
it to the ``daemon`` section of ``BENCHMARKS.md``. The exit status is 0 unless
``--check`` is given and a target is missed (1), or the benchmark cannot run (2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench.common`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DIR,
    BENCHMARKS_MD,
    ROOT,
    WORK_DIR,
    BenchmarkError,
    Comparison,
    comparison_table,
    ensure_venv,
    format_ratio,
    free_port,
    machine_info,
    median,
    open_files_limit,
    python_package_version,
    raise_open_files_limit,
    ratio,
    rewrite_section,
    rss_kib,
    stop_process,
)
from bench.importtime import imports_beyond, parse_importtime

SECTION = "daemon"
TWISTED_VENV = WORK_DIR / "twisted-venv"
TWISTED_REQUIREMENTS = ("twisted",)
#: tapd runs from a plain venv (standard library only, like a package's python3)...
TAPD_VENV = WORK_DIR / "tapd-venv"
#: ...plus what an optional event loop needs
TAPD_EXTRAS: dict[str, tuple[str, ...]] = {"uvloop": ("uvloop",)}
#: the runtime laid out as a package installs it under /usr/lib/<pkg>/
TAPD_ROOT = WORK_DIR / "tapd-root"
LOG_DIR = WORK_DIR / "logs"

#: targets from the issue: tapd/twistd ratios
READY_TARGET = 0.4
MEMORY_TARGET = 0.5
ROUND_TRIP_TARGET = 1.2
CONNECTIONS = 1000

#: the labels of the daemons measured (also the keys of the JSON measurements)
TAPD = "tapd"
TAPD_TLS = "tapd --tls"
TWISTD = "twistd"

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
    round_trip_repeats: int
    connections: int


def measure(daemons: Sequence[Daemon], settings: Settings,
            say: Any = print) -> dict[str, Measurements]:
    """Measure every daemon, interleaving them so that machine noise hits both alike."""
    results = {d.label: Measurements() for d in daemons}
    say("warming up (one start each, not counted)")
    for d in daemons:
        proc, _, _ = wait_ready(d, free_port(), f"{d.slug}-warmup")
        stop(proc)
    say(f"start-up and memory: {settings.runs} runs each")
    for run in range(settings.runs):
        order = daemons if run % 2 == 0 else list(reversed(daemons))
        for d in order:
            proc, seconds, _ = wait_ready(d, free_port(), f"{d.slug}-start")
            results[d.label].ready_s.append(seconds)
            results[d.label].rss_kib.append(rss_kib(proc.pid))
            stop(proc)
    say(f"round trips ({settings.round_trip_repeats} x {settings.round_trip_seconds:g}s each) "
        f"and {settings.connections} connections")
    for rep in range(settings.round_trip_repeats):
        order = daemons if rep % 2 == 0 else list(reversed(daemons))
        for d in order:
            port = free_port()
            proc, _, log_path = wait_ready(d, port, f"{d.slug}-load")
            try:
                m = results[d.label]
                m.round_trips_per_s.append(round_trips(port, settings.round_trip_seconds))
                if rep == 0:
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


def compare(ours: Measurements, theirs: Measurements, connections: int) -> list[Comparison]:
    """One row per metric with its target and verdict."""
    ready = ratio(median(ours.ready_s), median(theirs.ready_s))
    memory = ratio(median(ours.rss_kib), median(theirs.rss_kib))
    trips = ratio(median(ours.round_trips_per_s), median(theirs.round_trips_per_s))

    def ms(values: list[float]) -> str:
        return f"{median(values) * 1000:.0f} ms"

    def mib(kib: float) -> str:
        return f"{kib / 1024:.1f} MiB"

    def conns(m: Measurements) -> str:
        return f"{m.connections_ok:,} ok, {m.connection_errors:,} errors"

    return [
        Comparison("ready (exec to first answer, median)", ms(ours.ready_s), ms(theirs.ready_s),
                   format_ratio(ready), f"<= {READY_TARGET}x", ready <= READY_TARGET),
        Comparison("resident memory after start (median)", mib(median(ours.rss_kib)),
                   mib(median(theirs.rss_kib)), format_ratio(memory), f"<= {MEMORY_TARGET}x",
                   memory <= MEMORY_TARGET),
        Comparison("echo round trips per second, one connection",
                   f"{median(ours.round_trips_per_s):,.0f}", f"{median(theirs.round_trips_per_s):,.0f}",
                   format_ratio(trips), f">= {ROUND_TRIP_TARGET}x", trips >= ROUND_TRIP_TARGET),
        Comparison(f"{connections:,} connections held open, each answered", conns(ours), conns(theirs),
                   "-", f"{connections:,} ok, 0 errors",
                   ours.connections_ok == connections and ours.connection_errors == 0),
        Comparison(f"time to open and answer {connections:,} connections",
                   f"{ours.connections_s * 1000:.0f} ms", f"{theirs.connections_s * 1000:.0f} ms",
                   format_ratio(ratio(ours.connections_s, theirs.connections_s)), "-", None),
        Comparison(f"resident memory with {connections:,} connections open",
                   mib(ours.rss_with_connections_kib), mib(theirs.rss_with_connections_kib),
                   format_ratio(ratio(ours.rss_with_connections_kib, theirs.rss_with_connections_kib)),
                   "-", None),
    ]


def compare_tls(tls: Measurements, theirs: Measurements, connections: int) -> list[Comparison]:
    """The ``tapd --tls`` rows: the same metrics, targets in parentheses because they are not judged."""
    ready = ratio(median(tls.ready_s), median(theirs.ready_s))
    memory = ratio(median(tls.rss_kib), median(theirs.rss_kib))
    trips = ratio(median(tls.round_trips_per_s), median(theirs.round_trips_per_s))
    return [
        Comparison("tapd --tls: ready (exec to first answer, median)",
                   f"{median(tls.ready_s) * 1000:.0f} ms", f"{median(theirs.ready_s) * 1000:.0f} ms",
                   format_ratio(ready), f"(<= {READY_TARGET}x)", None),
        Comparison("tapd --tls: resident memory after start (median)",
                   f"{median(tls.rss_kib) / 1024:.1f} MiB", f"{median(theirs.rss_kib) / 1024:.1f} MiB",
                   format_ratio(memory), f"(<= {MEMORY_TARGET}x)", None),
        Comparison("tapd --tls: echo round trips per second",
                   f"{median(tls.round_trips_per_s):,.0f}", f"{median(theirs.round_trips_per_s):,.0f}",
                   format_ratio(trips), f"(>= {ROUND_TRIP_TARGET}x)", None),
        Comparison(f"tapd --tls: {connections:,} connections held open",
                   f"{tls.connections_ok:,} ok, {tls.connection_errors:,} errors",
                   f"{theirs.connections_ok:,} ok, {theirs.connection_errors:,} errors",
                   "-", f"({connections:,} ok, 0 errors)", None),
    ]


def reported_reactor(log_path: Path, daemon: str) -> str:
    """The event loop a daemon named in its start-up log, or ``"unknown"``.

    twistd says ``reactor class: twisted.internet.epollreactor.EPollReactor.``,
    tapd says ``event loop: asyncio``.
    """
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "unknown"
    for line in text.splitlines():
        if daemon == "twistd" and "reactor class:" in line:
            return line.rstrip(". ").rsplit(".", 1)[-1]
        if daemon == "tapd" and "event loop:" in line:
            return line.split("event loop:", 1)[1].strip()
    return "unknown"


def explain_imports(tapd: Daemon, say: Any) -> str:
    """What tapd imports beyond ``import asyncio``, costliest first: where its start-up time goes."""
    python = tapd.argv[0]
    baseline = subprocess.run([python, "-X", "importtime", "-c", "import asyncio"],
                              capture_output=True, text=True, check=True).stderr
    traced = Daemon("tapd", (python, "-X", "importtime", *tapd.argv[1:]))
    proc, seconds, log_path = wait_ready(traced, free_port(), "tapd-importtime")
    stop(proc)
    own, roots = imports_beyond(log_path.read_text(errors="replace"), baseline)
    asyncio_us = next((r.cumulative_us for r in parse_importtime(baseline) if r.module == "asyncio"), 0)
    lines = [f"tapd ready in {seconds * 1000:.0f} ms with -X importtime; `import asyncio` alone: "
             f"{asyncio_us / 1000:.1f} ms",
             f"tap2pkg modules, own time: {sum(r.self_us for r in own) / 1000:.1f} ms "
             f"({len(own)} modules)",
             "standard-library modules tapd imports beyond asyncio (cumulative ms, imported by):"]
    for r in roots[:20]:
        importer = r.imported_by or "(imported inside a function)"
        lines.append(f"  {r.cumulative_us / 1000:6.1f}  {r.module:<24} {importer}")
    say("\n".join(lines))
    return "\n".join(lines)


def render_section(rows: list[Comparison], machine: dict[str, str], command: str,
                   settings: Settings) -> str:
    """The Markdown body of the ``daemon`` section of BENCHMARKS.md."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## tapd vs twistd: the same TCP echo service",
        "",
        f"Measured {when} with `{command}`: {settings.runs} starts each (median), "
        f"{settings.round_trip_repeats} x {settings.round_trip_seconds:g} s of round trips each "
        f"(median), {settings.connections:,} connections once. The app is `bench/tapd_echo.tac` "
        "for tapd and its twin `bench/twistd_echo.tac` for twistd, both run in the foreground "
        "(`-n --pidfile=`) on 127.0.0.1.",
        "",
        "The targets are judged on tapd as it starts by default, that is without Python's `ssl` "
        "module (tapd loads it only with `--tls`). The `tapd --tls` rows are the same tapd "
        "started with `--tls` (asyncio with `ssl` loaded, as for an application that uses TLS), "
        "measured in the same run; their targets are in parentheses because they are shown for "
        "information, not judged."
        if any(r.metric.startswith(TAPD_TLS) for r in rows) else
        "The targets are judged on tapd as it starts with the chosen event loop (no `tapd --tls` "
        "rows: this loop loads the `ssl` module itself, so tapd runs with TLS anyway).",
        "",
        comparison_table(rows, "tapd", "twistd").rstrip("\n"),
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def install_runtime(root: Path, python: Path) -> Path:
    """Lay the runtime out under ``root`` as a package installs it; return the ``tapd`` launcher.

    The package's own launcher, stub ``tap2pkg/__init__.py`` and a copy of
    ``tap2pkg/runtime``, byte-compiled by ``python`` as pip byte-compiles
    Twisted: tapd then starts as it does on a user's machine once its
    ``__pycache__`` exists, without this checkout's editable-install hooks.
    """
    from tap2pkg import __version__
    from tap2pkg.bundle import LAUNCHER, STUB_INIT, runtime_dir

    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(runtime_dir(), root / "tap2pkg" / "runtime",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "tap2pkg" / "__init__.py").write_bytes(STUB_INIT % __version__.encode())
    launcher = root / "tapd"
    launcher.write_text(LAUNCHER.format(name="bench-echo", libdir=root))
    launcher.chmod(0o755)
    subprocess.run([str(python), "-m", "compileall", "-q", str(root / "tap2pkg")], check=True,
                   stdout=subprocess.DEVNULL)
    return launcher


def build_daemons(reactor: str | None, say: Any) -> tuple[list[Daemon], dict[str, str]]:
    """tapd (this checkout's runtime, laid out as packaged) and twistd (from PyPI), each in its own venv."""
    twisted_python = ensure_venv(TWISTED_VENV, TWISTED_REQUIREMENTS, log=say)
    extras = TAPD_EXTRAS.get(reactor or "", ())
    # a venv per extra, so that the plain one stays standard-library only
    venv = TAPD_VENV.with_name(f"{TAPD_VENV.name}-{reactor}") if extras else TAPD_VENV
    tapd_python = ensure_venv(venv, extras, log=say)
    launcher = install_runtime(TAPD_ROOT, tapd_python)
    tapd_argv = [str(tapd_python), str(launcher), "-n", "--pidfile=",
                 "-y", str(BENCH_DIR / "tapd_echo.tac")]
    if reactor:
        tapd_argv += ["-r", reactor]
    # uvloop imports ssl itself (it implies --tls): no separate --tls run with it
    tls = [Daemon(TAPD_TLS, (*tapd_argv, "--tls"))] if reactor != "uvloop" else []
    twistd_argv = [str(twisted_python.parent / "twistd"), "-n", "--pidfile=",
                   "-y", str(BENCH_DIR / "twistd_echo.tac")]
    daemons = [Daemon(TAPD, tuple(tapd_argv)), *tls, Daemon(TWISTD, tuple(twistd_argv))]
    versions = {"Twisted": python_package_version(twisted_python, "twisted")}
    return daemons, versions


def run(args: argparse.Namespace) -> int:
    """Measure, print, write the results; the exit status."""
    quiet = args.json

    def say(text: str) -> None:
        print(text, file=sys.stderr if quiet else sys.stdout, flush=True)

    settings = Settings(
        runs=args.runs if args.runs else (3 if args.quick else 15),
        round_trip_seconds=0.5 if args.quick else 3.0,
        round_trip_repeats=1 if args.quick else 3,
        connections=CONNECTIONS,
    )
    limit = raise_open_files_limit(settings.connections * 2 + 256)
    if limit < settings.connections + 64:
        raise BenchmarkError(f"open-files limit is {limit}, too low for {settings.connections} "
                             "connections; raise it with `ulimit -n 4096` and rerun")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()[0]
    daemons, versions = build_daemons(args.reactor, say)
    if args.explain:
        explain_imports(daemons[0], say)
        return 0
    results = measure(daemons, settings, say)
    machine = machine_info()
    machine.update({"load average at start": f"{load_at_start:.2f}",
                    "Twisted": versions["Twisted"],
                    "tapd reactor": reported_reactor(LOG_DIR / "tapd-warmup.log", "tapd"),
                    "twistd reactor": reported_reactor(LOG_DIR / "twistd-warmup.log", "twistd"),
                    "open-files limit (client/tapd/twistd)":
                        f"{limit}/{results[TAPD].server_open_files_limit}"
                        f"/{results[TWISTD].server_open_files_limit}"})
    rows = compare(results[TAPD], results[TWISTD], settings.connections)
    if TAPD_TLS in results:
        rows += compare_tls(results[TAPD_TLS], results[TWISTD], settings.connections)
    command = "python bench/daemon.py" + (" --quick" if args.quick else "") + \
        (f" --runs {args.runs}" if args.runs else "") + (f" --reactor {args.reactor}" if args.reactor else "")
    output: Path | None = args.output
    if output is None and not args.quick:
        output = BENCHMARKS_MD
    if output is not None:
        rewrite_section(output, SECTION, render_section(rows, machine, command, settings))
    if args.json:
        print(json.dumps({
            "machine": machine,
            "settings": asdict(settings),
            "measurements": {label: asdict(m) for label, m in results.items()},
            "comparisons": [dict(asdict(r), verdict=r.verdict) for r in rows],
        }, indent=2))
    else:
        print()
        print(comparison_table(rows, "tapd", "twistd"), end="")
        print("machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()))
        for label, m in results.items():
            if m.first_connection_error:
                print(f"{label}: first connection error: {m.first_connection_error}")
        if output is not None:
            print(f"wrote the {SECTION!r} section of {output}")
    missed = [r.metric for r in rows if r.passed is False]
    if missed and args.check:
        print(f"daemon.py: targets missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="bench/daemon.py",
        description="Run the same TCP echo service under tapd and twistd and compare them.")
    parser.add_argument("--runs", type=int, default=0, metavar="N",
                        help="starts per daemon for the ready-time and memory medians "
                             "(default 15; 3 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run; writes no results file unless --output is given")
    parser.add_argument("--reactor", metavar="NAME",
                        help="event loop passed to tapd as -r (asyncio, uvloop, select, poll, epoll)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help=f"results file whose {SECTION!r} section is rewritten "
                             f"(default {BENCHMARKS_MD.relative_to(ROOT)}; none with --quick)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--explain", action="store_true",
                        help="measure nothing; show what tapd imports beyond asyncio at start-up")
    args = parser.parse_args(argv)
    if args.runs < 0:
        parser.error("--runs must be a positive number")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the benchmark, always stopping every daemon it started."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run(args)
    except BenchmarkError as exc:
        print(f"daemon.py: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("daemon.py: interrupted", file=sys.stderr)
        return 130
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
