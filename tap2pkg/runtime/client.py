"""ClientService: keep one connection open, reconnecting with backoff and jitter."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .addresses import check_factory as _check_factory
from .addresses import host_text, port_number
from .addresses import where as _where
from .errors import ServiceUnavailableError
from .lazy import lazy_import
from .service import Service, persistable

if TYPE_CHECKING:
    import random
else:  # imported on first use: most daemons never reconnect (tapd --chroot preloads it)
    random = lazy_import("random")

log = logging.getLogger("tap2pkg.internet")


# --------------------------------------------------------------------------- reconnecting client


class _WatchedProtocol(asyncio.Protocol):
    """Forwards everything to the real protocol and reports when the connection is lost."""

    def __init__(self, inner: Any, lost: asyncio.Future[None]) -> None:
        self.inner = inner
        self.lost = lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.inner.connection_lost(exc)
        finally:
            if not self.lost.done():
                self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _WatchedBufferedProtocol(_WatchedProtocol, asyncio.BufferedProtocol):
    """The same for a :class:`asyncio.BufferedProtocol`."""

    def get_buffer(self, sizehint: int) -> Any:
        return self.inner.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self.inner.buffer_updated(nbytes)


@persistable
class ClientService(Service):
    """Keep one TCP connection to ``host:port`` open, reconnecting with backoff.

    A failed attempt or a lost connection is retried after ``initial_delay``
    seconds, the wait growing by ``factor`` per failure up to ``max_delay``,
    each wait varied by +/- ``jitter`` (a fraction) so that many clients don't
    reconnect in step. A successful connection resets the wait.
    """

    persist_fields = ("host", "port", "factory", "initial_delay", "max_delay", "factor", "jitter", "name")

    #: Seconds one connection attempt may take.
    connect_timeout: float = 30.0

    def __init__(self, host: str, port: int, factory: Any, initial_delay: float = 1.0,
                 max_delay: float = 60.0, factor: float = 2.0, jitter: float = 0.1,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.host = host_text(host, "host")
        self.port = port_number(port)
        self.factory = factory
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.factor = factor
        self.jitter = jitter
        self.protocol: Any = None
        self.transport: asyncio.BaseTransport | None = None
        self._waiters: list[asyncio.Future[Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    @property
    def label(self) -> str:
        """How log lines name this client."""
        return self.name or f"client of {_where(self.host, self.port)}"

    async def when_connected(self, timeout: float | None = None) -> Any:
        """Return the connected protocol, waiting up to ``timeout`` seconds for a connection.

        Raises :class:`TimeoutError` when none comes in time, and
        :class:`ServiceUnavailableError` when the service stops meanwhile.
        """
        if self.protocol is not None:
            return self.protocol
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _backoff(self, delay: float) -> float:
        return max(0.0, delay * (1 + random.uniform(-self.jitter, self.jitter)))

    async def start(self) -> None:
        await super().start()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._wake))

    async def _pause(self, wake: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _run(self, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        delay = self.initial_delay
        while not wake.is_set():
            lost: asyncio.Future[None] = loop.create_future()
            try:
                factory = _check_factory(self.factory, self.label)

                def protocol_factory(factory: Any = factory, lost: asyncio.Future[None] = lost) -> Any:
                    inner = factory()
                    watched = _WatchedBufferedProtocol if isinstance(inner, asyncio.BufferedProtocol) \
                        else _WatchedProtocol
                    return watched(inner, lost)

                transport, watcher = await asyncio.wait_for(
                    loop.create_connection(protocol_factory, self.host, self.port), self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                wait = self._backoff(delay)
                reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
                log.info("%s: cannot connect (%s); retrying in %.2fs", self.label, reason, wait)
                delay = min(delay * self.factor, self.max_delay)
                await self._pause(wake, wait)
                continue
            except Exception:  # a broken factory must not end the retry loop
                wait = self._backoff(delay)
                log.exception("%s: connection set-up failed; retrying in %.2fs", self.label, wait)
                delay = min(delay * self.factor, self.max_delay)
                await self._pause(wake, wait)
                continue
            delay = self.initial_delay
            self.transport, self.protocol = transport, watcher.inner
            log.info("%s: connected", self.label)
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(self.protocol)
            stopping: asyncio.Future[Any] = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({lost, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            self.transport, self.protocol = None, None
            if wake.is_set():
                transport.close()
                await asyncio.wait({lost}, timeout=1.0)
                return
            wait = self._backoff(delay)
            log.info("%s: connection lost; reconnecting in %.2fs", self.label, wait)
            delay = min(delay * self.factor, self.max_delay)
            await self._pause(wake, wait)

    async def stop(self) -> None:
        await super().stop()
        task, self._task = self._task, None
        if self._wake is not None:
            self._wake.set()
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=2.0)
            if not done:
                task.cancel()
                await asyncio.wait({task})
        if self.transport is not None:
            self.transport.close()
            self.transport, self.protocol = None, None
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(ServiceUnavailableError(f"{self.label} stopped before it connected"))
