"""Generated debian/ files and native maintainer scripts against golden copies.

Rewrite the golden files after an intended change with
``TAP2PKG_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_deb_golden.py`` and
review the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from golden_files import assert_matches_golden, assert_no_stale_golden_files

from tap2pkg.deb.native import control_text, maintainer_scripts
from tap2pkg.deb.source import DebPayload
from tap2pkg.spec import PackageSpec

HERE = Path(__file__).parent

SPEC = PackageSpec(
    name="echo", app_file=HERE / "data" / "echo" / "echo.tac", app_kind="python",
    maintainer="Jane Doe <jane@example.org>", version="1.2", ports=(8007,),
    long_description="An echo server.\n\nIt answers every line with the same line.",
    homepage="https://example.org/echo", license="Apache-2.0", source_date_epoch=1700000000,
)


def generated() -> dict[str, str]:
    payload = DebPayload.for_spec(SPEC)
    files = {f"debian/{name}": text for name, (text, _mode) in payload.debian.items()}
    files.update({f"native/{name}": text for name, text in maintainer_scripts(payload).items()})
    files["native/control"] = control_text(payload, 123)
    return files


@pytest.mark.parametrize("name", sorted(generated()))
def test_matches_golden(name: str) -> None:
    assert_matches_golden("deb", name, generated()[name])


def test_no_stale_golden_files() -> None:
    assert_no_stale_golden_files("deb", generated())


def test_control_parses_with_python_debian() -> None:
    from debian.deb822 import Deb822

    paragraphs = list(Deb822.iter_paragraphs(generated()["debian/control"]))
    source, binary = paragraphs
    assert source["Source"] == "echo"
    assert source["Build-Depends"] == "debhelper-compat (= 13)"
    assert source["Rules-Requires-Root"] == "no"
    assert source["Homepage"] == "https://example.org/echo"
    assert binary["Architecture"] == "all"
    assert "python3 (>= 3.11)" in binary["Depends"]
    assert binary["Description"].startswith("Server for echo\n")


def test_changelog_parses_with_python_debian() -> None:
    from debian.changelog import Changelog

    log = Changelog(generated()["debian/changelog"])
    assert str(log.version) == "1.2-1"
    assert log.package == "echo"
    assert log.distributions == "unstable"
    assert log.date == "Tue, 14 Nov 2023 22:13:20 -0000"


def test_copyright_is_machine_readable() -> None:
    from debian.copyright import Copyright, License

    copyright_ = Copyright(generated()["debian/copyright"].splitlines())
    # python-debian types the paragraphs' license field as its descriptor; the value is a License
    licenses = {cast(License, p.license).synopsis for p in copyright_.all_files_paragraphs()}
    assert licenses == {"Apache-2.0", "MIT"}
    assert {cast(License, p.license).synopsis
            for p in copyright_.all_license_paragraphs()} == {"Apache-2.0", "MIT"}


def test_maintainer_scripts_are_posix_sh_with_set_e() -> None:
    for name, text in maintainer_scripts(DebPayload.for_spec(SPEC)).items():
        assert text.startswith("#!/bin/sh\nset -e\n"), name
        assert "#DEBHELPER#" not in text
