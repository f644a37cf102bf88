"""A tiny line echo server that does not depend on the built-in services.

The port comes from the ECHO_PORT environment variable; the test sets it.
Not the shared tests/data/echo/ fixture on purpose: tapd runs this one, with its own service class.
"""

import asyncio
import logging
import os

from tap2pkg.runtime.service import Application, Service

log = logging.getLogger("echo")


class EchoServer(Service):
    """Answers every line with the same line, on 127.0.0.1:ECHO_PORT."""

    def __init__(self, port: int) -> None:
        super().__init__("echo")
        self.port = port
        self.server = None

    async def privileged_start(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", self.port)
        log.info("listening on 127.0.0.1:%d", self.port)

    async def handle(self, reader, writer) -> None:
        while line := await reader.readline():
            log.info("echo %r", line.decode().strip())
            writer.write(line)
            await writer.drain()
        writer.close()

    async def stop(self) -> None:
        await super().stop()
        self.server.close()
        log.info("echo server closed")


application = Application("echoapp")
EchoServer(int(os.environ["ECHO_PORT"])).set_service_parent(application)
