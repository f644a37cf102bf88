"""Fixtures shared by several test modules."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory any user may write to, for tapd after it dropped root (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="tapd-shared-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)
