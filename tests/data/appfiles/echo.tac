# A Python application file: it runs when loaded (that is its nature).
# Not the shared tests/data/echo/ fixture on purpose: it is the .tac twin of echo.tas/echo.tax here
# (uid/gid, TCP+UDP+timer services, factory options), so the loaders can be compared.
import echo_protocol

from tap2pkg.runtime.internet import TCPServer, TimerService, UDPServer
from tap2pkg.runtime.service import Application, Factory

application = Application("echo", uid="nobody", gid="nogroup")
TCPServer(8007, Factory(echo_protocol.Echo, {"greeting": "hi"}), interface="127.0.0.1",
          name="echo-tcp").set_service_parent(application)
UDPServer(8008, Factory(echo_protocol.Echo), name="echo-udp").set_service_parent(application)
TimerService(60.0, echo_protocol.tick, name="tick").set_service_parent(application)
