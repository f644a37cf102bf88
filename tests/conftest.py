"""Fixtures shared by several test modules."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: What the tests hand to pip (``make test-inputs`` fills it: ci/wheelhouse.sh)
WHEELHOUSE = Path(__file__).resolve().parent.parent / ".cache" / "wheelhouse"


def pytest_configure(config: pytest.Config) -> None:
    """No test reaches the package index: pip (also in isolated builds and ``pip download``) reads only the
    local wheelhouse, and fetched sdists are kept in a directory of this run, not the user's cache."""
    import os

    wheelhouse = Path(os.environ.get("TAP2PKG_TEST_WHEELHOUSE") or WHEELHOUSE)
    os.environ["PIP_NO_INDEX"] = "1"
    os.environ["PIP_FIND_LINKS"] = str(wheelhouse)
    os.environ.setdefault("TAP2PKG_CACHE_DIR", tempfile.mkdtemp(prefix="tap2pkg-test-cache-"))


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """The local wheelhouse pip reads in the tests (build backends, the klein sdist); skips without it."""
    import os

    path = Path(os.environ["PIP_FIND_LINKS"])
    if not (path / ".complete").is_file():
        pytest.skip(f"no wheelhouse at {path} (`make test-inputs` fills it)")
    return path


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


@pytest.fixture(scope="session")
def client() -> Any:
    """The docker engine verify uses (``DOCKER_HOST``, a docker context, else the local socket)."""
    from tap2pkg.verify import connect

    return connect()


@pytest.fixture(scope="session")
def images(client: Any) -> dict[str, str]:
    """One offline image tag per verify distro for the whole session (reused when the recipe is unchanged)."""
    from tap2pkg.verify import DISTROS, build_image

    return {name: build_image(client, DISTROS[name], offline=True).tag
            for name in ("debian:bookworm", "rpm-on-debian")}
