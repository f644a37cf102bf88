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

The pieces: ``bench/daemon_setup.py`` installs the daemons and gives their
command lines; ``bench/daemon_measure.py`` starts them and measures each
start; ``bench/daemon_imports.py`` is ``--explain``. This module turns the
measurements into the table and the section, and is the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCHMARKS_MD,
    ROOT,
    WORK_DIR,
    BenchmarkError,
    Comparison,
    format_ratio,
    machine_info,
    markdown_table,
    median,
    raise_open_files_limit,
    ratio,
    rewrite_section,
)
from bench.daemon_imports import explain_imports
from bench.daemon_measure import LOG_DIR, Measurements, Settings, measure, stop_all
from bench.daemon_setup import TAPD, TAPD_LAUNCHER, TAPD_TLS, TWISTD, build_daemons
from bench.nfpm_compare import ms

SECTION = "daemon"

#: targets from the issue: tapd/twistd ratios
READY_TARGET = 0.4
MEMORY_TARGET = 0.5
ROUND_TRIP_TARGET = 1.2
CONNECTIONS = 1000
#: the ways of running tapd the targets are judged on
JUDGED = (TAPD, TAPD_LAUNCHER)


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


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


METRICS = (
    Metric("ready (exec to first answer, median)", lambda m: m.ready_s, ms, READY_TARGET),
    Metric("CPU time used until ready (median)", lambda m: m.cpu_to_ready_s, ms),
    Metric("resident memory after start (median)", lambda m: [float(k) for k in m.rss_kib], _mib,
           MEMORY_TARGET),
    Metric("echo round trips per second, one connection (median)", lambda m: m.round_trips_per_s,
           lambda v: f"{v:,.0f}", ROUND_TRIP_TARGET, higher_is_better=True),
    Metric(f"time to open and answer {CONNECTIONS:,} connections", lambda m: [m.connections_s], ms),
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
