"""Several packages in one call, built side by side on threads (``--jobs``): the same packages, published
in the order given (or all together), and nothing left behind when one fails or the call is stopped."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_builders import PACKAGE_NAMES, echo_spec
from test_cli_robustness import BIN, EPOCH, MAINTAINER, command, one_error, running, snapshot

from tap2pkg import batch, builders, output, tools
from tap2pkg.builders import BuildOptions, BuildResult, Staged, StagedBuilder
from tap2pkg.deb.build import write_native
from tap2pkg.errors import OutputError
from tap2pkg.output import Staging
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"


def apps(directory: Path, count: int) -> list[Path]:
    """``count`` copies of the echo app, named so that their order is their packages' order."""
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        app = directory / f"echo{i:02d}.tac"
        shutil.copy(ECHO / "echo.tac", app)
        made.append(app)
    return made


def digests(directory: Path, pattern: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob(pattern))}


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".tap2pkg-")]


@pytest.mark.parametrize("tool, pattern", [("tap2deb", "*.deb"), ("tap2rpm", "*.rpm")])
def test_the_packages_are_the_same_whatever_the_number_of_jobs(tmp_path: Path, tool: str,
                                                                pattern: str) -> None:
    files = apps(tmp_path / "apps", 4)
    built = {}
    for jobs in ("1", "3"):
        out = tmp_path / f"out-{jobs}"
        proc = command(tool, *files, "--include", ECHO / "echoproto.py", "-m", MAINTAINER, "-o", out,
                       "--binary-only", "-u", "--jobs", jobs)
        assert proc.returncode == 0, proc.stderr
        built[jobs] = (digests(out, pattern), proc.stdout.replace(str(out), "OUT"), proc.stderr)
        assert not leftovers(out)
    assert len(built["1"][0]) == 4
    assert built["1"] == built["3"]  # same bytes, and the same lines in the same order


@pytest.mark.parametrize("tool", ["tap2deb", "tap2rpm", "tap2pkg build"])
@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_jobs_must_be_a_positive_whole_number(tmp_path: Path, tool: str, value: str) -> None:
    proc = command(tool, ECHO / "echo.tac", "-m", MAINTAINER, "-o", tmp_path / "out", "--jobs", value)
    one_error(proc, 64, "-j/--jobs", "at least 1")
    assert not (tmp_path / "out").exists()


def failing_one(fails: str, wait: threading.Event, built: threading.Event) -> StagedBuilder:
    """The native .deb builder, except that the package named ``fails`` fails once ``wait`` is set (or
    after a short time), and ``built`` is set when the package named "fourth" is built aside: with two
    threads, the packages after the failing one are built by then."""

    def write(spec: PackageSpec, stage: Staging, options: BuildOptions) -> Staged:
        if spec.name == fails:
            wait.wait(timeout=0.5)
            raise OutputError(f"{spec.name}: no space left on device")
        staged = write_native(spec, stage, options)
        if spec.name == "fourth":
            built.set()
        return staged

    return StagedBuilder("deb", "native", "the native builder, failing for one package", ("xz",), write)


def recording(seen: list[tuple[str, set[int]]], *, sign: bool = False) -> StagedBuilder:
    """The native .deb builder, noting on which thread each build ran and which signals it blocked."""

    def write(spec: PackageSpec, stage: Staging, options: BuildOptions) -> Staged:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        seen.append((threading.current_thread().name, set(blocked)))
        time.sleep(0.05)  # long enough for the other threads to take the other jobs
        return write_native(spec, stage, options)

    return StagedBuilder("deb", "native", "the native builder, noting its threads", ("xz",), write,
                         lambda options: sign)


def specs(names: list[str]) -> list[PackageSpec]:
    base = echo_spec()
    return [PackageSpec(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "name": n})
            for n in names]


