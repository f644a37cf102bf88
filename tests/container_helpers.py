"""Helpers shared by the tests that run verify's containers."""

from __future__ import annotations

from typing import Any

import pytest

from tap2pkg.errors import ImageMissingError
from tap2pkg.verify import DISTROS, find_image


def offline_image(client: Any, distro: str) -> str:
    """The tag of ``distro``'s image; the test is skipped when it has not been built."""
    try:
        return str(find_image(client, DISTROS[distro]))
    except ImageMissingError as exc:
        pytest.skip(str(exc))
