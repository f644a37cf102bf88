"""``portforward``: a TCP proxy, with twistd's option names.

``tapd -n portforward --port 6666 --host localhost --dest_port 6665`` accepts
connections on port 6666 and joins each one to a new connection to
``localhost:6665``. Flow control works both ways: when one side cannot take
more data, the proxy stops reading from the other until it can. A half-close
(EOF) is passed on; when either side goes away the other is closed once its
pending data is written.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import cast

from ..internet import TCPServer
from ..service import Factory, Service, persistable
from . import ServiceMaker

log = logging.getLogger("tap2pkg.portforward")


class _Side(asyncio.Protocol):
    """One end of a forwarded connection; ``peer`` is the other end's protocol."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.got_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        self.got_eof = True
        peer = self.peer
        if peer is None or peer.transport is None:
            return False
        if peer.got_eof:  # both directions are finished
            peer.transport.close()
            return False
        if peer.transport.can_write_eof():
            peer.transport.write_eof()
            return True  # keep our sending half open for the peer's answer
        peer.transport.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        peer, self.peer = self.peer, None
        if peer is not None:
            peer.peer = None
            if peer.transport is not None:
                peer.transport.close()  # flushes what is already buffered

    # our write buffer is full: stop reading from the peer, which is what fills it
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()


class ProxyClientProtocol(_Side):
    """The connection from the proxy to the destination; forwards to ``peer`` from the first byte."""

    def __init__(self, peer: _Side) -> None:
        super().__init__()
        self.peer = peer


@persistable
class ProxyServerProtocol(_Side):
    """An accepted connection; opens its own connection to ``host:dest_port``."""

    def __init__(self, host: str, dest_port: int, connect_timeout: float = 30.0) -> None:
        super().__init__()
        self.host = host
        self.dest_port = dest_port
        self.connect_timeout = connect_timeout
        self._connecting: asyncio.Task[None] | None = None
        self._early: list[bytes] = []  # what arrived before the destination answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.pause_reading()  # nothing to forward to yet (uvloop may read anyway)
        self._connecting = asyncio.ensure_future(self._connect())

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self._early.append(data)
            if self.transport is not None:
                self.transport.pause_reading()
            return
        super().data_received(data)

    def eof_received(self) -> bool:
        if self.peer is None:  # passed on once the destination is connected
            self.got_eof = True
            return True
        return super().eof_received()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            connecting = loop.create_connection(lambda: ProxyClientProtocol(self), self.host, self.dest_port)
            _, client = await asyncio.wait_for(connecting, self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            log.warning("portforward: cannot connect to %s:%d: %s", self.host, self.dest_port,
                        getattr(exc, "strerror", None) or exc or "timed out")
            if self.transport is not None:
                self.transport.close()
            return
        if self.transport is None or self.transport.is_closing():
            assert client.transport is not None
            client.transport.close()
            return
        if client.peer is None:  # the destination already hung up
            self.transport.close()
            return
        self.peer = client
        early, self._early = b"".join(self._early), []
        if early:
            assert client.transport is not None
            client.transport.write(early)
        if self.got_eof:
            self.got_eof = False
            if not self.eof_received():
                self.transport.close()
            return
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        self.transport = None
        super().connection_lost(exc)


class PortForwardMaker(ServiceMaker):
    """Builds a TCP port forwarder."""

    name = "portforward"
    description = "TCP port forwarder: proxies connections to a host and port"

    def options_parser(self) -> argparse.ArgumentParser:
        parser = super().options_parser()
        parser.add_argument("-p", "--port", type=int, default=6666, help="port to listen on (default 6666)")
        parser.add_argument("-i", "--interface", default="", help="address to listen on (default: all)")
        parser.add_argument("--host", default="localhost", help="host to forward to (default localhost)")
        parser.add_argument("-d", "--dest_port", "--dest-port", dest="dest_port", type=int, default=6665,
                            help="port to forward to (default 6665)")
        return parser

    def make_service(self, options: argparse.Namespace) -> Service:
        factory = Factory(ProxyServerProtocol, {"host": options.host, "dest_port": options.dest_port})
        return TCPServer(options.port, factory, interface=options.interface, name="portforward")


maker = PortForwardMaker()
