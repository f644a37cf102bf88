"""Save a real Twisted application as Twisted itself does: ``.tap`` (pickle) and ``.tas`` (AOT source).

Usage: ``python make_saved.py OUTDIR`` with Twisted installed; writes ``OUTDIR/echo.tap`` and
``OUTDIR/echo.tas``: an Application "echo" (uid 1000, gid 1000) with a TCPServer on port 8080
whose factory speaks twisted.protocols.wire.Echo, saved through ``twisted.persisted.sob``
(what ``twistd --savestats``/``mktap`` used to write). The tests run it at test time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from twisted.application import internet, service
from twisted.internet import protocol
from twisted.persisted import sob
from twisted.protocols import wire


def build() -> service.Application:
    """The application both files hold."""
    application = service.Application("echo", uid=1000, gid=1000)
    factory = protocol.ServerFactory()
    factory.protocol = wire.Echo
    internet.TCPServer(8080, factory).setServiceParent(service.IServiceCollection(application))
    return application


def main(outdir: str) -> None:
    """Write echo.tap and echo.tas into ``outdir``."""
    persistable = sob.IPersistable(build())
    persistable.save(filename=str(Path(outdir) / "echo.tap"))
    persistable.setStyle("source")
    persistable.save(filename=str(Path(outdir) / "echo.tas"))


if __name__ == "__main__":
    main(sys.argv[1])
