# The benchmark's echo service, written for tapd (tap2pkg's runtime API).
# Its twin bench/twistd_echo.tac is the same service for twistd; keep them alike.
# The port comes from BENCH_ECHO_PORT; it listens on 127.0.0.1 only.
import asyncio
import os

from tap2pkg.runtime.internet import TCPServer
from tap2pkg.runtime.service import Application, Factory


class Echo(asyncio.Protocol):
    """Send every byte received straight back."""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


port = int(os.environ["BENCH_ECHO_PORT"])
application = Application("echo")
TCPServer(port, Factory(Echo), interface="127.0.0.1").set_service_parent(application)
