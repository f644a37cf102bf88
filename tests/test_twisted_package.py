"""A Twisted app packaged to run under the distribution's Twisted, and its launcher run for real.

The packages (both builders of each format) must depend on python3-twisted, ship the Twisted launcher
instead of the bundled runtime, start it from a ``Type=notify`` unit and pass lintian and rpmlint. The
launcher is run on this host with the test environment's Twisted: readiness only once the port accepts
connections, STOPPING=1 and exit 0 on SIGTERM, a failed start exits non-zero without READY=1, Twisted-saved
``.tap``/``.tas`` files run with ``-f``/``-s``, daemon mode writes its pidfile and reports a failed start.

The packaged app is Twisted's own ``docs/core/examples/simple.tac`` when ``TAP2PKG_TWISTED_SDIST_DIR``
names Twisted's unpacked sdist, else a small Twisted ``.tac`` written here.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from debian.deb822 import Deb822

from tap2pkg.builders import BuildResult, build
from tap2pkg.dependency import Dependency
from tap2pkg.errors import UnknownAppTypeError
from tap2pkg.launchers import TWISTED_LAUNCHER
from tap2pkg.payload import Payload
from tap2pkg.spec import PackageSpec

MAINTAINER = "Jane Doe <jane@example.org>"
LAUNCHER = "/usr/lib/simple/twisted-launcher"

SMALL_TAC = """\
from twisted.application import internet, service
from twisted.internet import protocol
from twisted.protocols import wire

application = service.Application("simple")
factory = protocol.ServerFactory()
factory.protocol = wire.Echo
internet.TCPServer(8080, factory).setServiceParent(service.IServiceCollection(application))
"""


@pytest.fixture(scope="module")
def app_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sdist = os.environ.get("TAP2PKG_TWISTED_SDIST_DIR")
    if sdist:
        path = Path(sdist, "docs", "core", "examples", "simple.tac")
        assert path.is_file(), f"TAP2PKG_TWISTED_SDIST_DIR={sdist} has no {path}"
        return path
    path = tmp_path_factory.mktemp("app") / "simple.tac"
    path.write_text(SMALL_TAC)
    return path


def twisted_spec(app: Path, **changes: object) -> PackageSpec:
    spec = PackageSpec(name="simple", app_file=app, app_kind="python", maintainer=MAINTAINER,
                       ports=(8080, 8081), runtime="twisted", depends=(Dependency.parse("python3-twisted"),),
                       source_date_epoch=1700000000)
    return spec.replace(**changes) if changes else spec


BUILDERS = {("deb", "native"): None, ("deb", "dpkg"): "dpkg-buildpackage",
            ("rpm", "native"): "rpm", ("rpm", "rpmbuild"): "rpmbuild"}


@pytest.fixture(scope="module")
def builds(app_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], BuildResult]:
    out = {}
    for (fmt, builder), tool in BUILDERS.items():
        if tool is None or shutil.which(tool):
            out[fmt, builder] = build(twisted_spec(app_file), tmp_path_factory.mktemp(f"{fmt}-{builder}"),
                                      fmt, builder)
    return out


def artifact(builds: dict[tuple[str, str], BuildResult], fmt: str, builder: str, suffix: str) -> Path:
    if (fmt, builder) not in builds:
        pytest.skip(f"the {builder} builder's tools are not installed")
    [path] = [p for p in builds[fmt, builder].paths() if p.name.endswith(suffix)]
    return path


def deb_members(deb: Path) -> dict[str, tuple[int, bytes | None]]:
    """``{installed path: (mode, data or None for a directory)}`` of a .deb's data, read with dpkg-deb."""
    raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    out: dict[str, tuple[int, bytes | None]] = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for m in tar.getmembers():
            fh = tar.extractfile(m) if m.isfile() else None
            out[m.name.lstrip(".").rstrip("/") or "/"] = (m.mode, fh.read() if fh else None)
    return out


def deb_control(deb: Path) -> Deb822:
    text = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, check=True, text=True).stdout
    return Deb822(text)


def rpm_query(rpm: Path, *args: str) -> str:
    return subprocess.run(["rpm", "-qp", *args, str(rpm)], capture_output=True, text=True, check=True).stdout


def unit_settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


