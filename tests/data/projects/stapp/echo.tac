from twisted.application import internet, service
from twisted.internet import protocol

import stapp


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(stapp.GREETING + b" " + data)


factory = protocol.ServerFactory()
factory.protocol = Echo
application = service.Application("stapp")
internet.TCPServer(8007, factory).setServiceParent(application)
