"""Golden files for generated text, rewritten with ``TAP2PKG_UPDATE_GOLDEN=1``.

All of them live under one tree, ``tests/golden/<format>/`` (``GOLDEN_ROOT``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

GOLDEN_ROOT = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TAP2PKG_UPDATE_GOLDEN") == "1"


def assert_matches_golden(fmt: str, name: str, text: str) -> None:
    """``text`` (generated as ``name``) is ``tests/golden/<fmt>/<name>``; the update switch rewrites that."""
    golden = GOLDEN_ROOT / fmt / name
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.is_file(), f"no golden file {golden}; run with TAP2PKG_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{name} differs from {golden}; if intended, update the golden files"


def assert_no_stale_golden_files(fmt: str, names: Iterable[str]) -> None:
    """Every file under ``tests/golden/<fmt>/`` is one of ``names``, the files still generated."""
    golden, known = GOLDEN_ROOT / fmt, set(names)
    stale = sorted(p for p in golden.rglob("*") if p.is_file() and str(p.relative_to(golden)) not in known)
    assert not stale, f"golden files no longer generated: {stale}; remove them"
