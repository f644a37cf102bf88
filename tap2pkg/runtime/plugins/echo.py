"""``echo``: send every byte back, over TCP and UDP on the same port (RFC 862).

``tapd -n echo --port 8007`` answers on TCP and UDP port 8007 (the standard
echo port 7 needs root; 8007 is the unprivileged default).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import cast

from ..internet import TCPServer, UDPServer
from ..service import Factory, MultiService, Service, persistable
from . import ServiceMaker

log = logging.getLogger("tap2pkg.echo")

DEFAULT_PORT = 8007


@persistable
class EchoProtocol(asyncio.Protocol):
    """TCP echo; stops reading while the peer is not reading what it is sent."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


@persistable
class EchoDatagramProtocol(asyncio.DatagramProtocol):
    """UDP echo: each datagram goes back to its sender."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # not every loop's datagram transport subclasses DatagramTransport (3.11's selector one does not)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("echo datagram error: %s", exc)


class EchoMaker(ServiceMaker):
    """Builds a TCP and a UDP echo server on one port."""

    name = "echo"
    description = "echo server: sends back whatever it receives (TCP and UDP)"

    def options_parser(self) -> argparse.ArgumentParser:
        parser = super().options_parser()
        parser.add_argument("-p", "--port", type=int, default=DEFAULT_PORT,
                            help=f"TCP and UDP port to listen on (default {DEFAULT_PORT})")
        parser.add_argument("-i", "--interface", default="",
                            help="address to listen on (default: all)")
        return parser

    def make_service(self, options: argparse.Namespace) -> Service:
        return MultiService(name="echo", services=[
            TCPServer(options.port, Factory(EchoProtocol), interface=options.interface, name="echo-tcp"),
            UDPServer(options.port, Factory(EchoDatagramProtocol), interface=options.interface,
                      name="echo-udp"),
        ])


maker = EchoMaker()
