#!/usr/bin/python3
"""Run a Twisted application file under the distribution's Twisted, as twistd does, with readiness.

Installed by tap2pkg as ``/usr/lib/<pkg>/twisted-launcher`` and started as::

    python3 /usr/lib/<pkg>/twisted-launcher [twistd options] -y|-f|-s APPFILE

It takes twistd's own options (``twisted.scripts._twistd_unix.ServerOptions``)
and runs Twisted's ``UnixApplicationRunner`` in this process, adding what a
packaged service needs and twistd lacks:

* systemd readiness: with ``--nodaemon`` and ``NOTIFY_SOCKET`` set (a unit
  with ``Type=notify``), ``READY=1`` is sent once the reactor runs, which is
  after the application's services started and bound their ports, and
  ``STOPPING=1`` when shutdown begins. An application that fails to start
  (a port in use...) makes the launcher exit 1 and sends no ``READY=1``, so
  ``systemctl start`` fails.
* a service started by systemd as its ``User=`` is not root: the app file's
  ``Application(uid=, gid=)`` is then not switched to (twistd would fail on
  ``setgid``); as root (the init script, with ``--uid``/``--gid``) Twisted
  binds the ports first and then drops to that user, as twistd does.
* the app file's directory and the launcher's own directory (the package's
  library directory, where ``--include`` code goes) are importable.
* a ``.tas`` whose ``Process`` came back without ``uid``/``gid`` (Twisted's
  AOT writer can save it so; twistd fails on it) runs as one that sets neither.
* no ``__pycache__`` is written: the package's directories belong to dpkg/rpm.
* a stop by SIGTERM or SIGINT exits 0 (twistd kills itself with the signal).

In daemon mode (no ``--nodaemon``) Twisted's own start-up report applies: the
first process waits until the application started and exits 1 when it failed.
Works with Twisted 22.4 (Debian bookworm) and later; Python 3.9 or later.
"""

from __future__ import annotations

import os
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

# /usr/lib/<pkg> belongs to the package: never leave __pycache__ there for dpkg/rpm to trip on.
sys.dont_write_bytecode = True

#: Exit statuses: a command-line mistake, and an application that failed to start.
EXIT_USAGE = 64
EXIT_START_FAILED = 1

#: twistd's option naming the app file, per flag (python -y, pickle -f, source -s).
APP_FILE_OPTIONS = ("python", "source", "file")  # in twistd's order: --file has a default


def notify_address(value: str) -> Any | None:
    """The ``NOTIFY_SOCKET`` value as a socket address: a path, or ``@name`` for an abstract socket."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def sd_notify(address: Any | None, state: str, log: Callable[[str], object]) -> bool:
    """Send ``state`` (``READY=1``...) to systemd at ``address``; False when there is none or it fails."""
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log(f"cannot notify systemd ({state}): {exc.strerror or exc}")
        return False
    return True


def import_paths(app_file: str | None, launcher: str) -> list[str]:
    """The directories put first on ``sys.path``: the launcher's (the package's library directory), then
    the app file's."""
    dirs = [os.path.dirname(os.path.realpath(launcher))]
    if app_file:
        dirs.append(os.path.dirname(os.path.abspath(app_file)))
    return list(dict.fromkeys(dirs))


def main(argv: list[str] | None = None) -> int:
    """Parse twistd's options from ``argv`` (default ``sys.argv[1:]``), run the app; the exit status."""
    from twisted.application import service
    from twisted.python import log, usage
    from twisted.scripts import _twistd_unix

    # twistd's options and runner are not annotated: typed as Any here rather than an ignore per call.
    twistd: Any = _twistd_unix

    args = sys.argv[1:] if argv is None else argv
    config = twistd.ServerOptions()
    try:
        config.parseOptions(args or ["--help"])
    except usage.UsageError as exc:
        print(f"{os.path.basename(sys.argv[0])}: error: {exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    # The process keeps its name: twistd would re-exec itself to take the Application's processName.
    config["originalname"] = True
    app_file = next((config[o] for o in APP_FILE_OPTIONS if config[o]), None)
    for directory in reversed(import_paths(app_file, __file__)):
        if directory in sys.path:
            sys.path.remove(directory)
        sys.path.insert(0, directory)

    # Read once and kept from the application's child processes, which must not notify in its name.
    address = notify_address(os.environ.pop("NOTIFY_SOCKET", "")) if config["nodaemon"] else None

    class LauncherRunner(twistd.UnixApplicationRunner):  # type: ignore[misc]  # a subclass of Any
        """twistd's runner, with readiness and no privilege switch when not root."""

        def startApplication(self, application: Any) -> None:
            from twisted.internet import reactor as installed

            reactor: Any = installed  # the installed reactor provides more than IReactorCore says

            process = service.IProcess(application)
            # A .tas saved by Twisted's AOT writer can restore its Process without uid/gid (twistd then
            # fails with AttributeError): read as "not given".
            saved = (getattr(process, "uid", None), getattr(process, "gid", None))
            process.uid, process.gid = saved
            switch = self.config["uid"] is not None or self.config["gid"] is not None
            if os.geteuid() != 0 and not switch and saved != (None, None):
                log.msg(f"not root: running as uid/gid {os.getuid()}/{os.getgid()}, not as the "
                        f"application's uid/gid {saved[0]}/{saved[1]}")
                process.uid = process.gid = None
            # Before the application's own trigger, so systemd hears of the stop first.
            reactor.addSystemEventTrigger("before", "shutdown", sd_notify, address, "STOPPING=1", log.msg)
            try:
                super().startApplication(application)
            finally:
                process.uid, process.gid = saved
            # After startService: the reactor runs once the services started and bound their ports.
            reactor.callWhenRunning(sd_notify, address, "READY=1", log.msg)

    runner = LauncherRunner(config)
    try:
        runner.run()
    except Exception as exc:  # noqa: BLE001 -- any failure to start is the app's, reported as one
        traceback.print_exc()
        print(f"{os.path.basename(sys.argv[0])}: error: the application {app_file} failed to start: "
              f"{exc}", file=sys.stderr)
        return EXIT_START_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
