"""Places someone else's input could send a build: a settings file's ``output-dir``, the rpmbuild
builder's private directory and its locks, the type of the file ``tap2pkg mktap`` writes.

Each refusal is one line with its documented exit code, and nothing is written where it was sent.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pwd
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tap2pkg import tools
from tap2pkg.cli import tap2rpm
from tap2pkg.cli.tap2pkg import main as tap2pkg_main
from tap2pkg.config import merge_settings, read_settings
from tap2pkg.errors import ConfigError, OutputError
from tap2pkg.rpm.rpmbuild import private_topdir

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


@pytest.mark.parametrize("value", ["../elsewhere", "/srv/other-project", "link/project"])
def test_settings_project_stays_in_the_files_directory(tmp_path: Path, value: str) -> None:
    """A project read from elsewhere would put someone else's code in the package: --project says so."""
    (tmp_path / "link").symlink_to(tempfile.gettempdir())
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[tool.tap2pkg]\nproject = "{value}"\n')
    with pytest.raises(ConfigError, match="leads out of the project directory") as info:
        read_settings(path)
    assert info.value.exit_code == 78 and "--project DIR on the command line" in str(info.value)
    read_settings(path, overridden=("project",))  # the command line replaces it: not held against the file
    (tmp_path / "sub").mkdir()
    path.write_text('[tool.tap2pkg]\nproject = "sub"\n')
    assert read_settings(path) == {"project": str(tmp_path / "sub")}


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


# --------------------------------------------------------------------------- the rpmbuild builder's directory

@pytest.fixture
def tmpdir_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as ``$TMPDIR`` for the builder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_one_shared_path_for_every_user_and_a_private_directory_for_each_build(tmpdir_is: Path) -> None:
    old = os.umask(0o277)  # mkdir(mode=...) alone would give less
    try:
        with private_topdir("echo-1.0-1") as top:
            assert top == tmpdir_is / "tap2rpm" / "echo-1.0-1"  # no uid in it: the source RPM records it
            base, own = os.lstat(top.parent), os.lstat(top)
            assert stat.S_IMODE(base.st_mode) == 0o1777 and stat.S_ISDIR(own.st_mode)
            assert stat.S_IMODE(own.st_mode) == 0o700 and own.st_uid == os.getuid()
    finally:
        os.umask(old)
    assert list(top.parent.iterdir()) == []  # the _topdir does not stay behind


def _plant(base: Path, what: str) -> None:
    if what == "link":
        (base.parent / "target").mkdir(mode=0o700)
        base.symlink_to(base.parent / "target")
    elif what == "file":
        base.write_text("")
    elif what == "open to all, not sticky":
        base.mkdir()
        base.chmod(0o777)
    else:  # another user's
        base.mkdir(mode=0o1777)
        os.chown(base, pwd.getpwnam("nobody").pw_uid, -1)


@pytest.mark.parametrize(("what", "message"), [
    ("link", "a symbolic link"), ("file", "a file"),
    ("open to all, not sticky", "owned by you with mode 0777, so another user could remove"),
    pytest.param("other user", "owned by uid", marks=pytest.mark.skipif(
        os.geteuid() != 0, reason="only root can give a directory to another user")),
])
def test_the_shared_directory_is_refused_when_another_user_could_empty_it(tmpdir_is: Path, what: str,
                                                                          message: str) -> None:
    base = tmpdir_is / "tap2rpm"
    _plant(base, what)
    with pytest.raises(OutputError, match=message) as info, private_topdir("echo-1.0-1"):
        pass
    assert info.value.exit_code == 73 and "\n" not in str(info.value)
    assert str(base) in str(info.value) and "TMPDIR" in str(info.value)
    if what == "link":
        assert list((tmpdir_is / "target").iterdir()) == []  # never followed


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_another_users_build_of_the_package_is_refused_not_waited_on(tmpdir_is: Path) -> None:
    top = tmpdir_is / "tap2rpm" / "echo-1.0-1"
    top.parent.mkdir(mode=0o1777)
    top.mkdir(mode=0o700)
    os.chown(top, pwd.getpwnam("nobody").pw_uid, -1)
    with pytest.raises(OutputError, match=r"uid \d+ is building echo-1.0-1 there now") as info, \
            private_topdir("echo-1.0-1"):
        pass
    assert info.value.exit_code == 73 and top.is_dir()  # left to its owner


def test_what_a_killed_build_left_is_cleared(tmpdir_is: Path) -> None:
    top = tmpdir_is / "tap2rpm" / "echo-1.0-1"
    (top / "BUILD").mkdir(parents=True)
    (top / "stale").write_text("x")
    (top / "link").symlink_to(tmpdir_is)
    with private_topdir("echo-1.0-1") as again:
        assert again == top and list(top.iterdir()) == []
    assert tmpdir_is.is_dir()  # the link was removed, not followed


def _held(top: Path) -> int:
    top.parent.mkdir(mode=0o1777, exist_ok=True)
    top.mkdir(mode=0o700)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another build of the same user is in it
    return fd


def test_waiting_for_another_build_says_so_and_ends_when_it_does(tmpdir_is: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    top = tmpdir_is / "tap2rpm" / "echo-1.0-1"
    held = _held(top)
    (top / "theirs").write_text("x")

    def other_build_ends() -> None:
        time.sleep(0.3)
        shutil.rmtree(top)  # as a build does: removed while still held, then released
        os.close(held)

    threading.Thread(target=other_build_ends).start()
    with caplog.at_level(logging.WARNING), private_topdir("echo-1.0-1") as again:
        assert again.is_dir() and not (again / "theirs").exists()
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "another build of echo-1.0-1" in notes[0] and str(top) in notes[0], notes
    assert not top.exists()


def test_a_wait_for_another_build_ends_when_the_build_stops(tmpdir_is: Path) -> None:
    held = _held(tmpdir_is / "tap2rpm" / "echo-1.0-1")
    raised: list[BaseException] = []

    def build() -> None:
        try:
            with private_topdir("echo-1.0-1"):
                pass
        except BaseException as exc:  # noqa: BLE001 - the test reads what ended the wait
            raised.append(exc)

    waiter = threading.Thread(target=build, daemon=True)
    try:
        waiter.start()
        time.sleep(0.3)
        with tools.stopping():
            waiter.join(10)
    finally:
        os.close(held)
    assert [type(exc) for exc in raised] == [tools.Stopped]


# --------------------------------------------------------------------------- the file mktap writes

@pytest.mark.parametrize(("argv", "message"), [
    (["-o", "x.conf"], "x.conf: cannot tell the app file type from the suffix '.conf'"),
    (["-o", "noext"], "cannot tell the app file type"),
    (["-y", "bogus"], "-y/--type 'bogus' is not a known app file type"),
])
def test_mktap_unknown_output_type_exits_79(argv: list[str], message: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert tap2pkg_main(["mktap", "echo", *argv]) == 79
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_mktap_twisted_unknown_output_type_exits_79(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("twisted")
    monkeypatch.chdir(tmp_path)
    assert tap2pkg_main(["mktap", "--twisted", "web", "--path", "/srv/www", "-o", "web.conf"]) == 79
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "suffix '.conf'; name it FILE.tac or give -y python" in err, err
    assert list(tmp_path.iterdir()) == []
