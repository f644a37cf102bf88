"""Places someone else's input could send a build: a settings file's ``output-dir``, the rpmbuild
builder's private directory and its locks, the type of the file ``tap2pkg mktap`` writes.

Each refusal is one line with its documented exit code, and nothing is written where it was sent.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tap2pkg.cli import tap2rpm
from tap2pkg.config import merge_settings, read_settings
from tap2pkg.errors import ConfigError

ECHO = Path(__file__).resolve().parent.parent / "examples" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"


def project(tmp_path: Path, output_dir: str) -> Path:
    """A copy of the echo example whose ``pyproject.toml`` sets ``output-dir``; the app file's path."""
    where = tmp_path / "project"
    where.mkdir()
    for name in ("echo.tac", "echoproto.py"):
        shutil.copy(ECHO / name, where / name)
    (where / "pyproject.toml").write_text(f'[tool.tap2pkg]\noutput-dir = "{output_dir}"\n')
    return where / "echo.tac"


# --------------------------------------------------------------------------- output-dir of a settings file

@pytest.mark.parametrize(("value", "message"), [
    ("/tmp/elsewhere", "is an absolute path"),
    ("../elsewhere", "leads out of the project directory"),
    ("dist/../../elsewhere", "leads out of the project directory"),
    ("link/dist", "leads out of the project directory"),
])
def test_settings_output_dir_stays_in_the_files_directory(tmp_path: Path, value: str, message: str) -> None:
    (tmp_path / "link").symlink_to(tempfile.gettempdir())
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[tool.tap2pkg]\noutput-dir = "{value}"\n')
    with pytest.raises(ConfigError, match=message) as info:
        read_settings(path)
    assert info.value.exit_code == 78
    assert str(path) in str(info.value) and "-o DIR on the command line" in str(info.value)


@pytest.mark.parametrize("value", ["dist", ".", "dist/../out", "sub/dir"])
def test_settings_output_dir_inside_is_taken(tmp_path: Path, value: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[tool.tap2pkg]\noutput-dir = "{value}"\n')
    assert read_settings(path) == {"output_dir": str(tmp_path / value)}


def test_tap2rpm_refuses_a_settings_output_dir_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    app = project(tmp_path, str(elsewhere))
    monkeypatch.chdir(app.parent)
    assert tap2rpm.main(["-m", MAINTAINER, "--include", "echoproto.py", "echo.tac"]) == 78
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "output-dir" in err and "-o DIR" in err, err
    assert not elsewhere.exists()


def test_command_line_output_dir_goes_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """-o is the caller's own choice; the file's value it replaces is not held against it."""
    elsewhere = tmp_path / "elsewhere"
    app = project(tmp_path, "../somewhere")
    monkeypatch.chdir(app.parent)
    argv = ["-m", MAINTAINER, "--include", "echoproto.py", "-o", str(elsewhere), "echo.tac"]
    assert tap2rpm.main(argv) == 0
    assert (elsewhere / "echo.spec").is_file()
    assert not (tmp_path / "somewhere").exists()


def test_a_path_the_caller_replaces_is_not_held_against_the_file(tmp_path: Path) -> None:
    path = tmp_path / "release.toml"
    path.write_text('[tool.tap2pkg]\noutput-dir = "/elsewhere"\ninclude = ["../x.py"]\nversion = "2"\n')
    merged = merge_settings(tmp_path / "echo.tac", {"output_dir": "out", "include": ["mod.py"]}, path)
    assert merged == {"output_dir": "out", "include": ["mod.py"], "version": "2"}
    with pytest.raises(ConfigError, match=r"include '\.\./x\.py' leads out"):
        merge_settings(tmp_path / "echo.tac", {"output_dir": "out"}, path)
