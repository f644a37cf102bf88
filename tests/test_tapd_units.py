"""``tapd``'s parts on their own: options, pidfile, identities, log formats, reactors; plus
the run-directory, umask, chroot and profile options end to end."""

from __future__ import annotations

import json
import logging
import os
import pstats
import pwd
import signal
import subprocess
from pathlib import Path

import pytest
from test_daemon import (
    echo,
    free_port,
    pid_alive,
    port_open,
    run_tapd,
    save_echo_app,
    start_tapd,
    stop,
    wait_until,
)

from tap2pkg.runtime import privileges, sdnotify
from tap2pkg.runtime.errors import AlreadyRunningError, PermissionDeniedError, UnknownUserError, UsageError
from tap2pkg.runtime.logs import JSONFormatter, LogFile, TextFormatter
from tap2pkg.runtime.options import parse_options
from tap2pkg.runtime.pidfile import NoPIDFile, PIDFile
from tap2pkg.runtime.reactors import REACTORS, describe_reactors, get_reactor

# --------------------------------------------------------------------------- options


def test_defaults_follow_twistd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    daemon = parse_options([], "test")
    assert daemon.app_file == str(tmp_path / "tapd.tap")
    assert daemon.pidfile == str(tmp_path / "tapd.pid")
    assert daemon.logfile == str(tmp_path / "tapd.log")
    assert daemon.umask == 0o077
    foreground = parse_options(["-n", "-y", "app.tac"], "test")
    assert foreground.logfile is None and not foreground.syslog
    assert foreground.umask is None
    assert foreground.app_kind == "python"


def test_option_spellings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    options = parse_options(["--pidfile=", "-l", "-", "--umask", "022", "-x", "a.tax", "-u", "nobody",
                             "-r", "poll", "--log-format", "json", "--log-max-bytes", "100"], "test")
    assert options.pidfile is None
    assert options.logfile is None
    assert options.umask == 0o022
    assert options.app_kind == "xml"
    assert options.uid == "nobody" and options.reactor == "poll"
    assert options.log_format == "json" and options.log_max_bytes == 100


def test_twistd_style_combined_flags() -> None:
    options = parse_options(["-noy", "app.tac"], "test")
    assert options.nodaemon and options.no_save
    assert options.app_kind == "python" and options.app_file is not None
    assert options.app_file.endswith("/app.tac")


def test_plugin_arguments_are_passed_through() -> None:
    options = parse_options(["-n", "web", "--port", "8080", "-n"], "test")
    assert options.plugin == "web"
    assert options.plugin_args == ("--port", "8080", "-n")
    assert options.app_file is None


@pytest.mark.parametrize("argv", [["-y", "a.tac", "-f", "b.tap"], ["-r", "twisted"], ["--umask", "8"],
                                  ["-y", "a.tac", "echo"], ["--log-max-bytes", "-1"]])
def test_bad_options_raise_usage_error(argv: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        parse_options(argv, "test")
    assert caught.value.exit_code == 64


# --------------------------------------------------------------------------- pidfile

def test_pidfile_of_a_live_process_refuses(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    path.write_text(f"{os.getppid()}\n")
    with pytest.raises(AlreadyRunningError) as caught:
        PIDFile(str(path)).check()
    assert caught.value.exit_code == 75
    assert str(os.getppid()) in str(caught.value)


@pytest.mark.parametrize("content", ["", "garbage\n", f"{os.getpid()}\n"])
def test_pidfile_without_a_live_other_pid_is_stale(tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.pid"
    path.write_text(content)
    message = PIDFile(str(path)).check()
    assert message is not None and message.startswith(f"removed stale pidfile {path}")
    assert not path.exists()


def test_pidfile_is_written_on_entering_and_removed_on_leaving(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    with PIDFile(str(path)):
        assert path.read_text() == f"{os.getpid()}\n"
        assert path.stat().st_mode & 0o777 == 0o644
    assert not path.exists()
    with pytest.raises(RuntimeError), PIDFile(str(path)):  # an error on the way out removes it too
        raise RuntimeError("boom")
    assert not path.exists()
    with PIDFile(str(path)):
        path.write_text("1\n")  # someone else's now: left alone
    assert path.read_text() == "1\n"


def test_no_pidfile_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    none = NoPIDFile()
    none.check()
    with none:
        pass
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- identities

def test_resolve_user_names_numbers_and_primary_group() -> None:
    nobody = pwd.getpwnam("nobody")
    by_name = privileges.resolve("nobody", None)
    assert (by_name.uid, by_name.gid, by_name.user) == (nobody.pw_uid, nobody.pw_gid, "nobody")
    assert privileges.resolve(str(nobody.pw_uid), None) == by_name
    assert privileges.resolve(nobody.pw_uid, 0).gid == 0
    assert privileges.resolve(None, None) == privileges.Identity(None, None)


@pytest.mark.parametrize("uid, gid", [("no-such-user-here", None), (None, "no-such-group-here")])
def test_unknown_user_or_group(uid: str | None, gid: str | None) -> None:
    with pytest.raises(UnknownUserError) as caught:
        privileges.resolve(uid, gid)
    assert caught.value.exit_code == 67


# --------------------------------------------------------------------------- logs

def _record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("echo", level, __file__, 1, message, None, None)


def test_text_and_journald_and_json_formats() -> None:
    line = TextFormatter().format(_record("hello"))
    stamp, rest = line.split(" ", 1)
    assert rest == "[echo] hello"
    assert len(stamp) == len("2026-11-23T20:40:00+0000") and stamp[10] == "T"
    assert TextFormatter(journald=True).format(_record("careful", logging.WARNING)) == \
        "<4>[echo] WARNING: careful"
    entry = json.loads(JSONFormatter().format(_record("hi")))
    assert (entry["level"], entry["logger"], entry["message"]) == ("info", "echo", "hi")


def test_log_file_reopen_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    handler = LogFile(str(path), max_bytes=200, backups=1)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.emit(_record("first"))
    path.rename(tmp_path / "moved.log")
    handler.emit(_record("second"))
    handler.reopen()
    handler.emit(_record("third"))
    assert (tmp_path / "moved.log").read_text() == "first\nsecond\n"
    assert path.read_text() == "third\n"
    for number in range(30):
        handler.emit(_record(f"line {number:02}"))
    handler.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log", "a.log.1", "moved.log"]
    assert path.read_text().endswith("line 29\n")


# --------------------------------------------------------------------------- reactors and systemd

def test_reactors() -> None:
    assert get_reactor("asyncio").available
    text = describe_reactors()
    assert all(name in text for name in REACTORS)
    with pytest.raises(UsageError):
        get_reactor("qt")
    for reactor in REACTORS.values():
        if reactor.available:
            loop = reactor.loop_factory()()
            loop.close()


def test_watchdog_interval() -> None:
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "3000000"}) == 1.5
    assert sdnotify.watchdog_interval({}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}) is None
    assert sdnotify.notify("READY=1", {}) is False


# --------------------------------------------------------------------------- environment options

def test_rundir_and_umask_apply_to_the_shutdown_file(tmp_path: Path) -> None:
    port = free_port()
    save_echo_app(tmp_path / "echo.tap", port)
    (tmp_path / "run").mkdir()
    result = run_tapd(["-d", "run", "-f", "echo.tap"], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = int((tmp_path / "tapd.pid").read_text())
    assert Path(f"/proc/{pid}/cwd").resolve() == tmp_path / "run"
    assert echo(port) == b"hello tapd\n"
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), what="the daemon to exit")
    saved = tmp_path / "run" / "echoapp-shutdown.tap"
    assert saved.stat().st_mode & 0o777 == 0o600  # umask 0077 when daemonizing