# --- the packages ---------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("builder", ["native", "dpkg"])
def test_deb_depends_on_twisted_and_ships_the_launcher_not_the_runtime(
        builds: dict[tuple[str, str], BuildResult], builder: str) -> None:
    deb = artifact(builds, "deb", builder, "_all.deb")
    depends = [d.strip() for d in deb_control(deb)["Depends"].split(",")]
    assert "python3-twisted" in depends and "python3" in depends
    files = deb_members(deb)
    assert files[LAUNCHER] == (0o755, TWISTED_LAUNCHER.read_bytes())
    assert not [p for p in files if p.startswith("/usr/lib/simple/") and p != LAUNCHER]  # no tap2pkg runtime
    unit = unit_settings((files["/lib/systemd/system/simple.service"][1] or b"").decode())
    assert unit["Type"] == "notify" and unit["NotifyAccess"] == "main"
    assert unit["ExecStart"].startswith(f"/usr/bin/python3 {LAUNCHER} --nodaemon --pidfile= --logfile=- ")
    assert unit["ExecStart"].endswith(" -y /etc/simple/simple.tac $TWISTD_OPTS")
    assert "AmbientCapabilities" not in unit  # ports 8080 and 8081 need no capability
    default = (files["/etc/default/simple"][1] or b"").decode()
    assert 'TWISTD_OPTS=""' in default and "TAPD" not in default
    init = (files["/etc/init.d/simple"][1] or b"").decode()
    assert "run by Twisted as user simple" in init and "tapd" not in init and "--chuid" not in init
    assert "--uid simple --gid simple" in init
    subprocess.run(["sh", "-n"], input=init, text=True, check=True)
    copyright_text = (files["/usr/share/doc/simple/copyright"][1] or b"").decode()
    assert "Files: lib/twisted-launcher" in copyright_text and "lib/tap2pkg" not in copyright_text


@pytest.mark.slow
def test_both_deb_builders_agree(builds: dict[tuple[str, str], BuildResult]) -> None:
    native, dpkg = (artifact(builds, "deb", b, "_all.deb") for b in ("native", "dpkg"))
    assert deb_members(native) == deb_members(dpkg)
    fields = [dict(deb_control(deb)) for deb in (native, dpkg)]
    sizes = [int(f.pop("Installed-Size")) for f in fields]
    assert fields[0] == fields[1]
    assert abs(sizes[0] - sizes[1]) <= 3  # only the maintainer scripts' wording differs (as for tapd apps)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("lintian") is None, reason="lintian is not installed")
def test_lintian_has_no_errors_or_warnings(builds: dict[tuple[str, str], BuildResult]) -> None:
    targets = [artifact(builds, "deb", "native", "_all.deb")]
    if ("deb", "dpkg") in builds:
        targets += [artifact(builds, "deb", "dpkg", ".changes")]
    proc = subprocess.run(["lintian", "--fail-on", "error,warning", *map(str, targets)], capture_output=True,
                          text=True, check=False)
    tags = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == [] and proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["native", "rpmbuild"])
def test_rpm_requires_twisted_and_ships_the_launcher_not_the_runtime(
        builds: dict[tuple[str, str], BuildResult], builder: str) -> None:
    rpm = artifact(builds, "rpm", builder, ".noarch.rpm")
    requires = rpm_query(rpm, "--requires").splitlines()
    assert "python3-twisted" in requires and "python3" in requires
    listed = rpm_query(rpm, "-l").splitlines()
    assert [p for p in listed if p.startswith("/usr/lib/simple")] == ["/usr/lib/simple", LAUNCHER]
    sources = builds["rpm", builder].paths()[0].parent
    unit = unit_settings((sources / "simple.service").read_text())
    assert unit["Type"] == "notify"
    assert unit["ExecStart"].startswith(f"/usr/bin/python3 {LAUNCHER} --nodaemon")
    sysconfig = (sources / "simple.sysconfig").read_text()
    assert 'TWISTD_OPTS=""' in sysconfig and "TAPD" not in sysconfig and "init script" not in sysconfig


