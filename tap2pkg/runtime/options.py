"""``tapd``'s command line: options compatible with twistd's, parsed into :class:`DaemonOptions`.

The parser never exits on a bad option: it raises :class:`UsageError`
(exit code 64), which ``tapd`` prints as one line. ``--help``,
``--version`` and ``--help-reactors`` print and exit 0, as usual.

A plugin subcommand follows the options, as with twistd::

    tapd -n --pidfile= echo --port 8007

Everything after the plugin name goes to the plugin's own parser.

Start-up time: a command line made only of full option names (``-n``,
``--pidfile=``, ``-y FILE``...), as packages and most people write it, is read
by a small direct parser; anything else (abbreviations, combined flags such as
``-noy``, ``--help``, a bad value) goes to :mod:`argparse`, which gives the
same result or the error. A test holds the two to the same answers.
"""

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from .errors import UsageError

if TYPE_CHECKING:
    import argparse

#: the app-file option that was given -> the persist "kind" it forces
FILE_KINDS = {"python": "python", "file": None, "source": "source", "xml": "xml"}

DEFAULT_APP_FILE = "tapd.tap"
DEFAULT_PIDFILE = "tapd.pid"
DEFAULT_LOGFILE = "tapd.log"

#: the environment variable that turns on ``--tls`` (for /etc/default/<package>)
TLS_ENV = "TAPD_TLS"
#: the environment variable for ``--no-tls`` (the default, accepted so that it can be said explicitly)
NO_TLS_ENV = "TAPD_NO_TLS"
_TRUE = ("1", "yes", "true", "on")
_FALSE = ("", "0", "no", "false", "off")


# No ``from __future__ import annotations`` in this module: typing.NamedTuple is created much
# faster from real types than from strings, and tapd creates it at every start.
class DaemonOptions(NamedTuple):
    """Everything ``tapd`` was asked to do, with paths made absolute against the starting directory."""

    app_file: str | None = None
    app_kind: str | None = None
    plugin: str | None = None
    plugin_args: tuple[str, ...] = ()
    nodaemon: bool = False
    pidfile: str | None = None
    logfile: str | None = None
    syslog: bool = False
    prefix: str = "tapd"
    uid: str | None = None
    gid: str | None = None
    umask: int | None = None
    chroot: str | None = None
    rundir: str = "."
    reactor: str = "asyncio"
    no_save: bool = False
    profile: str | None = None
    log_format: str = "text"
    log_max_bytes: int = 0
    log_backups: int = 5
    shutdown_timeout: float = 10.0
    debug: bool = False
    tls: bool = False

    @property
    def log_to_stdout(self) -> bool:
        """True when log lines go to standard output rather than a file or syslog."""
        return not self.syslog and self.logfile is None


class _BadValue(ValueError):
    """A value the converters refuse; argparse turns it into its usage error."""


