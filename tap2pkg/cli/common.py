"""What every front end shares: one line and an exit code for every error, usage errors and signals alike.

* :class:`ArgumentParser` reports a usage error as ``PROG: error: ... (see 'PROG --help')`` and exits 64,
  as the README's table says (argparse itself prints its usage and exits 2).
* :func:`run_guarded` turns a :class:`Tap2pkgError` into its line and code, and SIGINT, SIGTERM and SIGHUP
  into ``PROG: interrupted (SIGTERM)`` and exit 128 + the signal, after the build has cleaned up as for
  Ctrl-C (the signal unwinds the build like :class:`KeyboardInterrupt`).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from .. import __version__
from ..runtime.errors import Tap2pkgError

#: argparse's usage errors exit with this (EX_USAGE), like every :class:`UsageError`.
USAGE_EXIT = 64

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line and exit 64 (its subparsers are the same kind)."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see 'PROG --help')`` and exit 64."""
        self.exit(USAGE_EXIT, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def add_version_option(parser: argparse.ArgumentParser, prog: str) -> None:
    """Add ``--version``: ``PROG (tap2pkg) VERSION``."""
    parser.add_argument("--version", action="version", version=f"{prog} (tap2pkg) {__version__}")


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived: unwind (and clean up) as for Ctrl-C, then exit 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum: int, frame: FrameType | None) -> None:
    del frame
    for other in _SIGNALS:  # the first signal is enough: a second must not cut the clean-up short
        signal.signal(other, signal.SIG_IGN)
    raise Interrupted(signum)


def run_guarded(action: Callable[[], int], *, prog: str, debug: bool = False) -> int:
    """Run ``action``; print a :class:`Tap2pkgError` as ``prog: error: ...`` and return its code.

    With ``debug`` the traceback is shown too. SIGINT (Ctrl-C), SIGTERM and SIGHUP unwind ``action``
    like Ctrl-C and exit 128 + the signal (130, 143, 129) with one line, no traceback.
    """
    previous = {}
    try:
        for signum in _SIGNALS:
            previous[signum] = signal.signal(signum, _on_signal)
    except ValueError:  # not the main thread (an embedding program): it keeps its own handlers
        pass
    try:
        return action()
    except Tap2pkgError as exc:
        if debug:
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        if debug:
            raise
        number = exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)
        print(f"{prog}: interrupted ({signal.Signals(number).name})", file=sys.stderr)
        return 128 + number
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
