"""TimerService: the periodic actions of an application.

Calls a function every ``interval`` seconds, never twice at once; a failure is
logged with its traceback and the timer keeps going.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from .service import Ref, Service, persistable, resolve

log = logging.getLogger("tap2pkg.internet")


@persistable
class TimerService(Service):
    """Call ``callable(*args, **kwargs)`` every ``interval`` seconds, never twice at once.

    ``callable`` may be a plain function (run in the event loop: keep it short),
    a coroutine function, or a :class:`Ref`. A call that outlasts the interval
    delays the next one, skipping the ticks it overran. An exception is logged
    with its traceback and the timer keeps going. With ``now`` the first call
    happens at start, otherwise one interval later.
    """

    persist_fields = ("interval", "callable", "args", "kwargs", "now", "name")

    #: Seconds ``stop()`` waits for a running call to finish before cancelling it.
    stop_timeout: float = 5.0

    def __init__(self, interval: float, callable: Any, args: tuple[Any, ...] | list[Any] = (),
                 kwargs: dict[str, Any] | None = None, now: bool = True, name: str | None = None) -> None:
        super().__init__(name)
        if not interval > 0:
            raise ValueError(f"TimerService interval must be a positive number of seconds, got {interval!r}")
        self.interval = interval
        self.callable = callable
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.now = now
        self.calls = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    @property
    def label(self) -> str:
        """How log lines name this timer."""
        target = self.callable.target if isinstance(self.callable, Ref) else getattr(
            self.callable, "__qualname__", repr(self.callable))
        return self.name or f"timer {target}"

    async def start(self) -> None:
        await super().start()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._wake))

    async def _call_once(self) -> None:
        self.calls += 1
        try:
            result = resolve(self.callable)(*self.args, **self.kwargs)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("%s: call failed; next call in %gs", self.label, self.interval)

    async def _run(self, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + (0 if self.now else self.interval)
        while not wake.is_set():
            delay = next_at - loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(wake.wait(), delay)
                    return
                except TimeoutError:
                    pass
            await self._call_once()
            next_at += self.interval
            now = loop.time()
            if next_at <= now:  # the call overran: skip the ticks it missed
                next_at += ((now - next_at) // self.interval + 1) * self.interval

    async def stop(self) -> None:
        await super().stop()
        task, self._task = self._task, None
        if self._wake is not None:
            self._wake.set()
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=self.stop_timeout)
        if not done:
            log.warning("%s: call still running after %.1fs; cancelled", self.label, self.stop_timeout)
            task.cancel()
            await asyncio.wait({task})
