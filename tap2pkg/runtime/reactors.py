"""Event loops ``tapd`` can run on, chosen with ``-r/--reactor`` (twistd's name for it).

``asyncio`` is the standard loop and the default. ``uvloop`` is offered when the
``uvloop`` module is installed. ``select``, ``poll`` and ``epoll`` are asyncio
selector loops forced onto that system call.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable
from dataclasses import dataclass

from .errors import UsageError


@dataclass(frozen=True)
class Reactor:
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

    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop]:
        """A callable making a new event loop of this kind."""
        if self.name == "uvloop":
            try:
                import uvloop
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
        return asyncio.new_event_loop


REACTORS: dict[str, Reactor] = {
    reactor.name: reactor
    for reactor in (
        Reactor("asyncio", "the standard asyncio event loop (default)"),
        Reactor("uvloop", "uvloop, a faster loop built on libuv (when installed)"),
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