def test_profile_writes_stats(tmp_path: Path) -> None:
    port = free_port()
    save_echo_app(tmp_path / "echo.tap", port)
    process = start_tapd(["-n", "-o", "-p", "tapd.prof", "-f", "echo.tap"], tmp_path)
    wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
    stop(process)
    assert pstats.Stats(str(tmp_path / "tapd.prof")).get_stats_profile().func_profiles


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_chroot(tmp_path: Path) -> None:
    port = free_port()
    process = start_tapd(["-n", "--pidfile=", "--chroot", str(tmp_path), "echo", "--port", str(port),
                          "-i", "127.0.0.1"], tmp_path)
    wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
    assert Path(f"/proc/{process.pid}/root").resolve() == tmp_path
    assert echo(port) == b"hello tapd\n"
    code, _, err = stop(process)
    assert code == -signal.SIGTERM, err


def test_version() -> None:
    result = subprocess.run([*__import__("test_daemon").TAPD, "--version"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("tapd (tap2pkg) ")


def test_syslog_handler_sends_each_line_with_its_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    import syslog

    from tap2pkg.runtime import logs
    sent: list[tuple[int, str]] = []
    opened: list[tuple[str, int, int]] = []
    monkeypatch.setattr(syslog, "openlog", lambda *args: opened.append(args))
    monkeypatch.setattr(syslog, "syslog", lambda priority, line: sent.append((priority, line)))
    monkeypatch.setattr(syslog, "closelog", lambda: None)
    handler = logs.SyslogHandler("myapp")
    handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    handler.emit(_record("two\nlines", logging.ERROR))
    handler.close()
    assert opened[0][0] == "myapp"
    assert sent == [(3, "[echo] two"), (3, "lines")]


def test_switching_user_needs_root() -> None:
    if os.geteuid() == 0:
        pytest.skip("runs as root: the switch would succeed")
    with pytest.raises(PermissionDeniedError):
        privileges.drop(privileges.Identity(0, 0, "root"))


def test_log_file_survives_copytruncate(tmp_path: Path) -> None:
    # logrotate's copytruncate empties the file under the daemon: appends start at 0, no holes
    path = tmp_path / "a.log"
    handler = LogFile(str(path), max_bytes=1000)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for number in range(20):
        handler.emit(_record(f"before {number}"))
    os.truncate(path, 0)
    handler.emit(_record("after"))
    handler.close()
    assert path.read_text() == "after\n"
    assert not (tmp_path / "a.log.1").exists()


def test_help_reactors_marks_a_missing_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    assert ("    uvloop   uvloop, a faster loop built on libuv (when installed; implies --tls, as uvloop "
            "loads the ssl module itself)  [unavailable]") in describe_reactors().splitlines()
    with pytest.raises(UsageError) as caught:
        get_reactor("uvloop").loop_factory()
    assert "python3-uvloop" in str(caught.value)
