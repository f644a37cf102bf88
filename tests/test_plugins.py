"""Plugins: discovery (built-ins and entry points) and the echo, portforward, procmon and timer services."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from service_helpers import loop_factories, running

from tap2pkg.runtime.errors import UsageError
from tap2pkg.runtime.internet import TCPServer
from tap2pkg.runtime.plugins import ServiceMaker, get_plugin, get_plugins
from tap2pkg.runtime.plugins.echo import EchoProtocol
from tap2pkg.runtime.process import ProcessService
from tap2pkg.runtime.service import Factory, MultiService, Service

BUILTINS = {"web", "echo", "portforward", "procmon", "timer"}


def make(name: str, *argv: str) -> Service:
    maker = get_plugins()[name]
    return maker.make_service(maker.parse_options(list(argv)))


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def free_tcp_and_udp_port() -> int:
    for _ in range(50):
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(port)
    raise AssertionError("no port free for both TCP and UDP")


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------- discovery


def test_builtins_are_found_with_descriptions() -> None:
    plugins = get_plugins()
    assert BUILTINS <= set(plugins)
    for name in BUILTINS:
        assert plugins[name].name == name
        assert plugins[name].description and "\n" not in plugins[name].description
        assert plugins[name].options_parser().prog == f"tapd {name}"


def test_unknown_plugin_lists_the_available_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown plugin 'nope'; available plugins: .*echo.*web"):
        get_plugin("nope")


def test_bad_plugin_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"--port: invalid int value: 'eighty'; see 'tapd web --help'"):
        get_plugins()["web"].parse_options(["--port", "eighty"])
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        get_plugins()["echo"].parse_options(["--bogus"])


PLUGIN_MODULE = '''
import argparse
from tap2pkg.runtime.plugins import ServiceMaker
from tap2pkg.runtime.service import Service

class HelloMaker(ServiceMaker):
    name = "hello"
    description = "says hello"

    def make_service(self, options: argparse.Namespace) -> Service:
        return Service(name="hello")

class ClashMaker(HelloMaker):
    name = "web"
    description = "an impostor"

maker = HelloMaker()
something = 42
raise_on_import = False
'''

ENTRY_POINTS = """\
[tap2pkg.plugins]
hello = tmpplug:maker
clash = tmpplug:ClashMaker
missing = tmpplug_does_not_exist:maker
notamaker = tmpplug:something
exploding = tmpplug_boom:maker
"""


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "tmpplug.py").write_text(PLUGIN_MODULE)
    (tmp_path / "tmpplug_boom.py").write_text("raise RuntimeError('plugin import blew up')\n")
    dist = tmp_path / "tmpplug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tmpplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_point_plugin_is_found_and_broken_ones_are_skipped(
        third_party: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tap2pkg.plugins"):
        plugins = get_plugins()
    assert "hello" in plugins
    assert isinstance(plugins["hello"], ServiceMaker)
    service = plugins["hello"].make_service(plugins["hello"].parse_options([]))
    assert service.name == "hello"
    # the clash keeps the built-in; broken ones are skipped with a warning each
    assert plugins["web"].description != "an impostor"
    assert not {"missing", "notamaker", "exploding", "clash"} & set(plugins)
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    for name in ("'missing'", "'notamaker'", "'exploding'", "plugin import blew up", "'web'"):
        assert name in warnings


# --------------------------------------------------------------------------- echo


@pytest.mark.parametrize("new_loop", loop_factories())
def test_echo_answers_on_tcp_and_udp(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    port = free_tcp_and_udp_port()
    service = make("echo", "--port", str(port), "--interface", "127.0.0.1")
    assert isinstance(service, MultiService)
    with running(service, new_loop):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as tcp:
            tcp.sendall(b"hello tcp\n")
            assert tcp.recv(100) == b"hello tcp\n"
            payload = bytes(range(256)) * 4096  # 1 MiB: the echo must not lose or reorder bytes
            tcp.sendall(payload)
            tcp.shutdown(socket.SHUT_WR)
            assert recv_all(tcp) == payload
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(5)
            udp.sendto(b"hello udp", ("127.0.0.1", port))
            data, addr = udp.recvfrom(100)
            assert data == b"hello udp" and addr == ("127.0.0.1", port)


def test_echo_default_port_is_8007() -> None:
    assert get_plugins()["echo"].parse_options([]).port == 8007


# --------------------------------------------------------------------------- portforward


def test_portforward_options_match_twistd() -> None:
    options = get_plugins()["portforward"].parse_options([])
    assert (options.port, options.host, options.dest_port) == (6666, "localhost", 6665)
    options = get_plugins()["portforward"].parse_options(["-p", "1", "-d", "2", "--host", "example"])
    assert (options.port, options.host, options.dest_port) == (1, "example", 2)


@pytest.mark.parametrize("new_loop", loop_factories())
def test_portforward_forwards_to_an_echo_server(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    echo = TCPServer(0, Factory(EchoProtocol), interface="127.0.0.1", name="dest")
    with running(echo, new_loop):
        assert echo.bound_port
        forward = make("portforward", "--port", "0", "--interface", "127.0.0.1",
                       "--host", "127.0.0.1", "--dest_port", str(echo.bound_port))
        assert isinstance(forward, TCPServer)
        with running(forward, new_loop):
            assert forward.bound_port
            with socket.create_connection(("127.0.0.1", forward.bound_port), timeout=5) as sock:
                sock.sendall(b"early")  # before the proxy has reached the destination
                sock.shutdown(socket.SHUT_WR)
                assert recv_all(sock) == b"early"
            with socket.create_connection(("127.0.0.1", forward.bound_port), timeout=5) as sock:
                sock.sendall(b"ping")
                assert sock.recv(100) == b"ping"
                payload = b"0123456789abcdef" * 262144  # 4 MiB through both buffers

                def send() -> None:
                    sock.sendall(payload)
                    sock.shutdown(socket.SHUT_WR)

                sender = threading.Thread(target=send)
                sender.start()
                assert recv_all(sock) == payload
                sender.join()


def test_portforward_closes_when_destination_is_down() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    forward = make("portforward", "--port", "0", "--interface", "127.0.0.1",
                   "--host", "127.0.0.1", "--dest_port", str(dead_port))
    assert isinstance(forward, TCPServer)
    with running(forward):
        with socket.create_connection(("127.0.0.1", forward.bound_port or 0), timeout=5) as sock:
            assert recv_all(sock) == b""


# --------------------------------------------------------------------------- procmon


def test_procmon_restarts_a_command(tmp_path: Path) -> None:
    log = tmp_path / "runs"
    service = make("procmon", "--threshold", "0.1", "--minrestartdelay", "0.1",
                   "--command", f"sh -c 'echo $$ >> {log}; sleep 0.2'")
    with running(service):
        wait_for(lambda: log.exists() and len(log.read_text().split()) >= 3)
    pids = log.read_text().split()
    assert len(set(pids)) == len(pids)  # each run is a new process


def test_procmon_takes_twistd_style_command_and_names_processes() -> None:
    service = make("procmon", "--command", "sleep 1", "--", "/bin/sleep", "2")
    assert isinstance(service, ProcessService)
    assert service.processes == {
        "sleep": {"args": ["sleep", "1"], "env": None, "cwd": None, "uid": None, "gid": None},
        "sleep-2": {"args": ["/bin/sleep", "2"], "env": None, "cwd": None, "uid": None, "gid": None},
    }


def test_procmon_without_a_command_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no command to supervise"):
        make("procmon")


# --------------------------------------------------------------------------- timer


def test_timer_runs_a_command_repeatedly_without_overlap(tmp_path: Path) -> None:
    log = tmp_path / "ticks"
    service = make("timer", "--interval", "0.05",
                   "--command", f"sh -c 'echo start >> {log}; sleep 0.15; echo end >> {log}'")
    with running(service):
        wait_for(lambda: log.exists() and log.read_text().count("end") >= 3)
    lines = log.read_text().split()
    # never two runs at once: starts and ends strictly alternate
    assert lines[: len(lines) // 2 * 2] == ["start", "end"] * (len(lines) // 2)


def test_timer_logs_a_failing_command(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = make("timer", "--interval", "10", "--command", "sh -c 'echo oops; exit 3'")
    with caplog.at_level(logging.INFO, logger="tap2pkg.timer"), running(service):
        wait_for(lambda: "exited with status 3" in caplog.text)
    assert "sh: oops" in caplog.text


def test_timer_needs_a_command() -> None:
    with pytest.raises(UsageError, match="--command is required"):
        make("timer", "--interval", "5")


def test_service_maker_default_parser_accepts_nothing() -> None:
    class Bare(ServiceMaker):
        name = "bare"
        description = "nothing"

    assert Bare().parse_options([]) == argparse.Namespace()
    with pytest.raises(NotImplementedError):
        Bare().make_service(argparse.Namespace())
