"""``tapd`` against hostile surroundings: groups it was started with, shadowing modules, symlinks.

The privilege tests need root (CI runs as root) and ``setpriv`` from util-linux,
which starts ``tapd`` holding extra supplementary groups the way ``sudo`` or a
login shell would.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from service_helpers import process_ids
from test_daemon import (
    TAPD,
    echo,
    free_port,
    one_line,
    port_open,
    read_pid,
    run_tapd,
    save_echo_app,
    stop,
    stop_daemon,
    wait_until,
)

from tap2pkg.runtime import persist

ROOT = Path(__file__).resolve().parent.parent
VENV_TAPD = Path(sys.executable).parent / "tapd"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
needs_setpriv = pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")

#: a uid (and gid) that has no passwd (or group) entry on the test machine
NO_ENTRY = 54321


# --------------------------------------------------------------------------- privileges

def _with_groups(*args: str) -> list[str]:
    """tapd started holding the supplementary groups 4 (adm) and 42 (shadow), as setpriv gives them."""
    return ["setpriv", "--groups=4,42", "--", *TAPD, *args]


def _run_with_groups(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_with_groups(*args), cwd=cwd, capture_output=True, text=True, timeout=30,
                          check=False)


@contextmanager
def _daemon_with_groups(args: list[str], cwd: Path) -> Iterator[int]:
    """tapd daemonized from a starter holding extra groups: its pid while the block runs; stopped after."""
    result = _run_with_groups(args, cwd)
    assert result.returncode == 0, result.stderr
    pid = read_pid(cwd / "tapd.pid")
    try:
        yield pid
    finally:
        stop_daemon(pid)


@needs_root
@needs_setpriv
def test_a_uid_without_passwd_entry_needs_a_group(shared_dir: Path) -> None:
    save_echo_app(shared_dir / "echo.tap", free_port())
    result = _run_with_groups(["-u", str(NO_ENTRY), "-o", "-f", "echo.tap"], shared_dir)
    assert result.returncode == 67, result.stderr
    line = one_line(result.stderr)
    assert f"user {NO_ENTRY} has no passwd entry" in line and "-g/--gid" in line
    assert not (shared_dir / "tapd.pid").exists()


@needs_root
@needs_setpriv
def test_an_application_uid_without_passwd_entry_needs_a_group(shared_dir: Path) -> None:
    app = save_echo_app(shared_dir / "echo.tas", free_port())
    app.uid = NO_ENTRY
    persist.save(app, shared_dir / "echo.tas")
    result = _run_with_groups(["-o", "-f", "echo.tas"], shared_dir)
    assert result.returncode == 67, result.stderr
    assert "has no passwd entry" in one_line(result.stderr)


@needs_root
@needs_setpriv
def test_a_uid_without_passwd_entry_gets_the_group_and_no_other(shared_dir: Path) -> None:
    port = free_port()
    save_echo_app(shared_dir / "echo.tap", port)
    args = ["-u", str(NO_ENTRY), "-g", str(NO_ENTRY), "-o", "-f", "echo.tap"]
    with _daemon_with_groups(args, shared_dir) as pid:
        assert echo(port) == b"hello tapd\n"
        status = process_ids(pid)
    assert status["Uid"] == [NO_ENTRY] * 4
    assert status["Gid"] == [NO_ENTRY] * 4
    assert status["Groups"] == []


@needs_root
@needs_setpriv
@pytest.mark.parametrize("how", ["option", "application"])
def test_a_named_user_gets_its_own_groups_not_the_starters(shared_dir: Path, how: str) -> None:
    nobody = pwd.getpwnam("nobody")
    port = free_port()
    app = save_echo_app(shared_dir / "echo.tap", port)
    args = ["-o", "-f", "echo.tap"]
    if how == "option":
        args = ["-u", "nobody", *args]
    else:
        app.uid = "nobody"
        persist.save(app, shared_dir / "echo.tap")
    with _daemon_with_groups(args, shared_dir) as pid:
        status = process_ids(pid)
    assert status["Uid"] == [nobody.pw_uid] * 4
    assert status["Gid"] == [nobody.pw_gid] * 4
    assert set(status["Groups"]) == set(os.getgrouplist("nobody", nobody.pw_gid))
    assert not {0, 4, 42} & set(status["Groups"])


@needs_root
@needs_setpriv
def test_a_group_alone_clears_the_starters_groups(shared_dir: Path) -> None:
    port = free_port()
    save_echo_app(shared_dir / "echo.tap", port)
    with _daemon_with_groups(["-g", str(NO_ENTRY), "-o", "-f", "echo.tap"], shared_dir) as pid:
        status = process_ids(pid)
    assert status["Gid"] == [NO_ENTRY] * 4
    assert status["Groups"] == []


@needs_root
@needs_setpriv
def test_process_monitor_children_get_their_users_groups_only(shared_dir: Path) -> None:
    from tap2pkg.runtime.process import ProcessService
    from tap2pkg.runtime.service import Application

    out = shared_dir / "status.txt"
    app = Application("procs")
    # the child copies its own ids out, then stays up until the daemon stops it
    script = f"cat /proc/self/status > {out}.tmp && mv {out}.tmp {out}; exec sleep 30"
    ProcessService({"who": {"args": ["/bin/sh", "-c", script], "uid": "nobody"}},
                   min_restart_delay=30).set_service_parent(app)
    persist.save(app, shared_dir / "procs.tas")
    process = subprocess.Popen(_with_groups("-n", "--pidfile=", "-l", "tapd.log", "-o", "-f", "procs.tas"),
                               cwd=shared_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(out.exists, what="the child to start")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    status = {k: v.split() for k, _, v in (line.partition(":") for line in out.read_text().splitlines())}
    nobody = pwd.getpwnam("nobody")
    assert status["Uid"][0] == str(nobody.pw_uid)
    assert status["Gid"][0] == str(nobody.pw_gid)
    assert set(status["Groups"]) == {str(g) for g in os.getgrouplist("nobody", nobody.pw_gid)}


# --------------------------------------------------------------------------- nothing imported from around

#: standard library modules tapd imports on first use, or that its imports pull in
SHADOWED = ("argparse", "asyncio", "ast", "base64", "binascii", "cProfile", "inspect", "ipaddress", "json",
            "pickle", "pkgutil", "random", "re", "selectors", "socket", "ssl", "syslog", "traceback",
            "weakref", "uvloop")


def _plant_shadows(directory: Path, markers: Path) -> None:
    """A module for every name in SHADOWED that leaves a marker file in ``markers`` if it ever runs."""
    for name in SHADOWED:
        (directory / f"{name}.py").write_text(
            f"open({str(markers / name)!r}, 'w').close()\nraise SystemExit('shadow {name} ran')\n")


def _bundled_launcher(libdir: Path) -> list[str]:
    """The packaged launcher, with the runtime copied into ``libdir`` as a package has it."""
    from tap2pkg import __version__
    from tap2pkg.payload import LAUNCHER, STUB_INIT, runtime_dir

    shutil.copytree(runtime_dir(), libdir / "tap2pkg" / "runtime",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (libdir / "tap2pkg" / "__init__.py").write_bytes(STUB_INIT % __version__.encode())
    (libdir / "tapd").write_text(LAUNCHER.format(name="echo", libdir=libdir))
    return [sys.executable, str(libdir / "tapd")]


@pytest.mark.parametrize("starter", ["console script", "packaged launcher"])
@pytest.mark.parametrize("suffix", [".tas", ".tap", ".tax"])
def test_no_module_from_the_working_or_app_directory_runs(tmp_path: Path, starter: str, suffix: str) -> None:
    work, appdir, markers, libdir = (tmp_path / d for d in ("work", "app", "markers", "lib"))
    for directory in (work, appdir, markers, libdir):
        directory.mkdir()
    _plant_shadows(work, markers)
    _plant_shadows(appdir, markers)
    port = free_port()
    save_echo_app(appdir / f"echo{suffix}", port)
    command = [str(VENV_TAPD)] if starter == "console script" else _bundled_launcher(libdir)
    # an abbreviated option (argparse completes it); json logs import json
    answer, code, out, err = _serve_and_stop(
        [*command, "-n", "--pidf=", "--log-format", "json", "-f", str(appdir / f"echo{suffix}")], work, port)
    assert sorted(p.name for p in markers.iterdir()) == []
    assert answer == b"hello tapd\n"
    assert code == -signal.SIGTERM, err
    assert "echoapp-shutdown" in out  # saving on shutdown (pickle, ast, xml writers) imported nothing either


def _serve_and_stop(command: list[str], cwd: Path, port: int) -> tuple[bytes | None, int, str, str]:
    """Start a foreground tapd, echo through it once, stop it: (answer, exit status, stdout, stderr)."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answer = None
    try:
        wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
        if process.poll() is None:
            answer = echo(port)
    finally:
        code, out, err = stop(process)
    return answer, code, out, err


