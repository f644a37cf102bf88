"""The output directory: every build is staged aside and published at once.

A build never writes into the output directory directly. :class:`Staging`
makes a private directory inside it (``.tap2pkg-XXXXXXXX``: the same file
system, so publishing is a rename); the build writes there, and
:meth:`Staging.publish` moves the results into place:

* under an exclusive lock on the output directory, so builds running at the
  same time into one directory publish one after the other, each whole (the
  same inputs give the same bytes, so whichever comes last is as good);
* after checking every name first: a source tree may only replace a
  directory, a package file only a regular file. A file, a symbolic link or
  anything else in the way is refused with one line (exit 73), and nothing
  is followed or overwritten;
* a file replaces the one before it in one ``rename``; a directory is moved
  aside, then the new one in; if a move fails, the moves before it are undone;
* with SIGINT, SIGTERM and SIGHUP held, so a signal cannot stop it halfway.

When the build fails (an error, a full disk, a signal), leaving the ``with``
block removes the staging directory and any output directory it created: the
output directory is as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .errors import OutputError
from .runtime.lazy import lazy_import

if TYPE_CHECKING:
    import fcntl
else:  # imported on first use: only publishing takes the directory's lock
    fcntl = lazy_import("fcntl")

#: The staging directories' name prefix (hidden; a leftover one is safe to delete when no build runs).
STAGE_PREFIX = ".tap2pkg-"

_HELD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


class Staging:
    """A private directory inside ``output_dir`` where one build writes; see the module docstring."""

    def __init__(self, output_dir: Path, *, option: str = "--output-dir") -> None:
        self.output_dir = Path(output_dir)
        #: the option that names the directory, for messages
        self.option = option
        self._path: Path | None = None
        self._created: list[Path] = []

    @property
    def path(self) -> Path:
        """The staging directory (only inside the ``with`` block)."""
        assert self._path is not None, "use Staging in a with block"
        return self._path

    def __enter__(self) -> Staging:
        self._created = _make_dirs(self.output_dir, self.option)
        try:
            with signals_held():  # a signal between making the directory and noting it would leave it
                self._path = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=self.output_dir))
        except OSError as exc:
            self._remove_created()
            raise self.error(exc) from None
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None
        if exc_type is not None:
            self._remove_created()

    def _remove_created(self) -> None:
        for directory in reversed(self._created):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty: never what someone else put there

    def error(self, exc: OSError) -> OutputError:
        """The one-line error for ``exc``, met writing the build (a full disk, a read-only file system)."""
        shown = self.output_dir  # a staging directory inside another is named by the other's directory
        while shown.name.startswith(STAGE_PREFIX):
            shown = shown.parent
        return OutputError(f"{self.option} {shown}: cannot write the build there "
                           f"({exc.strerror or exc}); free some space or choose a writable directory")

    def check_free(self, name: str, *, directory: bool) -> None:
        """Refuse what would stand in the way of publishing ``name`` (a directory when ``directory``)."""
        dest = self.output_dir / name
        try:
            mode = os.lstat(dest).st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self.error(exc) from None
        if stat.S_ISDIR(mode) if directory else stat.S_ISREG(mode):
            return  # an earlier build's result: replaced
        what = ("a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode)
                else "a file" if stat.S_ISREG(mode) else "something that is not a file")
        place = "the source tree" if directory else "a package file"
        raise OutputError(f"{dest}: {what} is where {place} goes; it is left alone: move it away or "
                          f"choose another {self.option}")

    def publish(self, paths: Sequence[Path]) -> list[Path]:
        """Move ``paths`` (entries of the staging directory) into the output directory; their new paths."""
        moved: list[Path] = []
        with signals_held(), _locked(self.output_dir):
            plan = []
            for src in paths:
                is_dir = stat.S_ISDIR(os.lstat(src).st_mode)
                self.check_free(src.name, directory=is_dir)
                plan.append((src, self.output_dir / src.name, is_dir))
            aside = self.path / ".replaced"
            undo: list[Callable[[], None]] = []
            try:
                aside.mkdir()
                for src, dest, is_dir in plan:
                    _move(src, dest, aside / dest.name, is_dir, undo)
                    moved.append(dest)
            except OSError as exc:
                for step in reversed(undo):
                    with contextlib.suppress(OSError):
                        step()
                raise self.error(exc) from None
        return moved


def _move(src: Path, dest: Path, old: Path, is_dir: bool, undo: list[Callable[[], None]]) -> None:
    """Put ``src`` at ``dest``, keeping what was there at ``old``; record how to undo each step."""
    if os.path.lexists(dest):
        if is_dir:
            os.rename(dest, old)  # a directory cannot be renamed over a full one
        else:
            try:
                os.link(dest, old)  # the old file stays in place until the new one replaces it
            except OSError:
                os.rename(dest, old)
        undo.append(lambda: os.replace(old, dest))
    os.replace(src, dest)
    undo.append(lambda: os.replace(dest, src))


def _make_dirs(output_dir: Path, option: str) -> list[Path]:
    """Create ``output_dir`` and its missing parents; return those created, outermost first."""
    missing = []
    parent = output_dir
    while not os.path.lexists(parent) and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} {output_dir}: cannot create it ({exc.strerror}); "
                          "choose a writable directory") from None
    if not output_dir.is_dir() or not os.access(output_dir, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {output_dir}: not a writable directory; choose a writable directory")
    return list(reversed(missing))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` itself (no lock file is left behind)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: publish unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back SIGINT, SIGTERM and SIGHUP: they arrive once the block is done."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def signals_open() -> Iterator[None]:
    """Unblock SIGINT, SIGTERM and SIGHUP in the calling thread for the block: a process a build thread
    starts there gets them as one the main thread starts (a child inherits its thread's mask)."""
    old = signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def never_take_signals() -> None:
    """Block SIGINT, SIGTERM and SIGHUP in the calling thread for good: a build thread calls it, so that
    they reach the main thread, which holds them while it publishes (:func:`signals_held`)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
