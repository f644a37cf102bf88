"""``tapd``'s :class:`Runner` in this process: its pidfile, log and hooks around the services."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
from test_daemon import free_port

from tap2pkg.runtime.daemon import Runner
from tap2pkg.runtime.options import parse_options
from tap2pkg.runtime.pidfile import NoPIDFile, PIDFile
from tap2pkg.runtime.service import Application


def _echo_runner(tmp_path: Path, port: int, *extra: str) -> Runner:
    options = parse_options(["-n", f"--pidfile={tmp_path / 'echo.pid'}", *extra,
                             "echo", "--port", str(port), "-i", "127.0.0.1"], "test", {})
    return Runner.from_options(options)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_hooks_run_while_serving_and_after_stopping(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    pid_path = tmp_path / "echo.pid"
    seen: list[str] = []

    def running(app: Application) -> None:
        seen.append(f"running {app.process_name}: listening {_listening(port)}, "
                    f"pidfile {pid_path.read_text().strip() == str(os.getpid())}")
        os.kill(os.getpid(), signal.SIGTERM)  # the runner's handler takes it: a clean stop

    def stopped(app: Application) -> None:
        seen.append(f"stopped {app.process_name}: listening {_listening(port)}, pidfile {pid_path.exists()}")

    runner = _echo_runner(tmp_path, port)
    assert isinstance(runner.pidfile, PIDFile)
    status = Runner(runner.options, runner.pidfile, runner.log, runner.reactor, running, stopped).run()
    assert status == -signal.SIGTERM  # main() ends the process by the signal, as twistd does
    assert seen == ["running echo: listening True, pidfile True",
                    "stopped echo: listening False, pidfile True"]
    assert not pid_path.exists()
    out = capsys.readouterr().out
    assert "[tapd] received SIGTERM, shutting down" in out and "[tapd] echo stopped by SIGTERM" in out


def test_an_unexpected_error_is_one_line_exit_70_and_stops_what_started(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()

    def broken(app: Application) -> None:
        raise RuntimeError("the hook broke")

    runner = _echo_runner(tmp_path, port)
    status = Runner(runner.options, NoPIDFile(), runner.log, runner.reactor, when_running=broken).run()
    assert status == 70
    captured = capsys.readouterr()
    assert captured.err == ("tapd: error: unexpected error: RuntimeError: the hook broke "
                            "(the log has the traceback)\n")
    assert "Traceback" in captured.out  # the log (stdout with -n) has it
    assert not _listening(port)
    assert list(tmp_path.iterdir()) == []

