"""Helpers shared by the benchmarks under ``bench/``.

A benchmark measures tap2pkg against a peer tool, compares the two metric by
metric against a target ratio, and rewrites its own section of
``BENCHMARKS.md``. The pieces every benchmark needs live here:

* :func:`median` and :func:`format_ratio` -- the statistics we report;
* :class:`Comparison` and :func:`comparison_table` -- one row per metric
  (ours, theirs, ratio, target, pass/fail) rendered as a Markdown table;
* :func:`rewrite_section` -- replace the text between
  ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in ``BENCHMARKS.md``,
  creating the file or the section when missing and leaving every other
  section untouched;
* :func:`machine_info` and small process helpers: :func:`free_port`,
  :func:`rss_kib`, :func:`raise_open_files_limit`, :func:`stop_process`.

The virtual environments a benchmark runs the tools from are made by
``bench/venvs.py``; the build benchmarks against nfpm share
``bench/nfpm_compare.py``.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

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
