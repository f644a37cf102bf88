"""What an ``--include`` puts in a package: its files, read as they are, never followed out of.

An included file gives itself; an included directory gives its regular
files, its directories, and the symbolic links that stay inside it (packaged
as the file or directory they name), all under ``/usr/lib/<pkg>/``. Caches
(``__pycache__``, ``.git``, ``*.pyc``...) are skipped, as for the bundled
runtime. A link out of the tree, a dangling link, a link loop, a FIFO, a
socket or a device is refused with one line
(:class:`~tap2pkg.errors.IncludeNotFoundError`, exit 83), and so is a file
name the text policy refuses or that is not UTF-8 (exit 86), all before
anything is written. :mod:`tap2pkg.payload` reads the files this module
finds (without following a link and without blocking, so a file swapped for a
FIFO cannot hang a build).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from .errors import IncludeNotFoundError, InvalidOptionValueError, UsageError
from .spec import PackageSpec
from .textpolicy import check_installed_name

#: At most this many files come from one included directory (links inside it can multiply a tree).
MAX_INCLUDED_FILES = 100_000

#: Names never copied from the runtime or included code.
SKIP_NAMES = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache"})
SKIP_SUFFIXES = (".pyc", ".pyo")


def check_includes(spec: PackageSpec) -> None:
    """Read every ``--include`` as the build will; raise the error the first bad entry gives.

    See the module docstring for what an included tree may hold.
    """
    for inc in spec.includes:
        included_files(inc)


def check_output_dir(spec: PackageSpec, output_dir: Path) -> None:
    """Refuse an output directory inside (or equal to) an included directory: the package would hold
    its own build (the source tree, earlier packages, the files being written)."""
    out = Path(os.path.realpath(output_dir))
    for inc in spec.includes:
        root = Path(os.path.realpath(inc))
        if out == root or root in out.parents:
            raise UsageError(f"--include {inc} holds the output directory {output_dir}: the package would "
                             "include its own build; choose an output directory outside it (-o ../dist)")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def included_files(inc: Path) -> list[tuple[str, Path]]:
    """One ``--include`` as (path under the library directory, real file to read), sorted.

    A file gives itself; a directory gives every file in it, following only links that stay inside
    it. Raises :class:`IncludeNotFoundError` (or, for a file name, :class:`InvalidOptionValueError`).
    """
    where = f"--include {inc}"
    try:
        st = os.stat(inc)  # the path the user named may be a link: it is followed
    except FileNotFoundError:
        if os.path.islink(inc):
            raise IncludeNotFoundError(f"{where}: a symbolic link to {os.readlink(inc)!r}, which does not "
                                       "exist; fix the link or drop it") from None
        raise IncludeNotFoundError(f"{where}: no such file or directory; fix the path or drop it") from None
    except OSError as exc:
        raise IncludeNotFoundError(f"{where}: cannot read it ({exc.strerror}); fix the path or drop it") \
            from None
    root = Path(os.path.realpath(inc))
    if stat.S_ISREG(st.st_mode):
        found = [(root.name, root)]
    elif stat.S_ISDIR(st.st_mode):
        found = []
        for rel, path in _walk_included(root, PurePosixPath(root.name), root, (root,), where):
            found.append((rel, path))
            if len(found) > MAX_INCLUDED_FILES:
                raise IncludeNotFoundError(f"{where}: more than {MAX_INCLUDED_FILES} files; include only "
                                           "the code the service needs")
    else:
        raise IncludeNotFoundError(f"{where}: {_kind(st.st_mode)}, not a file or directory; drop it")
    for rel, _path in found:
        _check_name(rel, where)
    return found


def _check_name(rel: str, where: str) -> None:
    check_installed_name(rel, where)
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise InvalidOptionValueError(f"{where}: the file name {shown!r} is not UTF-8; rename the file "
                                      "(fix --include)") from None


def _walk_included(directory: Path, rel: PurePosixPath, root: Path, ancestors: tuple[Path, ...],
                   where: str) -> Iterator[tuple[str, Path]]:
    """(installed relative path, real path) of every file below ``directory`` (a real path in ``root``)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise IncludeNotFoundError(f"{where}: cannot read {rel} ({exc.strerror}); fix its permissions "
                                   "or drop it") from None
    for name in names:
        if name in SKIP_NAMES or name.endswith(SKIP_SUFFIXES):
            continue
        path, shown = directory / name, rel / name
        target = None
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                st = os.stat(path)
                path = Path(os.path.realpath(path))
                if path != root and root not in path.parents:
                    raise IncludeNotFoundError(
                        f"{where}: {shown} is a symbolic link to {target!r}, out of the included directory; "
                        "replace it with the file it names or drop it")
        except FileNotFoundError:
            if target is None:
                raise IncludeNotFoundError(f"{where}: {shown} vanished while it was read; build again "
                                           "when the tree is not being changed") from None
            raise IncludeNotFoundError(f"{where}: {shown} is a symbolic link to {target!r}, which does not "
                                       "exist; fix the link or remove it") from None
        except OSError as exc:
            raise IncludeNotFoundError(f"{where}: cannot read {shown} ({exc.strerror}); fix it or "
                                       "remove it") from None
        if stat.S_ISDIR(st.st_mode):
            if path in ancestors:
                raise IncludeNotFoundError(f"{where}: {shown} is a symbolic link to a directory that holds "
                                           "it, which would repeat forever; remove the link")
            yield from _walk_included(path, shown, root, (*ancestors, path), where)
        elif stat.S_ISREG(st.st_mode):
            yield str(shown), path
        else:
            raise IncludeNotFoundError(f"{where}: {shown} is {_kind(st.st_mode)}; only regular files, "
                                       "directories and links inside the tree can be packaged: remove it")
