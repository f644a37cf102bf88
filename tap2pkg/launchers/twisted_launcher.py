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
* a ``.tas`` saved by Twisted itself loads (:func:`load_source`): Twisted's
  AOT writer keys the objects it saw by ``id()`` without keeping them alive,
  so a temporary's reused id can leave a reference to nothing in the file
  (typically the ``Process`` component's state). Twisted 22.4's loader then
  fails (``__dict__ must be set to a dictionary``) and later ones restore a
  ``Process`` without ``uid``/``gid``, on which twistd fails; the launcher
  leaves such state empty and reads a missing uid/gid as "not given".
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

#: Seconds a notification may wait for room in the receiver's queue.
NOTIFY_TIMEOUT = 5.0

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
            sock.settimeout(NOTIFY_TIMEOUT)  # a receiver that never reads must not stop the service
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


class _SetState:
    """Sets an instance's state once a reference it waited for is known (a ``NotKnown`` dependant)."""

    def __init__(self, instance: Any) -> None:
        self.instance = instance

    def __setitem__(self, _key: Any, state: Any) -> None:
        self.instance.__dict__.update(state if isinstance(state, dict) else state.__getstate__())


def load_source(path: str) -> Any:
    """The application of the ``.tas`` at ``path``, read as Twisted's ``sob.load(path, "source")`` reads
    it (the file is Python-syntax source that Twisted evaluates), but an instance whose state is a
    reference to nothing gets an empty state instead of failing the load (see the module docs)."""
    from twisted.persisted import aot as aot_module
    from twisted.persisted import crefutil
    from twisted.persisted import sob as sob_module
    from twisted.python import reflect as reflect_module

    # Twisted's modules are not annotated: typed as Any here rather than an ignore per call.
    aot: Any = aot_module
    sob: Any = sob_module
    reflect: Any = reflect_module
    base: Any = aot.AOTUnjellier

    class Unjellier(base):  # type: ignore[misc]  # a subclass of Any
        def unjellyAO(self, ao: Any) -> Any:
            if ao.__class__ is not aot.Instance:
                return super().unjellyAO(ao)
            klass = reflect.namedObject(ao.klass)
            state = self.unjellyAO(ao.state)
            instance = klass.__new__(klass)
            if hasattr(klass, "__setstate__"):
                self.callAfter(instance.__setstate__, state)
            elif isinstance(state, crefutil.NotKnown):
                waiting: Any = state
                waiting.addDependant(_SetState(instance), None)
            else:
                instance.__dict__ = state if isinstance(state, dict) else state.__getstate__()
            return instance

    names = {name: getattr(aot, name) for name in ("Instance", "InstanceMethod", "Class", "Function",
                                                     "Module", "Ref", "Deref", "Copyreg")}
    with open(path, encoding="utf-8") as source:
        code = compile(source.read(), path, "exec")
    exec(code, names)  # twistd -s evaluates the file the same way
    if "app" not in names:
        raise ValueError(f"{path} defines no 'app', as a .tas must")
    application = Unjellier().unjelly(names["app"])
    sob.IPersistable(application).setStyle("source")
    return application


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

        def createOrGetApplication(self) -> Any:
            if self.config["source"] and not self.config.subCommand:
                return load_source(self.config["source"])
            return super().createOrGetApplication()

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
