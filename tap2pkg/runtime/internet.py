"""Built-in network services on asyncio: servers, periodic calls and a reconnecting client.

* :class:`TCPServer`, :class:`UDPServer`, :class:`UNIXServer` -- listen and hand
  each connection (or, for UDP, every datagram) to a protocol made by ``factory``,
  a zero-argument callable such as ``Factory(EchoProtocol)`` or a :class:`Ref`.
  Sockets are bound in ``privileged_start()`` so that ports below 1024 are
  taken before the daemon drops root; ``start()`` binds them itself when that
  step was skipped.
* :class:`~tap2pkg.runtime.timer.TimerService` (re-exported here) -- calls a
  function every ``interval`` seconds, never twice at once.
* :class:`~tap2pkg.runtime.client.ClientService` (re-exported here) -- keeps one
  connection to ``host:port`` open, reconnecting with backoff and jitter.
* :class:`~tap2pkg.runtime.process.ProcessService` (re-exported here) -- keeps
  child processes running.

Every class is persistable: ``cls(**service.persist_state())`` rebuilds it.

systemd socket activation
-------------------------
The daemon hands the listening sockets it inherited (``LISTEN_FDS``) to
:func:`register_activated_sockets` before the application starts. A server
whose kind, port and interface match one of them adopts it with
:func:`take_activated_socket` instead of binding its own: a ``TCPServer`` on
port 8000 with interface ``""`` takes an inherited listening TCP socket bound to
``0.0.0.0:8000`` or ``[::]:8000``; with interface ``"127.0.0.1"`` only one
bound to exactly that address. ``UDPServer`` and ``UNIXServer`` (kind
``"unix"``, matched by path) adopt sockets the same way. Each socket is adopted
at most once; :func:`unclaimed_activated_sockets` lists the ones nobody took.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
import weakref
from typing import TYPE_CHECKING, Any

from .addresses import check_factory as _check_factory
from .addresses import host_text, port_number
from .addresses import where as _where
from .errors import PermissionDeniedError, ServiceUnavailableError, brief
from .lazy import lazy_import
from .service import Service, persistable

if TYPE_CHECKING:
    import ipaddress

    from .client import ClientService
    from .process import ProcessService
    from .timer import TimerService
else:  # imported on first use: only socket activation needs it (tapd --chroot preloads it)
    ipaddress = lazy_import("ipaddress")

#: re-exported names, imported on first use so that a daemon that serves TCP does not load them
_LAZY = {"ClientService": "client", "ProcessService": "process", "TimerService": "timer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib  # kept here: PEP 562 offers these public names on first use (see _LAZY)
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __package__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

log = logging.getLogger("tap2pkg.internet")

__all__ = [
    "ClientService",
    "ProcessService",
    "TCPServer",
    "TimerService",
    "UDPServer",
    "UNIXServer",
    "register_activated_sockets",
    "take_activated_socket",
    "unclaimed_activated_sockets",
]

# --------------------------------------------------------------------------- socket activation

_activated: list[socket.socket] = []

_KINDS = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM, "unix": socket.SOCK_STREAM}


def register_activated_sockets(socks: list[socket.socket]) -> None:
    """Offer inherited sockets (systemd ``LISTEN_FDS``) to the servers about to start.

    Give ``socket.socket(fileno=fd)`` objects, so that their family and type
    are read from the descriptor; call this before ``privileged_start()``.
    """
    _activated.extend(socks)


def unclaimed_activated_sockets() -> list[socket.socket]:
    """The registered sockets no server has adopted (yet)."""
    return list(_activated)


def _host_matches(interface: str, address: str) -> bool:
    if interface in ("", "0.0.0.0", "::"):
        return address in ("0.0.0.0", "::")
    try:
        wanted = {ipaddress.ip_address(interface)}
    except ValueError:
        try:
            wanted = {ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(interface, None)}
        except (socket.gaierror, ValueError):
            return False
    try:
        return ipaddress.ip_address(address.split("%")[0]) in wanted
    except ValueError:
        return False


def _socket_matches(sock: socket.socket, kind: str, port: int | str, interface: str) -> bool:
    try:
        if sock.type != _KINDS[kind]:
            return False
        name = sock.getsockname()
        if kind == "unix":
            return sock.family == socket.AF_UNIX and name == str(port)
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or name[1] != port or port == 0:
            return False
        if kind == "tcp" and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return False
        return _host_matches(interface, name[0])
    except OSError:
        return False


def take_activated_socket(kind: str, port: int | str, interface: str = "") -> socket.socket | None:
    """Remove and return the registered socket for ``kind`` ("tcp", "udp" or "unix") at port/path.

    ``interface`` ``""`` matches a socket bound to the wildcard address; any
    other value must name the socket's address. ``None`` when nothing matches.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    for sock in _activated:
        if _socket_matches(sock, kind, port, interface):
            _activated.remove(sock)
            sock.setblocking(False)
            return sock
    return None


# --------------------------------------------------------------------------- binding


