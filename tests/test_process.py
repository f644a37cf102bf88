"""ProcessService: real child processes kept running, restarted with backoff, killed on stop."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from test_daemon import pid_alive

from tap2pkg.runtime.process import ProcessService
from tap2pkg.runtime.service import MultiService, ServiceError, describe

SLEEPER = [sys.executable, "-c", "import sys, time; print('up', flush=True); time.sleep(60)"]


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    """Run one test scenario in a fresh event loop, failing rather than hanging."""
    async def bounded() -> Any:
        return await asyncio.wait_for(scenario(), timeout)
    return asyncio.run(bounded())


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := condition()):
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return value


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def run_until(service: ProcessService, condition: Callable[[], Any],
              caplog: pytest.LogCaptureFixture) -> None:
    """Start ``service``, wait for ``condition``, stop it; what the children log is captured."""
    async def scenario() -> None:
        await service.start()
        await until(condition)
        await service.stop()

    with caplog.at_level(logging.INFO, logger="tap2pkg"):
        run(scenario)


def test_child_output_is_logged_and_stop_kills_the_child(caplog: pytest.LogCaptureFixture) -> None:
    service = ProcessService({"sleeper": {"args": SLEEPER}}, name="procs")
    pids: list[int] = []

    async def scenario() -> None:
        await service.start()
        pids.append(await until(lambda: service.pids.get("sleeper")))
        await until(lambda: "sleeper: up" in messages(caplog))
        await service.stop()

    with caplog.at_level(logging.INFO, logger="tap2pkg"):
        run(scenario)
    assert not pid_alive(pids[0])
    assert service.pids == {}
    assert any(m.startswith("procs: sleeper was killed by signal 15") for m in messages(caplog))


def test_stderr_lines_are_marked(caplog: pytest.LogCaptureFixture) -> None:
    script = "import sys, time; sys.stderr.write('oops\\npartial'); sys.stderr.flush(); time.sleep(60)"
    service = ProcessService({"noisy": {"args": [sys.executable, "-c", script]}})
    run_until(service, lambda: "noisy (stderr): oops" in messages(caplog), caplog)
    assert "noisy (stderr): partial" in messages(caplog)  # the unfinished last line is not lost


def test_a_child_ignoring_sigterm_gets_sigkill_after_kill_time(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = ("import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)")
    service = ProcessService({"stubborn": {"args": [sys.executable, "-c", script]}}, kill_time=0.3)
    pids: list[int] = []

    async def scenario() -> None:
        await service.start()
        await until(ready.exists)
        pids.append(service.pids["stubborn"])
        await service.stop()

    run(scenario)
    assert not pid_alive(pids[0])


def test_grandchildren_are_stopped_too(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    service = ProcessService({"shell": {"args": ["/bin/sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"]}})
    grandchild: list[int] = []

    async def scenario() -> None:
        await service.start()
        await until(lambda: pidfile.exists() and pidfile.read_text().strip())
        grandchild.append(int(pidfile.read_text()))
        assert pid_alive(grandchild[0])
        await service.stop()

    run(scenario)
    # The orphaned grandchild is reparented and reaped by init; give it a moment.
    for _ in range(100):
        if not pid_alive(grandchild[0]):
            break
        time.sleep(0.02)
    assert not pid_alive(grandchild[0])


def test_a_dying_child_is_restarted_with_a_growing_delay(caplog: pytest.LogCaptureFixture,
                                                        tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    service = ProcessService({"crasher": {"args": ["/bin/sh", "-c", f"echo x >> {starts}; exit 3"]}},
                             threshold=5.0, min_restart_delay=0.02, max_restart_delay=0.08)
    run_until(service, lambda: starts.exists() and len(starts.read_text().split()) >= 5, caplog)
    pattern = r"crasher exited with status 3 after [\d.]+s; restarting in ([\d.]+)s"
    delays = [float(m) for m in re.findall(pattern, "\n".join(messages(caplog)))]
    assert delays[:4] == [0.02, 0.04, 0.08, 0.08]  # doubles, capped at max_restart_delay


def test_a_child_that_ran_past_the_threshold_restarts_at_once(caplog: pytest.LogCaptureFixture,
                                                              tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    service = ProcessService({"steady": {"args": ["/bin/sh", "-c", f"echo x >> {starts}; sleep 0.2"]}},
                             threshold=0.1, min_restart_delay=30)
    run_until(service, lambda: starts.exists() and len(starts.read_text().split()) >= 2, caplog)
    assert any(re.search(r"steady exited with status 0 after [\d.]+s; restarting$", m)
               for m in messages(caplog))


def test_a_process_added_to_a_running_parent_starts_at_once() -> None:
    async def scenario() -> None:
        parent = MultiService("root")
        service = ProcessService(name="procs")
        service.set_service_parent(parent)
        await parent.start()
        assert service.pids == {}
        service.add_process("late", SLEEPER)
        pid = await until(lambda: service.pids.get("late"))
        assert service.processes["late"]["args"] == SLEEPER
        removal = service.remove_process("late")
        assert removal is not None
        await removal
        assert not pid_alive(pid) and "late" not in service.processes
        service.add_process("again", SLEEPER)
        again = await until(lambda: service.pids.get("again"))
        await parent.stop()
        assert not pid_alive(again)

    run(scenario)


def test_restart_all_replaces_every_child() -> None:
    async def scenario() -> None:
        service = ProcessService({"a": {"args": SLEEPER}, "b": {"args": SLEEPER}}, min_restart_delay=30)
        await service.start()
        before = await until(lambda: len(service.pids) == 2 and service.pids)
        await service.restart_all()
        after = await until(lambda: len(service.pids) == 2 and service.pids)
        assert set(after.values()).isdisjoint(before.values())
        assert not any(pid_alive(pid) for pid in before.values())
        await service.stop()
        assert not any(pid_alive(pid) for pid in after.values())

    run(scenario)


def test_environment_and_working_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = ProcessService({"env": {"args": ["/usr/bin/env"], "env": {"GREETING": "hi"}},
                              "pwd": {"args": ["/bin/pwd"], "cwd": str(tmp_path)}}, min_restart_delay=30)
    run_until(service, lambda: {"env: GREETING=hi", f"pwd: {tmp_path}"} <= set(messages(caplog)), caplog)
    # a given environment replaces the daemon's: nothing else is passed on
    assert [m for m in messages(caplog) if m.startswith("env: ")] == ["env: GREETING=hi"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch user")
def test_a_child_runs_as_the_configured_user(caplog: pytest.LogCaptureFixture) -> None:
    service = ProcessService({"who": {"args": ["/usr/bin/id", "-un"], "uid": "nobody"}}, min_restart_delay=30)
    run_until(service, lambda: "who: nobody" in messages(caplog), caplog)


def test_a_missing_program_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    service = ProcessService({"ghost": {"args": ["/nonexistent/program"]}}, min_restart_delay=0.02)
    run_until(service, lambda: sum("cannot start ghost" in m for m in messages(caplog)) >= 2, caplog)


def test_bad_configuration_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ServiceError, match="args must be a non-empty list of strings"):
        ProcessService({"bad": {"args": "sleep 1"}})
    with pytest.raises(ServiceError, match="needs 'args'"):
        ProcessService({"bad": {"command": ["sleep"]}})
    service = ProcessService({"one": {"args": ["true"]}})
    with pytest.raises(ServiceError, match="already supervised"):
        service.add_process("one", ["true"])
    with pytest.raises(ServiceError, match="no process named 'two'"):
        service.remove_process("two")


def test_rebuilds_from_persist_state_including_added_processes() -> None:
    service = ProcessService({"a": {"args": ["/bin/true"]}}, threshold=3, kill_time=2, name="procs")
    service.add_process("b", ["/bin/sleep", "5"], env={"X": "1"}, cwd="/", uid=0, gid=0)
    rebuilt = ProcessService(**service.persist_state())
    assert describe(rebuilt) == describe(service)
    assert rebuilt.processes["b"] == {"args": ["/bin/sleep", "5"], "env": {"X": "1"}, "cwd": "/",
                                      "uid": 0, "gid": 0}
