from twisted.application import internet, service
from twisted.web import server

from kleinapp import app

application = service.Application("kleinweb")
internet.TCPServer(8080, server.Site(app.resource())).setServiceParent(application)
