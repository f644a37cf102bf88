"""Three services that log when they start and stop; "stuck" never finishes stopping."""

import asyncio
import logging

from tap2pkg.runtime.service import Application, Service

log = logging.getLogger("order")


class Noisy(Service):
    """Logs its start and stop; with hang=True its stop never returns."""

    def __init__(self, name: str, hang: bool = False) -> None:
        super().__init__(name)
        self.hang = hang

    async def start(self) -> None:
        await super().start()
        log.info("start %s", self.name)

    async def stop(self) -> None:
        await super().stop()
        log.info("stop %s", self.name)
        if self.hang:
            await asyncio.sleep(3600)


application = Application("order")
for name, hang in (("first", False), ("stuck", True), ("last", False)):
    Noisy(name, hang).set_service_parent(application)
