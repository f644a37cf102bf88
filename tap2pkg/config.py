"""Package settings from a TOML file: ``[tool.tap2pkg]``.

The table is read from ``--config FILE.toml`` when given, else from a
``pyproject.toml`` beside the app file when it has one. Keys are the long
command-line option names (``-`` or ``_`` alike); command-line options win.

.. code-block:: toml

    [tool.tap2pkg]
    maintainer = "Jane Doe <jane@example.org>"
    version = "2.1"
    depends = ["python3-yaml"]
    include = ["echoproto.py"]
    port = [8007]
    license = "Apache-2.0"

Relative paths (``include``, ``output-dir``) are relative to the TOML file.

:func:`merge_settings` lays a caller's own settings (the command line's, or a
library caller's mapping with the same keys) over the file's: given values win.
:meth:`tap2pkg.spec.PackageSpec.from_app_file` builds a spec from the result.

A settings file may come with someone else's project, so it is read with
care: only a regular file of at most 1 MiB of UTF-8 TOML (never a FIFO or a
device, which could hang the build or never end), an ``include`` must stay
inside the TOML file's directory (after ``..`` and links), and so must an
``output-dir``, given relative to it (a directory elsewhere is ``-o DIR`` on the
command line). Anything else is one line and exit 78
(:class:`~tap2pkg.errors.ConfigError`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, UsageError
from .runtime.lazy import lazy_import

if TYPE_CHECKING:
    import tomllib
else:  # imported on first use: only when there is a file to read, and most builds have none
    tomllib = lazy_import("tomllib")

#: key -> the Python type(s) its value must have; lists are lists of the inner type.
KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "debfile": (str,), "rpmfile": (str,), "maintainer": (str,), "protocol": (str,),
    "description": (str,), "long-description": (str,), "version": (str,), "revision": (str, int),
    "release": (str, int), "distribution": (str,), "user": (str,), "license": (str,), "homepage": (str,),
    "builder": (str,), "runtime": (str,), "type": (str,), "output-dir": (str,), "compression": (str,),
    "format": (str, list), "depends": (list,), "include": (list,), "port": (list, int),
    "project": (str,), "skip-requirement": (list,), "extra": (list,),
}
_PATH_KEYS = ("include", "output-dir", "project")
#: The largest settings file read (a pyproject.toml is a few KiB).
MAX_CONFIG_BYTES = 1 << 20


def find_config(app_file: Path, config_file: Path | None) -> Path | None:
    """The TOML file to read: ``config_file``, or a ``pyproject.toml`` beside ``app_file``."""
    if config_file is not None:
        return config_file
    candidate = app_file.resolve().parent / "pyproject.toml"
    return candidate if candidate.is_file() else None


def read_settings(path: Path, *, required: bool = False, overridden: Collection[str] = ()) -> dict[str, Any]:
    """The ``[tool.tap2pkg]`` table of ``path``, keys with ``_`` (``output_dir``), paths made absolute.

    A missing table gives ``{}`` (an error when ``required``, i.e. ``--config``). A path key in
    ``overridden`` (the caller gives its own) is not held inside the file's directory: it is not used.
    """
    raw = _read_bounded(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start + 1} is {raw[exc.start]:#04x}); "
                          "save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc}); fix the syntax") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: tool must be a table ([tool]), not {type(tool).__name__}; fix it")
    table = tool.get("tap2pkg")
    if table is None:
        if required:
            raise ConfigError(f"{path}: no [tool.tap2pkg] table; add one or drop --config")
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.tap2pkg] must be a table")
    out: dict[str, Any] = {}
    value: Any
    for raw_key, value in table.items():
        key = raw_key.replace("_", "-")
        if key == "ports":
            key = "port"
        if key not in KEYS:
            raise ConfigError(f"{path}: unknown key {raw_key!r} in [tool.tap2pkg]; "
                              f"use one of {', '.join(sorted(KEYS))}")
        if not isinstance(value, KEYS[key]) or isinstance(value, bool):
            raise ConfigError(f"{path}: [tool.tap2pkg] {raw_key} has the wrong type "
                              f"({type(value).__name__}); fix its value")
        values = value if isinstance(value, list) else [value]
        if key in ("depends", "include", "skip-requirement", "extra") and not all(
                isinstance(v, str) for v in values):
            raise ConfigError(f"{path}: [tool.tap2pkg] {raw_key} must be a list of strings")
        if key == "port":
            value = [value] if isinstance(value, int) else value
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise ConfigError(f"{path}: [tool.tap2pkg] {raw_key} must be a list of port numbers")
        if key in ("revision", "release"):
            value = str(value)
        if key in _PATH_KEYS:
            base = path.resolve().parent
            value = [str(base / v) for v in value] if isinstance(value, list) else str(base / value)
        if key == "include" and "include" not in overridden:
            for raw_value, full in zip(table[raw_key], value, strict=True):
                _check_inside(path, base, raw_key, raw_value, full, "keep included code in the project (or "
                              "give --include on the command line)")
        if key == "output-dir" and "output_dir" not in overridden:
            if os.path.isabs(table[raw_key]):
                raise ConfigError(f"{path}: [tool.tap2pkg] {raw_key} {table[raw_key]!r} is an absolute path; "
                                  f"give a directory relative to {base} (inside it), or -o DIR on the "
                                  "command line for a directory elsewhere")
            _check_inside(path, base, raw_key, table[raw_key], value, "give -o DIR on the command line for "
                          "a directory elsewhere")
        if key == "project" and "project" not in overridden:
            _check_inside(path, base, raw_key, table[raw_key], value,
                          "give --project DIR on the command line for a project elsewhere")
        out[key.replace("-", "_")] = value
    return out


def _check_inside(path: Path, base: Path, raw_key: str, raw_value: str, full: str, fix: str) -> None:
    """Refuse a path of the settings file ``path`` (``full``, as given ``raw_value``) that leads out of the
    file's directory ``base`` after ``..`` and links: the file may come with someone else's project."""
    real = Path(os.path.realpath(full))
    if real != base and base not in real.parents:
        raise ConfigError(f"{path}: [tool.tap2pkg] {raw_key} {raw_value!r} leads out of the project "
                          f"directory {base}; {fix}")


def _read_bounded(path: Path) -> bytes:
    """The bytes of ``path``: a regular file of at most :data:`MAX_CONFIG_BYTES`, opened without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file; fix the path") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); fix its permissions") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                    else "a device or socket")
            raise ConfigError(f"{path}: {kind}, not a TOML file; give a regular file")
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES and (chunk := os.read(fd, MAX_CONFIG_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); fix the file") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; a settings file is a few "
                          "lines: give the right file")
    return data


