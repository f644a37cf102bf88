"""Helpers shared by the tests that install packages in verify's containers or in a chroot."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tap2pkg import builders
from tap2pkg.builders import BuildOptions
from tap2pkg.errors import ImageMissingError
from tap2pkg.spec import PackageSpec
from tap2pkg.verify import DISTROS, find_image

ECHO = Path(__file__).resolve().parent.parent / "examples" / "echo"


def offline_image(client: Any, distro: str) -> str:
    """The tag of ``distro``'s image; the test is skipped when it has not been built."""
    try:
        return str(find_image(client, DISTROS[distro]))
    except ImageMissingError as exc:
        pytest.skip(str(exc))


def build_echo_deb(tmp_path: Path, builder: str, version: str) -> Path:
    """The echo example's .deb at ``version`` from ``builder``; skipped when dpkg-buildpackage is missing."""
    if builder == "dpkg" and shutil.which("dpkg-buildpackage") is None:
        pytest.skip("dpkg-buildpackage is not installed")
    spec = PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python",
                       maintainer="Jane Doe <jane@example.org>", version=version, ports=(8007,),
                       includes=(ECHO / "echoproto.py",), source_date_epoch=1700000000)
    out = tmp_path / f"{builder}-{version}"
    [deb] = builders.build(spec, out, "deb", builder, BuildOptions(source=False)).paths("package")
    return deb