@pytest.mark.slow
def test_both_rpm_builders_agree(builds: dict[tuple[str, str], BuildResult]) -> None:
    native, rpmbuild = (artifact(builds, "rpm", b, ".noarch.rpm") for b in ("native", "rpmbuild"))
    for args in (("--requires",), ("--dump",), ("-c",)):
        assert rpm_query(native, *args) == rpm_query(rpmbuild, *args), args


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("rpmlint") is None, reason="rpmlint is not installed")
def test_rpmlint_finds_no_errors(builds: dict[tuple[str, str], BuildResult]) -> None:
    rpm = artifact(builds, "rpm", "native", ".noarch.rpm")
    files = [rpm, artifact(builds, "rpm", "native", ".src.rpm"), artifact(builds, "rpm", "native", ".spec")]
    proc = subprocess.run(["rpmlint", "-r", str(rpm.parent / "simple.rpmlintrc"), *map(str, files)],
                          capture_output=True, text=True, check=False)
    assert " 0 errors," in proc.stdout, proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit(builds: dict[tuple[str, str], BuildResult],
                                           tmp_path: Path) -> None:
    deb = artifact(builds, "deb", "native", "_all.deb")
    unit = tmp_path / "simple.service"
    unit.write_bytes(deb_members(deb)["/lib/systemd/system/simple.service"][1] or b"")
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_port_below_1024_gets_the_bind_capability(app_file: Path) -> None:
    payload = Payload.for_spec(twisted_spec(app_file, ports=(79,)), "debian")
    [unit] = [f for f in payload.files if f.role == "unit"]
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in unit.data.decode()


def test_a_twisted_xml_app_is_refused_in_one_line(tmp_path: Path) -> None:
    tax = tmp_path / "app.tax"
    tax.write_text("<?xml version='1.0'?>\n<instance class='twisted.python.components.Componentized'/>\n")
    with pytest.raises(UnknownAppTypeError) as err:
        Payload.for_spec(twisted_spec(tax, app_kind="xml"), "debian")
    assert err.value.exit_code == 79
    assert "\n" not in str(err.value) and "XML" in str(err.value) and str(tax) in str(err.value)


# --- the launcher, run for real -------------------------------------------------------------------------

twisted = pytest.importorskip("twisted")

APP_TAC = """\
import os, time
from twisted.application import internet, service
from twisted.internet import protocol
from twisted.protocols import wire
import appmod, libmod  # beside the app file; in the launcher's (the package's library) directory


class SlowStart(service.Service):
    # starts slowly, before the port is bound: a READY=1 sent too early would come before the port answers
    def startService(self):
        time.sleep(0.3)
        service.Service.startService(self)


application = service.Application("echo"{uid})
top = service.IServiceCollection(application)
SlowStart().setServiceParent(top)
factory = protocol.ServerFactory()
factory.protocol = wire.Echo
internet.TCPServer(int(os.environ["ECHO_PORT"]), factory, interface="127.0.0.1").setServiceParent(top)
"""


def free_port(below_1024: bool = False) -> int:
    for port in (range(1000, 600, -1) if below_1024 else [0]):
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return int(s.getsockname()[1])
    pytest.skip("no free port")


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"ping")
            return conn.recv(4) == b"ping"
    except OSError:
        return False


@pytest.fixture
def package_dirs(shared_dir: Path) -> tuple[Path, Path]:
    """``lib/twisted-launcher`` (+ ``libmod.py``) and ``etc/`` (the app's directory, + ``appmod.py``),
    readable by any user."""
    lib, etc = shared_dir / "lib", shared_dir / "etc"
    for d in (lib, etc):
        d.mkdir()
        d.chmod(0o755)
    shutil.copy(TWISTED_LAUNCHER, lib / "twisted-launcher")
    (lib / "libmod.py").write_text("")
    (etc / "appmod.py").write_text("")
    for f in (lib / "twisted-launcher", lib / "libmod.py", etc / "appmod.py"):
        f.chmod(0o755)
    return lib, etc


@contextlib.contextmanager
def notify_socket(where: Path, abstract: bool = False) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"tap2pkg-test-{os.getpid()}-{time.monotonic_ns()}"
        sock.bind("\0" + name)
        address = "@" + name
    else:
        address = str(where / "notify")
        sock.bind(address)
        os.chmod(address, 0o777)
    try:
        yield sock, address
    finally:
        sock.close()


