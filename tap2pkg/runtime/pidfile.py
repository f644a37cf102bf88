"""The pidfile: refuse to start twice, write our pid, remove it on a clean stop.

A pidfile naming a live process means another daemon is running: start-up
is refused with :class:`AlreadyRunningError`. A pidfile naming a process
that is gone (or holding no number at all, e.g. cut short by a crash) is
stale: it is removed and start-up goes on.
"""

from __future__ import annotations

import errno
import os

from .errors import AlreadyRunningError, OutputError


def read_pid(path: str) -> int | None:
    """The pid in ``path``; ``None`` when the file is missing or holds no number."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read(64).strip()
    except OSError:  # missing, or unreadable after dropping privileges
        return None
    try:
        return int(text)
    except ValueError:
        return None


def is_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a process of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check(path: str) -> str | None:
    """Refuse to start if ``path`` names a live process; remove it if stale.

    Returns a message to log when a stale pidfile was removed, else ``None``.
    """
    if not os.path.lexists(path):
        return None
    pid = read_pid(path)
    if pid is not None and pid != os.getpid() and is_alive(pid):
        raise AlreadyRunningError(
            f"another tapd is running with pid {pid} (pidfile {path}); stop it, "
            "or use --pidfile and --logfile to run a second instance")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise OutputError(f"cannot remove the stale pidfile {path}: {exc.strerror}") from None
    what = f"pid {pid}" if pid is not None else "no valid pid"
    return f"removed stale pidfile {path} ({what})"


def write(path: str, pid: int | None = None) -> None:
    """Write ``pid`` (default: ours) to ``path`` atomically."""
    pid = os.getpid() if pid is None else pid
    temporary = f"{path}.{pid}.tmp"
    try:
        with open(temporary, "w", encoding="ascii") as handle:
            handle.write(f"{pid}\n")
            os.fchmod(handle.fileno(), 0o644)  # readable whatever the umask: `kill $(cat pidfile)`
        os.replace(temporary, path)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise OutputError(f"cannot write the pidfile {path}: {exc.strerror} "
                          "(choose another with --pidfile, or --pidfile= for none)") from None


def remove(path: str) -> str | None:
    """Remove ``path`` if it holds our pid; returns an error message when that fails."""
    if read_pid(path) not in (None, os.getpid()):
        return None  # not ours any more: leave it to whoever wrote it
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        return f"cannot remove pidfile {path}: {exc.strerror}"
    return None
