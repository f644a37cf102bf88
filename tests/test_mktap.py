"""``tap2pkg mktap`` and the committed examples it makes."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from service_helpers import running

from tap2pkg.cli.tap2pkg import main
from tap2pkg.runtime import persist
from tap2pkg.runtime.internet import TCPServer
from tap2pkg.runtime.plugins import get_plugins
from tap2pkg.runtime.service import Application, describe

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TAPD = Path(sys.executable).parent / "tapd"

PLUGIN_ARGS = {
    "web": ["--port", "8081", "--path", "/srv/www", "--listing"],
    "echo": ["--port", "9007", "--interface", "127.0.0.1"],
    "portforward": ["--port", "7000", "--host", "db.example", "--dest_port", "5432"],
    "procmon": ["--command", "sleep 60", "--threshold", "2", "--", "/bin/true", "x"],
    "timer": ["--interval", "30", "--command", "date -u", "--timeout", "5"],
}


def expected(plugin: str, args: list[str], appname: str | None = None, uid: Any = None,
             gid: Any = None) -> Any:
    maker = get_plugins()[plugin]
    return describe(Application(appname or plugin, uid=uid, gid=gid,
                                services=[maker.make_service(maker.parse_options(args))]))


@pytest.mark.parametrize("plugin", sorted(PLUGIN_ARGS))
@pytest.mark.parametrize("suffix", [".tap", ".tas", ".tax"])
def test_mktap_writes_each_format_and_it_loads_back(tmp_path: Path, plugin: str, suffix: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / f"app{suffix}"
    assert main(["mktap", "-o", str(output), plugin, *PLUGIN_ARGS[plugin]]) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    assert describe(persist.load(output)) == expected(plugin, PLUGIN_ARGS[plugin])


def test_mktap_options_before_plugin_and_forced_type(tmp_path: Path) -> None:
    output = tmp_path / "web.data"
    assert main(["mktap", "-y", "xml", "--appname", "site", "--uid", "www-data", "--gid", "33",
                 "web", "--path", "/srv/www", "-o", str(output)]) == 0
    assert output.read_text().startswith("<?xml")
    loaded = persist.load(output, "xml")
    assert (loaded.name, loaded.uid, loaded.gid) == ("site", "www-data", 33)
    assert describe(loaded) == expected("web", ["--path", "/srv/www"], "site", "www-data", 33)


def test_mktap_default_output_is_appname_tap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["mktap", "echo"]) == 0
    assert persist.load(tmp_path / "echo.tap").name == "echo"


def test_mktap_list_shows_plugins_with_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mktap", "--list"]) == 0
    out = capsys.readouterr().out
    for name, maker in get_plugins().items():
        assert f"  {name}" in out and maker.description in out


def test_mktap_unknown_plugin_lists_available(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mktap", "gopher", "-o", "x.tap"]) == 64
    err = capsys.readouterr().err
    assert err.startswith("tap2pkg mktap: error: unknown plugin 'gopher'; available plugins: echo, ")
    assert "Traceback" not in err


@pytest.mark.parametrize(("argv", "message"), [
    (["mktap", "web", "--port", "eighty"], "argument -p/--port: invalid int value: 'eighty'"),
    (["mktap"], "name a plugin; available plugins:"),
    (["mktap", "procmon", "-o", "x.tap"], "procmon: no command to supervise"),
    (["mktap", "echo", "-o"], "argument -o/--output: expected one argument"),
    (["mktap", "echo", "-o", "x.tac"], "writes pickle, source or xml app files, not python"),
])
def test_mktap_errors_are_one_line(argv: list[str], message: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_mktap_unwritable_output_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mktap", "echo", "-o", str(tmp_path / "missing" / "dir" / "echo.tap")]) == 73
    assert "missing" in capsys.readouterr().err


# --------------------------------------------------------------------------- the committed examples

WEB_EXAMPLE = ["--port", "8080", "--path", "/usr/share/doc", "--listing"]


@pytest.mark.parametrize("name", ["web.tap", "web.tas", "web.tax"])
def test_web_examples_are_what_make_examples_writes(name: str) -> None:
    assert describe(persist.load(EXAMPLES / name)) == expected("web", WEB_EXAMPLE)




@pytest.mark.skipif(not os.path.isdir("/usr/share/doc"), reason="no /usr/share/doc on this system")
@pytest.mark.parametrize("name", ["web.tap", "web.tas", "web.tax"])
def test_web_examples_serve_usr_share_doc(name: str) -> None:
    app = persist.load(EXAMPLES / name)
    server = app.get_service_named("web")
    assert isinstance(server, TCPServer)
    server.port, server.interface = 0, "127.0.0.1"  # the committed port may be taken here
    with running(app):
        conn = http.client.HTTPConnection("127.0.0.1", server.bound_port or 0, timeout=5)
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200 and b"Index of /" in body
        some = sorted(os.listdir("/usr/share/doc"))[0]
        assert f'href="{some}'.encode() in body or not some


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def echo_round_trip(port: int, proc: subprocess.Popen[bytes]) -> bytes:
    deadline = time.monotonic() + 15
    while True:
        assert proc.poll() is None, proc.communicate()[0].decode()
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            assert time.monotonic() < deadline, "tapd did not start listening"
            time.sleep(0.05)
    with sock:
        sock.sendall(b"hello echo\n")
        return sock.recv(100)


@pytest.mark.skipif(not TAPD.exists(), reason="tapd is not installed in this environment")
@pytest.mark.parametrize("where", ["repository root", "examples/echo"])
def test_echo_tac_runs_under_tapd(where: str, tmp_path: Path) -> None:
    port = free_port()
    if where == "repository root":
        cwd, tac = ROOT, "examples/echo/echo.tac"
    else:
        cwd, tac = EXAMPLES / "echo", "echo.tac"
    env = {**os.environ, "ECHO_PORT": str(port)}
    proc = subprocess.Popen([str(TAPD), "-n", "--pidfile", "", "-l", str(tmp_path / "echo.log"), "-y", tac],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert echo_round_trip(port, proc) == b"hello echo\n"
    finally:
        proc.terminate()
        proc.wait(15)
    assert "connection from 127.0.0.1" in (tmp_path / "echo.log").read_text()


@pytest.mark.skipif(not TAPD.exists(), reason="tapd is not installed in this environment")
def test_make_examples_script_regenerates_the_files(tmp_path: Path) -> None:
    copy = tmp_path / "examples"
    copy.mkdir()
    shutil.copy(EXAMPLES / "make-examples.sh", copy)
    env = {**os.environ, "TAP2PKG": str(TAPD.parent / "tap2pkg")}
    subprocess.run(["sh", str(copy / "make-examples.sh")], check=True, env=env, capture_output=True)
    for name in ("web.tap", "web.tas", "web.tax"):
        assert describe(persist.load(copy / name)) == describe(persist.load(EXAMPLES / name))


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not TAPD.exists(), reason="tapd is not installed in this environment")
@pytest.mark.skipif(not os.path.isdir("/usr/share/doc"), reason="no /usr/share/doc on this system")
@pytest.mark.parametrize("name", ["web.tap", "web.tas", "web.tax"])
def test_web_examples_run_under_tapd(name: str, tmp_path: Path) -> None:
    if not port_free(8080):
        pytest.skip("port 8080, which the web examples use, is taken here")
    flag = {".tap": "-f", ".tas": "-s", ".tax": "-x"}[Path(name).suffix]  # twistd's option for each format
    proc = subprocess.Popen([str(TAPD), "-n", "-o", "--pidfile", "", "-l", str(tmp_path / "web.log"),
                             flag, str(EXAMPLES / name)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                if proc.returncode == 69:  # someone else took the port meanwhile
                    pytest.skip("port 8080 was taken while tapd started")
                raise AssertionError(proc.communicate()[0].decode())
            try:
                conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
                conn.request("GET", "/")
                break
            except OSError:
                assert time.monotonic() < deadline, "tapd did not start listening"
                time.sleep(0.05)
        response = conn.getresponse()
        assert response.status == 200 and b"Index of /" in response.read()
        conn.close()
    finally:
        proc.terminate()
        proc.wait(15)
    assert '"GET / HTTP/1.1" 200' in (tmp_path / "web.log").read_text()
