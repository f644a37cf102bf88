"""The echo example's own protocol: send every byte back, and log who connected.

This module is the "application code" of the example: ``echo.tac`` imports
it, and a package built from ``echo.tac`` must include it (``--include``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

log = logging.getLogger("echoproto")


class Echo(asyncio.Protocol):
    """One TCP connection: whatever arrives goes straight back."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        log.info("connection from %s", self.peer)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    # a client that sends without reading must not make us buffer without bound
    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        log.info("%s disconnected", self.peer)
