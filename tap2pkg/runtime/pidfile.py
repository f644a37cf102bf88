"""The pidfile: refuse to start twice, write our pid, remove it on the way out.

:class:`PIDFile` is a context manager, as in Twisted's runner: entering it
writes our pid, leaving it removes the file (when it still holds our pid).
:meth:`PIDFile.check` comes first, before anything is loaded: a pidfile
naming a live process means another daemon is running, and start-up is
refused with :class:`AlreadyRunningError`; one naming a process that is gone
(or holding no number at all, e.g. cut short by a crash) is stale: it is
removed and start-up goes on. :class:`NoPIDFile` (``--pidfile=``) does
nothing at all.

The pidfile usually lives in a directory the service's user owns, while
tapd writes it as root. So no symbolic link is ever followed: the pid is
written to a new temporary file (created exclusively, ``O_NOFOLLOW``) that
is renamed over the pidfile, a link where the temporary file should be is
refused with :class:`OutputError`, and a pidfile that is a link is read as
holding no pid (so it is stale, and the link itself is removed).
"""

from __future__ import annotations

import logging
import os

from .errors import AlreadyRunningError, OutputError

log = logging.getLogger("tapd")

#: how the temporary pidfile is opened: a new file, never through a link
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


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


class PIDFile:
    """The file at ``path`` that holds the daemon's process id while it runs."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> int | None:
        """The pid in the file; ``None`` when it is missing, a link, or holds no number."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
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

    def check(self) -> str | None:
        """Refuse to start if the file names a live process; remove it if stale (the message to log)."""
        if not os.path.lexists(self.path):
            return None
        pid = self.read()
        if pid is not None and pid != os.getpid() and is_alive(pid):
            raise AlreadyRunningError(
                f"another tapd is running with pid {pid} (pidfile {self.path}); stop it, "
                "or use --pidfile and --logfile to run a second instance")
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OutputError(f"cannot remove the stale pidfile {self.path}: {exc.strerror}") from None
        what = f"pid {pid}" if pid is not None else "no valid pid"
        return f"removed stale pidfile {self.path} ({what})"

    def write(self, pid: int | None = None) -> None:
        """Write ``pid`` (default: ours) atomically, never following a symbolic link."""
        pid = os.getpid() if pid is None else pid
        temporary = f"{self.path}.{pid}.tmp"
        fd = None
        try:
            fd = self._create(temporary)
            with open(fd, "w", encoding="ascii") as handle:
                handle.write(f"{pid}\n")
                os.fchmod(handle.fileno(), 0o644)  # readable whatever the umask: `kill $(cat pidfile)`
            os.replace(temporary, self.path)  # replaces a link at the path itself, never its target
        except OSError as exc:
            if fd is not None:  # only what we created
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
            raise OutputError(f"cannot write the pidfile {self.path}: {exc.strerror} "
                              "(choose another with --pidfile, or --pidfile= for none)") from None

    def _create(self, temporary: str) -> int:
        """Create ``temporary`` exclusively; a leftover regular file (a crash) is replaced, a link refused."""
        for attempt in (1, 2):
            try:
                return os.open(temporary, _CREATE, 0o644)
            except FileExistsError:
                link = os.path.islink(temporary)
                if link or attempt == 2:
                    what = "is a symbolic link" if link else "keeps coming back"
                    raise OutputError(
                        f"cannot write the pidfile {self.path}: its temporary file {temporary} {what}; "
                        "tapd never writes through links (it may run as root): remove it, and check who "
                        f"can write to {os.path.dirname(self.path) or '.'}") from None
                os.unlink(temporary)  # left by an earlier run with this pid; a link would go, not its target
        raise AssertionError("unreachable")

    def remove(self) -> None:
        """Remove the file if it holds our pid (another's is left alone); a failure is logged."""
        if self.read() not in (None, os.getpid()):
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove pidfile %s: %s", self.path, exc.strerror)

    def __enter__(self) -> PIDFile:
        self.write()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


class NoPIDFile:
    """No pidfile (``--pidfile=``): checking, writing and removing do nothing."""

    __slots__ = ()

    def check(self) -> str | None:
        """Nothing to check: never a stale pidfile to report."""
        return None

    def __enter__(self) -> NoPIDFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None
