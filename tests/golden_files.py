"""Golden files for generated text, rewritten with ``TAP2PKG_UPDATE_GOLDEN=1``.

All of them live under one tree, ``tests/golden/<format>/`` (``GOLDEN_ROOT``).
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_ROOT = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TAP2PKG_UPDATE_GOLDEN") == "1"


def assert_matches_golden(name: str, text: str, golden: Path) -> None:
    """``text`` (generated as ``name``) equals the golden file; with the update switch, rewrite it first."""
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.is_file(), f"no golden file {golden}; run with TAP2PKG_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{name} differs from {golden}; if intended, update the golden files"
