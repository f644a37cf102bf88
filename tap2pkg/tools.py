"""Running an external build tool (``dpkg-buildpackage``, ``dpkg-source``, ``rpmbuild``) so it stops with us.

Each tool runs in a process group of its own. When the build stops early (an
error, Ctrl-C, SIGTERM, SIGHUP) the whole group is killed and waited for
before the caller removes the directory the tool worked in, so no tool (nor a
``make`` or ``dh`` it started) is left writing there. A tool started on
another thread (a batch builds on several) is killed from the thread that
stops the build, with :func:`stopping`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from . import output

#: How long to wait for a killed tool's children to go.
_KILL_WAIT = 5.0

#: The tools running now, on any thread (a batch builds on several: :mod:`tap2pkg.batch`), and whether
#: the build is stopping (no tool may start then); both under the lock.
_running: set[subprocess.Popen[str]] = set()
_stopping = False
_lock = threading.Lock()


class Stopped(Exception):
    """Raised on a build thread that would start a tool while the build stops (the main thread says why)."""


def failed_on_a_full_disk(proc: subprocess.CompletedProcess[str]) -> bool:
    """Whether a tool failed because the disk is full (it says strerror(ENOSPC), in the C locale the
    tools run in): the disk's fault, not the tool's, so the caller reports it as a write of its own."""
    said = (proc.stdout or "") + (proc.stderr or "")
    return proc.returncode != 0 and "No space left on device" in said


def run_tool_process(argv: list[str], *, cwd: Path, env: Mapping[str, str], merge_output: bool = True,
                     timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end and return its output (stderr in stdout when ``merge_output``).

    Raises :class:`FileNotFoundError` when the program does not exist, and
    :class:`subprocess.TimeoutExpired` (its process group killed) when it runs past ``timeout`` seconds.
    """
    with _lock, output.signals_open():  # a tool started from a build thread takes signals all the same
        if _stopping:
            raise Stopped(f"{argv[0]} not started: the build is stopping")
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, text=True, start_new_session=True,
                                stderr=subprocess.STDOUT if merge_output else subprocess.PIPE)
        _running.add(proc)
    with proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            with _lock:
                _running.discard(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def wait_for_lock(fd: int) -> None:
    """Take an exclusive ``flock`` on ``fd``, waiting for another process that holds it; :class:`Stopped`
    when the build stops meanwhile (a build thread takes no signal that could end the wait)."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if _stopping:
                raise Stopped("the build is stopping") from None
            time.sleep(0.05)


@contextlib.contextmanager
def stopping() -> Iterator[None]:
    """While the build stops: every tool running now, on any thread, is killed with its process group
    (waited for a little, until each has gone), and one another thread would start is refused
    (:class:`Stopped`), until the block ends. The thread that started a tool sees it end as killed."""
    global _stopping
    with _lock:
        _stopping = True
        procs = list(_running)
    try:
        _kill_groups([proc.pid for proc in procs])  # each thread that started one reaps its own
        yield
    finally:
        with _lock:
            _stopping = False


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc``'s process group, reap ``proc`` and wait (a little) until every member has gone."""
    _kill_groups([proc.pid], reap=proc.wait)


def _kill_groups(pgids: list[int], *, reap: Callable[[], object] = lambda: None) -> None:
    """Kill the process groups ``pgids``, ``reap``, then wait (a little) until every member has gone."""
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    reap()
    deadline = time.monotonic() + _KILL_WAIT
    for pgid in pgids:
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.01)


def _group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` still runs (zombies waiting for their reaper do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # no /proc: the group exists, zombies or not
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False
