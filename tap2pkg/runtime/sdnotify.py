"""systemd integration without libsystemd: readiness, watchdog and socket activation.

* ``NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket): ``tapd``
  sends ``READY=1`` once its services are up and ``STOPPING=1`` when it
  begins to shut down;
* ``WATCHDOG_USEC``: ``WATCHDOG=1`` is sent every half period;
* ``LISTEN_FDS``/``LISTEN_PID``: the listening sockets systemd passed in,
  starting at file descriptor 3, handed to the TCP servers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING

from .lazy import lazy_import

if TYPE_CHECKING:
    import asyncio
else:  # imported on first use: tapd imports this module before it keeps ssl out
    asyncio = lazy_import("asyncio")

log = logging.getLogger("tapd")

#: the first file descriptor systemd passes (SD_LISTEN_FDS_START)
LISTEN_FDS_START = 3


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to ``NOTIFY_SOCKET``; ``False`` when there is none."""
    env = os.environ if environ is None else environ
    address = _address(env.get("NOTIFY_SOCKET", ""))
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", env.get("NOTIFY_SOCKET"), exc.strerror or exc)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half of ``WATCHDOG_USEC``), or ``None`` when not asked for."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    return usec / 2_000_000


async def run_watchdog(interval: float) -> None:
    """Send ``WATCHDOG=1`` every ``interval`` seconds until cancelled."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def listen_fds(environ: MutableMapping[str, str] | None = None, *, unset: bool = True) -> list[socket.socket]:
    """The sockets systemd passed (``LISTEN_FDS`` for our ``LISTEN_PID``), as socket objects.

    With ``unset`` the variables are removed so that child processes do not
    take the sockets for their own.
    """
    env = os.environ if environ is None else environ
    try:
        count = int(env.get("LISTEN_FDS", ""))
        pid = int(env.get("LISTEN_PID", ""))
    except ValueError:
        return []
    if pid != os.getpid() or count <= 0:
        return []
    if unset:
        for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            env.pop(name, None)
    sockets = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + count):
        with contextlib.suppress(OSError):
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                log.warning("systemd passed fd %d, which is not a socket; ignored", fd)
                continue
            os.set_inheritable(fd, False)
            sockets.append(socket.socket(fileno=fd))
    return sockets
