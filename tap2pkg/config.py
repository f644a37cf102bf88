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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError

#: key -> the Python type(s) its value must have; lists are lists of the inner type.
KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "debfile": (str,), "rpmfile": (str,), "maintainer": (str,), "protocol": (str,),
    "description": (str,), "long-description": (str,), "version": (str,), "revision": (str, int),
    "release": (str, int), "distribution": (str,), "user": (str,), "license": (str,), "homepage": (str,),
    "builder": (str,), "type": (str,), "output-dir": (str,), "compression": (str,), "format": (str, list),
    "depends": (list,), "include": (list,), "port": (list, int),
}
_PATH_KEYS = ("include", "output-dir")


def find_config(app_file: Path, config_file: Path | None) -> Path | None:
    """The TOML file to read: ``config_file``, or a ``pyproject.toml`` beside ``app_file``."""
    if config_file is not None:
        return config_file
    candidate = app_file.resolve().parent / "pyproject.toml"
    return candidate if candidate.is_file() else None


def read_settings(path: Path, *, required: bool = False) -> dict[str, Any]:
    """The ``[tool.tap2pkg]`` table of ``path``, keys with ``_`` (``output_dir``), paths made absolute.

    A missing table gives ``{}`` (an error when ``required``, i.e. ``--config``).
    """
    import tomllib  # only when there is a file to read: most builds have none

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file; fix the path") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); fix its permissions") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc}); fix the syntax") from None
    table = data.get("tool", {}).get("tap2pkg")
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
        if key in ("depends", "include") and not all(isinstance(v, str) for v in values):
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
        out[key.replace("-", "_")] = value
    return out


def load_settings(app_file: Path, config_file: Path | None = None) -> dict[str, Any]:
    """The settings that apply to ``app_file`` (``{}`` when there is no TOML file)."""
    path = find_config(app_file, config_file)
    if path is None:
        return {}
    return read_settings(path, required=config_file is not None)
