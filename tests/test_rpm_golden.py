"""The generated .spec, rpmlintrc and native scriptlets against golden copies.

Rewrite the golden files after an intended change with
``TAP2PKG_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_rpm_golden.py`` and
review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from golden_files import assert_matches_golden, assert_no_stale_golden_files

from tap2pkg.dependency import Dependency
from tap2pkg.rpm.source import rpm_sources
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"

SPEC = PackageSpec(
    name="echo", app_file=ECHO / "echo.tac", app_kind="python", maintainer="Jane Doe <jane@example.org>",
    version="1.2", ports=(8007,), includes=(ECHO / "echoproto.py",),
    long_description="An echo server.\n\nIt answers every line with the same line.",
    homepage="https://example.org/echo", license="Apache-2.0",
    depends=(Dependency.parse("python3-yaml (>= 5.0)"),), source_date_epoch=1700000000,
)


def generated() -> dict[str, str]:
    sources = rpm_sources(SPEC)
    # the spec and rpmlintrc come from templates/rpm/; the service files are tap2deb's too, tested there
    files = {name: data.decode() for name, data in sources.files().items()
             if name.endswith((".spec", ".rpmlintrc"))}
    files.update({f"native-{key}.sh": text + "\n" for key, text in sources.scriptlets.items()})
    return files


@pytest.mark.parametrize("name", sorted(generated()))
def test_matches_golden(name: str) -> None:
    assert_matches_golden("rpm", name, generated()[name])


def test_no_stale_golden_files() -> None:
    assert_no_stale_golden_files("rpm", generated())