@pytest.mark.parametrize("workers", [1, 2])
def test_in_order_the_packages_before_a_failure_are_published_and_none_after(tmp_path: Path,
                                                                              workers: int) -> None:
    names = ["first", "second", "third", "fourth"]
    last_done = threading.Event()
    builder = failing_one("second", last_done, last_done)
    finished: list[int] = []

    def finish(index: int, result: BuildResult) -> BuildResult:
        finished.append(index)
        return result

    jobs = [batch.BuildJob(spec, tmp_path, builder, BuildOptions(source=False)) for spec in specs(names)]
    with pytest.raises(OutputError, match="second: no space"):
        batch.build_in_order(jobs, workers=workers, finish=finish)
    assert finished == [0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first-1.0", "first_1.0-1_all.deb"]
    # with two threads the fourth was built aside before the failure showed, and never published
    assert last_done.is_set() == (workers == 2)


@pytest.mark.parametrize("workers", [1, 2])
def test_together_publishes_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           workers: int) -> None:
    (tmp_path / "keep.txt").write_text("not ours")
    jobs = [batch.BuildJob(echo_spec(), tmp_path, builders.get(fmt), BuildOptions(source=False))
            for fmt in ("deb", "rpm")]
    results = batch.build_together(jobs, workers=workers)
    assert [r.paths("package")[0].name for r in results] == list(PACKAGE_NAMES.values())
    assert all(p.parent == tmp_path and p.is_file() for r in results for p in r.paths())
    # the second job failing leaves the directory as the first call left it
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(Exception, match="rpmbuild"):
        batch.build_together([jobs[0], batch.BuildJob(echo_spec(), tmp_path / "new",
                                                      builders.get("rpm", "rpmbuild"), BuildOptions())],
                             workers=workers)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_tool_running_on_another_thread_is_killed_when_the_build_stops(tmp_path: Path) -> None:
    done: list[subprocess.CompletedProcess[str]] = []
    worker = threading.Thread(target=lambda: done.append(
        tools.run_tool_process(["sh", "-c", "sleep 60 & sleep 60"], cwd=tmp_path, env=os.environ)))
    worker.start()
    deadline = time.monotonic() + 10
    while not tools._running and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    with tools.stopping():
        worker.join(timeout=10)
        assert not worker.is_alive() and time.monotonic() - started < 5
        # while the build stops, a thread that gets to its tool only now does not start it
        with pytest.raises(tools.Stopped, match="sh not started"):
            tools.run_tool_process(["sh", "-c", "exit 0"], cwd=tmp_path, env=os.environ)
    assert done[0].returncode == -signal.SIGKILL
    assert not tools._running
    assert tools.run_tool_process(["sh", "-c", "exit 0"], cwd=tmp_path, env=os.environ).returncode == 0


def test_build_threads_leave_signals_to_the_main_thread(tmp_path: Path) -> None:
    seen: list[tuple[str, set[int]]] = []
    jobs = [batch.BuildJob(spec, tmp_path, recording(seen), BuildOptions(source=False))
            for spec in specs(["first", "second", "third"])]
    batch.build_in_order(jobs, workers=2)
    assert {name.startswith("tap2pkg-build") for name, _blocked in seen} == {True}
    assert len({name for name, _blocked in seen}) == 2
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    assert all(held <= blocked for _name, blocked in seen)


@pytest.mark.parametrize("together", [False, True])
def test_a_call_that_signs_builds_one_package_at_a_time(tmp_path: Path, together: bool) -> None:
    seen: list[tuple[str, set[int]]] = []
    jobs = [batch.BuildJob(spec, tmp_path, recording(seen, sign=True), BuildOptions(source=False))
            for spec in specs(["first", "second"])]
    if together:
        batch.build_together(jobs, workers=4)
    else:
        batch.build_in_order(jobs, workers=4)
    assert [name for name, _blocked in seen] == ["MainThread", "MainThread"]


def test_the_deb_builders_sign_unless_told_not_to() -> None:
    native, dpkg, rpm = builders.get("deb"), builders.get("deb", "dpkg"), builders.get("rpm")
    # without -u the front ends ask to sign (sign=True); the .dsc and .changes are what debsign signs
    assert native.signs(BuildOptions(sign=True)) and not native.signs(BuildOptions(sign=True, source=False))
    assert not native.signs(BuildOptions(sign=False))
    assert dpkg.signs(BuildOptions(sign=True, source=False)) and not dpkg.signs(BuildOptions(sign=False))
    assert not rpm.signs(BuildOptions(sign=True)) and rpm.signs(BuildOptions(sign_key="ABCD"))
    assert native.signs(BuildOptions(sign=False, source=False, sign_key="ABCD"))