def test_a_tac_puts_its_directory_on_the_path_only_after_the_runtime(tmp_path: Path) -> None:
    work, appdir, markers = (tmp_path / d for d in ("work", "app", "markers"))
    for directory in (work, appdir, markers):
        directory.mkdir()
    _plant_shadows(work, markers)
    _plant_shadows(appdir, markers)
    (appdir / "myproto.py").write_text(
        "import asyncio\n\nclass Echo(asyncio.Protocol):\n"
        "    def connection_made(self, transport):\n        self.transport = transport\n"
        "    def data_received(self, data):\n        self.transport.write(data)\n")
    port = free_port()
    (appdir / "echo.tac").write_text(
        "from myproto import Echo\n"
        "from tap2pkg.runtime.internet import TCPServer\n"
        "from tap2pkg.runtime.service import Application, Factory\n"
        "application = Application('tacapp')\n"
        f"TCPServer({port}, Factory(Echo), interface='127.0.0.1').set_service_parent(application)\n")
    answer, code, _, err = _serve_and_stop(
        [str(VENV_TAPD), "-n", "--pidfile=", "--log-format", "json", "-y", str(appdir / "echo.tac")],
        work, port)
    assert sorted(p.name for p in markers.iterdir()) == []
    assert answer == b"hello tapd\n"  # its own module was found beside it
    assert code == -signal.SIGTERM, err


