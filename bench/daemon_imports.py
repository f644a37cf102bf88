"""``bench/daemon.py --explain``: what tapd imports at start-up beyond ``import asyncio``.

:func:`explain_imports` starts tapd once under ``python -X importtime``,
compares its report with ``import asyncio`` alone (``bench/importtime.py``
reads both), and lists the standard-library modules tapd brings in, each with
what it pulls along and who imported it, costliest first.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.common import free_port
from bench.daemon_measure import Daemon, stop, wait_ready
from bench.importtime import ImportRecord, imports_beyond, parse_importtime


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
