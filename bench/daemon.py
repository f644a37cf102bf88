"""Benchmark: the same TCP echo service under ``tapd`` and under ``twistd``, side by side.

Run ``python bench/daemon.py`` (``make bench``). It measures tapd the two
ways a user runs it, and twistd, on 127.0.0.1 in one run, interleaved:

* ``tapd``: the console script of tap2pkg pip-installed (not editable) from
  this checkout into ``bench/.work/tapd-venv``;
* ``packaged tapd``: the launcher ``/usr/lib/<pkg>/tapd`` as a package installs
  it (the launcher, the stub ``tap2pkg/__init__.py`` and the runtime copied
  beside it, laid out under ``bench/.work/package``), byte-compiled as the
  package's install script does (its launcher writes no bytecode itself);
* ``tapd --tls``: the console script with ``--tls`` (for information);
* ``twistd`` from PyPI (``bench/.work/twisted-venv``, created once), its
  plugin cache made warm (``dropin.cache`` written) before anything is timed.

Every daemon runs on the same Python. Metrics:

* ready: time from exec to the first connection answered (median of ``--runs``),
  and the CPU time the daemon used until then (which other work on the machine
  hardly moves);
* memory: resident memory (VmRSS) right after that first answer (median);
* round trips per second on one connection (16-byte message, wait for the echo), on
  each of those starts (median);
* 1,000 connections opened, all held open at once, each answered once.

It prints one table with every daemon side by side (each tapd's ratio to
twistd next to it) and writes it to the ``daemon`` section of
``BENCHMARKS.md``. The targets are judged on both ways of running tapd
without ``--tls``. The exit status is 0 unless ``--check`` is given and a
target is missed (1), or the benchmark cannot run (2).
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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DIR,
    BENCHMARKS_MD,
    ROOT,
    WORK_DIR,
    BenchmarkError,
    Comparison,
    format_ratio,
    free_port,
    machine_info,
    markdown_table,
    median,
    open_files_limit,
    raise_open_files_limit,
    ratio,
    rewrite_section,
    rss_kib,
    stop_process,
)
from bench.importtime import ImportRecord, imports_beyond, parse_importtime
from bench.venvs import ensure_venv, install_checkout, python_package_version

SECTION = "daemon"
TWISTED_VENV = WORK_DIR / "twisted-venv"
TWISTED_REQUIREMENTS = ("twisted",)
#: tap2pkg is pip-installed here from a copy of this checkout, as a user installs it...
TAPD_VENV = WORK_DIR / "tapd-venv"
#: ...with what pip needs to build it offline and what tap2pkg depends on
TAPD_REQUIREMENTS = ("setuptools>=77", "Jinja2>=3.1")
#: ...plus what an optional event loop needs
TAPD_EXTRAS: dict[str, tuple[str, ...]] = {"uvloop": ("uvloop",)}
#: the root a package's files are laid out under (``<root>/usr/lib/<PACKAGE>``)
PACKAGE_ROOT = WORK_DIR / "package"
PACKAGE = "bench-echo"
LOG_DIR = WORK_DIR / "logs"

#: targets from the issue: tapd/twistd ratios
READY_TARGET = 0.4
MEMORY_TARGET = 0.5
ROUND_TRIP_TARGET = 1.2
CONNECTIONS = 1000

#: the labels of the daemons measured (also the keys of the JSON measurements)
TAPD = "tapd"
TAPD_LAUNCHER = "packaged tapd"
TAPD_TLS = "tapd --tls"
TWISTD = "twistd"
#: the ways of running tapd the targets are judged on
JUDGED = (TAPD, TAPD_LAUNCHER)

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


@dataclass(frozen=True)
class Metric:
    """One row of the table: its samples in the measurements, how to show them, and the target.

    The value shown is the median of the samples; the ratio is the median of
    the per-round ratios, each tapd start against the twistd start of the same
    round, so that a slow moment of the machine falls on both sides of a ratio.
    """

    name: str
    samples: Callable[[Measurements], list[float]]
    show: Callable[[float], str]
    target: float | None = None  # a tapd/twistd ratio
    higher_is_better: bool = False

    def comparison(self, ours: Measurements, theirs: Measurements) -> Comparison:
        """This metric for one tapd against twistd."""
        mine, peer = self.samples(ours), self.samples(theirs)
        share = median(ratio(a, b) for a, b in zip(mine, peer, strict=True))
        shown = self.show(median(mine)), self.show(median(peer)), format_ratio(share)
        if self.target is None:
            return Comparison(self.name, *shown, "-", None)
        sign = ">=" if self.higher_is_better else "<="
        passed = share >= self.target if self.higher_is_better else share <= self.target
        return Comparison(self.name, *shown, f"{sign} {self.target}x", passed)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


METRICS = (
    Metric("ready (exec to first answer, median)", lambda m: m.ready_s, _ms, READY_TARGET),
    Metric("CPU time used until ready (median)", lambda m: m.cpu_to_ready_s, _ms),
    Metric("resident memory after start (median)", lambda m: [float(k) for k in m.rss_kib], _mib,
           MEMORY_TARGET),
    Metric("echo round trips per second, one connection (median)", lambda m: m.round_trips_per_s,
           lambda v: f"{v:,.0f}", ROUND_TRIP_TARGET, higher_is_better=True),
    Metric(f"time to open and answer {CONNECTIONS:,} connections", lambda m: [m.connections_s], _ms),
    Metric(f"resident memory with {CONNECTIONS:,} connections open",
           lambda m: [float(m.rss_with_connections_kib)], _mib),
)
HELD_OPEN = f"{CONNECTIONS:,} connections held open, each answered"


def compare(ours: Measurements, theirs: Measurements, connections: int) -> list[Comparison]:
    """One row per metric for one tapd against twistd, with its target and verdict."""
    rows = [metric.comparison(ours, theirs) for metric in METRICS]

    def conns(m: Measurements) -> str:
        return f"{m.connections_ok:,} ok, {m.connection_errors:,} errors"

    rows.insert(4, Comparison(HELD_OPEN, conns(ours), conns(theirs), "-", f"{connections:,} ok, 0 errors",
                              ours.connections_ok == connections and ours.connection_errors == 0))
    return rows


def side_by_side(results: dict[str, Measurements], connections: int) -> tuple[str, list[dict[str, Any]]]:
    """The table of every daemon (each tapd's ratio to twistd beside it), and its rows as records."""
    tapds = [label for label in results if label != TWISTD]
    compared = {label: compare(results[label], results[TWISTD], connections) for label in tapds}
    header = ["metric", TWISTD]
    for label in tapds:
        header += [label, "ratio"]
    header += ["target", "pass/fail (" + " / ".join(label for label in tapds if label in JUDGED) + ")"]
    body = []
    records: list[dict[str, Any]] = []
    for index, first in enumerate(compared[tapds[0]]):
        row = [first.metric, first.theirs]
        for label in tapds:
            row += [compared[label][index].ours, compared[label][index].ratio]
        verdicts = [compared[label][index].verdict for label in tapds if label in JUDGED]
        row += [first.target, "-" if set(verdicts) == {"-"} else " / ".join(verdicts)]
        body.append(row)
    for label in tapds:
        for comparison in compared[label]:
            judged = label in JUDGED
            records.append(dict(asdict(comparison), daemon=label,
                                passed=comparison.passed if judged else None,
                                verdict=comparison.verdict if judged else "-"))
    return markdown_table(header, body), records


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


def explain_imports(python: Path, tapd: Daemon, say: Callable[[str], None]) -> str:
    """What tapd imports beyond ``import asyncio`` (without ``ssl``, as tapd runs it), costliest first."""
    asyncio_alone = "import sys; sys.modules['ssl'] = None; import asyncio"  # ssl refused, as tapd does
    baseline = subprocess.run([str(python), "-X", "importtime", "-c", asyncio_alone],
                              capture_output=True, text=True, check=True).stderr
    traced = Daemon("tapd", (str(python), "-X", "importtime", *tapd.argv))
    proc, seconds, log_path = wait_ready(traced, free_port(), "tapd-importtime")
    stop(proc)
    report = log_path.read_text(errors="replace")
    own, roots = imports_beyond(report, baseline)
    known = {r.module for r in parse_importtime(baseline)}
    new = {r.module: r for r in parse_importtime(report) if r.module not in known}
    asyncio_us = next((r.cumulative_us for r in parse_importtime(baseline) if r.module == "asyncio"), 0)
    lines = [f"tapd ready in {seconds * 1000:.0f} ms with -X importtime; `import asyncio` alone "
             f"(without ssl): {asyncio_us / 1000:.1f} ms",
             f"tap2pkg modules, own time: {sum(r.self_us for r in own) / 1000:.1f} ms "
             f"({len(own)} modules)",
             "standard-library modules tapd imports beyond asyncio, with what they bring that asyncio "
             "does not (ms of their own import time, imported by):"]
    rows = []
    for r in roots:
        # (org.python.core: a failed import that copy tries for Jython; only what loaded counts)
        brought = [m for m in new.values() if m.module.split(".")[0] in sys.stdlib_module_names
                   and (m.module == r.module or _imported_under(m, r.module, new))]
        importer = r.imported_by or "(imported inside a function)"
        rows.append((sum(m.self_us for m in brought), f"{r.module:<12} {importer:<28} " + " ".join(
            sorted(m.module for m in brought if m.module != r.module))))
    lines += [f"  {us / 1000:6.1f}  {text}" for us, text in sorted(rows, reverse=True)[:20]]
    say("\n".join(lines))
    return "\n".join(lines)


def _imported_under(record: ImportRecord, root: str, new: dict[str, ImportRecord]) -> bool:
    """Whether ``record`` was imported, directly or through other new modules, by ``root``."""
    parent = record.imported_by
    while parent in new:
        if parent == root:
            return True
        parent = new[parent].imported_by
    return False


def render_section(table: str, machine: dict[str, str], command: str, settings: Settings) -> str:
    """The Markdown body of the ``daemon`` section of BENCHMARKS.md."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    tls = ("`tapd --tls` (the console script with `ssl` loaded, as an application using TLS runs it) is "
           "shown for information." if TAPD_TLS in table else
           "This event loop loads `ssl` itself, so there is no separate `tapd --tls` column.")
    lines = [
        "## tapd vs twistd: the same TCP echo service",
        "",
        f"Measured {when} with `{command}`: {settings.runs} starts of each daemon, interleaved (each "
        f"first in turn), every start giving a ready time, a memory reading and "
        f"{settings.round_trip_seconds:g} s of round trips (the table shows medians); then "
        f"{settings.connections:,} connections once. The app is `bench/tapd_echo.tac` for tapd and its "
        "twin `bench/twistd_echo.tac` for twistd, both run in the foreground (`-n --pidfile=`) on "
        "127.0.0.1, on the same Python.",
        "",
        "`tapd` is the console script of tap2pkg pip-installed from this checkout. `packaged tapd` is "
        "the launcher `/usr/lib/<pkg>/tapd` as a package installs it, the runtime beside it, "
        "byte-compiled as the package's install script does (the launcher itself writes no "
        "bytecode). twistd is Twisted from PyPI, its plugin cache warm. The targets are judged on both "
        f"ways of running tapd; {tls}",
        "",
        table.rstrip("\n"),
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()) + ".",
        "",
        "Where tapd's time and memory go, and what a bare asyncio server takes on the same machine: "
        "[docs/benchmarks.md](docs/benchmarks.md#reading-the-output).",
    ]
    return "\n".join(lines) + "\n"


def install_console_script(python: Path) -> Path:
    """tap2pkg pip-installed (not editable) from a copy of this checkout; return its ``tapd`` script."""
    script = install_checkout(python) / "tapd"
    if not script.exists():
        raise BenchmarkError(f"pip installed no tapd script into {python.parent}")
    return script


def install_package_layout(root: Path) -> Path:
    """Lay the runtime out under ``root/usr/lib/<pkg>`` as a package installs it; return the launcher.

    The package's own launcher, stub ``tap2pkg/__init__.py`` and a copy of
    ``tap2pkg/runtime``, byte-compiled as the package's postinst (``py3compile``)
    or %post (``compileall``) does at install; the launcher writes no bytecode.
    """
    import compileall

    from tap2pkg import __version__
    from tap2pkg.payload import LAUNCHER, STUB_INIT, runtime_dir

    libdir = root / "usr" / "lib" / PACKAGE
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(runtime_dir(), libdir / "tap2pkg" / "runtime",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (libdir / "tap2pkg" / "__init__.py").write_bytes(STUB_INIT % __version__.encode())
    launcher = libdir / "tapd"
    launcher.write_text(LAUNCHER.format(name=PACKAGE, libdir=libdir))
    launcher.chmod(0o755)
    compileall.compile_dir(str(libdir), quiet=1)
    return launcher


def warm_plugin_cache(twistd: Path) -> None:
    """Run twistd once so that it writes its plugin cache, as it is on a machine that ran it before."""
    subprocess.run([str(twistd), "--help"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    caches = list(twistd.parent.parent.glob("lib/python*/site-packages/twisted/plugins/dropin.cache"))
    if not caches:
        raise BenchmarkError(f"twistd wrote no plugin cache (dropin.cache) under {twistd.parent.parent}; "
                             "check that its site-packages is writable")


@dataclass(frozen=True)
class Setup:
    """The daemons to measure, and what the machine line says about them."""

    daemons: list[Daemon]
    tapd_python: Path
    versions: dict[str, str]


def build_daemons(reactor: str | None, say: Callable[[str], None]) -> Setup:
    """tapd (console script and package launcher) and twistd (from PyPI), each from its own venv."""
    twisted_python = ensure_venv(TWISTED_VENV, TWISTED_REQUIREMENTS, log=say)
    twistd = twisted_python.parent / "twistd"
    warm_plugin_cache(twistd)
    extras = TAPD_EXTRAS.get(reactor or "", ())
    venv = TAPD_VENV.with_name(f"{TAPD_VENV.name}-{reactor}") if extras else TAPD_VENV
    tapd_python = ensure_venv(venv, (*TAPD_REQUIREMENTS, *extras), log=say)
    say("installing this checkout's tap2pkg with pip, and laying out a package's launcher")
    script = install_console_script(tapd_python)
    launcher = install_package_layout(PACKAGE_ROOT)
    args = ["-n", "--pidfile=", "-y", str(BENCH_DIR / "tapd_echo.tac"), *(["-r", reactor] if reactor else [])]
    daemons = [Daemon(TAPD, (str(script), *args)),
               Daemon(TAPD_LAUNCHER, (str(tapd_python), str(launcher), *args))]
    if reactor != "uvloop":  # uvloop imports ssl itself (it implies --tls): no separate --tls run
        daemons.append(Daemon(TAPD_TLS, (str(script), *args, "--tls")))
    twistd_args = ("-n", "--pidfile=", "-y", str(BENCH_DIR / "twistd_echo.tac"))
    daemons.append(Daemon(TWISTD, (str(twistd), *twistd_args)))
    versions = {"Twisted": python_package_version(twisted_python, "twisted"),
                "tap2pkg": python_package_version(tapd_python, "tap2pkg")}
    return Setup(daemons, tapd_python, versions)


def checkout() -> str:
    """The commit measured, marked when the working tree has changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return commit + (" with local changes" if git("status", "--porcelain", "--", "tap2pkg").strip() else "")


def run(args: argparse.Namespace) -> int:
    """Measure, print, write the results; the exit status."""
    quiet = args.json

    def say(text: str) -> None:
        print(text, file=sys.stderr if quiet else sys.stdout, flush=True)

    settings = Settings(
        runs=args.runs if args.runs else (3 if args.quick else 15),
        round_trip_seconds=0.3 if args.quick else 0.5,
        connections=CONNECTIONS,
    )
    limit = raise_open_files_limit(settings.connections * 2 + 256)
    if limit < settings.connections + 64:
        raise BenchmarkError(f"open-files limit is {limit}, too low for {settings.connections} "
                             "connections; raise it with `ulimit -n 4096` and rerun")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()[0]
    setup = build_daemons(args.reactor, say)
    if args.explain:
        explain_imports(setup.tapd_python, setup.daemons[0], say)
        return 0
    results = measure(setup.daemons, settings, say)
    machine = machine_info()
    limits = "/".join(str(results[d.label].server_open_files_limit) for d in setup.daemons)
    machine.update({"load average at start": f"{load_at_start:.2f}",
                    "Twisted": setup.versions["Twisted"],
                    "twistd plugin cache": "warm (dropin.cache written before timing)",
                    "tap2pkg": f"{setup.versions['tap2pkg']} at {checkout()}",
                    "tapd reactor": reported_reactor(LOG_DIR / "tapd-warmup.log", "tapd"),
                    "twistd reactor": reported_reactor(LOG_DIR / "twistd-warmup.log", "twistd"),
                    f"open-files limit (client/{'/'.join(d.label for d in setup.daemons)})":
                        f"{limit}/{limits}"})
    table, records = side_by_side(results, settings.connections)
    command = "python bench/daemon.py" + (" --quick" if args.quick else "") + \
        (f" --runs {args.runs}" if args.runs else "") + (f" --reactor {args.reactor}" if args.reactor else "")
    output: Path | None = args.output
    if output is None and not args.quick:
        output = BENCHMARKS_MD
    if output is not None:
        rewrite_section(output, SECTION, render_section(table, machine, command, settings))
    if args.json:
        print(json.dumps({
            "machine": machine,
            "settings": asdict(settings),
            "measurements": {label: asdict(m) for label, m in results.items()},
            "comparisons": records,
        }, indent=2))
    else:
        print()
        print(table, end="")
        print("machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()))
        for label, m in results.items():
            if m.first_connection_error:
                print(f"{label}: first connection error: {m.first_connection_error}")
        if output is not None:
            print(f"wrote the {SECTION!r} section of {output}")
    missed = [f"{r['daemon']}: {r['metric']}" for r in records if r["passed"] is False]
    if missed and args.check:
        print(f"daemon.py: targets missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="bench/daemon.py",
        description="Run the same TCP echo service under tapd (console script and package launcher) "
                    "and twistd, and compare them.")
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