def receive(sock: socket.socket, timeout: float) -> str | None:
    sock.settimeout(timeout)
    try:
        return sock.recv(4096).decode()
    except TimeoutError:
        return None


FOREGROUND = ["--nodaemon", "--pidfile=", "--logfile=-", "--no_save"]


def launch(lib: Path, args: list[str], env: dict[str, str], python: str = sys.executable,
           user: int | None = None) -> subprocess.Popen[str]:
    """Start the launcher copied into ``lib`` (as ``user`` and its group only, when given)."""
    group = None if user is None else pwd.getpwuid(user).pw_gid
    return subprocess.Popen([python, str(lib / "twisted-launcher"), *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, user=user,
                            group=group, extra_groups=None if user is None else [])


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_after_the_port_answers_stopping_and_exit_0_on_sigterm(
        package_dirs: tuple[Path, Path], abstract: bool) -> None:
    lib, etc = package_dirs
    app = etc / "echo.tac"
    app.write_text(APP_TAC.format(uid=""))
    port = free_port()
    with notify_socket(lib.parent, abstract) as (sock, address):
        proc = launch(lib, [*FOREGROUND, "-y", str(app)], {"NOTIFY_SOCKET": address, "ECHO_PORT": str(port)})
        try:
            ready = receive(sock, 30)
            assert ready == "READY=1", proc.communicate(timeout=10)[0] if ready is None else ready
            assert answers(port)  # ready means the port already answers
            proc.send_signal(signal.SIGTERM)
            assert receive(sock, 10) == "STOPPING=1"
            output = proc.communicate(timeout=20)[0]
        finally:
            proc.kill()
    assert proc.returncode == 0, output
    assert not list(lib.rglob("__pycache__")) and not list(etc.rglob("__pycache__"))


def test_a_port_in_use_exits_non_zero_without_ready(package_dirs: tuple[Path, Path]) -> None:
    lib, etc = package_dirs
    app = etc / "echo.tac"
    app.write_text(APP_TAC.format(uid=""))
    with socket.socket() as taken, notify_socket(lib.parent) as (sock, address):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = launch(lib, [*FOREGROUND, "-y", str(app)], {"NOTIFY_SOCKET": address, "ECHO_PORT": str(port)})
        output = proc.communicate(timeout=30)[0]
        assert proc.returncode != 0
        assert "failed to start" in output and "Address already in use" in output
        assert receive(sock, 0.5) is None


SAVE_APP = """\
import sys
from twisted.application import internet, service
from twisted.internet import protocol
from twisted.persisted import sob
from twisted.protocols import wire

path, style, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
application = service.Application("saved")
factory = protocol.ServerFactory()
factory.protocol = wire.Echo
server = internet.TCPServer(port, factory, interface="127.0.0.1")
server.setServiceParent(service.IServiceCollection(application))
persistent = sob.Persistent(application, "saved")
persistent.setStyle(style)
persistent.save(filename=path)
"""


@pytest.mark.parametrize(("suffix", "style", "flag"), [(".tap", "pickle", "-f"), (".tas", "source", "-s")])
def test_a_file_saved_by_twisted_runs(package_dirs: tuple[Path, Path], suffix: str, style: str,
                                      flag: str) -> None:
    lib, etc = package_dirs
    port = free_port()
    saved = etc / f"saved{suffix}"
    subprocess.run([sys.executable, "-c", SAVE_APP, str(saved), style, str(port)], check=True)
    with notify_socket(lib.parent) as (sock, address):
        proc = launch(lib, [*FOREGROUND, flag, str(saved)], {"NOTIFY_SOCKET": address})
        try:
            ready = receive(sock, 30)
            assert ready == "READY=1", proc.communicate(timeout=10)[0] if ready is None else ready
            assert answers(port)
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 0


def test_daemon_mode_writes_the_pidfile_and_reports_a_failed_start(package_dirs: tuple[Path, Path]) -> None:
    lib, etc = package_dirs
    app = etc / "echo.tac"
    app.write_text(APP_TAC.format(uid=""))
    port = free_port()
    pidfile, logfile = lib.parent / "echo.pid", lib.parent / "echo.log"
    daemon = ["--pidfile", str(pidfile), "--logfile", str(logfile), "--no_save", "--rundir", str(lib.parent),
              "-y", str(app)]
    env = {"ECHO_PORT": str(port)}
    started = subprocess.run([sys.executable, str(lib / "twisted-launcher"), *daemon],
                             env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stdout + started.stderr
    pid = int(pidfile.read_text())
    try:
        assert answers(port)  # the first process exits once the app started
        # a second instance on the same port: the waiting parent says it failed
        # (its own pidfile and log: Twisted's log file is not opened for appending, two writers clobber it)
        second_daemon = ["--pidfile", str(lib.parent / "second.pid"),
                         "--logfile", str(lib.parent / "second.log"), *daemon[4:]]
        second = subprocess.run([sys.executable, str(lib / "twisted-launcher"), *second_daemon],
                                env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
        # Twisted's report to the waiting parent is cut at 100 bytes
        assert second.returncode != 0 and "CannotListenError" in second.stderr, second.stderr
        assert not (lib.parent / "second.pid").exists()
    finally:
        os.kill(pid, signal.SIGTERM)
    # the daemon is not our child: wait for it to be gone (it removes the pidfile, then logs the shutdown)
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert not pidfile.exists()  # removed at a clean stop
    assert "Server Shut Down." in logfile.read_text()


def _status_ids(pid: int) -> tuple[list[int], list[int]]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return [int(x) for x in status["Uid"].split()], [int(x) for x in status["Gid"].split()]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to bind a port below 1024 and switch users")
def test_as_root_it_binds_a_low_port_then_runs_as_the_given_user(package_dirs: tuple[Path, Path]) -> None:
    lib, etc = package_dirs
    app = etc / "echo.tac"
    app.write_text(APP_TAC.format(uid=""))
    nobody = pwd.getpwnam("nobody")
    port = free_port(below_1024=True)
    with notify_socket(lib.parent) as (sock, address):
        proc = launch(lib, [*FOREGROUND, "--uid", "nobody", "--gid", str(nobody.pw_gid), "-y", str(app)],
                      {"NOTIFY_SOCKET": address, "ECHO_PORT": str(port)})
        try:
            ready = receive(sock, 30)
            assert ready == "READY=1", proc.communicate(timeout=10)[0] if ready is None else ready
            assert answers(port)
            assert _status_ids(proc.pid) == ([nobody.pw_uid] * 4, [nobody.pw_gid] * 4)
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 0


def _system_python_with_twisted() -> dict[str, str] | None:
    """An environment in which /usr/bin/python3 (readable by any user) imports the tests' Twisted."""
    site = Path(twisted.__file__).resolve().parent.parent
    env = {"PYTHONPATH": str(site)}
    probe = subprocess.run(["/usr/bin/python3", "-c", "import twisted.scripts._twistd_unix"],
                           env={**os.environ, **env}, capture_output=True, check=False)
    return env if probe.returncode == 0 else None


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"),
                    reason="needs root to start the launcher as another user, and /usr/bin/python3")
def test_not_root_it_keeps_its_user_whatever_the_app_says(package_dirs: tuple[Path, Path]) -> None:
    env = _system_python_with_twisted()
    if env is None:
        pytest.skip("/usr/bin/python3 cannot import the tests' Twisted")
    lib, etc = package_dirs
    app = etc / "echo.tac"
    app.write_text(APP_TAC.format(uid=", uid=1, gid=1"))  # as Twisted's finger example says
    nobody = pwd.getpwnam("nobody")
    port = free_port()
    with notify_socket(lib.parent) as (sock, address):
        proc = launch(lib, [*FOREGROUND, "-y", str(app)], {**env, "NOTIFY_SOCKET": address,
                                                           "ECHO_PORT": str(port)},
                      python="/usr/bin/python3", user=nobody.pw_uid)
        try:
            ready = receive(sock, 30)
            assert ready == "READY=1", proc.communicate(timeout=10)[0] if ready is None else ready
            assert answers(port)
            assert _status_ids(proc.pid)[0] == [nobody.pw_uid] * 4
            proc.send_signal(signal.SIGTERM)
            output = proc.communicate(timeout=20)[0]
        finally:
            proc.kill()
    assert proc.returncode == 0, output
    assert "not root: running as uid/gid" in output
