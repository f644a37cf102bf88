"""Helpers shared by the tests that run runtime services in-process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from tap2pkg.runtime.service import Service

S = TypeVar("S", bound=Service)


def loop_factories() -> list[Any]:
    """The event loops to run on: asyncio's own, and uvloop's when it is installed."""
    factories: list[Any] = [pytest.param(asyncio.new_event_loop, id="asyncio")]
    try:
        import uvloop
    except ImportError:
        return factories
    return [*factories, pytest.param(uvloop.new_event_loop, id="uvloop")]


@contextlib.contextmanager
def running(service: S, new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
            ) -> Iterator[S]:
    """Run ``service`` on an event loop in a background thread for the test's duration."""
    loop = new_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coro: Coroutine[Any, Any, object]) -> None:
        asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    try:
        call(service.privileged_start())
        call(service.start())
        yield service
    finally:
        call(service.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def process_ids(pid: int) -> dict[str, list[int]]:
    """The ``Uid``, ``Gid`` and ``Groups`` lines of ``/proc/<pid>/status``, as numbers."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                fields[key] = [int(v) for v in value.split()]
    return fields
