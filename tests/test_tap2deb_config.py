"""``[tool.tap2pkg]`` settings: what is accepted, and one clear error for what is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tap2pkg.config import find_config, load_settings, read_settings
from tap2pkg.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "pyproject.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_keys_are_normalized_and_paths_made_absolute(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool.tap2pkg]\nlong_description = "x"\noutput-dir = "dist"\n'
                           'include = ["mod.py"]\nports = 8007\nrevision = 2\n')
    settings = read_settings(path)
    assert settings == {"long_description": "x", "output_dir": str(tmp_path / "dist"),
                        "include": [str(tmp_path / "mod.py")], "port": [8007], "revision": "2"}


def test_pyproject_beside_the_app_file_is_found(tmp_path: Path) -> None:
    app = tmp_path / "echo.tac"
    app.write_text("")
    assert find_config(app, None) is None
    assert load_settings(app) == {}
    write(tmp_path, "[project]\nname = 'x'\n")
    assert load_settings(app) == {}  # no [tool.tap2pkg]: nothing, no error
    write(tmp_path, '[tool.tap2pkg]\nversion = "2.0"\n')
    assert load_settings(app) == {"version": "2.0"}


def test_explicit_config_wins_over_pyproject(tmp_path: Path) -> None:
    app = tmp_path / "echo.tac"
    app.write_text("")
    write(tmp_path, '[tool.tap2pkg]\nversion = "2.0"\n')
    other = write(tmp_path, '[tool.tap2pkg]\nversion = "3.0"\n', "release.toml")
    assert load_settings(app, other) == {"version": "3.0"}


@pytest.mark.parametrize(("text", "message"), [
    ('[tool.tap2pkg]\nnope = 1\n', "unknown key 'nope'"),
    ('[tool.tap2pkg]\nversion = 1.0\n', "version has the wrong type"),
    ('[tool.tap2pkg]\ndepends = ["a", 2]\n', "list of strings"),
    ('[tool.tap2pkg]\nport = ["http"]\n', "port numbers"),
    ('[tool.tap2pkg\n', "invalid TOML"),
    ('[tool]\ntap2pkg = 3\n', "must be a table"),
])
def test_bad_settings_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        read_settings(path)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 78


def test_config_option_needs_the_table_and_the_file(tmp_path: Path) -> None:
    app = tmp_path / "echo.tac"
    with pytest.raises(ConfigError, match=r"no \[tool\.tap2pkg\] table"):
        load_settings(app, write(tmp_path, "[project]\n", "release.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(app, tmp_path / "missing.toml")