def test_loading_a_saved_file_leaves_the_search_path_alone(tmp_path: Path) -> None:
    save_echo_app(tmp_path / "echo.tas", free_port())
    before = list(sys.path)
    persist.load(tmp_path / "echo.tas", search_path=[tmp_path])
    assert sys.path == before


# --------------------------------------------------------------------------- no write through links

@pytest.fixture
def precious(tmp_path: Path) -> Iterator[Path]:
    """A root-only file a link in a service-owned directory points at; it must never change."""
    path = tmp_path / "precious"
    path.write_text("root:secret\n")
    path.chmod(0o600)
    yield path
    assert path.read_text() == "root:secret\n"
    assert path.stat().st_mode & 0o777 == 0o600


def test_pidfile_temporary_file_that_is_a_link_is_refused(tmp_path: Path, precious: Path) -> None:
    from tap2pkg.runtime.errors import OutputError
    from tap2pkg.runtime.pidfile import PIDFile

    pid_path = tmp_path / "run" / "app.pid"
    pid_path.parent.mkdir()
    (pid_path.parent / "app.pid.4242.tmp").symlink_to(precious)
    with pytest.raises(OutputError) as caught:
        PIDFile(str(pid_path)).write(4242)
    assert caught.value.exit_code == 73
    assert "is a symbolic link" in str(caught.value) and "\n" not in str(caught.value)
    assert not pid_path.exists()
    assert (pid_path.parent / "app.pid.4242.tmp").is_symlink()  # the link is left for the admin to see


def test_pidfile_temporary_file_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    from tap2pkg.runtime.pidfile import PIDFile

    pid_path = tmp_path / "app.pid"
    (tmp_path / "app.pid.4242.tmp").write_text("99\n")
    PIDFile(str(pid_path)).write(4242)
    assert pid_path.read_text() == "4242\n"
    assert not (tmp_path / "app.pid.4242.tmp").exists()


def test_a_pidfile_that_is_a_link_is_replaced_not_followed(tmp_path: Path, precious: Path) -> None:
    from tap2pkg.runtime.pidfile import PIDFile

    pid_path = tmp_path / "app.pid"
    pid_path.symlink_to(precious)
    assert PIDFile(str(pid_path)).read() is None
    assert PIDFile(str(pid_path)).check() is not None  # stale: the link goes
    PIDFile(str(pid_path)).write(4242)
    assert not pid_path.is_symlink() and pid_path.read_text() == "4242\n"


def test_tapd_refuses_a_log_file_that_is_a_link(tmp_path: Path, precious: Path) -> None:
    save_echo_app(tmp_path / "echo.tap", free_port())
    (tmp_path / "tapd.log").symlink_to(precious)
    result = run_tapd(["-o", "--pidfile=", "-l", "tapd.log", "-f", "echo.tap"], tmp_path)
    assert result.returncode == 73, result.stderr
    line = one_line(result.stderr)
    assert "tapd.log" in line and "symbolic link" in line


