"""Built-in network services: real sockets on 127.0.0.1, real timers, a reconnecting client."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from tap2pkg.runtime import internet
from tap2pkg.runtime.errors import ServiceUnavailableError
from tap2pkg.runtime.internet import (
    ClientService,
    ProcessService,
    TCPServer,
    TimerService,
    UDPServer,
    UNIXServer,
    register_activated_sockets,
    take_activated_socket,
    unclaimed_activated_sockets,
)
from tap2pkg.runtime.service import (
    Application,
    Factory,
    MultiService,
    Ref,
    Service,
    describe,
    persistable,
    qualified_name,
)

HOST = "127.0.0.1"


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Run one test scenario in a fresh event loop, failing rather than hanging."""
    async def bounded() -> Any:
        return await asyncio.wait_for(scenario(), timeout)
    return asyncio.run(bounded())


class Echo(asyncio.Protocol):
    """Answers every chunk with ``prefix`` + the chunk."""

    def __init__(self, prefix: bytes = b"") -> None:
        self.prefix = prefix

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(self.prefix + data)


class DatagramEcho(asyncio.DatagramProtocol):
    """Sends every datagram back to where it came from."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"udp:" + data, addr)


async def ask(port: int, message: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(message)
    answer = await reader.readexactly(len(message) + 3)
    writer.close()
    return answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# ----------------------------------------------------------------------------- TCP


def test_tcp_server_on_port_zero_answers_and_stop_closes_connections() -> None:
    server = TCPServer(0, Factory(Echo, {"prefix": b"re:"}), interface=HOST)

    async def scenario() -> None:
        assert server.bound_port is None
        await server.privileged_start()
        port = server.bound_port
        assert port and port > 0
        assert server.bound_address == (HOST, port)
        await server.start()
        assert await ask(port, b"abc") == b"re:abc"
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"x")
        assert await reader.readexactly(4) == b"re:x"
        await server.stop()
        assert await reader.read() == b""  # the open connection was closed by stop()
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection(HOST, port)

    run(scenario)
    assert not server.running


def test_tcp_server_binds_in_start_when_privileged_start_was_skipped() -> None:
    async def scenario() -> None:
        server = TCPServer(0, Factory(Echo, {"prefix": b"ok:"}), interface=HOST)
        await server.start()
        assert server.bound_port is not None
        assert await ask(server.bound_port, b"1") == b"ok:1"
        await server.stop()

    run(scenario)


def test_tcp_port_in_use_names_the_address_and_the_fix() -> None:
    with socket.socket() as other:
        other.bind((HOST, 0))
        other.listen()
        port = other.getsockname()[1]
        server = TCPServer(port, Factory(Echo), interface=HOST)
        with pytest.raises(ServiceUnavailableError) as caught:
            run(server.privileged_start)
    assert str(caught.value) == (f"cannot listen on TCP 127.0.0.1:{port}: address already in use "
                                 "(stop the other process or choose another port)")
    assert caught.value.exit_code == 69


def test_unknown_protocol_reference_fails_at_start() -> None:
    server = TCPServer(0, Ref("no_such_module_here:Proto"), interface=HOST)

    async def scenario() -> None:
        try:
            await server.start()
        finally:
            await server.stop()

    with pytest.raises(ServiceUnavailableError, match="no_such_module_here:Proto"):
        run(scenario)


def test_server_added_to_a_running_parent_serves_at_once() -> None:
    async def scenario() -> None:
        parent = MultiService("root")
        await parent.privileged_start()
        await parent.start()
        late = TCPServer(0, Factory(Echo, {"prefix": b"lt:"}), interface=HOST, name="late")
        task = late.set_service_parent(parent)
        assert task is not None
        await task
        assert late.running and late.bound_port
        assert await ask(late.bound_port, b"z") == b"lt:z"
        await parent.stop()
        assert not late.running

    run(scenario)


# ----------------------------------------------------------------------------- socket activation


def test_tcp_server_adopts_an_activated_socket() -> None:
    inherited = socket.socket()
    inherited.bind((HOST, 0))
    inherited.listen()
    port = inherited.getsockname()[1]
    other = socket.socket()
    other.bind((HOST, 0))
    other.listen()
    register_activated_sockets([other, inherited])
    try:
        assert take_activated_socket("udp", port, HOST) is None
        assert take_activated_socket("tcp", port, "127.0.0.2") is None
        server = TCPServer(port, Factory(Echo, {"prefix": b"sd:"}), interface=HOST)

        async def scenario() -> None:
            await server.privileged_start()
            assert server.bound_port == port
            assert server._sock is inherited  # no second socket was bound
            await server.start()
            assert await ask(port, b"q") == b"sd:q"
            await server.stop()

        run(scenario)
        assert unclaimed_activated_sockets() == [other]
    finally:
        internet._activated.clear()
        other.close()
        inherited.close()


def test_wildcard_interface_matches_a_wildcard_socket_only() -> None:
    wildcard = socket.socket()
    wildcard.bind(("0.0.0.0", 0))
    wildcard.listen()
    port = wildcard.getsockname()[1]
    register_activated_sockets([wildcard])
    try:
        assert take_activated_socket("tcp", port, HOST) is None
        assert take_activated_socket("tcp", port, "") is wildcard
        assert take_activated_socket("tcp", port, "") is None  # adopted once only
    finally:
        internet._activated.clear()
        wildcard.close()


# ----------------------------------------------------------------------------- UDP


def test_udp_server_answers_datagrams() -> None:
    async def scenario() -> None:
        server = UDPServer(0, Factory(DatagramEcho), interface=HOST)
        await server.privileged_start()
        await server.start()
        port = server.bound_port
        assert port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.setblocking(False)
            client.connect((HOST, port))
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(client, b"ping")
            assert await loop.sock_recv(client, 100) == b"udp:ping"
        await server.stop()
        assert server.bound_port is None

    run(scenario)


def test_udp_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind((HOST, 0))
        port = other.getsockname()[1]
        with pytest.raises(ServiceUnavailableError, match=f"UDP 127.0.0.1:{port}: address already in use"):
            run(UDPServer(port, Factory(DatagramEcho), interface=HOST).privileged_start)


# ----------------------------------------------------------------------------- UNIX


def test_unix_server_answers_sets_mode_and_removes_its_socket(tmp_path: Path) -> None:
    path = tmp_path / "echo.sock"

    async def scenario() -> None:
        server = UNIXServer(str(path), Factory(Echo, {"prefix": b"ux:"}), mode=0o600)
        await server.privileged_start()
        await server.start()
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"hi")
        assert await reader.readexactly(5) == b"ux:hi"
        await server.stop()
        assert await reader.read() == b""
        writer.close()

    run(scenario)
    assert not path.exists()


def test_unix_server_replaces_a_stale_socket_and_refuses_a_live_one(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a crashed daemon leaves behind

    async def scenario() -> None:
        first = UNIXServer(str(path), Factory(Echo))
        await first.start()
        second = UNIXServer(str(path), Factory(Echo))
        with pytest.raises(ServiceUnavailableError, match="another process is listening there"):
            await second.start()
        assert path.exists()  # the live socket was not clobbered
        await first.stop()

    run(scenario)
    assert not path.exists()


def test_unix_server_refuses_to_replace_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_text("keep me")
    with pytest.raises(ServiceUnavailableError, match="is not a socket"):
        run(UNIXServer(str(path), Factory(Echo)).start)
    assert path.read_text() == "keep me"


# ----------------------------------------------------------------------------- TimerService

EVENTS: list[str] = []


@persistable
def record_tick(tag: str = "tick") -> None:
    """A registered callable the timer tests name by reference."""
    EVENTS.append(tag)


def test_timer_never_overlaps_itself() -> None:
    active = 0
    most = 0
    done = 0

    async def slow() -> None:
        nonlocal active, most, done
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.05)  # five intervals long
        active -= 1
        done += 1

    async def scenario() -> None:
        timer = TimerService(0.01, slow)
        await timer.start()
        await asyncio.sleep(0.3)
        await timer.stop()

    run(scenario)
    assert most == 1
    assert done >= 3


def test_timer_logs_a_failure_and_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def broken() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError(f"boom {calls}")

    async def scenario() -> None:
        timer = TimerService(0.02, broken, name="janitor")
        await timer.start()
        await asyncio.sleep(0.15)
        await timer.stop()

    with caplog.at_level(logging.ERROR, logger="tap2pkg"):
        run(scenario)
    assert calls >= 3
    failures = [r for r in caplog.records if "janitor: call failed" in r.getMessage()]
    assert len(failures) == calls
    assert failures[0].exc_info is not None and "boom 1" in str(failures[0].exc_info[1])


def test_timer_calls_a_reference_with_arguments_first_at_start() -> None:
    EVENTS.clear()

    async def scenario() -> None:
        timer = TimerService(60, Ref(qualified_name(record_tick)), args=("hello",))
        await timer.start()
        await asyncio.sleep(0.05)
        await timer.stop()
        later = TimerService(60, record_tick, kwargs={"tag": "late"}, now=False)
        await later.start()
        await asyncio.sleep(0.05)
        await later.stop()

    run(scenario)
    assert EVENTS == ["hello"]  # now=True calls at once, now=False waits an interval


def test_timer_stop_waits_for_a_running_call_then_cancels_within_a_bound() -> None:
    finished: list[str] = []

    async def short() -> None:
        await asyncio.sleep(0.1)
        finished.append("short")

    async def endless() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            finished.append("cancelled")
            raise

    async def scenario() -> None:
        one = TimerService(10, short)
        await one.start()
        await asyncio.sleep(0.02)
        await one.stop()  # waits for the call in progress
        assert finished == ["short"]
        two = TimerService(10, endless)
        two.stop_timeout = 0.1
        await two.start()
        await asyncio.sleep(0.02)
        await two.stop()
        assert finished == ["short", "cancelled"]

    run(scenario)


def test_timer_refuses_a_zero_interval() -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        TimerService(0, record_tick)


# ----------------------------------------------------------------------------- ClientService


class Greeter(asyncio.Protocol):
    """Client side: remembers what the server said."""

    def __init__(self) -> None:
        self.received = b""
        self.got = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"hello")

    def data_received(self, data: bytes) -> None:
        self.received += data
        self.got.set()


def test_client_reconnects_after_the_server_goes_away_and_comes_back() -> None:
    port = free_port()

    async def scenario() -> None:
        client = ClientService(HOST, port, Greeter, initial_delay=0.02, max_delay=0.1, jitter=0.2)
        await client.start()  # nobody listens yet: it keeps retrying
        with pytest.raises(TimeoutError):
            await client.when_connected(0.1)
        server = TCPServer(port, Factory(Echo, {"prefix": b"1:"}), interface=HOST)
        await server.start()
        first = await client.when_connected(2.0)
        assert isinstance(first, Greeter)
        await asyncio.wait_for(first.got.wait(), 2.0)
        assert first.received == b"1:hello"

        await server.stop()  # connection lost
        await asyncio.sleep(0.15)  # a few failed attempts
        assert client.protocol is None
        server = TCPServer(port, Factory(Echo, {"prefix": b"2:"}), interface=HOST)
        await server.start()
        second = await client.when_connected(2.0)
        assert second is not first
        await asyncio.wait_for(second.got.wait(), 2.0)
        assert second.received == b"2:hello"

        await client.stop()
        assert client.protocol is None
        await asyncio.wait_for(second.got.wait(), 1.0)
        await server.stop()

    run(scenario)


def test_client_stop_releases_waiters_and_stops_retrying() -> None:
    port = free_port()

    async def scenario() -> None:
        client = ClientService(HOST, port, Greeter, initial_delay=0.01)
        await client.start()
        waiting = asyncio.create_task(client.when_connected())
        await asyncio.sleep(0.05)
        await client.stop()
        with pytest.raises(ServiceUnavailableError, match="stopped before it connected"):
            await waiting
        server = TCPServer(port, Factory(Echo), interface=HOST)
        await server.start()
        await asyncio.sleep(0.1)
        assert client.protocol is None  # no attempt after stop
        await server.stop()

    run(scenario)


def test_client_backoff_grows_and_is_capped() -> None:
    client = ClientService(HOST, 1, Greeter, initial_delay=1.0, max_delay=4.0, factor=2.0, jitter=0.1)
    waits = [client._backoff(d) for d in (1.0, 2.0, 4.0)]
    assert 0.9 <= waits[0] <= 1.1 and 1.8 <= waits[1] <= 2.2 and 3.6 <= waits[2] <= 4.4


# ----------------------------------------------------------------------------- persistence


def every_service(tmp: Path) -> list[Service]:
    return [
        TCPServer(8000, Factory(Echo, {"prefix": b">"}), interface=HOST, backlog=5, name="tcp"),
        TCPServer(8001, Ref("examples.echo:EchoProtocol")),
        UDPServer(9000, Factory(DatagramEcho), interface=HOST, name="udp"),
        UNIXServer(str(tmp / "x.sock"), Ref("examples.echo:EchoProtocol"), backlog=3, mode=0o600,
                   name="unix"),
        TimerService(30, record_tick, args=("a",), kwargs={"tag": "b"}, now=False, name="timer"),
        TimerService(5, Ref("examples.jobs:cleanup")),
        ClientService("localhost", 7000, Factory(Greeter), initial_delay=0.5, max_delay=30, factor=1.5,
                      jitter=0.2, name="client"),
        ProcessService({"worker": {"args": ["/bin/sleep", "1"], "env": {"A": "1"}, "cwd": "/tmp",
                                   "uid": "nobody", "gid": None}},
                       threshold=2.0, kill_time=1.0, min_restart_delay=0.5, max_restart_delay=60,
                       name="procs"),
    ]


def test_every_service_rebuilds_from_its_persist_state(tmp_path: Path) -> None:
    for service in every_service(tmp_path):
        state = service.persist_state()
        assert set(state) == set(type(service).persist_fields)
        rebuilt = type(service)(**state)
        assert describe(rebuilt) == describe(service)
        assert describe(pickle.loads(pickle.dumps(service))) == describe(service)


def test_persist_state_holds_plain_values_only(tmp_path: Path) -> None:
    timer = TimerService(1, record_tick, args=["x"], kwargs=None)
    assert timer.persist_state()["args"] == ("x",) and timer.persist_state()["kwargs"] == {}
    unix = every_service(tmp_path)[3]
    assert describe(unix)["mode"] == 0o600
    assert os.fspath(unix.persist_state()["path"]).endswith("x.sock")


@pytest.mark.parametrize("suffix", [".tap", ".tas", ".tax"])
def test_every_service_survives_a_saved_application(tmp_path: Path, suffix: str) -> None:
    from tap2pkg.runtime import persist

    app = Application("everything", services=every_service(tmp_path))
    path = tmp_path / f"app{suffix}"
    persist.save(app, path)
    assert describe(persist.load(path)) == describe(app)
