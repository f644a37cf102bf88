"""The record of what a build generated for a source tree, kept in ``OUTPUT/.tap2pkg/``.

Each build that writes an editable tree saves a :class:`State` beside it:
``.tap2pkg/<format>-<tree>.json`` in the output directory (outside every
source package), holding the release, the settings the spec was made from
and the text of every tracked file it generated. The next build reads it as
the base of its three-way merge (:mod:`tap2pkg.regen`); a build
``--from-tree`` without an app file reads the settings back from it.

A file's text is kept as UTF-8 where it is, as base64 where not. A damaged
record is an :class:`~tap2pkg.errors.OutputError` that says how to go on.
:func:`states` reads only the records of one package, even in an output
directory shared by many.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .debversion import compare_versions
from .errors import OutputError
from .runtime.errors import clip

if TYPE_CHECKING:
    from .spec import PackageSpec

#: The directory of the state files, inside the output directory (not ``.tap2pkg-``: that is staging's).
STATE_DIR = ".tap2pkg"

#: A tree's files: relative path -> (content, mode).
Files = dict[str, tuple[bytes, int]]

#: The largest state record read: a Debian tree's holds the included code, so it may be large; never a file
#: without end.
MAX_STATE_BYTES = 256 << 20
#: A tree's name, and each part of a path in it: never empty, ``.``, ``..`` or holding a slash.
_NAME = re.compile(r"(?!\.\.?\Z)[^/\x00]+")
#: A full version (``1:1.0-1``) as far as it is compared: an optional numeric epoch, then no separator.
_VERSION = re.compile(r"(?:[0-9]{1,9}:)?[A-Za-z0-9][A-Za-z0-9.+~_^-]*")
#: What a setting in a record holds (or a list of it).
_SCALARS = (str, int, float, bool, type(None))


def regular_tree_file(path: Path, *, directory: bool = False) -> tuple[bytes, int]:
    """``path``'s content and mode, as :data:`Files` holds them; a symbolic link, or anything but a
    regular file (a directory, with ``directory``), is an :class:`OutputError`: the tree tap2pkg
    writes back after a build holds regular files only, so it would be lost."""
    is_link = path.is_symlink()
    if is_link or not (path.is_dir() if directory else path.is_file()):
        what = "a symbolic link" if is_link else "not a regular file"
        raise OutputError(f"{path}: {what} in the source tree, which tap2pkg rewrites with regular files "
                          "only and would lose it; put a copy of the file in its place")
    if directory:
        return b"", 0
    return path.read_bytes(), path.stat().st_mode & 0o7777


@dataclass(frozen=True, slots=True)
class State:
    """What one build generated for one tree: its release, the settings it came from, every tracked file."""

    format: str
    name: str
    #: the full version (``1.0-1``) the tree was generated for
    version: str
    #: the tree's directory, relative to the output directory (``.`` for the rpm spec directory)
    tree: str
    #: the settings the spec was made from (for a build ``--from-tree``)
    settings: Mapping[str, Any]
    files: Files

    @staticmethod
    def path(output_dir: Path, fmt: str, key: str) -> Path:
        """The state file of tree ``key`` of format ``fmt`` in ``output_dir``."""
        return output_dir / STATE_DIR / f"{fmt}-{key}.json"

    def to_json(self) -> str:
        """The state as the JSON text of its file."""
        files = {}
        for rel, (data, mode) in sorted(self.files.items()):
            try:
                files[rel] = {"mode": mode, "text": data.decode("utf-8")}
            except UnicodeDecodeError:
                files[rel] = {"mode": mode, "base64": base64.b64encode(data).decode()}
        return json.dumps({"format": self.format, "name": self.name, "version": self.version,
                           "tree": self.tree, "settings": dict(self.settings), "files": files}, indent=1)

    @classmethod
    def load(cls, path: Path) -> State | None:
        """The state in ``path``; None when there is none. A damaged one is an :class:`OutputError`."""
        try:
            return cls(*_fields(json.loads(_read_record(path))))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "nested too deeply" if isinstance(
                exc, RecursionError) else clip(str(exc), 160)
            raise OutputError(f"{path}: not a tap2pkg state file ({why}); remove it to treat the tree as "
                              "edited everywhere") from None

    def save(self, output_dir: Path) -> Path:
        """Write the state into ``output_dir`` (atomically); its path."""
        key = self.tree if self.tree != "." else self.name
        path = self.path(output_dir, self.format, key)
        tmp = None
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".state-", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.to_json())
                os.fchmod(fh.fileno(), 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:  # a full disk: no half-written record is left beside the real ones
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise OutputError(f"{path.parent}: cannot record how the tree was generated "
                              f"({exc.strerror or exc}); the package is built, but the next build will not "
                              f"merge hand edits: make {path.parent} a writable directory") from None
        return path


def _read_record(path: Path) -> bytes:
    """``path``'s bytes: a regular file (no FIFO, device or link) of :data:`MAX_STATE_BYTES` at most."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError("a symbolic link") from None
        raise
    with open(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = fh.read(MAX_STATE_BYTES + 1)
    if len(data) > MAX_STATE_BYTES:
        raise ValueError(f"larger than {MAX_STATE_BYTES >> 20} MiB")
    return data


def _fields(raw: Any) -> tuple[str, str, str, str, dict[str, Any], Files]:
    """A record's fields, each of the type and shape :meth:`State.to_json` writes; else a ValueError."""
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    for key in ("format", "name", "version", "tree"):
        if not isinstance(raw.get(key), str):
            raise ValueError(f"no string {key}")
    if not _VERSION.fullmatch(raw["version"]):
        raise ValueError(f"version {clip(repr(raw['version']), 40)} is not a package version")
    if raw["tree"] != "." and not _NAME.fullmatch(raw["tree"]):
        raise ValueError(f"tree {clip(repr(raw['tree']), 40)} is not a directory of the output directory")
    settings = raw.get("settings")
    if not isinstance(settings, dict) or not all(
            isinstance(v, _SCALARS) or (isinstance(v, list) and all(isinstance(i, _SCALARS) for i in v))
            for v in settings.values()):
        raise ValueError("settings is not a table of values and lists of them")
    if not isinstance(settings.get("app_file", ""), str):
        raise ValueError("settings app_file is not a string")
    app_file_name = settings.get("app_file_name", "x")
    if not isinstance(app_file_name, str) or not _NAME.fullmatch(app_file_name):
        raise ValueError("settings app_file_name is not a file name")
    include = settings.get("include", [])
    if not isinstance(include, list) or not all(isinstance(v, str) for v in include):
        raise ValueError("settings include is not a list of strings")
    if not isinstance(raw.get("files"), dict):
        raise ValueError("files is not a table")
    files: Files = {}
    for rel, entry in raw["files"].items():
        shown = clip(repr(rel), 60)
        parts = rel.split("/")
        if not all(_NAME.fullmatch(part) for part in parts):
            raise ValueError(f"files {shown} is not a path inside the tree")
        mode = entry.get("mode") if isinstance(entry, dict) else None
        if type(mode) is not int or not 0 <= mode <= 0o7777:
            raise ValueError(f"files {shown} has no mode from 0 to 0o7777")
        content = [entry[key] for key in ("text", "base64") if key in entry]
        if len(content) != 1 or not isinstance(content[0], str):
            raise ValueError(f"files {shown} needs one string, its text or its base64")
        files[rel] = (entry["text"].encode() if "text" in entry
                      else base64.b64decode(entry["base64"], validate=True), mode)
    return raw["format"], raw["name"], raw["version"], raw["tree"], settings, files


def states(output_dir: Path, fmt: str, name: str) -> list[State]:
    """Every state of package ``name`` in ``output_dir`` whose tree is still there, highest release first."""
    found = []
    directory = output_dir / STATE_DIR
    if directory.is_dir():
        # a state's file is named after its tree, which starts with the package name: the states of
        # other packages in a shared output directory are not read (a batch would read them all, each time)
        for path in sorted(directory.glob(f"{fmt}-{name}*.json")):
            state = State.load(path)
            if state is not None and state.format == fmt and state.name == name \
                    and (output_dir / state.tree).is_dir():
                found.append(state)

    def highest_first(a: State, b: State) -> int:
        return compare_versions(b.version, a.version)

    return sorted(found, key=functools.cmp_to_key(highest_first))


def settings_record(settings: Mapping[str, Any], spec: PackageSpec) -> dict[str, Any]:
    """The settings kept in the state: JSON values only, the spec's name, version and maintainer fixed."""
    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value.resolve())
        return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)

    record = {key: plain(value) for key, value in settings.items() if key not in ("output_dir", "builder")}
    record.update(name=spec.name, version=spec.version, revision=spec.revision, maintainer=spec.maintainer,
                  app_file=str(spec.app_file.resolve()), app_file_name=spec.app_file_name)
    if "include" in record:
        record["include"] = [str(Path(p).resolve()) for p in record["include"]]
    return record


__all__ = ["STATE_DIR", "Files", "State", "regular_tree_file", "settings_record", "states"]
