"""A directory replaced in one step: the repository a publish writes aside, then swaps in.

:func:`staged_directory` yields a private copy of a directory: a hidden
sibling (``.<name>.new-<pid>-<random>``) whose files are hard links to the live
ones, so they are replaced, never written to; empty when the directory is new.
When the ``with`` block ends without an error, the copy and the live directory
are exchanged in one ``renameat2(RENAME_EXCHANGE)`` and the previous directory
is deleted. Where the system or file system cannot exchange, the live
directory is renamed aside (``.<name>.old-...``) and the copy renamed in. On
an error the copy is deleted and the live directory stays as it was.

A lock beside the directory (``.<name>.lock``) refuses a second publish
running at the same time. Each publish first cleans up what a killed one
left: its copies are deleted, and a directory the fallback moved aside is put
back when nothing took its place. Errors name the directory with the option
that gave it (``--apt DIR``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import AlreadyRunningError, OutputError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux ``renameat2``); False where the system cannot."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _aside(target: Path, what: str) -> Path:
    return target.with_name(f".{target.name}.{what}-{os.getpid()}-{secrets.token_hex(3)}")


def _recover(target: Path) -> None:
    """Undo what a killed publish left: staging copies, or a repository moved aside (fallback swap)."""
    for leftover in target.parent.glob(f".{target.name}.new-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    olds = sorted(target.parent.glob(f".{target.name}.old-*"))
    if olds and not target.exists():
        olds.pop().rename(target)
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)


def _link_tree(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` with hard links (files are replaced, never written to)."""
    shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@contextlib.contextmanager
def staged_directory(target: Path, option: str) -> Iterator[Path]:
    """Yield a private copy of ``target`` (empty when new); on success it replaces ``target`` atomically."""
    target = target.absolute()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = (target.parent / f".{target.name}.lock").open("a")
    except OSError as exc:
        raise OutputError(f"{option} {target}: cannot write there ({exc.strerror})") from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunningError(f"{option} {target}: another tap2pkg publish is updating it; "
                                      "wait for it to finish") from None
        _recover(target)
        if target.exists() and not target.is_dir():
            raise OutputError(f"{option} {target}: not a directory; give the repository's directory")
        stage = _aside(target, "new")
        try:
            if target.exists():
                _link_tree(target, stage)
            else:
                stage.mkdir()
            yield stage
            if not target.exists():
                stage.rename(target)
            elif _exchange(stage, target):
                shutil.rmtree(stage)  # now the previous repository
            else:
                old = _aside(target, "old")
                target.rename(old)
                stage.rename(target)
                shutil.rmtree(old)
        except OSError as exc:
            raise OutputError(f"{option} {target}: cannot write the repository ({exc.strerror}); "
                              "the previous one is unchanged") from exc
        finally:
            shutil.rmtree(stage, ignore_errors=True)
