"""``tapd``: run an application file, or a plugin, as a Unix daemon (twistd's counterpart).

Start-up follows twistd's order: check the pidfile, load the application,
open the log, chroot / change to the run directory / set the umask,
daemonize, write the pidfile, privileged start (bind ports), drop
privileges, start the services, then tell systemd (``READY=1``) and the
waiting parent that all is well.

SIGTERM and SIGINT stop the services in reverse order (at most
``--shutdown-timeout`` seconds, 10 by default), remove the pidfile, and then -- as twistd
does -- restore the signal's default action and send the signal to the
process again, so the exit status says "killed by SIGTERM". SIGHUP and
SIGUSR1 reopen the log file.

Errors print one line, ``tapd: error: ...``, and exit with the error's code.

Start-up time matters (a restart is downtime), so this module imports only
what every run needs; asyncio comes after the options are read, which lets
tapd keep ``ssl`` out unless ``--tls`` is given, and what one option needs (cProfile for
``-p``, json for ``--log-format json``...) is imported only with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import pidfile, privileges, sdnotify
from .detach import StartupReport, daemonize, exit_with_signal
from .errors import ConfigError, ServiceUnavailableError, Tap2pkgError, UsageError
from .logs import Log, open_log
from .options import DaemonOptions, parse_options, parse_plugin_options

if TYPE_CHECKING:
    import asyncio
    import cProfile
    import socket

    from .service import Application

try:
    from .. import __version__ as VERSION
except ImportError:  # a stub tap2pkg/__init__.py without a version
    VERSION = "unknown"

log = logging.getLogger("tapd")


#: application kinds saved as <name>-shutdown.<ext> on shutdown (unless -o)
SAVED_KINDS = {"pickle": "tap", "source": "tas", "xml": "tax"}


class Daemon:
    """One run of ``tapd``, from options to exit status."""

    def __init__(self, options: DaemonOptions) -> None:
        self.options = options
        self.log: Log | None = None
        self.app: Application | None = None
        self.report = StartupReport(None)
        self.pidfile_written = False
        self.stop_signal: int | None = None
        self.early_signal: int | None = None

    def _early_stop(self, signum: int, frame: object) -> None:
        self.early_signal = signum

    # ----------------------------------------------------------------- steps before the loop

    def load_application(self) -> Application:
        """The application from the app file, or the plugin wrapped in ``Application(PLUGIN)``."""
        options = self.options
        if options.plugin is not None:
            from .plugins import get_plugins
            from .service import Application
            plugins = get_plugins()
            maker = plugins.get(options.plugin)
            if maker is None:
                known = ", ".join(sorted(plugins)) or "none"
                raise UsageError(f"unknown plugin {options.plugin!r} (known plugins: {known}; "
                                 "an application file needs -y, -f, -s or -x)")
            parsed = parse_plugin_options(maker.options_parser(), options.plugin, options.plugin_args)
            service = maker.make_service(parsed)
            app = Application(options.plugin)
            if service.name is None:
                service.set_name(options.plugin)
            service.set_service_parent(app)
            return app
        from . import persist
        assert options.app_file is not None
        kind = persist.detect_kind(options.app_file, options.app_kind)
        if kind != "python":
            # a .tap/.tas/.tax is data: loading it imports nothing and leaves sys.path alone
            return persist.load(options.app_file, kind)
        # a .tac is code and may import its neighbours: its directory goes first on sys.path, but
        # only once the runtime has what it needs, so that a module there cannot stand in for it
        self.import_runtime()
        return persist.load(options.app_file, kind, search_path=(os.path.dirname(options.app_file),))

    def import_runtime(self, *, chroot: bool = False) -> None:
        """Import the modules this run of tapd needs later (importing them on first use could find
        an application's module of the same name, or nothing at all inside a chroot)."""
        import importlib

        from . import internet, service  # noqa: F401 -- what a .tac imports first
        from .reactors import get_reactor
        options = self.options
        get_reactor(options.reactor).loop_factory()  # asyncio, and uvloop or selectors: creates no loop
        names = []
        if options.log_format == "json":
            names.append("json")
        if options.syslog:
            names.append("syslog")
        if options.profile:
            names.append("cProfile")
        if chroot:
            # socket.getaddrinfo needs the idna codec; socket activation matches addresses with
            # ipaddress; ClientService's reconnection jitter uses random
            names += ["encodings.idna", "ipaddress", "random"]
        for name in names:
            importlib.import_module(name)

    def identity(self, app: Application) -> privileges.Identity:
        """The uid/gid to run as: the options', else the application's."""
        uid: int | str | None = self.options.uid if self.options.uid is not None else app.uid
        gid: int | str | None
        if self.options.gid is not None:
            gid = self.options.gid
        elif self.options.uid is not None:
            gid = None  # only a user given: that user's primary group
        else:
            gid = app.gid
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

    async def serve(self, app: Application, identity: privileges.Identity,
                    activated: list[socket.socket]) -> None:
        """Bind, drop privileges, start, announce readiness, and run until a stop signal."""
        import asyncio
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()

        def on_stop(signum: int) -> None:
            if self.stop_signal is None:
                self.stop_signal = signum
                log.info("received %s, shutting down", signal.Signals(signum).name)
                stopping.set()
            else:
                log.info("received %s again; already shutting down", signal.Signals(signum).name)

        def on_reopen(signum: int) -> None:
            if self.log is not None:
                self.log.reopen()
            log.info("received %s, reopened the log", signal.Signals(signum).name)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_stop, signum)
        for signum in (signal.SIGHUP, signal.SIGUSR1):
            loop.add_signal_handler(signum, on_reopen, signum)
        if self.early_signal is not None:
            on_stop(self.early_signal)

        if activated:
            from . import internet
            internet.register_activated_sockets(activated)
            log.info("socket activation: %d socket(s) from systemd", len(activated))
        try:
            await app.privileged_start()
            if privileges.needs_switch(identity):
                privileges.drop(identity)
                log.info("running as %s", identity.describe())
            await app.start()
        except OSError as exc:
            raise ServiceUnavailableError(f"cannot start {app.process_name}: {exc.strerror or exc}") from None
        if activated:
            from . import internet
            for sock in internet.unclaimed_activated_sockets():
                log.warning("socket activation: no service uses %s; it is ignored", sock.getsockname())

        log.info("%s started (pid %d)", app.process_name, os.getpid())
        sdnotify.notify(f"READY=1\nSTATUS=serving {app.process_name}\nMAINPID={os.getpid()}")
        self.report.send(0)
        watchdog: asyncio.Task[None] | None = None
        interval = sdnotify.watchdog_interval()
        if interval is not None:
            watchdog = asyncio.ensure_future(sdnotify.run_watchdog(interval))

        await stopping.wait()
        sdnotify.notify("STOPPING=1")
        if watchdog is not None:
            watchdog.cancel()
        await self.stop_services(app)

    async def stop_services(self, app: Application) -> None:
        """Stop the tree in reverse order, all of it within ``--shutdown-timeout`` seconds."""
        import asyncio
        timeout = self.options.shutdown_timeout
        # each child gets an equal share, so one that hangs does not rob the others of theirs;
        # the outer bound is only a safety net
        share = timeout / max(1, len(app))
        try:
            await asyncio.wait_for(app.stop(timeout=share), timeout + 1)
        except TimeoutError:
            log.warning("services did not stop within %gs; exiting anyway", timeout)
        except Exception:
            log.exception("error while stopping the services")

    def run_loop(self, app: Application, identity: privileges.Identity,
                 activated: list[socket.socket]) -> None:
        """Create the chosen event loop and run :meth:`serve` on it to the end."""
        import asyncio

        from .reactors import get_reactor
        loop = get_reactor(self.options.reactor).loop_factory()()
        asyncio.set_event_loop(loop)
        try:
            task = loop.create_task(self.serve(app, identity, activated))
            try:
                loop.run_until_complete(task)
            except BaseException:
                # start-up failed: stop what did start before the error is reported
                if app.running or any(s.running for s in app):
                    loop.run_until_complete(self.stop_services(app))
                raise
        finally:
            # what is still running (open connections' handlers) is cancelled; on Python 3.11
            # asyncio.streams reports such a cancellation as an error, which it is not
            loop.set_exception_handler(_ignore_cancellation)
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop), return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()

    # ----------------------------------------------------------------- shutdown

    def save_application(self, app: Application) -> None:
        """Save a .tap/.tas/.tax application as ``<name>-shutdown.<ext>`` in the run directory."""
        options = self.options
        if options.no_save or options.plugin is not None or options.app_file is None:
            return
        from . import persist
        try:
            kind = persist.detect_kind(options.app_file, options.app_kind)
        except Tap2pkgError:
            return
        ext = SAVED_KINDS.get(kind)
        if ext is None:
            return
        target = f"{app.process_name}-shutdown.{ext}"
        try:
            persist.save(app, target, kind)
        except Tap2pkgError as exc:
            log.error("cannot save the application on shutdown: %s", exc)
        else:
            log.info("saved the application as %s", os.path.abspath(target))

    def remove_pidfile(self) -> None:
        """Remove our pidfile, logging why when that is not possible."""
        if self.options.pidfile and self.pidfile_written:
            problem = pidfile.remove(self.options.pidfile)
            if problem:
                log.warning("%s", problem)

    # ----------------------------------------------------------------- the whole run

    def fail(self, exc: Tap2pkgError) -> int:
        """Report a start-up error: one line on stderr (or to the waiting parent) and in the log."""
        if self.log is not None:
            if self.options.debug:
                log.error("tapd: error: %s", exc, exc_info=exc)
            else:
                log.error("tapd: error: %s", exc)
        if self.report.fd is not None:
            self.report.send(exc.exit_code, str(exc))
        else:
            print(f"tapd: error: {exc}", file=sys.stderr)
            if self.options.debug:
                import traceback
                traceback.print_exception(exc, file=sys.stderr)
        return exc.exit_code

    def run(self) -> int:
        """Start, serve until a stop signal, shut down; the exit status (or re-raise the signal)."""
        options = self.options
        pending: list[str] = []
        # a logrotate SIGHUP arriving during start-up must not kill the daemon (the default
        # action); the event loop installs the real handlers
        for signum in (signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, signal.SIG_IGN)
        try:
            activated = sdnotify.listen_fds()  # before forking: LISTEN_PID names this process
            if options.pidfile:
                stale = pidfile.check(options.pidfile)
                if stale:
                    pending.append(stale)
            app = self.app = self.load_application()
            identity = self.identity(app)
            from .reactors import get_reactor
            get_reactor(options.reactor).check()  # an unavailable loop fails here, in the foreground
            self.log = open_log(logfile=options.logfile, use_syslog=options.syslog, prefix=options.prefix,
                                log_format=options.log_format, max_bytes=options.log_max_bytes,
                                backups=options.log_backups,
                                level=logging.DEBUG if options.debug else logging.INFO)
            log.info("tapd %s (%s %s) starting up", VERSION, sys.executable, sys.version.split()[0])
            for message in pending:
                log.info("%s", message)
            source = options.app_file or f"plugin {options.plugin}"
            log.info("application %r from %s", app.process_name, source)
            log.info("event loop: %s", options.reactor)
            if options.tls:
                log.info("TLS: available (--tls); the ssl module may be loaded")
            elif "ssl" in sys.modules:
                log.warning("TLS: the ssl module was loaded before tapd could keep it out")
            else:
                log.info("TLS: off; the ssl module is not loaded (start tapd with --tls for TLS)")
            self.setup_environment()
        except Tap2pkgError as exc:
            return self.fail(_tls_error(exc) or exc)
        except Exception as exc:
            if options.debug:
                raise
            return self.fail(_tls_error(exc) or Tap2pkgError(f"unexpected error: {type(exc).__name__}: {exc} "
                                                             "(run with --debug for the traceback)"))

        if not options.nodaemon:
            outcome = daemonize()
            if isinstance(outcome, int):
                return outcome  # the original process: the daemon reported its start-up
            self.report = outcome

        profiler: cProfile.Profile | None = None
        if options.profile:
            import cProfile
            profiler = cProfile.Profile()
        # from the pidfile on, a stop signal must go through the clean shutdown: remember one
        # that arrives before the event loop takes over
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._early_stop)
        try:
            if options.pidfile:
                pidfile.write(options.pidfile)
                self.pidfile_written = True
            if profiler is not None:
                profiler.enable()
            try:
                self.run_loop(app, identity, activated)
            finally:
                if profiler is not None:
                    profiler.disable()
        except Tap2pkgError as exc:
            code = self.fail(_tls_error(exc) or exc)
            self.remove_pidfile()
            self.finish(profiler)
            return code
        except Exception as exc:
            tls = _tls_error(exc)
            if tls is None:
                log.exception("tapd: unexpected error")
            code = self.fail(tls or Tap2pkgError(f"unexpected error: {type(exc).__name__}: {exc} "
                                                 "(the log has the traceback)"))
            self.remove_pidfile()
            self.finish(profiler)
            return code

        try:
            self.save_application(app)
            self.remove_pidfile()
        except Exception:
            log.exception("error during shutdown")
        status = f" by {signal.Signals(self.stop_signal).name}" if self.stop_signal else ""
        log.info("%s stopped%s", app.process_name, status)
        self.finish(profiler)
        if self.stop_signal is not None:
            exit_with_signal(self.stop_signal)
        return 0

    def finish(self, profiler: cProfile.Profile | None) -> None:
        """Write profile stats and close the log."""
        if profiler is not None and self.options.profile:
            try:
                profiler.dump_stats(self.options.profile)
            except OSError as exc:
                log.error("cannot write profile stats to %s: %s", self.options.profile, exc.strerror)
        if self.log is not None:
            self.log.close()


def _tls_error(exc: BaseException) -> Tap2pkgError | None:
    """The one-line error for ``exc`` when it comes from importing ``ssl`` without ``--tls``."""
    from .reactors import tls_refusal
    refusal = tls_refusal(exc)
    if refusal is None:
        return None
    if isinstance(exc, Tap2pkgError) and "--tls" in str(exc):
        return exc  # already says what to do (and names the file)
    return Tap2pkgError(str(refusal), exit_code=65)  # EX_DATAERR, as for an app file that cannot load


def _ignore_cancellation(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    import asyncio
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
    except Tap2pkgError as exc:
        if "--debug" in arguments:
            raise
        print(f"tapd: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if not options.tls:
        from .reactors import block_tls
        block_tls()  # before anything imports asyncio, which imports ssl when it can
    return Daemon(options).run()


if __name__ == "__main__":
    sys.exit(main())