def _octal(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise _BadValue(f"{text!r} is not an octal umask such as 022 or 0077") from None
    if not 0 <= value <= 0o777:
        raise _BadValue(f"{text!r} is out of range (000 to 777)")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _BadValue(f"{text!r} is not a whole number") from None
    if value < 0:
        raise _BadValue(f"{text!r} must not be negative")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _BadValue(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 86400:
        raise _BadValue(f"{text!r} must be more than 0 and less than a day")
    return value


def _argparse_type(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert`` with its :class:`_BadValue` shown by argparse as the message itself."""
    import argparse

    def argparse_convert(text: str) -> Any:
        try:
            return convert(text)
        except _BadValue as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    argparse_convert.__name__ = convert.__name__
    return argparse_convert


def _parser_class() -> "type[argparse.ArgumentParser]":
    """An ArgumentParser that raises :class:`UsageError` and lists plugins in its help."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise UsageError(f"{message} (see '{self.prog} --help')")

        def format_help(self) -> str:
            text = super().format_help()
            try:
                from .plugins import get_plugins
                plugins = get_plugins()
            except ImportError:
                return text
            if not plugins:
                return text
            width = max(len(name) for name in plugins)
            lines = ["", "plugins (run one directly with 'tapd [options] PLUGIN [plugin options]'):"]
            for name in sorted(plugins):
                lines.append(f"  {name.ljust(width)}  {getattr(plugins[name], 'description', '')}")
            return text + "\n".join(lines) + "\n"

    return _Parser


def _help_reactors_action() -> "type[argparse.Action]":
    """The ``--help-reactors`` action: print the event loops and exit 0."""
    import argparse
    import sys

    class _HelpReactors(argparse.Action):
        def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
            super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: Any, option_string: str | None = None) -> None:
            from .reactors import describe_reactors
            sys.stdout.write(describe_reactors())
            parser.exit(0)

    return _HelpReactors


def build_parser(version: str) -> "argparse.ArgumentParser":
    """The ``tapd`` argument parser (also used to render ``--help``)."""
    import argparse

    from .reactors import REACTORS

    parser = _parser_class()(
        prog="tapd",
        usage="tapd [options] [PLUGIN [plugin options]]",
        description="Run an application file (.tac .tap .tas .tax) or a plugin as a daemon.",
    )
    app = parser.add_argument_group("application (give one; default: -f tapd.tap)")
    source = app.add_mutually_exclusive_group()
    source.add_argument("-y", "--python", metavar="FILE", help="a Python file (.tac) defining 'application'")
    source.add_argument("-f", "--file", metavar="FILE", help="a pickled application (.tap)")
    source.add_argument("-s", "--source", metavar="FILE", help="an application in source form (.tas)")
    source.add_argument("-x", "--xml", metavar="FILE", help="an application in XML form (.tax)")
    app.add_argument("-o", "--no_save", action="store_true",
                     help="do not save a .tap/.tas/.tax application as <name>-shutdown.<ext> on shutdown")

    run = parser.add_argument_group("process")
    run.add_argument("-n", "--nodaemon", action="store_true", help="stay in the foreground")
    run.add_argument("--pidfile", metavar="FILE", default=DEFAULT_PIDFILE,
                     help=f"write the process id here (default: {DEFAULT_PIDFILE}; empty: no pidfile)")
    run.add_argument("-u", "--uid", metavar="USER", help="run as this user (name or number)")
    run.add_argument("-g", "--gid", metavar="GROUP",
                     help="run as this group (name or number; default: the user's primary group)")
    run.add_argument("--umask", metavar="MODE", type=_argparse_type(_octal),
                     help="octal umask (default: 0077 when daemonizing, unchanged with -n)")
    run.add_argument("--chroot", metavar="DIR", help="chroot to DIR before running")
    run.add_argument("-d", "--rundir", metavar="DIR", default=".", help="change to DIR before running")
    run.add_argument("-r", "--reactor", metavar="NAME", default="asyncio", choices=sorted(REACTORS),
                     help="event loop: " + ", ".join(REACTORS) + " (default: asyncio)")
    run.add_argument("--help-reactors", action=_help_reactors_action(), help="list the event loops and exit")
    run.add_argument("--tls", action="store_true",
                     help=f"load the ssl module so that the application can use TLS (also: {TLS_ENV}=1 "
                          "in the environment; implied by -r uvloop); without it tapd keeps ssl out: "
                          "less memory, a faster start")
    run.add_argument("--no-tls", action="store_true",
                     help=f"run without the ssl module, the default said explicitly (also: {NO_TLS_ENV}=1)")
    run.add_argument("--shutdown-timeout", metavar="SECONDS", type=_argparse_type(_seconds), default=10.0,
                     help="time the services get to stop on SIGTERM/SIGINT (default: 10)")
    run.add_argument("-p", "--profile", metavar="FILE",
                     help="profile the run with cProfile and write its stats to FILE at exit")

    logs = parser.add_argument_group("logging")
    logs.add_argument("-l", "--logfile", metavar="FILE",
                      help=f"log to FILE, '-' for stdout (default: {DEFAULT_LOGFILE}, stdout with -n)")
    logs.add_argument("--syslog", action="store_true", help="log to syslog, not to a file")
    logs.add_argument("--prefix", default="tapd", help="syslog identifier (default: tapd)")
    logs.add_argument("--log-format", choices=("text", "json"), default="text",
                      help="text lines (default) or one JSON object per line")
    logs.add_argument("--log-max-bytes", metavar="N", type=_argparse_type(_count), default=0,
                      help="rotate the log file when it would exceed N bytes (default: never)")
    logs.add_argument("--log-backups", metavar="N", type=_argparse_type(_count), default=5,
                      help="rotated log files to keep (default: 5)")
    logs.add_argument("--debug", action="store_true", help="debug log lines; tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"tapd (tap2pkg) {version}")
    parser.add_argument("plugin", nargs="?", metavar="PLUGIN", help=argparse.SUPPRESS)
    parser.add_argument("plugin_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


# --------------------------------------------------------------------------- the direct parser

#: full option names taking no value -> destination
_FLAGS = {"-o": "no_save", "--no_save": "no_save", "-n": "nodaemon", "--nodaemon": "nodaemon",
          "--syslog": "syslog", "--debug": "debug", "--tls": "tls",
          "--no-tls": "no_tls"}
#: full option names taking one value -> destination
_VALUED = {"-y": "python", "--python": "python", "-f": "file", "--file": "file", "-s": "source",
           "--source": "source", "-x": "xml", "--xml": "xml", "--pidfile": "pidfile", "-u": "uid",
           "--uid": "uid", "-g": "gid", "--gid": "gid", "--umask": "umask", "--chroot": "chroot",
           "-d": "rundir", "--rundir": "rundir", "-r": "reactor", "--reactor": "reactor",
           "--shutdown-timeout": "shutdown_timeout", "-p": "profile", "--profile": "profile",
           "-l": "logfile", "--logfile": "logfile", "--prefix": "prefix", "--log-format": "log_format",
           "--log-max-bytes": "log_max_bytes", "--log-backups": "log_backups"}
_CONVERT: dict[str, Callable[[str], Any]] = {"umask": _octal, "shutdown_timeout": _seconds,
                                             "log_max_bytes": _count, "log_backups": _count}
_DEFAULTS: dict[str, Any] = {
    "python": None, "file": None, "source": None, "xml": None, "no_save": False, "nodaemon": False,
    "pidfile": DEFAULT_PIDFILE, "uid": None, "gid": None, "umask": None, "chroot": None, "rundir": ".",
    "reactor": "asyncio", "tls": False, "no_tls": False, "shutdown_timeout": 10.0, "profile": None,
    "logfile": None,
    "syslog": False, "prefix": "tapd", "log_format": "text", "log_max_bytes": 0, "log_backups": 5,
    "debug": False, "plugin": None, "plugin_args": [],
}


def _parse_direct(argv: Sequence[str]) -> dict[str, Any] | None:
    """argparse's result for a command line of full option names, or None: let argparse read it."""
    from .reactors import REACTORS

    if "--" in argv:
        return None  # argparse drops some "--" and keeps others
    values = dict(_DEFAULTS, plugin_args=[])
    app_option: str | None = None
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith("-") or token == "-":
            if token in ("", "-"):
                return None
            values["plugin"] = token
            values["plugin_args"] = list(argv[index:])
            break
        name, equals, value = token.partition("=") if token.startswith("--") else (token, "", "")
        if not equals and name in _FLAGS:
            values[_FLAGS[name]] = True
            continue
        dest = _VALUED.get(name)
        if dest is None:
            return None  # --help, an abbreviation, combined flags, a typo: argparse decides
        if not equals:
            if index >= len(argv) or (argv[index].startswith("-") and argv[index] != "-"):
                return None
            value = argv[index]
            index += 1
        if dest in FILE_KINDS:
            if app_option not in (None, dest):
                return None  # two kinds of app file: argparse words the error
            app_option = dest
        convert = _CONVERT.get(dest)
        try:
            values[dest] = convert(value) if convert is not None else value
        except _BadValue:
            return None
        if dest == "reactor" and value not in REACTORS:
            return None
        if dest == "log_format" and value not in ("text", "json"):
            return None
    return values


def _parse_with_argparse(argv: Sequence[str], version: str) -> dict[str, Any]:
    """What argparse makes of ``argv`` (or its :class:`UsageError`)."""
    return vars(build_parser(version).parse_args(list(argv)))


def _flag_from(environ: Mapping[str, str], name: str, meaning: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"{name}={environ[name]!r} is neither 1 nor 0 (set it to 1 {meaning}, or unset it)")


def _tls_from(args: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
    """Whether tapd loads ``ssl``: ``--tls``/``TAPD_TLS=1`` or ``-r uvloop``; off by default.

    The command line wins over the environment; contradictions are usage errors.
    """
    uvloop = args["reactor"] == "uvloop"  # uvloop imports ssl itself: it implies --tls
    if args["tls"] and args["no_tls"]:
        raise UsageError("--tls and --no-tls contradict each other; give one of them")
    if args["tls"]:
        return True
    if args["no_tls"]:
        if uvloop:
            raise UsageError("-r uvloop loads the ssl module itself, so it cannot run with --no-tls; "
                             "drop --no-tls or choose another event loop")
        return False
    tls_env = _flag_from(environ, TLS_ENV, "to let the application use TLS")
    no_tls_env = _flag_from(environ, NO_TLS_ENV, "to run without TLS, the default")
    if tls_env and no_tls_env:
        raise UsageError(f"{TLS_ENV}=1 and {NO_TLS_ENV}=1 contradict each other; unset one of them")
    if uvloop and no_tls_env:
        raise UsageError(f"-r uvloop loads the ssl module itself, so it cannot run with {NO_TLS_ENV}=1; "
                         f"unset {NO_TLS_ENV} or choose another event loop")
    return tls_env or uvloop


def parse_options(argv: Sequence[str], version: str,
                  environ: Mapping[str, str] | None = None) -> DaemonOptions:
    """Parse ``tapd``'s arguments (and ``TAPD_TLS``/``TAPD_NO_TLS`` from ``environ``); :class:`UsageError`."""
    args = _parse_direct(argv)
    if args is None:
        args = _parse_with_argparse(argv, version)
    app_file: str | None = None
    app_kind: str | None = None
    for option, kind in FILE_KINDS.items():
        value = args[option]
        if value is not None:
            app_file, app_kind = value, kind
    if args["plugin"] is None and app_file is None:
        app_file = DEFAULT_APP_FILE
    if args["plugin"] is not None and app_file is not None:
        raise UsageError(f"give either an application file or the plugin {args['plugin']!r}, not both")
    if app_file == "":
        raise UsageError("the application file name is empty")

    logfile: str | None = args["logfile"]
    if logfile == "-":
        logfile = None
    elif logfile is None and not args["nodaemon"] and not args["syslog"]:
        logfile = DEFAULT_LOGFILE

    def absolute(path: str | None) -> str | None:
        return os.path.abspath(path) if path else None

    tls = _tls_from(args, os.environ if environ is None else environ)
    return DaemonOptions(
        app_file=absolute(app_file),
        app_kind=app_kind,
        plugin=args["plugin"],
        plugin_args=tuple(args["plugin_args"]),
        nodaemon=args["nodaemon"],
        pidfile=absolute(args["pidfile"]),
        logfile=absolute(logfile),
        syslog=args["syslog"],
        prefix=args["prefix"],
        uid=args["uid"],
        gid=args["gid"],
        umask=args["umask"] if args["umask"] is not None else (None if args["nodaemon"] else 0o077),
        chroot=absolute(args["chroot"]),
        rundir=args["rundir"],
        reactor=args["reactor"],
        no_save=args["no_save"],
        profile=absolute(args["profile"]),
        log_format=args["log_format"],
        log_max_bytes=args["log_max_bytes"],
        log_backups=args["log_backups"],
        shutdown_timeout=args["shutdown_timeout"],
        debug=args["debug"],
        tls=tls,
    )


def parse_plugin_options(parser: "argparse.ArgumentParser", plugin: str, args: Sequence[str]) -> Any:
    """Parse a plugin's own options with its parser, turning its errors into :class:`UsageError`."""
    parser.prog = f"tapd {plugin}"

    def error(message: str) -> NoReturn:
        raise UsageError(f"{plugin}: {message} (see 'tapd {plugin} --help')")

    parser.error = error  # type: ignore[method-assign]
    return parser.parse_args(list(args))
