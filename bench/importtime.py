"""Reading ``python -X importtime`` reports: what a program imports, and who imported it.

Start-up time and memory of a Python daemon are mostly its imports. These
helpers turn the report into records and pick out what a program imports
beyond a baseline (for tapd: beyond ``import asyncio``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImportRecord:
    """One line of ``python -X importtime``: a module, its own and cumulative microseconds."""

    module: str
    self_us: int
    cumulative_us: int
    imported_by: str


def parse_importtime(text: str) -> list[ImportRecord]:
    """The modules a ``-X importtime`` report lists, each with the module that imported it.

    The report is post-order: a module's imports are listed just before it,
    indented one level (two spaces) deeper.
    """
    rows: list[tuple[str, int, int, int]] = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((name.strip(), int(parts[0]), int(parts[1]), depth))
    records = []
    for i, (name, self_us, cumulative_us, depth) in enumerate(rows):
        parent = next((r[0] for r in rows[i + 1:] if r[3] < depth), "")
        records.append(ImportRecord(name, self_us, cumulative_us, parent))
    return records


def imports_beyond(report: str, baseline: str, own_package: str = "tap2pkg"
                   ) -> tuple[list[ImportRecord], list[ImportRecord]]:
    """What ``report`` imports that ``baseline`` does not: ``(own, roots)``.

    ``own`` are the modules of ``own_package``; ``roots`` are the other new
    modules that its code (or a function at run time) imported directly,
    costliest first -- the candidates for importing lazily.
    """
    known = {r.module for r in parse_importtime(baseline)}
    extra = [r for r in parse_importtime(report) if r.module not in known]
    names = {r.module for r in extra}
    own_prefix = own_package
    own = [r for r in extra if r.module.split(".")[0] == own_prefix]
    roots = [r for r in extra if r.module.split(".")[0] != own_prefix
             and (r.imported_by not in names or r.imported_by.split(".")[0] == own_prefix)]
    return own, sorted(roots, key=lambda r: -r.cumulative_us)
