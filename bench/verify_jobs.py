"""Benchmark: ``tap2pkg verify --jobs 2`` against ``--jobs 1`` over four packages.

The four packages are the echo example at 1.0 and 1.1, as a ``.deb`` (verified
on debian:bookworm) and an ``.rpm`` (on rpm-on-debian), built once. Each
round runs ``tap2pkg verify`` on all four (systemd runs, ``--no-sysvinit``)
once with ``--jobs 1`` and once with ``--jobs 2``, alternating which goes
first, and times the whole command (wall clock, containers included). Both
must give the same verdicts. A lifecycle spends most of its time waiting for
systemd and the service (starts, restarts, the steadiness checks), which is why
two at a time pay off on a 2-core machine.

Target: speed-up (median of ``--jobs 1`` / median of ``--jobs 2``) >= 1.6.
The machine's load average before and after is recorded: other work on the
machine lowers the speed-up.

    .venv/bin/python bench/verify_jobs.py [--rounds N] [--quick]

Needs a docker engine and the offline images (``tap2pkg images build --offline
debian:bookworm rpm-on-debian``). Rewrites the ``verify-jobs`` section of
``BENCHMARKS.md`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench.common`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCHMARKS_MD, ROOT, Comparison, comparison_table, median, rewrite_section

SECTION = "verify-jobs"
TARGET = 1.6
TAP2PKG = [sys.executable, "-m", "tap2pkg.cli.tap2pkg"]
ECHO = ROOT / "examples" / "echo"


def build_packages(out: Path) -> list[Path]:
    """The echo example at 1.0 and 1.1 as .deb and .rpm (native builders, binary only)."""
    for version in ("1.0", "1.1"):
        subprocess.run([*TAP2PKG, "build", "-m", "Bench <bench@example.org>", "-V", version, "--binary-only",
                        "-o", str(out), str(ECHO / "echo.tac"), "--include", str(ECHO / "echoproto.py")],
                       check=True, capture_output=True)
    return sorted(out.glob("*.deb")) + sorted(out.glob("*.rpm"))


def verify(packages: Sequence[Path], jobs: int) -> tuple[float, list[tuple[str, str, bool]]]:
    """Seconds for one ``tap2pkg verify --jobs N`` over ``packages``, and its verdicts."""
    started = time.monotonic()
    proc = subprocess.run([*TAP2PKG, "verify", *map(str, packages), "--no-sysvinit", "--json",
                           "--jobs", str(jobs)], capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"verify --jobs {jobs} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    runs = json.loads(proc.stdout)["runs"]
    return seconds, [(r["package"] + " " + r["version"], r["distro"], r["passed"]) for r in runs]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; rewrite the BENCHMARKS.md section unless --quick."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round, BENCHMARKS.md untouched")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    load_before = os.getloadavg()
    times: dict[int, list[float]] = {1: [], 2: []}
    verdicts: dict[int, list[tuple[str, str, bool]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-verify-jobs-") as tmp:
        packages = build_packages(Path(tmp))
        for index in range(rounds):
            for jobs in ((1, 2) if index % 2 == 0 else (2, 1)):
                seconds, found = verify(packages, jobs)
                times[jobs].append(seconds)
                if verdicts.setdefault(jobs, found) != found:
                    raise SystemExit(f"--jobs {jobs}: verdicts differ between rounds: {found}")
                print(f"round {index + 1}: --jobs {jobs}: {seconds:.1f} s", file=sys.stderr)
    load_after = os.getloadavg()
    same = verdicts[1] == verdicts[2]
    one, two = median(times[1]), median(times[2])
    speedup = one / two
    table = comparison_table([
        Comparison("4 lifecycles, wall clock (median)", f"{two:.1f} s", f"{one:.1f} s", f"{speedup:.2f}x",
                   f"speed-up >= {TARGET}x", speedup >= TARGET),
        Comparison("verdicts", "same" if same else "DIFFERENT", "", "", "same as --jobs 1", same),
    ], "--jobs 2", "--jobs 1")
    runs = ", ".join(f"{name} on {distro}: {'pass' if ok else 'FAIL'}" for name, distro, ok in verdicts[1])
    body = (
        "## tap2pkg verify --jobs 2 vs --jobs 1: four packages\n\n"
        f"{table}\n"
        f"Runs: {runs}. Rounds: {rounds} (alternating which goes first); every time: "
        + ", ".join(f"--jobs {j}: " + " / ".join(f"{t:.1f}" for t in times[j]) + " s" for j in (1, 2))
        + f".\nMachine: {os.cpu_count()} cores; load average (1, 5, 15 min) "
        f"{' / '.join(f'{v:.2f}' for v in load_before)} before and "
        f"{' / '.join(f'{v:.2f}' for v in load_after)} after "
        "(a shared machine: other work raises the load and lowers the speed-up).\n\n"
        "Reproduce: `.venv/bin/python bench/verify_jobs.py` (docker engine and the offline images needed).\n"
    )
    print(body)
    if not args.quick:
        rewrite_section(BENCHMARKS_MD, SECTION, body)
    return 0 if speedup >= TARGET and same else 1


if __name__ == "__main__":
    sys.exit(main())
