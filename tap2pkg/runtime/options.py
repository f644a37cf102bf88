"""``tapd``'s command line: options compatible with twistd's.

One :mod:`argparse` parser reads every command line; :func:`parse_options`
then settles what the options imply (the application file and its kind, the
log file, the umask, TLS) and makes paths absolute. It never exits on a
bad option: it raises :class:`UsageError` (exit code 64), which ``tapd``
prints as one line. ``--help``, ``--version`` and ``--help-reactors`` print
and exit 0, as usual.

A plugin subcommand follows the options, as with twistd::

    tapd -n --pidfile= echo --port 8007

Everything after the plugin name goes to the plugin's own parser.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import UsageError
from .lazy import lazy_import
from .reactors import REACTORS, describe_reactors

if TYPE_CHECKING:
    import shutil

    from . import plugins as plugins_module
else:  # imported on first use, by the help text only: shutil brings bz2 and lzma, plugins asyncio
    shutil = lazy_import("shutil")
    plugins_module = lazy_import("tap2pkg.runtime.plugins")

#: the app-file option that was given -> the kind it forces (``-f`` goes by the file's suffix)
FILE_OPTIONS = {"python": "python", "file": None, "source": "source", "xml": "xml"}

DEFAULT_APP_FILE = "tapd.tap"
DEFAULT_PIDFILE = "tapd.pid"
DEFAULT_LOGFILE = "tapd.log"

#: the environment variable that turns on ``--tls`` (for /etc/default/<package>)
TLS_ENV = "TAPD_TLS"
#: the environment variable for ``--no-tls`` (the default, accepted so that it can be said explicitly)
NO_TLS_ENV = "TAPD_NO_TLS"
_TRUE = ("1", "yes", "true", "on")
_FALSE = ("", "0", "no", "false", "off")


def _octal(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal umask such as 022 or 0077") from None
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (000 to 777)")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and less than a day")
    return value


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, sized to the terminal only when it formats text.

    argparse also makes a formatter for each option added to the parser, only
    to check the option; sized there, it would import :mod:`shutil` (and bz2,
    lzma with it) into every daemon, for half a MiB of memory.
    """

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=0)  # the real width is set by format_help

    def format_help(self) -> str:
        width = shutil.get_terminal_size().columns - 2  # as argparse.HelpFormatter sizes itself
        self._width = width
        self._max_help_position = min(24, max(width - 20, 2 * self._indent_increment))
        return super().format_help()


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` and lists the plugins in its help."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def format_help(self) -> str:
        plugins = plugins_module.get_plugins()
        if not plugins:
            return super().format_help()
        width = max(len(name) for name in plugins)
        lines = ["", "plugins (run one directly with 'tapd [options] PLUGIN [plugin options]'):"]
        lines += [f"  {name.ljust(width)}  {getattr(plugins[name], 'description', '')}"
                  for name in sorted(plugins)]
        return super().format_help() + "\n".join(lines) + "\n"


class _HelpReactors(argparse.Action):
    """``--help-reactors``: print the event loops and exit 0."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        sys.stdout.write(describe_reactors())
        parser.exit(0)


def build_parser(version: str) -> argparse.ArgumentParser:
    """The ``tapd`` argument parser (also used to render ``--help``)."""
    parser = _Parser(prog="tapd", usage="tapd [options] [PLUGIN [plugin options]]",
                     description="Run an application file (.tac .tap .tas .tax) or a plugin as a daemon.",
                     formatter_class=_HelpFormatter)
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
    run.add_argument("--umask", metavar="MODE", type=_octal,
                     help="octal umask (default: 0077 when daemonizing, unchanged with -n)")
    run.add_argument("--chroot", metavar="DIR", help="chroot to DIR before running")
    run.add_argument("-d", "--rundir", metavar="DIR", default=".", help="change to DIR before running")
    run.add_argument("-r", "--reactor", metavar="NAME", default="asyncio", choices=sorted(REACTORS),
                     help="event loop: " + ", ".join(REACTORS) + " (default: asyncio)")
    run.add_argument("--help-reactors", action=_HelpReactors, help="list the event loops and exit")
    run.add_argument("--tls", action="store_true",
                     help=f"load the ssl module so that the application can use TLS (also: {TLS_ENV}=1 "
                          "in the environment; implied by -r uvloop); without it tapd keeps ssl out: "
                          "less memory, a faster start")
    run.add_argument("--no-tls", action="store_true",
                     help=f"run without the ssl module, the default said explicitly (also: {NO_TLS_ENV}=1)")
    run.add_argument("--shutdown-timeout", metavar="SECONDS", type=_seconds, default=10.0,
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
    logs.add_argument("--log-max-bytes", metavar="N", type=_count, default=0,
                      help="rotate the log file when it would exceed N bytes (default: never)")
    logs.add_argument("--log-backups", metavar="N", type=_count, default=5,
                      help="rotated log files to keep (default: 5)")
    logs.add_argument("--debug", action="store_true", help="debug log lines; tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"tapd (tap2pkg) {version}")
    parser.add_argument("plugin", nargs="?", metavar="PLUGIN", help=argparse.SUPPRESS)
    parser.add_argument("plugin_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _flag_from(environ: Mapping[str, str], name: str, meaning: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"{name}={environ[name]!r} is neither 1 nor 0 (set it to 1 {meaning}, or unset it)")


def _tls_from(args: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    """Whether tapd loads ``ssl``: ``--tls``/``TAPD_TLS=1`` or ``-r uvloop``; off by default.

    The command line wins over the environment; contradictions are usage errors.
    """
    uvloop = args.reactor == "uvloop"  # uvloop imports ssl itself: it implies --tls
    if args.tls and args.no_tls:
        raise UsageError("--tls and --no-tls contradict each other; give one of them")
    if args.tls:
        return True
    if args.no_tls:
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
                  environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Parse ``tapd``'s arguments (and ``TAPD_TLS``/``TAPD_NO_TLS`` from ``environ``); :class:`UsageError`.

    Besides the options' own values, the result says ``app_file`` (absolute,
    or ``None`` for a plugin) and ``app_kind`` (the kind its option forces);
    ``pidfile``, ``logfile``, ``chroot`` and ``profile`` are absolute, or
    ``None`` for none; ``umask`` is 0077 when daemonizing unless given; ``tls``
    takes the environment into account.
    """
    args = build_parser(version).parse_args(list(argv))
    args.app_file = args.app_kind = None
    for option, kind in FILE_OPTIONS.items():
        if getattr(args, option) is not None:
            args.app_file, args.app_kind = getattr(args, option), kind
    if args.plugin is None and args.app_file is None:
        args.app_file = DEFAULT_APP_FILE
    if args.plugin is not None and args.app_file is not None:
        raise UsageError(f"give either an application file or the plugin {args.plugin!r}, not both")
    if args.app_file == "":
        raise UsageError("the application file name is empty")
    if args.logfile == "-":
        args.logfile = None
    elif args.logfile is None and not args.nodaemon and not args.syslog:
        args.logfile = DEFAULT_LOGFILE
    for name in ("app_file", "pidfile", "logfile", "chroot", "profile"):
        setattr(args, name, os.path.abspath(getattr(args, name)) if getattr(args, name) else None)
    if args.umask is None and not args.nodaemon:
        args.umask = 0o077
    args.plugin_args = tuple(args.plugin_args)
    args.tls = _tls_from(args, os.environ if environ is None else environ)
    return args


def parse_plugin_options(parser: argparse.ArgumentParser, plugin: str, args: Sequence[str]) -> Any:
    """Parse a plugin's own options with its parser, turning its errors into :class:`UsageError`."""
    parser.prog = f"tapd {plugin}"

    def error(message: str) -> NoReturn:
        raise UsageError(f"{plugin}: {message} (see 'tapd {plugin} --help')")

    parser.error = error  # type: ignore[method-assign]  # argparse has no hook for this but overriding
    return parser.parse_args(list(args))
