"""TLS in a packaged service, under the unit's hardening, and the ports Twisted's examples state.

A Twisted app's TLS is pyOpenSSL, whose verify callback cffi makes in memory that is written and then run:
``MemoryDenyWriteExecute=yes`` makes every TLS server (``SSLServer``, ``listenSSL``, ``ssl:`` strports)
and HTTPS client fail with ``MemoryError: Cannot allocate write+execute memory for ffi.callback()``. So a
Twisted unit goes without it; a tapd unit keeps it, Python's own ``ssl`` module needing no such memory.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_twisted_container import failed, steps, verify

from tap2pkg.appfile import inspect
from tap2pkg.payload import Payload
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"

# An echo server over TLS on 8443, as in Twisted's SSL howto, with a key and certificate made at start.
# Port 8444 proves it from outside without a TLS client: each line sent there goes to 8443 through a
# Twisted TLS client and comes back as "tls echo: ..." (both ends of the handshake are pyOpenSSL's).
TLS_ECHO_TAC = '''\
from twisted.application import internet, service
from twisted.internet import protocol, reactor, ssl


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class Back(protocol.Protocol):
    def connectionMade(self):
        self.factory.front.attach(self)

    def dataReceived(self, data):
        self.factory.front.transport.write(b"tls echo: " + data)


class Front(protocol.Protocol):
    def connectionMade(self):
        self.back, self.pending = None, b""
        factory = protocol.ClientFactory.forProtocol(Back)
        factory.front = self
        reactor.connectSSL("127.0.0.1", 8443, factory, ssl.CertificateOptions())

    def attach(self, back):
        self.back = back
        back.transport.write(self.pending)

    def dataReceived(self, data):
        if self.back is None:
            self.pending += data
        else:
            self.back.transport.write(data)

    def connectionLost(self, reason):
        if self.back is not None:
            self.back.transport.loseConnection()


key = ssl.KeyPair.generate(size=2048)
cert = key.selfSignedCert(1, commonName="localhost")
application = service.Application("tlsecho")
echo = protocol.ServerFactory.forProtocol(Echo)
internet.SSLServer(8443, echo, cert.options()).setServiceParent(application)
internet.TCPServer(8444, protocol.ServerFactory.forProtocol(Front)).setServiceParent(application)
'''


def unit(runtime: str) -> str:
    spec = PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python", runtime=runtime,
                       maintainer=MAINTAINER, ports=(8443,), source_date_epoch=1700000000)
    return next(f.data.decode() for f in Payload.for_spec(spec, "debian").service_files() if f.role == "unit")


def test_a_twisted_unit_allows_the_memory_pyopenssl_needs_a_tapd_unit_does_not() -> None:
    twisted, tapd = unit("twisted"), unit("tapd")
    assert "MemoryDenyWriteExecute=yes" not in twisted
    assert "MemoryDenyWriteExecute" in twisted and "pyOpenSSL" in twisted  # a comment says why
    assert "MemoryDenyWriteExecute=yes" in tapd
    # the rest of the hardening is the same
    rest = {line for line in tapd.splitlines() if "=" in line and not line.startswith(("#", "ExecStart"))}
    assert rest - set(twisted.splitlines()) == {"MemoryDenyWriteExecute=yes"}


def test_the_tls_example_states_both_its_ports(tmp_path: Path) -> None:
    app = tmp_path / "tlsecho.tac"
    app.write_text(TLS_ECHO_TAC)
    assert inspect(app).ports == (8443, 8444)  # connectSSL is a client


# --- server descriptions as dict values (conch's manhole demo) ---------------------------------------------

MANHOLE_TAC = '''\
from twisted.application import service
from twisted.conch import manhole_tap
application = service.Application("TAC Demo")
manhole_tap.makeService({"telnetPort": "tcp:6023", "sshPort": "tcp:6022", "namespace": {"foo": "bar"},
                         "passwd": "passwd"}).setServiceParent(application)
'''


@pytest.mark.parametrize(("text", "ports"), [
    (MANHOLE_TAC, (6022, 6023)),
    (MANHOLE_TAC.split("manhole_tap.makeService")[0]
     + "options = dict(telnetPort='ssl:port=6023:privateKey=k.pem', sshPort=None, passwd='p')\n", (6023,)),
    # a client's description names its host: where it connects, not where it listens
    (MANHOLE_TAC.split("manhole_tap.makeService")[0]
     + "CONFIG = {'upstream': 'tcp:host=example.org:port=80', 'backup': 'tcp:example.org:8080', "
     "'socket': 'unix:/run/x.sock', 'name': 'tcp', 'count': 'tcp:0'}\n", ()),
])
def test_server_descriptions_in_dict_values_are_ports(text: str, ports: tuple[int, ...],
                                                      tmp_path: Path) -> None:
    app = tmp_path / "demo.tac"
    app.write_text(text)
    assert inspect(app).ports == ports


def test_conchs_manhole_demo_listens_on_its_telnet_and_ssh_ports(twisted_docs: Path) -> None:
    assert inspect(twisted_docs / "docs/conch/examples/demo.tac").ports == (6022, 6023)


# --- in containers --------------------------------------------------------------------------------------

#: a TLS handshake with Python's own ssl module, both ends, in one process; prints the echo and the version
STDLIB_TLS = '''\
import socket, ssl, sys, threading
server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server.load_cert_chain(sys.argv[1])
client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
client.load_verify_locations(sys.argv[1])
listener = socket.create_server(("127.0.0.1", 0))
def serve():
    conn, _ = listener.accept()
    with server.wrap_socket(conn, server_side=True) as tls:
        tls.sendall(tls.recv(100))
threading.Thread(target=serve).start()
with client.wrap_socket(socket.create_connection(listener.getsockname()), server_hostname="localhost") as tls:
    tls.sendall(b"hello tls")
    print(tls.recv(100).decode(), tls.version())
'''


@pytest.mark.container
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")
def test_pythons_own_ssl_works_under_memory_deny_write_execute(client: Any, images: dict[str, str],
                                                              tmp_path: Path) -> None:
    """What a tapd app's TLS uses (asyncio on the ssl module) needs no write+execute memory: its units
    keep MemoryDenyWriteExecute=yes."""
    from tap2pkg.verify import VerifyContainer

    pem = tmp_path / "both.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pem),
                    "-out", str(tmp_path / "cert.pem"), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    pem.write_text(pem.read_text() + (tmp_path / "cert.pem").read_text())
    with VerifyContainer(client, images["debian:bookworm"]) as box:
        path = box.put_file(pem, "/tmp/tls")
        box.run(["chmod", "644", path])
        result = box.run(["systemd-run", "--wait", "--pipe", "--quiet", "-p", "MemoryDenyWriteExecute=yes",
                          "-p", "User=nobody", "-p", "SystemCallFilter=@system-service",
                          "python3", "-c", STDLIB_TLS, path])
        assert result.ok and "hello tls TLSv1.3" in result.output, result.output


@pytest.mark.container
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is needed")
def test_a_twisted_tls_server_runs_packaged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SSLServer with a certificate made at start, and a Twisted TLS client of it, under the packaged unit
    (and the init script): the relay's answer proves a full handshake in the service."""
    app = tmp_path / "tlsecho.tac"
    app.write_text(TLS_ECHO_TAC)
    code, document, err = verify(app, "--port=8444", "--probe-send=hello tls\\n",
                                 "--probe-expect=tls echo: hello tls", capsys=capsys)
    assert code == 0, failed(document) or err
    runs = document["runs"]
    assert {(r["distro"], r["init"]) for r in runs} == {("debian:bookworm", "systemd"),
                                                       ("debian:bookworm", "sysvinit"),
                                                       ("rpm-on-debian", "systemd")}
    for run in runs:
        assert set(steps(run).values()) == {"pass"}, (run["distro"], run["init"], steps(run))