def load_settings(app_file: Path, config_file: Path | None = None,
                  overridden: Collection[str] = ()) -> dict[str, Any]:
    """The settings that apply to ``app_file`` (``{}`` when there is no TOML file)."""
    path = find_config(app_file, config_file)
    if path is None:
        return {}
    return read_settings(path, required=config_file is not None, overridden=overridden)


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A caller's own ``settings``, in the form :func:`read_settings` gives a file's table.

    Keys are those of :data:`KEYS` (``_`` or ``-`` alike); a None value means
    "not given" and is dropped; paths stay relative to the working directory.
    An unknown key or a value of the wrong type is a :class:`UsageError` naming
    the key (the command line's values are always right: strings, lists of them).
    """
    out: dict[str, Any] = {}
    for raw_key, value in settings.items():
        key = str(raw_key).replace("_", "-")
        if key == "ports":
            key = "port"
        if key not in KEYS:
            raise UsageError(f"setting {raw_key!r} is unknown; use one of {', '.join(sorted(KEYS))}")
        if value is None:
            continue
        if isinstance(value, os.PathLike) and key in _PATH_KEYS:
            value = os.fspath(value)
        if key in ("depends", "include", "port", "skip-requirement", "extra"):
            single = isinstance(value, int) if key == "port" else False
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            kinds: tuple[type, ...] = {"include": (str, os.PathLike), "port": (str, int)}.get(key, (str,))
            if not (single or isinstance(value, (list, tuple))) or not all(
                    isinstance(v, kinds) and not isinstance(v, bool) for v in values):
                what = "port numbers" if key == "port" else "strings"
                raise UsageError(f"setting {raw_key!r} must be a list of {what}, not {type(value).__name__}")
            value = [os.fspath(v) for v in values] if key == "include" else values
        elif key == "format" and isinstance(value, (list, tuple)):
            if not all(isinstance(v, str) for v in value):
                raise UsageError(f"setting {raw_key!r} must be a string or a list of strings")
            value = list(value)
        elif not isinstance(value, str) and not (key in ("revision", "release") and isinstance(value, int)
                                                 and not isinstance(value, bool)):
            raise UsageError(f"setting {raw_key!r} must be a string, not {type(value).__name__}")
        out[key.replace("-", "_")] = str(value) if key in ("revision", "release") else value
    return out


def merge_settings(app_file: Path, settings: Mapping[str, Any] | None = None,
                   config_file: Path | None = None) -> dict[str, Any]:
    """The settings for ``app_file``: ``[tool.tap2pkg]`` (``config_file``, else a ``pyproject.toml``
    beside it), overlaid with the given ``settings`` (checked by :func:`check_settings`)."""
    given = check_settings(settings or {})
    config = None if config_file is None else Path(config_file)
    return {**load_settings(Path(app_file), config, overridden=given.keys()), **given}
