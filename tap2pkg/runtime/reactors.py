"""Event loops ``tapd`` can run on, chosen with ``-r/--reactor`` (twistd's name for it).

``asyncio`` is the standard loop and the default. ``uvloop`` is offered when the
``uvloop`` module is installed. ``select``, ``poll`` and ``epoll`` are asyncio
selector loops forced onto that system call.

Unless started with ``--tls`` (or ``TAPD_TLS=1``, or ``-r uvloop``, which
loads ``ssl`` itself), ``tapd`` calls :func:`block_tls` before asyncio is
first imported: asyncio then runs without the ``ssl`` module (about 4 MiB of
resident memory and a few milliseconds of start-up), and application code
that imports ``ssl`` gets one clear error naming the option. Code that
imports ``ssl`` inside ``try/except ImportError`` (asyncio, http.client,
urllib.request, smtplib...) carries on without TLS, as on a Python built
without it.

Nothing here imports asyncio at module level, so that ``tapd`` can parse its
options (and block ``ssl``) before asyncio is loaded.
"""

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from .errors import UsageError
from .lazy import lazy_import

if TYPE_CHECKING:
    import asyncio
    import selectors
    from importlib.machinery import ModuleSpec
    from types import ModuleType
else:  # imported on first use: not before tapd has read its options and kept ssl out (see above)
    asyncio = lazy_import("asyncio")
    selectors = lazy_import("selectors")

#: the modules tapd keeps out of the process without ``--tls``
TLS_MODULES = ("ssl", "_ssl")
NO_TLS_MESSAGE = ("the application imports ssl, which tapd loads only with --tls "
                  "(or TAPD_TLS=1 in /etc/default/<pkg> or /etc/sysconfig/<pkg>)")


class TLSDisabledError(ModuleNotFoundError):
    """``import ssl`` without ``tapd --tls`` (an ImportError, so asyncio's optional import skips it)."""


def tls_refusal(exc: BaseException | None) -> "TLSDisabledError | None":
    """The :class:`TLSDisabledError` behind ``exc`` (itself, its cause or its context), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, TLSDisabledError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class _TLSBlocker:
    """A meta path finder that refuses :data:`TLS_MODULES` with :data:`NO_TLS_MESSAGE`."""

    @classmethod
    def find_spec(cls, name: str, path: Sequence[str] | None = None,
                  target: "ModuleType | None" = None) -> "ModuleSpec | None":
        if name in TLS_MODULES:
            raise TLSDisabledError(NO_TLS_MESSAGE, name=name)
        return None


def block_tls() -> bool:
    """Keep ``ssl`` from being imported from now on; False when it is already loaded (too late)."""
    if any(name in sys.modules for name in TLS_MODULES):
        return False
    if _TLSBlocker not in sys.meta_path:
        sys.meta_path.insert(0, _TLSBlocker)  # a class with a find_spec classmethod is a finder
    return True


def unblock_tls() -> None:
    """Undo :func:`block_tls` (for tests that run tapd in-process)."""
    while _TLSBlocker in sys.meta_path:
        sys.meta_path.remove(_TLSBlocker)


# No ``from __future__ import annotations`` in this module: typing.NamedTuple is created much
# faster from real types than from strings, and tapd creates it at every start.
class Reactor(NamedTuple):
    """One selectable event loop: its name, what it is, and how to make one."""

    name: str
    description: str
    selector: str | None = None

    @property
    def available(self) -> bool:
        """Whether this loop can run on this system."""
        if self.name == "uvloop":
            try:
                import uvloop  # noqa: F401
            except ImportError:
                return False
            return True
        if self.selector is not None:
            return hasattr(selectors, self.selector)
        return True

    def check(self) -> None:
        """:class:`UsageError` when this loop cannot run here; creates no loop (nor imports asyncio)."""
        if not self.available:
            self.loop_factory()  # raises the error that says why

    def loop_factory(self) -> "Callable[[], asyncio.AbstractEventLoop]":
        """A callable making a new event loop of this kind."""
        # read first, whatever the kind: this call imports asyncio, as tapd needs before --chroot and
        # before a .tac's directory goes on sys.path (Runner.import_runtime)
        new_event_loop = asyncio.new_event_loop
        if self.name == "uvloop":
            try:
                import uvloop
            except TLSDisabledError:
                raise UsageError("the uvloop event loop imports the ssl module, which tapd loads only "
                                 "with --tls; run it with --tls") from None
            except ImportError:
                raise UsageError("the uvloop event loop is not installed (install python3-uvloop "
                                 "or choose another with -r; see --help-reactors)") from None
            new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
            return new_loop
        if self.selector is not None:
            selector_class = getattr(selectors, self.selector, None)
            if selector_class is None:
                raise UsageError(f"the {self.name} event loop is not available on this system "
                                 "(see --help-reactors)")
            return lambda: asyncio.SelectorEventLoop(selector_class())
        return new_event_loop


REACTORS: dict[str, Reactor] = {
    reactor.name: reactor
    for reactor in (
        Reactor("asyncio", "the standard asyncio event loop (default)"),
        Reactor("uvloop", "uvloop, a faster loop built on libuv (when installed; implies --tls, "
                          "as uvloop loads the ssl module itself)"),
        Reactor("select", "asyncio selector loop using select()", "SelectSelector"),
        Reactor("poll", "asyncio selector loop using poll()", "PollSelector"),
        Reactor("epoll", "asyncio selector loop using epoll()", "EpollSelector"),
    )
}


def get_reactor(name: str) -> Reactor:
    """The reactor called ``name``; :class:`UsageError` when there is none."""
    try:
        return REACTORS[name]
    except KeyError:
        raise UsageError(f"unknown reactor {name!r}; choose one of {', '.join(REACTORS)}") from None


def describe_reactors() -> str:
    """The ``--help-reactors`` text: one line per loop, unavailable ones marked."""
    width = max(len(name) for name in REACTORS)
    lines = ["Event loops for -r/--reactor:"]
    for reactor in REACTORS.values():
        mark = "" if reactor.available else "  [unavailable]"
        lines.append(f"    {reactor.name.ljust(width)}  {reactor.description}{mark}")
    return "\n".join(lines) + "\n"
