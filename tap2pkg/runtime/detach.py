"""Detaching from the terminal, and ending the way twistd ends.

:func:`daemonize` double-forks: the original process waits on a pipe until
the daemon reports that it is serving (exit 0) or why it could not start
(its one-line error and exit code), so ``tapd ... && next-step`` is
reliable. :func:`exit_with_signal` ends a process stopped by a signal with
that signal's default action, so its exit status shows the signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


class StartupReport:
    """The pipe a daemonized child uses to tell its waiting parent how start-up went."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def send(self, code: int, message: str = "") -> None:
        """Report ``code`` (0: ready) with a one-line message, once."""
        if self.fd is None:
            return
        line = f"{code} {message.splitlines()[0] if message else ''}\n"
        with contextlib.suppress(OSError):
            os.write(self.fd, line.encode("utf-8", "backslashreplace"))
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = None


def _wait_for_child(read_fd: int) -> int:
    """In the parent: wait for the daemon's report; print its error; return the exit code."""
    chunks = []
    while True:
        try:
            chunk = os.read(read_fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
        if b"\n" in chunk:
            break
    os.close(read_fd)
    text = b"".join(chunks).decode("utf-8", "replace").strip()
    code_text, _, message = text.partition(" ")
    if not code_text.isdigit():
        print("tapd: error: the daemon exited during start-up; see its log file for why", file=sys.stderr)
        return 70
    code = int(code_text)
    if code:
        print(f"tapd: error: {message}", file=sys.stderr)
    return code


def daemonize() -> StartupReport | int:
    """Detach: double fork and setsid, stdio to /dev/null.

    Returns the exit code in the original process (after waiting for the
    daemon's start-up report) and a :class:`StartupReport` in the daemon.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    first = os.fork()
    if first > 0:
        os.close(write_fd)
        os.waitpid(first, 0)
        return _wait_for_child(read_fd)
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)  # the session leader goes, so the daemon can never regain a terminal
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    return StartupReport(write_fd)


def exit_with_signal(signum: int) -> None:
    """End the process by ``signum`` with its default action, as twistd does."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    # SIGTERM/SIGINT are delivered at once; this is only reached if the signal is blocked
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
