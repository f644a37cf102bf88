"""The tap2pkg runtime: services tree, built-in services, persistence and ``tapd``.

Standard library only: this package is copied verbatim into every package
tap2pkg builds (``/usr/lib/<pkg>/tap2pkg/runtime``).

The names below are imported on first use, so that importing
``tap2pkg.runtime.errors`` (as every command-line tool does) does not pay for
asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import AppFileError, Tap2pkgError
    from .service import Application, Factory, MultiService, Ref, Service, persistable

_WHERE = {
    "AppFileError": "errors",
    "Tap2pkgError": "errors",
    "Application": "service",
    "Factory": "service",
    "MultiService": "service",
    "Ref": "service",
    "Service": "service",
    "persistable": "service",
}

__all__ = [
    "AppFileError",
    "Application",
    "Factory",
    "MultiService",
    "Ref",
    "Service",
    "Tap2pkgError",
    "persistable",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
