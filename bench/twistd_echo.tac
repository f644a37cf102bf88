# The benchmark's echo service, written for twistd (Twisted's API).
# Its twin bench/tapd_echo.tac is the same service for tapd; keep them alike.
# The port comes from BENCH_ECHO_PORT; it listens on 127.0.0.1 only.
import os

from twisted.application import internet, service
from twisted.internet.protocol import Factory, Protocol


class Echo(Protocol):
    """Send every byte received straight back."""

    def dataReceived(self, data):
        self.transport.write(data)


port = int(os.environ["BENCH_ECHO_PORT"])
application = service.Application("echo")
internet.TCPServer(port, Factory.forProtocol(Echo), interface="127.0.0.1").setServiceParent(application)
