"""The pidfile: refuse to start twice, write our pid, remove it on a clean stop.

A pidfile naming a live process means another daemon is running: start-up
is refused with :class:`AlreadyRunningError`. A pidfile naming a process
that is gone (or holding no number at all, e.g. cut short by a crash) is
stale: it is removed and start-up goes on.

The pidfile usually lives in a directory the service's user owns, while
tapd writes it as root. So no symbolic link is ever followed: the pid is
written to a new temporary file (created exclusively, ``O_NOFOLLOW``) that
is renamed over the pidfile, a link where the temporary file should be is
refused with :class:`OutputError`, and a pidfile that is a link is read as
holding no pid (so it is stale, and the link itself is removed).
"""

from __future__ import annotations

import errno
import os

from .errors import AlreadyRunningError, OutputError


def read_pid(path: str) -> int | None:
    """The pid in ``path``; ``None`` when the file is missing or holds no number."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # missing, a symbolic link, or unreadable after dropping privileges
        return None
    with open(fd, "rb") as handle:
        try:
            text = handle.read(64).decode("ascii", "replace").strip()
        except OSError:  # a directory, say
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


#: how the temporary pidfile is opened: a new file, never through a link
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _create(temporary: str, path: str) -> int:
    """Create ``temporary`` exclusively; a leftover regular file (a crash) is replaced, a link refused."""
    for attempt in (1, 2):
        try:
            return os.open(temporary, _CREATE, 0o644)
        except FileExistsError:
            link = os.path.islink(temporary)
            if link or attempt == 2:
                what = "is a symbolic link" if link else "keeps coming back"
                raise OutputError(
                    f"cannot write the pidfile {path}: its temporary file {temporary} {what}; tapd never "
                    "writes through links (it may run as root): remove it, and check who can write to "
                    f"{os.path.dirname(path) or '.'}") from None
            os.unlink(temporary)  # left by an earlier run with this pid; a link would go too, not its target
    raise AssertionError("unreachable")


def write(path: str, pid: int | None = None) -> None:
    """Write ``pid`` (default: ours) to ``path`` atomically, never following a symbolic link."""
    pid = os.getpid() if pid is None else pid
    temporary = f"{path}.{pid}.tmp"
    fd = None
    try:
        fd = _create(temporary, path)
        with open(fd, "w", encoding="ascii") as handle:
            handle.write(f"{pid}\n")
            os.fchmod(handle.fileno(), 0o644)  # readable whatever the umask: `kill $(cat pidfile)`
        os.replace(temporary, path)  # replaces a link at ``path`` itself, never its target
    except OSError as exc:
        if fd is not None:  # only what we created
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
