"""Benchmark ``tap2pkg verify``: seconds per lifecycle step and per run, per distro, with a warm image.

Builds the echo example at 1.0 and 1.1 with tap2deb and tap2rpm (native
builders), makes sure the offline images exist, then verifies each package
``--runs`` times (upgrade included) and writes the medians to the
``<!-- bench:verify -->`` section of BENCHMARKS.md. With ``--cold`` it also
rebuilds the debian:bookworm image from scratch and reports how long that took.

    python bench/verify.py [--runs 3] [--cold]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench.common`` and ``tap2pkg`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCHMARKS_MD, ROOT, machine_info, markdown_table, median, rewrite_section
from tap2pkg.verify import (
    DISTROS,
    VerifyContainer,
    VerifyOptions,
    build_image,
    connect,
    read_artifact,
    verify_lifecycle,
    verify_sysvinit,
)

TARGET_SECONDS = 20.0
ECHO = ROOT / "examples" / "echo"


def build(tool: str, version: str, out: Path) -> Path:
    """Build the echo example with ``tool`` at ``version``; return the package."""
    argv = [
        sys.executable,
        "-m",
        f"tap2pkg.cli.{tool}",
        "--binary-only",
        "-V",
        version,
        "-o",
        str(out),
        "--include",
        str(ECHO / "echoproto.py"),
        str(ECHO / "echo.tac"),
    ]
    if tool == "tap2deb":
        argv += ["-u", "-m", "tap2pkg bench <bench@example.org>"]
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
    return next(p for p in out.iterdir() if p.suffix in (".deb", ".rpm") and ".src." not in p.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="lifecycles per distro (default 3)")
    parser.add_argument("--cold", action="store_true", help="also time a cold debian:bookworm image build")
    args = parser.parse_args()
    client = connect()
    cold = ""
    if args.cold:
        started = time.monotonic()
        build_image(client, DISTROS["debian:bookworm"], offline=True, force=True)
        cold = f"{time.monotonic() - started:.0f} s"
    tags = {
        name: build_image(client, DISTROS[name], offline=True).tag
        for name in ("debian:bookworm", "rpm-on-debian")
    }
    options = VerifyOptions(ports=(8007,), probe_send="bench\\n", probe_expect="bench")
    steps: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    totals: dict[tuple[str, str], list[float]] = defaultdict(list)
    failures = []
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        work = Path(tmp)
        for tool, distro_name in (("tap2deb", "debian:bookworm"), ("tap2rpm", "rpm-on-debian")):
            old = read_artifact(build(tool, "1.0", work / f"{tool}-old"))
            new = read_artifact(build(tool, "1.1", work / f"{tool}-new"))
            distro = DISTROS[distro_name]
            run_options = VerifyOptions(
                options.ports, options.probe_send, options.probe_expect, upgrade_from=old
            )
            for _ in range(args.runs):
                started = time.monotonic()
                with VerifyContainer(client, tags[distro_name]) as box:
                    run = verify_lifecycle(box, distro, new, run_options)
                runs = [(run, time.monotonic() - started)]
                if tool == "tap2deb":
                    started = time.monotonic()
                    with VerifyContainer(client, tags[distro_name], systemd=False) as box:
                        sysv = verify_sysvinit(box, distro, new, run_options)
                    runs.append((sysv, time.monotonic() - started))
                for result, wall in runs:
                    key = (distro_name, result.init)
                    totals[key].append(wall)
                    for step in result.steps:
                        steps[key][step.name].append(step.seconds)
                    if not result.passed:
                        failures.append(f"{distro_name} {result.init}")
    rows = []
    for key, per_step in steps.items():
        distro_name, init = key
        for name, values in per_step.items():
            rows.append([distro_name, init, name, f"{median(values):.1f}"])
        whole = median(totals[key])
        verdict = (
            ("pass" if whole < TARGET_SECONDS else "FAIL")
            if init == "systemd" and distro_name.startswith("debian:")
            else "-"
        )
        rows.append(
            [distro_name, init, "**whole run** (container start to removal)", f"{whole:.1f}", verdict]
        )
    for row in rows:
        if len(row) == 4:
            row.append("")
    info = machine_info()
    machine = (
        "; ".join(f"{k}: {v}" for k, v in info.items())
        + f"; load average at the end: {os.getloadavg()[0]:.2f}"
    )
    body = (
        "## tap2pkg verify: seconds per lifecycle step, warm images\n\n"
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python bench/verify.py"
        f"{' --cold' if args.cold else ''}`: the echo example built at 1.0 and 1.1 by the native builders, "
        f"verified {args.runs} times per distro with an upgrade from 1.0 (median seconds). Images: "
        f"{tags['debian:bookworm']} and {tags['rpm-on-debian']} (rpm-on-debian is a stand-in for Fedora, "
        f"not Fedora). Target: a whole .deb lifecycle with systemd in under {TARGET_SECONDS:.0f} s.\n\n"
        + markdown_table(["distro", "init", "step", "seconds", "target"], rows)
        + (
            f"\nCold image build (debootstrap + docker import), debian:bookworm: {cold}.\n"
            if cold
            else "\nCold image build: run with `--cold` (about 75 s for debian:bookworm on this machine).\n"
        )
        + (f"\nFailed runs: {', '.join(failures)}.\n" if failures else "")
        + f"\nMachine: {machine}.\n"
    )
    rewrite_section(BENCHMARKS_MD, "verify", body)
    print(body)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