def _bind_error(what: str, exc: OSError) -> Exception:
    if exc.errno == errno.EADDRINUSE:
        return ServiceUnavailableError(f"cannot listen on {what}: address already in use "
                                       "(stop the other process or choose another port)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionDeniedError(
            f"cannot listen on {what}: permission denied (ports below 1024 need root; "
            "start the daemon as root or choose a port of 1024 or more)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ServiceUnavailableError(
            f"cannot listen on {what}: address not available on this machine (check the interface)")
    return ServiceUnavailableError(f"cannot listen on {what}: {exc.strerror or exc}")


def _is_ip_address(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address literal (no name to resolve)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return True
    return False


def _bind_inet(kind: str, port: int, interface: str, backlog: int = 100) -> socket.socket:
    """Bind (and for TCP, listen on) a non-blocking socket; errors name the address and the fix."""
    host = interface or "0.0.0.0"
    label = kind.upper()
    socktype = _KINDS[kind]
    try:
        # an IP address goes as bytes: a str would load the idna codec just to encode it
        infos = socket.getaddrinfo(host.encode("ascii") if _is_ip_address(host) else host, port,
                                   type=socktype, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServiceUnavailableError(
            f"cannot listen on {label} {_where(host, port)}: unknown interface {host!r} "
            f"({exc.strerror}); give an IP address of this machine") from None
    family, type_, proto, _, address = infos[0]
    sock = socket.socket(family, type_, proto)
    try:
        if kind == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        if kind == "tcp":
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise _bind_error(f"{label} {_where(host, port)}", exc) from None
    sock.setblocking(False)
    return sock


class _Handoff(asyncio.Protocol):
    """Records a new connection's transport, then gives the transport to the real protocol."""

    def __init__(self, inner: asyncio.BaseProtocol, transports: weakref.WeakSet[asyncio.BaseTransport]):
        self._inner = inner
        self._transports = transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The transport calls the real protocol directly from now on: no cost per read.
        self._transports.add(transport)
        transport.set_protocol(self._inner)
        self._inner.connection_made(transport)


async def _close_transports(transports: list[asyncio.BaseTransport], timeout: float) -> None:
    """Close transports, letting pending writes drain for at most ``timeout`` seconds."""
    for transport in transports:
        transport.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = [t for t in transports if isinstance(t, asyncio.WriteTransport)]
    while loop.time() < deadline and any(t.get_write_buffer_size() for t in pending):
        await asyncio.sleep(0.02)
    for transport in pending:
        if transport.get_write_buffer_size():
            transport.abort()
    await asyncio.sleep(0)  # let connection_lost callbacks run


# --------------------------------------------------------------------------- servers


class _StreamServer(Service):
    """What TCP and UNIX servers share: bind early, serve on start, close every connection on stop."""

    #: Seconds open connections get to flush their output on stop before they are aborted.
    stop_timeout: float = 5.0

    def __init__(self, factory: Any, backlog: int, name: str | None) -> None:
        super().__init__(name)
        self.factory = factory
        self.backlog = port_number(backlog, "backlog")
        self._sock: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None
        self._transports: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()

    @property
    def label(self) -> str:
        """How log lines and errors name this server."""
        raise NotImplementedError

    def _listen(self) -> socket.socket:
        raise NotImplementedError

    def _address(self) -> str:
        raise NotImplementedError

    async def privileged_start(self) -> None:
        await super().privileged_start()
        if self._sock is None:
            self._sock = self._listen()

    async def start(self) -> None:
        if self._sock is None:
            self._sock = self._listen()
        factory = _check_factory(self.factory, self.label)
        transports = self._transports

        def protocol_factory() -> asyncio.BaseProtocol:
            return _Handoff(factory(), transports)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(protocol_factory, sock=self._sock, backlog=self.backlog)
        await super().start()
        log.info("%s listening on %s", self.label, self._address())

    async def stop(self) -> None:
        await super().stop()
        server, self._server = self._server, None
        sock, self._sock = self._sock, None
        if server is not None:
            server.close()
            await _close_transports(list(self._transports), self.stop_timeout)
            try:
                await asyncio.wait_for(server.wait_closed(), self.stop_timeout)
            except TimeoutError:
                log.warning("%s: connections still open after %.1fs", self.label, self.stop_timeout)
        elif sock is not None:
            sock.close()


class _InetBound:
    """``bound_address`` and ``bound_port`` of a server holding its socket in ``_sock``."""

    _sock: socket.socket | None

    @property
    def bound_address(self) -> tuple[str, int] | None:
        """``(host, port)`` the socket is bound to; ``None`` before binding."""
        if self._sock is None:
            return None
        name = self._sock.getsockname()
        return (name[0], name[1])

    @property
    def bound_port(self) -> int | None:
        """The port actually bound (useful with ``port=0``); ``None`` before binding."""
        address = self.bound_address
        return None if address is None else address[1]


@persistable
class TCPServer(_InetBound, _StreamServer):
    """Listen on a TCP port; each connection gets a protocol from ``factory()``.

    ``interface`` ``""`` listens on every IPv4 address; give ``"::"`` for IPv6
    (and, as the system allows, IPv4 too) or one address of this machine.
    """

    persist_fields = ("port", "factory", "interface", "backlog", "name")

    def __init__(self, port: int, factory: Any, interface: str = "", backlog: int = 100,
                 name: str | None = None) -> None:
        super().__init__(factory, backlog, name)
        self.port = port_number(port)
        self.interface = host_text(interface)

    @property
    def label(self) -> str:
        """How log lines and errors name this server."""
        return self.name or f"TCP server on port {self.port}"

    def _address(self) -> str:
        address = self.bound_address
        return "TCP (not bound)" if address is None else f"TCP {_where(*address)}"

    def _listen(self) -> socket.socket:
        sock = take_activated_socket("tcp", self.port, self.interface)
        if sock is not None:
            log.info("%s: using the socket systemd passed for TCP %s", self.label,
                     _where(*sock.getsockname()[:2]))
            return sock
        return _bind_inet("tcp", self.port, self.interface, self.backlog)


@persistable
class UDPServer(_InetBound, Service):
    """Listen on a UDP port; one protocol from ``factory()`` receives every datagram."""

    persist_fields = ("port", "factory", "interface", "name")

    def __init__(self, port: int, factory: Any, interface: str = "", name: str | None = None) -> None:
        super().__init__(name)
        self.port = port_number(port)
        self.factory = factory
        self.interface = host_text(interface)
        self._sock: socket.socket | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self.protocol: asyncio.BaseProtocol | None = None

    @property
    def label(self) -> str:
        """How log lines and errors name this server."""
        return self.name or f"UDP server on port {self.port}"

    def _bind(self) -> socket.socket:
        sock = take_activated_socket("udp", self.port, self.interface)
        return sock if sock is not None else _bind_inet("udp", self.port, self.interface)

    async def privileged_start(self) -> None:
        await super().privileged_start()
        if self._sock is None:
            self._sock = self._bind()

    async def start(self) -> None:
        if self._sock is None:
            self._sock = self._bind()
        factory = _check_factory(self.factory, self.label)
        loop = asyncio.get_running_loop()
        self._transport, self.protocol = await loop.create_datagram_endpoint(factory, sock=self._sock)
        await super().start()
        log.info("%s listening on UDP %s", self.label, _where(*self._sock.getsockname()[:2]))

    async def stop(self) -> None:
        await super().stop()
        transport, self._transport = self._transport, None
        sock, self._sock = self._sock, None
        if transport is not None:
            transport.close()
            await asyncio.sleep(0)
        elif sock is not None:
            sock.close()


@persistable
class UNIXServer(_StreamServer):
    """Listen on a UNIX stream socket at ``path`` (created with ``mode``, removed on stop)."""

    persist_fields = ("path", "factory", "backlog", "mode", "name")

    def __init__(self, path: str, factory: Any, backlog: int = 100, mode: int = 0o660,
                 name: str | None = None) -> None:
        super().__init__(factory, backlog, name)
        if not isinstance(path, (str, os.PathLike)) or not str(path) or "\x00" in str(path):
            raise ValueError(f"path must be the socket's file name, got {brief(path)}")
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise ValueError(f"mode must be a file mode such as 0o660, got {brief(mode)}")
        self.path = str(path)
        self.mode = mode
        self._inode: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        """How log lines and errors name this server."""
        return self.name or f"UNIX server on {self.path}"

    def _clear_stale(self) -> None:
        what = f"cannot listen on UNIX socket {self.path}"
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ServiceUnavailableError(f"{what}: the path exists and is not a socket (move it away)")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.path)
        except (ConnectionRefusedError, FileNotFoundError):
            log.info("%s: removing stale socket %s", self.label, self.path)
            os.unlink(self.path)
            return
        except OSError:
            pass
        finally:
            probe.close()
        raise ServiceUnavailableError(
            f"{what}: another process is listening there (stop it or choose another path)")

    def _listen(self) -> socket.socket:
        sock = take_activated_socket("unix", self.path)
        if sock is not None:
            log.info("%s: using the socket systemd passed for %s", self.label, self.path)
            return sock
        self._clear_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bound = False
        try:
            sock.bind(self.path)
            bound = True
            os.chmod(self.path, self.mode)
            sock.listen(self.backlog)
        except OSError as exc:
            sock.close()
            if bound:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            raise ServiceUnavailableError(
                f"cannot listen on UNIX socket {self.path}: {exc.strerror or exc} "
                "(check that the directory exists and is writable)") from None
        st = os.stat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        sock.setblocking(False)
        return sock

    def _address(self) -> str:
        return self.path

    def _remove_socket_file(self) -> None:
        # Only our own socket: another instance may have replaced it meanwhile.
        try:
            st = os.lstat(self.path)
            if self._inode == (st.st_dev, st.st_ino):
                os.unlink(self.path)
        except OSError:
            pass
        self._inode = None

    async def stop(self) -> None:
        await super().stop()
        self._remove_socket_file()


# The periodic and client services live in their own modules; they are
# re-exported here because this is where users import services from.
