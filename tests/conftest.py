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


@pytest.fixture(scope="session")
def twisted_docs() -> Path:
    """Twisted's unpacked source distribution, whose ``docs/`` holds Twisted's own example app files.

    ``make test`` fetches it and sets ``TAP2PKG_TWISTED_SDIST_DIR``; without the variable the tests that
    need it are skipped, and with it set to a tree that is not there they fail.
    """
    import os

    where = os.environ.get("TAP2PKG_TWISTED_SDIST_DIR")
    if not where:
        pytest.skip("TAP2PKG_TWISTED_SDIST_DIR is not set (`make twisted-docs` fetches Twisted's sdist)")
    path = Path(where)
    assert (path / "docs").is_dir(), (f"TAP2PKG_TWISTED_SDIST_DIR={where} has no docs/; "
                                      "run `make twisted-docs`")
    return path
