"""An application that imports ssl only when its service starts, then stops itself."""

import os
import signal

from tap2pkg.runtime.service import Application, Service


class TLSClient(Service):
    async def start(self) -> None:
        await super().start()
        import ssl
        ssl.create_default_context()
        print("tls context ready", flush=True)
        os.kill(os.getpid(), signal.SIGTERM)


application = Application("tlsclient")
TLSClient("client").set_service_parent(application)