def test_a_log_file_replaced_by_a_link_is_not_reopened_through_it(tmp_path: Path, precious: Path) -> None:
    import logging

    from tap2pkg.runtime.logs import LogFile

    path = tmp_path / "app.log"
    handler = LogFile(str(path))
    handler.setFormatter(logging.Formatter("%(message)s"))
    path.rename(tmp_path / "app.log.1")  # logrotate moves it away; someone puts a link in its place
    path.symlink_to(precious)
    handler.reopen()  # SIGHUP
    handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "after", None, None))
    handler.close()
    rotated = (tmp_path / "app.log.1").read_text()
    assert "symbolic link" in rotated and rotated.endswith("after\n")


def test_tapd_does_not_hang_on_a_fifo_log_file(tmp_path: Path) -> None:
    save_echo_app(tmp_path / "echo.tap", free_port())
    os.mkfifo(tmp_path / "tapd.log")
    result = run_tapd(["-o", "--pidfile=", "-l", "tapd.log", "-f", "echo.tap"], tmp_path)
    assert result.returncode == 73, result.stderr
    assert "FIFO" in one_line(result.stderr)


# --------------------------------------------------------------------------- hostile application files

def _doubled() -> bytes:
    from tap2pkg.runtime.internet import TCPServer
    from tap2pkg.runtime.persist_pickle import dumps_pickle
    from tap2pkg.runtime.service import Application, Factory, Ref

    doubled: list[object] = []
    for _ in range(30):
        doubled = [doubled, doubled]
    app = Application("doubled")
    TCPServer(8000, Factory(Ref("echoproto:Echo"), {"data": doubled})).set_service_parent(app)
    return dumps_pickle(app, "doubled.tap")


def _looped() -> bytes:
    from tap2pkg.runtime.internet import TCPServer
    from tap2pkg.runtime.persist_pickle import dumps_pickle
    from tap2pkg.runtime.service import Application, Factory, Ref

    looped: list[object] = []
    looped.append(looped)
    app = Application("looped")
    TCPServer(8000, Factory(Ref("echoproto:Echo"), {"data": looped})).set_service_parent(app)
    return dumps_pickle(app, "looped.tap")


def _big_port() -> bytes:
    text = (ROOT / "tests" / "data" / "appfiles" / "echo.tas").read_text()
    start = text.index("port=") + len("port=")
    end = start + len(text[start:].split(",")[0])
    return (text[:start] + "9" * 4000 + text[end:]).encode()


#: file name -> (its bytes, what the one line says); every one exits 65
HOSTILE = {
    "doubled.tap": (_doubled, "too large: more than"),
    "looped.tap": (_looped, "contains itself"),
    "unbuilt.tap": (lambda: b"\x80\x04\x8c\x17tap2pkg.runtime.service\x8c\x0bApplication\x93)\x81.",
                    "never given its fields"),
    "bigport.tas": (_big_port, "port must be a whole number from 0 to 65535, got a 4000-digit number"),
    "deep.tax": (lambda: ('<application-file format="tap2pkg" version="1">' + "<list>" * 100_000
                          + "</list>" * 100_000 + "</application-file>").encode(), "nested too deeply"),
    "dictkey.tac": (lambda: b"from tap2pkg.runtime import Application\n"
                    b"application = Application(name={[]: 1})\n", "unhashable type: 'list'"),
    "deep.tac": (lambda: b"application = " + b"-" * 200_000 + b"1\n", "nested too deeply"),
    "deepsum.tac": (lambda: b"application = 1" + b"+1" * 200_000 + b"\n", "nested too deeply"),
}


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hostile")
    for name, (make, _) in HOSTILE.items():
        (directory / name).write_bytes(make())
    return directory


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_tapd_gives_one_line_for_a_hostile_file(name: str, hostile_dir: Path, tmp_path: Path) -> None:
    assert (hostile_dir / "doubled.tap").stat().st_size < 500
    result = run_tapd(["-n", "--pidfile=", "-l", "tapd.log", "-o", "-f", str(hostile_dir / name)], tmp_path,
                      timeout=60)
    assert result.returncode == 65, result.stderr
    line = one_line(result.stderr)
    assert line.startswith(f"tapd: error: {hostile_dir / name}") and HOSTILE[name][1] in line
    assert len(line) < 400


@pytest.mark.parametrize("tool", ["tap2deb", "tap2rpm"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_packaging_gives_one_line_for_a_hostile_file(tool: str, name: str, hostile_dir: Path,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    command = [str(Path(sys.executable).parent / tool), "-m", "J <j@x.org>", "-o", str(out), name]
    result = subprocess.run(command, cwd=hostile_dir, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 65, result.stderr
    line = one_line(result.stderr)
    assert line.startswith(f"{tool}: error: {name}") and HOSTILE[name][1] in line
    assert len(line) < 400
    assert list(out.iterdir()) == []
