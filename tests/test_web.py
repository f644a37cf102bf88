"""The ``web`` plugin: a real server on 127.0.0.1 answering real HTTP clients."""

from __future__ import annotations

import email.utils
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import loop_factories, running

from tap2pkg.runtime.internet import TCPServer
from tap2pkg.runtime.plugins import get_plugins

DATA = Path(__file__).parent / "data" / "web"






@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    shutil.copytree(DATA, root)
    (tmp_path / "secret.txt").write_text("top secret\n")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "inside").symlink_to(root / "notes.txt")
    os.mkfifo(root / "pipe")
    return root


def start_web(root: Path, *extra: str) -> TCPServer:
    maker = get_plugins()["web"]
    service = maker.make_service(maker.parse_options(["--port", "0", "--interface", "127.0.0.1",
                                                      "--path", str(root), *extra]))
    assert isinstance(service, TCPServer)
    return service


@pytest.fixture(params=loop_factories())
def web(site: Path, request: pytest.FixtureRequest) -> Iterator[int]:
    with running(start_web(site), request.param) as service:
        assert service.bound_port
        yield service.bound_port


def port_of(service: TCPServer) -> int:
    assert service.bound_port is not None
    return service.bound_port


def get(port: int, path: str, method: str = "GET",
        headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def raw(port: int, data: bytes) -> bytes:
    """Send ``data`` and read everything until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_get_serves_index_html_with_headers(web: int) -> None:
    response, body = get(web, "/")
    assert response.status == 200
    assert body == (DATA / "index.html").read_bytes()
    assert response.getheader("Content-Type") == "text/html"
    assert response.getheader("Content-Length") == str(len(body))
    assert response.getheader("Server") == "tapd"
    assert email.utils.parsedate_to_datetime(response.getheader("Date", ""))
    mtime = email.utils.parsedate_to_datetime(response.getheader("Last-Modified", "")).timestamp()
    assert int(mtime) == int((DATA / "index.html").stat().st_mtime)


def test_head_has_headers_but_no_body(web: int) -> None:
    response, body = get(web, "/notes.txt", method="HEAD")
    assert response.status == 200
    assert body == b""
    assert response.getheader("Content-Length") == str((DATA / "notes.txt").stat().st_size)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/style.css", "text/css"), ("/notes.txt", "text/plain"),
    ("/data.unknownext", "application/octet-stream"),
])
def test_content_types(web: int, path: str, content_type: str) -> None:
    response, body = get(web, path)
    assert response.status == 200
    assert response.getheader("Content-Type") == content_type
    assert body == (DATA / path.lstrip("/")).read_bytes()


def test_other_methods_get_405_with_allow(web: int) -> None:
    response, _ = get(web, "/", method="POST")
    assert response.status == 405
    assert response.getheader("Allow") == "GET, HEAD"


def test_missing_file_is_404(web: int) -> None:
    assert get(web, "/nothing-here.html")[0].status == 404


def test_directory_without_slash_redirects(web: int) -> None:
    response, _ = get(web, "/docs?x=1")
    assert response.status == 301
    assert response.getheader("Location") == "/docs/?x=1"
    response, body = get(web, "/docs/")
    assert response.status == 200 and b"docs index" in body


def test_directory_without_index_is_forbidden_unless_listing(site: Path) -> None:
    with running(start_web(site)) as service:
        assert get(port_of(service), "/noindex/")[0].status == 403
    with running(start_web(site, "--listing")) as service:
        response, body = get(port_of(service), "/noindex/")
        assert response.status == 200 and b'href="readme.txt"' in body


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/docs/../../secret.txt", "/%2E%2E%2Fsecret.txt",
    "/docs%2f..%2f..%2fsecret.txt", "/escape", "/./../secret.txt",
])
def test_never_serves_outside_the_root(web: int, target: str) -> None:
    reply = raw(web, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    status = int(reply.split(b" ", 2)[1])
    assert status in (403, 404)
    assert b"top secret" not in reply


def test_symlink_inside_the_root_is_served(web: int) -> None:
    response, body = get(web, "/inside")
    assert response.status == 200 and body == b"plain text\n"


def test_fifo_is_forbidden(web: int) -> None:
    assert get(web, "/pipe")[0].status == 403


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_forbidden(site: Path) -> None:
    (site / "notes.txt").chmod(0)
    with running(start_web(site)) as service:
        assert get(port_of(service), "/notes.txt")[0].status == 403


TAPD = Path(sys.executable).parent / "tapd"


@pytest.mark.skipif(os.geteuid() != 0 or not TAPD.exists(), reason="needs root (to become nobody) and tapd")
def test_unreadable_file_is_forbidden_for_a_daemon_running_as_nobody() -> None:
    root = Path(tempfile.mkdtemp(prefix="tap2pkg-web-"))  # /tmp: reachable by nobody, unlike pytest's tmp
    try:
        root.chmod(0o755)
        (root / "public.txt").write_text("for everyone\n")
        (root / "public.txt").chmod(0o644)
        (root / "private.txt").write_text("root only\n")
        (root / "private.txt").chmod(0o600)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = subprocess.Popen([str(TAPD), "-n", "--pidfile", "", "-u", "nobody", "-l", "-", "web",
                                 "--port", str(port), "--interface", "127.0.0.1", "--path", str(root)],
                                cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 15
            while True:
                assert proc.poll() is None, proc.communicate()[0].decode()
                try:
                    response, body = get(port, "/public.txt")
                    break
                except OSError:
                    assert time.monotonic() < deadline, "tapd did not start listening"
                    time.sleep(0.05)
            assert response.status == 200 and body == b"for everyone\n"
            response, body = get(port, "/private.txt")
            assert response.status == 403 and b"root only" not in body
        finally:
            proc.terminate()
            proc.wait(15)
    finally:
        shutil.rmtree(root)


def test_keep_alive_serves_two_requests_on_one_connection(web: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", web, timeout=5)
    conn.request("GET", "/notes.txt")
    first = conn.getresponse()
    assert first.read() == b"plain text\n"
    sock = conn.sock
    conn.request("GET", "/style.css")
    second = conn.getresponse()
    assert second.status == 200 and second.read() == (DATA / "style.css").read_bytes()
    assert conn.sock is sock  # http.client would have reconnected had the server closed
    conn.close()


def test_pipelined_requests_are_answered_in_order(web: int) -> None:
    reply = raw(web, b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"HEAD /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200 OK") == 2
    assert reply.index(b"plain text") < reply.index(b"Content-Type: text/css")
    assert reply.endswith(b"\r\n\r\n")  # HEAD: no body, then the server closed


def test_http10_closes_unless_keep_alive(web: int) -> None:
    reply = raw(web, b"GET /notes.txt HTTP/1.0\r\n\r\n")  # raw() returns only once the server closes
    assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(b"plain text\n")
    assert b"Connection: close" in reply
    with socket.create_connection(("127.0.0.1", web), timeout=5) as sock:
        sock.sendall(b"GET /notes.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        data = b""
        while not data.endswith(b"plain text\n"):
            data += sock.recv(65536)
        assert b"Connection: keep-alive" in data
        sock.sendall(b"GET /notes.txt HTTP/1.0\r\n\r\n")
        assert b"200 OK" in sock.recv(65536)


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"GET relative HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /%ff HTTP/1.1\r\nHost: x\r\n\r\n",
])
def test_malformed_requests_get_400(web: int, request_bytes: bytes) -> None:
    assert raw(web, request_bytes).startswith(b"HTTP/1.1 400 ")


def test_oversized_request_head_is_refused(web: int) -> None:
    reply = raw(web, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 70000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_if_modified_since_gives_304(web: int) -> None:
    response, _ = get(web, "/notes.txt")
    since = response.getheader("Last-Modified", "")
    response, body = get(web, "/notes.txt", headers={"If-Modified-Since": since})
    assert response.status == 304 and body == b""


def test_idle_connection_is_closed(site: Path) -> None:
    with running(start_web(site, "--timeout", "0.2")) as service:
        with socket.create_connection(("127.0.0.1", port_of(service)), timeout=5) as sock:
            assert sock.recv(100) == b""  # closed by the server, not by our 5 s timeout


def test_request_body_is_skipped_and_the_connection_kept(web: int) -> None:
    reply = raw(web, b"GET /notes.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                     b"GET /notes.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200 OK") == 2


@pytest.mark.parametrize("length", [b"-1", b"abc", b"\xb2"])
def test_bad_content_length_gets_400(web: int, length: bytes) -> None:
    assert raw(web, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n").startswith(
        b"HTTP/1.1 400 ")


def test_other_http_versions_get_505(web: int) -> None:
    assert raw(web, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 505 ")


def test_client_leaving_mid_body_does_not_hurt_the_server(web: int, caplog: pytest.LogCaptureFixture) -> None:
    with socket.create_connection(("127.0.0.1", web), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part")
    assert get(web, "/notes.txt")[0].status == 200
    assert "Traceback" not in caplog.text
