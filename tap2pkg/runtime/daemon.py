"""``tapd``: run an application file, or a plugin, as a Unix daemon (twistd's counterpart).

:func:`main` reads the options (:mod:`.options`) and hands them to a
:class:`Runner`, made of what a run needs -- its pidfile,
its log, its event loop and two hooks -- in the manner of Twisted's
``twisted.application.runner``. :meth:`Runner.run` follows twistd's order:
check the pidfile, load the application, open the log, chroot / change to
the run directory / set the umask, daemonize, write the pidfile, privileged
start (bind ports), drop privileges, start the services, then tell systemd
(``READY=1``) and the waiting parent that all is well.

SIGTERM and SIGINT stop the services in reverse order (at most
``--shutdown-timeout`` seconds, 10 by default), remove the pidfile, and then -- as twistd
does -- restore the signal's default action and send the signal to the
process again, so the exit status says "killed by SIGTERM". SIGHUP and
SIGUSR1 reopen the log file.

Every error ends in one place, :func:`fail`: one line, ``tapd: error: ...``,
on stderr (or sent to the waiting parent) and in the log, and the error's
exit code; anything that is not a :class:`Tap2pkgError` exits 70.

asyncio is imported once the options are read, so that tapd can keep ``ssl``
out of the process unless ``--tls`` is given (see :mod:`.reactors`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from . import privileges, sdnotify
from .detach import StartupReport, daemonize, exit_with_signal
from .errors import ConfigError, ServiceUnavailableError, Tap2pkgError, UsageError
from .lazy import lazy_import
from .logs import close_log, open_log, reopen_log
from .options import parse_options, parse_plugin_options
from .pidfile import NoPIDFile, PIDFile
from .reactors import Reactor, block_tls, get_reactor, tls_refusal

if TYPE_CHECKING:
    import argparse
    import asyncio
    import cProfile
    import socket
    from types import FrameType

    from . import internet, kinds, persist
    from . import plugins as plugins_module
    from . import service as service_module
    from .service import Application
else:  # imported on first use: asyncio once the options are read (see above), the rest when a run needs it
    asyncio = lazy_import("asyncio")
    cProfile = lazy_import("cProfile")
    internet = lazy_import("tap2pkg.runtime.internet")
    kinds = lazy_import("tap2pkg.runtime.kinds")
    persist = lazy_import("tap2pkg.runtime.persist")
    plugins_module = lazy_import("tap2pkg.runtime.plugins")
    service_module = lazy_import("tap2pkg.runtime.service")

try:
    from .. import __version__ as VERSION
except ImportError:  # a stub tap2pkg/__init__.py without a version
    VERSION = "unknown"

logger = logging.getLogger("tapd")

#: a hook: called with the application
Hook = Callable[["Application"], None]


def _nothing(app: Application) -> None:
    """The hook that does nothing."""


class Runner:
    """One run of ``tapd``: what to serve (``options``, from :func:`.options.parse_options`), and the
    pidfile, log and event loop to serve it with.

    ``log`` opens the log and installs it. ``when_running`` is called once the
    services have started, just before systemd and the waiting parent hear
    that tapd is ready; ``when_stopped`` once they have stopped, before the
    pidfile goes.
    """

    __slots__ = ("log", "options", "pidfile", "reactor", "when_running", "when_stopped")

    def __init__(self, options: argparse.Namespace, pidfile: PIDFile | NoPIDFile,
                 log: Callable[[], logging.Handler], reactor: Reactor,
                 when_running: Hook = _nothing, when_stopped: Hook = _nothing) -> None:
        self.options = options
        self.pidfile = pidfile
        self.log = log
        self.reactor = reactor
        self.when_running = when_running
        self.when_stopped = when_stopped

    @classmethod
    def from_options(cls, options: argparse.Namespace) -> Runner:
        """The runner for ``options``: a saved application is saved again on shutdown unless ``-o``."""
        opener = functools.partial(open_log, logfile=options.logfile, use_syslog=options.syslog,
                                   prefix=options.prefix, log_format=options.log_format,
                                   max_bytes=options.log_max_bytes, backups=options.log_backups,
                                   level=logging.DEBUG if options.debug else logging.INFO)
        saves = not options.no_save and options.app_file is not None
        return cls(options, PIDFile(options.pidfile) if options.pidfile else NoPIDFile(), opener,
                   get_reactor(options.reactor),
                   when_stopped=functools.partial(save_application, options) if saves else _nothing)

    def run(self) -> int:
        """Start, serve until a stop signal, stop; 0, an error's exit code, or minus the stop signal."""
        options = self.options
        handler: logging.Handler | None = None
        report = StartupReport(None)
        # a logrotate SIGHUP arriving during start-up must not kill the daemon (the default
        # action); the event loop installs the real handlers
        for signum in (signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, signal.SIG_IGN)
        try:
            activated = sdnotify.listen_fds()  # before forking: LISTEN_PID names this process
            stale = self.pidfile.check()
            app = self.load_application()
            identity = self.identity(app)
            self.reactor.check()  # an unavailable loop fails here, in the foreground
            handler = self.log()
            logger.info("tapd %s (%s %s) starting up", VERSION, sys.executable, sys.version.split()[0])
            if stale:
                logger.info("%s", stale)
            source = options.app_file or f"plugin {options.plugin}"
            logger.info("application %r from %s", app.process_name, source)
            logger.info("event loop: %s", options.reactor)
            if options.tls:
                logger.info("TLS: available (--tls); the ssl module may be loaded")
            elif "ssl" in sys.modules:
                logger.warning("TLS: the ssl module was loaded before tapd could keep it out")
            else:
                logger.info("TLS: off; the ssl module is not loaded (start tapd with --tls for TLS)")
            self.setup_environment()
            if not options.nodaemon:
                outcome = daemonize()
                if isinstance(outcome, int):
                    return outcome  # the original process: the daemon reported how its start-up went
                report = outcome
            # from the pidfile on, a stop signal must go through the clean shutdown: remember one
            # that arrives before the event loop takes over
            early: list[int] = []

            def early_stop(signum: int, frame: FrameType | None) -> None:
                early.append(signum)

            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, early_stop)
            with self.pidfile, _profiling(options.profile):
                stop_signal = self.run_loop(app, identity, activated, handler, report, early)
                self.when_stopped(app)
            logger.info("%s stopped by %s", app.process_name, signal.Signals(stop_signal).name)
            return -stop_signal
        except Exception as exc:  # noqa: BLE001 -- the one place errors become exit codes
            return fail(exc, logged=handler is not None, debug=options.debug, report=report)
        finally:
            if handler is not None:
                close_log(handler)

    # ----------------------------------------------------------------- steps before the loop

    def load_application(self) -> Application:
        """The application from the app file, or the plugin wrapped in ``Application(PLUGIN)``."""
        options = self.options
        if options.plugin is not None:
            plugins = plugins_module.get_plugins()
            maker = plugins.get(options.plugin)
            if maker is None:
                known = ", ".join(sorted(plugins)) or "none"
                raise UsageError(f"unknown plugin {options.plugin!r} (known plugins: {known}; "
                                 "an application file needs -y, -f, -s or -x)")
            service = maker.make_service(parse_plugin_options(maker.options_parser(), options.plugin,
                                                              options.plugin_args))
            app = service_module.Application(options.plugin)
            if service.name is None:
                service.set_name(options.plugin)
            service.set_service_parent(app)
            return app
        assert options.app_file is not None
        if persist.detect_kind(options.app_file, options.app_kind) != "python":
            # a .tap/.tas/.tax is data: loading it imports nothing and leaves sys.path alone
            return persist.load(options.app_file, options.app_kind)
        # a .tac is code and may import its neighbours: its directory goes first on sys.path, but
        # only once the runtime has what it needs, so that a module there cannot stand in for it
        self.import_runtime()
        return persist.load(options.app_file, "python", search_path=(os.path.dirname(options.app_file),))

    def import_runtime(self, *, chroot: bool = False) -> None:
        """Import the modules this run needs later (importing them on first use could find an
        application's module of the same name, or nothing at all inside a chroot)."""
        # what a .tac imports first; by name (a stand-in imports on its first read only), with __import__
        # as the import statement did, so that python -X importtime still lists them
        for name in ("tap2pkg.runtime.internet", "tap2pkg.runtime.service"):
            __import__(name)
        self.reactor.loop_factory()  # asyncio, and uvloop or selectors: creates no loop
        names = [name for name, wanted in (("json", self.options.log_format == "json"),
                                           ("syslog", self.options.syslog),
                                           ("cProfile", bool(self.options.profile))) if wanted]
        if chroot:
            # socket.getaddrinfo needs the idna codec; socket activation matches addresses with
            # ipaddress; ClientService's reconnection jitter uses random
            names += ["encodings.idna", "ipaddress", "random"]
        for name in names:
            importlib.import_module(name)

    def identity(self, app: Application) -> privileges.Identity:
        """The uid/gid to run as: the options', else the application's."""
        options = self.options
        uid: int | str | None = options.uid if options.uid is not None else app.uid
        gid: int | str | None = options.gid
        if gid is None and options.uid is None:
            gid = app.gid  # with only a user given, gid stays None: that user's primary group
        return privileges.resolve(uid, gid)

    def setup_environment(self) -> None:
        """chroot, change to the run directory, set the umask (twistd's order)."""
        options = self.options
        rundir = options.rundir
        if options.chroot is not None:
            # modules imported lazily would not be found inside the new root: load them now
            self.import_runtime(chroot=True)
            try:
                os.chroot(options.chroot)
            except OSError as exc:
                raise ConfigError(f"cannot chroot to {options.chroot}: {exc.strerror} "
                                  "(check --chroot)") from None
            if rundir == ".":
                rundir = "/"
        try:
            os.chdir(rundir)
        except OSError as exc:
            raise ConfigError(f"cannot change to the run directory {rundir}: {exc.strerror} "
                              "(check -d/--rundir)") from None
        if options.umask is not None:
            os.umask(options.umask)

    # ----------------------------------------------------------------- the loop

    def run_loop(self, app: Application, identity: privileges.Identity, activated: list[socket.socket],
                 handler: logging.Handler, report: StartupReport, early: list[int]) -> int:
        """Create the event loop and run :meth:`serve` on it to the end; the signal that stopped it."""
        loop = self.reactor.loop_factory()()
        asyncio.set_event_loop(loop)
        try:
            task = loop.create_task(self.serve(app, identity, activated, handler, report, early))
            try:
                return loop.run_until_complete(task)
            except BaseException:
                # start-up failed: stop what did start before the error is reported
                if app.running or any(s.running for s in app):
                    loop.run_until_complete(self.stop_services(app))
                raise
        finally:
            # what is still running (open connections' handlers) is cancelled; on Python 3.11
            # asyncio.streams reports such a cancellation as an error, which it is not
            loop.set_exception_handler(_ignore_cancellation)
            for pending in asyncio.all_tasks(loop):
                pending.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop), return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()

    async def serve(self, app: Application, identity: privileges.Identity, activated: list[socket.socket],
                    handler: logging.Handler, report: StartupReport, early: list[int]) -> int:
        """Bind, drop privileges, start, announce readiness, and run until a stop signal (returned)."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        received: list[int] = []

        def on_stop(signum: int) -> None:
            if received:
                logger.info("received %s again; already shutting down", signal.Signals(signum).name)
                return
            received.append(signum)
            logger.info("received %s, shutting down", signal.Signals(signum).name)
            stopping.set()

        def on_reopen(signum: int) -> None:
            reopen_log(handler)
            logger.info("received %s, reopened the log", signal.Signals(signum).name)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_stop, signum)
        for signum in (signal.SIGHUP, signal.SIGUSR1):
            loop.add_signal_handler(signum, on_reopen, signum)
        for early_signal in early:
            on_stop(early_signal)

        if activated:
            internet.register_activated_sockets(activated)
            logger.info("socket activation: %d socket(s) from systemd", len(activated))
        try:
            await app.privileged_start()
            if privileges.needs_switch(identity):
                privileges.drop(identity)
                logger.info("running as %s", identity.describe())
            await app.start()
        except OSError as exc:
            raise ServiceUnavailableError(f"cannot start {app.process_name}: {exc.strerror or exc}") from None
        if activated:
            for sock in internet.unclaimed_activated_sockets():
                logger.warning("socket activation: no service uses %s; it is ignored", sock.getsockname())

        self.when_running(app)
        logger.info("%s started (pid %d)", app.process_name, os.getpid())
        sdnotify.notify(f"READY=1\nSTATUS=serving {app.process_name}\nMAINPID={os.getpid()}")
        report.send(0)
        watchdog: asyncio.Task[None] | None = None
        interval = sdnotify.watchdog_interval()
        if interval is not None:
            watchdog = asyncio.ensure_future(sdnotify.run_watchdog(interval))

        await stopping.wait()
        sdnotify.notify("STOPPING=1")
        if watchdog is not None:
            watchdog.cancel()
        await self.stop_services(app)
        return received[0]

    async def stop_services(self, app: Application) -> None:
        """Stop the tree in reverse order, all of it within ``--shutdown-timeout`` seconds."""
        timeout = self.options.shutdown_timeout
        # each child gets an equal share, so one that hangs does not rob the others of theirs;
        # the outer bound is only a safety net
        share = timeout / max(1, len(app))
        try:
            await asyncio.wait_for(app.stop(timeout=share), timeout + 1)
        except TimeoutError:
            logger.warning("services did not stop within %gs; exiting anyway", timeout)
        except Exception:
            logger.exception("error while stopping the services")


def save_application(options: argparse.Namespace, app: Application) -> None:
    """Save a .tap/.tas/.tax application as ``<name>-shutdown.<ext>`` in the run directory."""
    assert options.app_file is not None
    try:
        kind = persist.detect_kind(options.app_file, options.app_kind)
    except Tap2pkgError:
        return
    if kind not in kinds.SAVE_KINDS:
        return
    target = f"{app.process_name}-shutdown{kinds.KINDS[kind][0]}"
    try:
        persist.save(app, target, kind)
    except Tap2pkgError as exc:
        logger.error("cannot save the application on shutdown: %s", exc)
    else:
        logger.info("saved the application as %s", os.path.abspath(target))


@contextlib.contextmanager
def _profiling(path: str | None) -> Iterator[None]:
    """Run the body under cProfile and write its stats to ``path`` (nothing without a path)."""
    if not path:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        try:
            profiler.dump_stats(path)
        except OSError as exc:
            logger.error("cannot write profile stats to %s: %s", path, exc.strerror)


def fail(exc: Exception, *, logged: bool, debug: bool, report: StartupReport | None = None) -> int:
    """End with ``exc``: one line on stderr (or to the waiting parent) and in the log; its exit code.

    A :class:`Tap2pkgError` keeps its code; application code importing ``ssl``
    without ``--tls`` exits 65 (as an app file that cannot load); anything
    else is unexpected, 70, with its traceback in the log.
    """
    refusal = tls_refusal(exc)
    error: Tap2pkgError
    if refusal is not None and not (isinstance(exc, Tap2pkgError) and "--tls" in str(exc)):
        error = Tap2pkgError(str(refusal), exit_code=65)  # EX_DATAERR
    elif isinstance(exc, Tap2pkgError):
        error = exc
    else:
        where = "the log has the traceback" if logged else "run with --debug for the traceback"
        error = Tap2pkgError(f"unexpected error: {type(exc).__name__}: {exc} ({where})")
    unexpected = error is not exc and refusal is None
    if logged:
        logger.error("tapd: error: %s", error, exc_info=exc if debug or unexpected else None)
    if report is not None and report.fd is not None:
        report.send(error.exit_code, str(error))
    else:
        print(f"tapd: error: {error}", file=sys.stderr)
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
    return error.exit_code


def _ignore_cancellation(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


def forget_working_directory() -> None:
    """Take the working directory off ``sys.path`` (``python3 -m``/``-c`` put it there).

    tapd often starts as root in a directory others can write to; nothing it
    imports may come from there. The directory holding the runtime itself
    (a source checkout, the package's library directory) stays.
    """
    cwd = os.getcwd()
    runtime_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path[:] = [entry for entry in sys.path
                   if entry != "" and (os.path.abspath(entry) != cwd or cwd == runtime_root)]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tapd`` console script."""
    if argv is None:  # the command, not a caller in the same process
        forget_working_directory()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        options = parse_options(arguments, VERSION)
    except UsageError as exc:
        return fail(exc, logged=False, debug="--debug" in arguments)
    if not options.tls:
        block_tls()  # before anything imports asyncio, which imports ssl when it can
    status = Runner.from_options(options).run()
    if status < 0:
        exit_with_signal(-status)  # as twistd: the exit status says which signal stopped it
        return 128 - status  # only if the signal could not end the process
    return status


if __name__ == "__main__":
    sys.exit(main())
