"""A lazily imported module loads on its first attribute read, not when it is declared."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tap2pkg.runtime.lazy import lazy_import


def test_a_lazy_module_loads_on_first_use_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lazy_probe.py").write_text("LOADS = []\nLOADS.append(1)\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_probe", raising=False)
    probe = lazy_import("lazy_probe")
    assert "lazy_probe" not in sys.modules and "imported on first use" in repr(probe)
    assert probe.VALUE == 42
    assert probe.VALUE == 42 and sys.modules["lazy_probe"].LOADS == [1]  # loaded once


def test_a_missing_lazy_module_fails_where_it_is_used() -> None:
    missing = lazy_import("tap2pkg.no_such_module")  # declaring it is harmless
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        missing.anything  # noqa: B018 -- the read is the point