def test_a_stop_while_jobs_are_handed_out_leaves_nothing(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    submit = futures.ThreadPoolExecutor.submit
    calls: list[int] = []

    def interrupted(self: futures.ThreadPoolExecutor, *args: Any, **kwargs: Any) -> futures.Future[Any]:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return submit(self, *args, **kwargs)

    monkeypatch.setattr(futures.ThreadPoolExecutor, "submit", interrupted)
    threads = threading.active_count()
    jobs = [batch.BuildJob(spec, tmp_path, builders.get("deb"), BuildOptions(source=False))
            for spec in specs(["first", "second", "third", "fourth"])]
    with pytest.raises(KeyboardInterrupt):
        batch.build_in_order(jobs, workers=2)
    assert threading.active_count() == threads  # every build thread has ended
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_an_output_directory_that_cannot_be_made_fails_in_its_turn(tmp_path: Path, workers: int) -> None:
    (tmp_path / "file").write_text("not a directory")
    dirs = [tmp_path / "a", tmp_path / "b", tmp_path / "file" / "c", tmp_path / "d"]
    jobs = [batch.BuildJob(spec, out, builders.get("deb"), BuildOptions(source=False))
            for spec, out in zip(specs(["first", "second", "third", "fourth"]), dirs, strict=True)]
    with pytest.raises(OutputError, match="file/c"):
        batch.build_in_order(jobs, workers=workers)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["first-1.0", "first_1.0-1_all.deb"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["second-1.0", "second_1.0-1_all.deb"]
    assert not (tmp_path / "d").exists()


def test_a_write_error_names_the_output_directory_not_a_staging_one(tmp_path: Path) -> None:
    option = "-o/--output-dir"
    with Staging(tmp_path, option=option) as outer, Staging(outer.path, option=option) as inner:
        message = str(inner.error(OSError(errno.EFBIG, "File too large")))
    assert message.startswith(f"-o/--output-dir {tmp_path}: cannot write the build there (File too large)")


def test_stopping_a_batch_keeps_the_packages_published_in_order_and_nothing_else(tmp_path: Path) -> None:
    files = apps(tmp_path / "apps", 40)
    out = tmp_path / "out"
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    argv = [str(BIN / "tap2deb"), *map(str, files), "--include", str(ECHO / "echoproto.py"), "-m", MAINTAINER,
            "-o", str(out), "--binary-only", "-u", "--jobs", "2"]
    with running(argv, env) as proc:
        deadline = time.monotonic() + 60
        while not list(out.glob("*.deb")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "tap2deb: interrupted (SIGTERM)"
    published = sorted(p.name for p in out.glob("*.deb"))
    assert 1 <= len(published) < len(files)
    assert published == [f"echo{i:02d}_1.0-1_all.deb" for i in range(len(published))]  # a prefix
    trees = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert trees == [f"echo{i:02d}-1.0" for i in range(len(published))]
    assert not leftovers(out)


def test_a_signal_stops_the_tools_of_every_thread_without_waiting_for_them(tmp_path: Path) -> None:
    # a dpkg-buildpackage that would take a minute: the call must stop it, not wait for it
    shims = tmp_path / "bin"
    shims.mkdir()
    tool = shims / "dpkg-buildpackage"
    tool.write_text('#!/bin/sh\nmkdir -p debian/.debhelper\nexec sh -c "sleep 60" "$PWD"\n')
    tool.chmod(0o755)
    files = apps(tmp_path / "apps", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    before = snapshot(out)
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH, PATH=f"{shims}:{os.environ['PATH']}")
    argv = [str(BIN / "tap2deb"), *map(str, files), "--include", str(ECHO / "echoproto.py"), "-m", MAINTAINER,
            "-o", str(out), "--builder", "dpkg", "-u", "--jobs", "2"]
    with running(argv, env) as proc:
        deadline = time.monotonic() + 60
        # both tools have started, each on its own thread
        while len(list(out.glob(".*/echo0?-1.0/debian/.debhelper"))) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        assert len(list(out.glob(".*/echo0?-1.0/debian/.debhelper"))) == 2, "both tools never ran at once"
        proc.send_signal(signal.SIGTERM)
        _stdout, err = proc.communicate(timeout=20)  # long before the tools would have ended
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["tap2deb: interrupted (SIGTERM)"]
    assert snapshot(out) == before
    assert not subprocess.run(["pgrep", "-f", str(out)], capture_output=True, check=False).stdout


def test_one_app_file_starts_no_thread(tmp_path: Path) -> None:
    code = ("import sys, threading; from tap2pkg.cli.tap2deb import main; rc = main(sys.argv[1:]); "
            "print(threading.active_count(), 'concurrent.futures' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(ECHO / "echo.tac"), "--include",
                           str(ECHO / "echoproto.py"), "-m", MAINTAINER, "-o", str(tmp_path), "--binary-only",
                           "-u", "--jobs", "4"], capture_output=True, text=True, check=False,
                          env=dict(os.environ, SOURCE_DATE_EPOCH=EPOCH))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "1 False"


@dataclass(frozen=True)
class Unstaged:
    """A builder of the library's user that publishes by itself: it never asks for its turn."""

    threads: list[str]
    format: str = "deb"
    name: str = "unstaged"
    help: str = "publishes by itself"
    compressions: tuple[str, ...] = ()

    def build(self, spec: PackageSpec, output_dir: Path, options: BuildOptions) -> BuildResult:
        self.threads.append(threading.current_thread().name)
        return BuildResult(spec, self.format, self.name, [])

    def signs(self, options: BuildOptions) -> bool:
        return False


def test_a_builder_that_publishes_by_itself_builds_one_package_at_a_time(tmp_path: Path) -> None:
    threads: list[str] = []
    first, second, third = specs(["first", "second", "third"])
    jobs = [batch.BuildJob(first, tmp_path, Unstaged(threads), BuildOptions()),
            batch.BuildJob(second, tmp_path, Unstaged(threads), BuildOptions()),
            batch.BuildJob(third, tmp_path, builders.get("deb"), BuildOptions(source=False))]
    results = batch.build_in_order(jobs, workers=2)
    assert [r.spec.name for r in results] == ["first", "second", "third"]
    assert threads == ["MainThread", "MainThread"]  # its order could not be kept on threads


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failure_to_record_a_package_publishes_none_after_it(tmp_path: Path, workers: int) -> None:
    def finish(index: int, result: BuildResult) -> BuildResult:
        if index == 1:
            raise OutputError("cannot record the second")
        return result

    jobs = [batch.BuildJob(spec, tmp_path, builders.get("deb"), BuildOptions(source=False))
            for spec in specs(["first", "second", "third", "fourth"])]
    with pytest.raises(OutputError, match="cannot record the second"):
        batch.build_in_order(jobs, workers=workers, finish=finish)
    assert sorted(p.name for p in tmp_path.glob("*.deb")) == ["first_1.0-1_all.deb", "second_1.0-1_all.deb"]
    assert not leftovers(tmp_path)


def test_a_wait_for_another_builds_lock_ends_when_the_build_stops(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another build holds it
    waiter = os.open(lock, os.O_RDWR)
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            tools.wait_for_lock(waiter)
        except tools.Stopped as exc:
            raised.append(exc)

    worker = threading.Thread(target=wait)
    worker.start()
    time.sleep(0.2)
    assert worker.is_alive()  # still waiting
    with tools.stopping():
        worker.join(timeout=5)
    assert not worker.is_alive() and raised
    os.close(holder)
    tools.wait_for_lock(waiter)  # free now: taken at once
    os.close(waiter)


def test_a_tool_started_from_a_build_thread_can_take_signals(tmp_path: Path) -> None:
    masks: list[int] = []

    def run() -> None:
        output.never_take_signals()
        done = tools.run_tool_process(["sh", "-c", "grep SigBlk /proc/self/status"], cwd=tmp_path,
                                      env=os.environ)
        masks.append(int(done.stdout.split()[-1], 16))

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=10)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        assert not masks[0] & (1 << (signum - 1)), f"{signum} blocked in the tool"
