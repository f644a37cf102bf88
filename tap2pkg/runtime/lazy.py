"""Imports made on first use, declared in one place at the top of a module.

A module that defers an import (to keep a start-up short, to load an
optional dependency only when it is used, or to break an import cycle)
declares it once, beside its other imports, with the reason::

    from typing import TYPE_CHECKING

    from .lazy import lazy_import

    if TYPE_CHECKING:
        import asyncio

        from . import persist
    else:  # imported on first use: <why>
        asyncio = lazy_import("asyncio")
        persist = lazy_import("tap2pkg.runtime.persist")

and uses ``asyncio.run(...)`` and ``persist.load(...)`` as usual: the first
attribute read imports the module. Type checkers see the real import.

An import that probes for an optional module (``try: import uvloop``) stays
where it is probed: its ``ImportError`` is the answer.
"""

from __future__ import annotations

import sys
from typing import Any


class LazyModule:
    """Stands for a module until an attribute is read, then imports it and answers from it."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        # only names the proxy lacks come here: every read is the module's (sys.modules answers after
        # the first import). __import__ is what an import statement calls: `python -X importtime` and
        # audit hooks report the module, as they did the function-level import it replaces
        # (importlib.import_module loads it unseen by both)
        __import__(self._name)
        return getattr(sys.modules[self._name], attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


def lazy_import(name: str) -> Any:
    """A stand-in for module ``name`` (absolute) that imports it on first attribute read."""
    return LazyModule(name)
