"""The echo test app's own code, installed beside the runtime."""


def serve(application: object, port: int) -> None:
    """Attach an echo server on ``port`` to ``application``."""
    from tap2pkg.runtime.internet import TCPServer

    TCPServer(port, "tap2pkg.runtime.plugins.echo:EchoFactory").setServiceParent(application)
