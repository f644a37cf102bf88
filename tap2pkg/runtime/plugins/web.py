"""``web``: serve a directory of static files over HTTP/1.1.

``tapd -n web --port 8080 --path /srv/www`` answers GET and HEAD for the files
under ``/srv/www``: ``index.html`` for a directory (``/dir`` is redirected to
``/dir/`` first), a ``Content-Type`` guessed from the file name, ``304`` for an
unchanged file, ``403`` for what may not be read, ``404`` for what is not
there, ``405`` for other methods. Nothing outside the root is ever served:
``..`` segments, encoded slashes and symlinks leading out are refused.
Connections are kept alive (HTTP/1.1 unless ``Connection: close``; HTTP/1.0
only when asked), the request head is bounded and an idle connection is
closed after ``--timeout`` seconds. Each request is logged on the
``tap2pkg.web`` logger.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import html
import logging
import mimetypes
import os
import re
import stat
from urllib.parse import quote, unquote, urlsplit

from ..internet import TCPServer
from ..service import Factory, Service, persistable
from . import ServiceMaker

log = logging.getLogger("tap2pkg.web")

DEFAULT_PORT = 8080
#: Largest request head (request line plus headers) accepted, in bytes.
MAX_HEAD = 16 * 1024
#: Largest request body read and thrown away to keep a connection alive.
MAX_DISCARD = 1024 * 1024
CHUNK = 64 * 1024
SERVER = "tapd"
ALLOW = "GET, HEAD"

REASONS = {200: "OK", 301: "Moved Permanently", 304: "Not Modified", 400: "Bad Request",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           431: "Request Header Fields Too Large", 505: "HTTP Version Not Supported"}
#: Compressed files are served as what they are, not transparently decoded.
ENCODING_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2",
                  "xz": "application/x-xz", "compress": "application/x-compress",
                  "br": "application/x-brotli"}

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_DIGITS = re.compile(r"[0-9]{1,18}")


class _Reply(Exception):
    """Raised while resolving a request: answer with this status (and headers) instead."""

    def __init__(self, status: int, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers or []


@persistable
class HTTPProtocol(asyncio.StreamReaderProtocol):
    """One HTTP/1.1 connection serving the static files under ``root``."""

    def __init__(self, root: str, index: str = "index.html", listing: bool = False,
                 timeout: float = 60.0) -> None:
        self.root = os.path.realpath(root)
        self.index = index
        self.listing = listing
        self.timeout = timeout
        super().__init__(asyncio.StreamReader(limit=MAX_HEAD), self._serve)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = peer[0] if isinstance(peer, tuple) else str(peer)
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.timeout)
                except asyncio.LimitOverrunError:
                    await self._send_error(writer, client, "-", "GET", 431, False)
                    return
                except (asyncio.IncompleteReadError, TimeoutError):
                    return  # the client went away, or stayed idle too long
                if not await self._handle(head, reader, writer, client):
                    return
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            return  # the client went away mid-request, or stopped reading
        except Exception:  # one broken request must not take anything else down
            log.exception("web: failed to answer %s; connection closed", client)
        finally:
            writer.close()

    async def _handle(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      client: str) -> bool:
        """Answer one request; return whether the connection stays open."""
        lines = head[:-4].lstrip(b"\r\n").split(b"\r\n")
        request_line = lines[0].decode("latin-1")
        parts = request_line.split(" ")
        version = _VERSION.fullmatch(parts[2]) if len(parts) == 3 else None
        if version is None or not _TOKEN.fullmatch(parts[0]):
            return await self._send_error(writer, client, request_line, "GET", 400, False)
        method, target = parts[0], parts[1]
        if version.group(1) != "1":
            return await self._send_error(writer, client, request_line, method, 505, False)
        headers = _parse_headers(lines[1:])
        if headers is None:
            return await self._send_error(writer, client, request_line, method, 400, False)
        connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        keep = "close" not in connection if version.group(2) != "0" else "keep-alive" in connection
        if version.group(2) != "0" and "host" not in headers:
            return await self._send_error(writer, client, request_line, method, 400, False)
        # a body is read and dropped so the next request can be found;
        # one we cannot delimit ends the connection
        if "transfer-encoding" in headers:
            keep = False
        elif "content-length" in headers:
            length = headers["content-length"]
            if not _DIGITS.fullmatch(length):
                return await self._send_error(writer, client, request_line, method, 400, False)
            if int(length) > MAX_DISCARD:
                keep = False
            elif int(length):
                await asyncio.wait_for(reader.readexactly(int(length)), self.timeout)
        if method not in ("GET", "HEAD"):
            return await self._send_error(writer, client, request_line, method, 405, keep,
                                          [("Allow", ALLOW)])
        try:
            path, trailing_slash, query = _split_target(target)
            return await self._serve_path(writer, client, request_line, method, keep, path,
                                          trailing_slash, query, headers)
        except _Reply as reply:
            keep = keep and reply.status != 400  # after a malformed request, trust nothing that follows
            return await self._send_error(writer, client, request_line, method, reply.status, keep,
                                          reply.headers)

    def _locate(self, segments: list[str]) -> str:
        """The real file system path for URL ``segments``, never outside the root."""
        real = os.path.realpath(os.path.join(self.root, *segments))
        if real != self.root and not real.startswith(self.root.rstrip(os.sep) + os.sep):
            raise _Reply(403)  # a symlink that leads out of the root
        return real

    async def _serve_path(self, writer: asyncio.StreamWriter, client: str, request_line: str, method: str,
                          keep: bool, segments: list[str], trailing_slash: bool, query: str,
                          headers: dict[str, str]) -> bool:
        real = self._locate(segments)
        info = _stat(real)
        if stat.S_ISDIR(info.st_mode):
            if not trailing_slash:
                location = "/" + "/".join(quote(s) for s in segments) + "/" + (f"?{query}" if query else "")
                raise _Reply(301, [("Location", location)])
            index = os.path.join(real, self.index)
            if os.path.isfile(index):
                real = self._locate([*segments, self.index])
                info = _stat(real)
            elif self.listing:
                body = self._listing(real, segments)
                return await self._send(writer, client, request_line, method, 200, keep,
                                        [("Content-Type", "text/html; charset=utf-8")], body)
            else:
                raise _Reply(403)
        if not stat.S_ISREG(info.st_mode):
            raise _Reply(403)  # devices, FIFOs, sockets
        last_modified = email.utils.formatdate(info.st_mtime, usegmt=True)
        if _not_modified(headers.get("if-modified-since"), info.st_mtime):
            return await self._send(writer, client, request_line, method, 304, keep,
                                    [("Last-Modified", last_modified)], b"", length=False)
        try:
            file = open(real, "rb")  # closed by the with block below
        except PermissionError:
            raise _Reply(403) from None
        except OSError:
            raise _Reply(404) from None
        with file:
            size = os.fstat(file.fileno()).st_size
            mime, encoding = mimetypes.guess_type(real, strict=False)
            if encoding:
                mime = ENCODING_TYPES.get(encoding, "application/octet-stream")
            extra = [("Content-Type", mime or "application/octet-stream"), ("Last-Modified", last_modified)]
            writer.write(self._head(200, keep, extra, size))
            sent = 0
            if method == "GET":
                while sent < size:
                    chunk = file.read(min(CHUNK, size - sent))
                    if not chunk:
                        break
                    writer.write(chunk)
                    sent += len(chunk)
                    await asyncio.wait_for(writer.drain(), self.timeout)
                if sent < size:
                    keep = False  # the file shrank while being sent: the length promised is wrong
            await asyncio.wait_for(writer.drain(), self.timeout)
        log.info('%s "%s" %d %d', client, request_line, 200, sent)
        return keep

    def _listing(self, real: str, segments: list[str]) -> bytes:
        title = html.escape("/" + "/".join(segments) + ("/" if segments else ""))
        rows = []
        try:
            entries = sorted(os.scandir(real), key=lambda e: e.name)
        except OSError:
            raise _Reply(403) from None
        for entry in entries:
            suffix = "/" if entry.is_dir() else ""
            href, text = quote(entry.name) + suffix, html.escape(entry.name) + suffix
            rows.append(f'<li><a href="{href}">{text}</a></li>')
        parent = '<li><a href="../">../</a></li>' if segments else ""
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>Index of {title}</title></head>\n"
                f"<body><h1>Index of {title}</h1>\n<ul>\n{parent}{chr(10).join(rows)}\n</ul></body></html>\n"
                ).encode()

    def _head(self, status: int, keep: bool, headers: list[tuple[str, str]], length: int | None) -> bytes:
        lines = [f"HTTP/1.1 {status} {REASONS[status]}",
                 f"Date: {email.utils.formatdate(usegmt=True)}",
                 f"Server: {SERVER}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        lines.append("Connection: keep-alive" if keep else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(self, writer: asyncio.StreamWriter, client: str, request_line: str, method: str,
                    status: int, keep: bool, headers: list[tuple[str, str]], body: bytes,
                    length: bool = True) -> bool:
        writer.write(self._head(status, keep, headers, len(body) if length else None))
        if method != "HEAD" and body:
            writer.write(body)
        await asyncio.wait_for(writer.drain(), self.timeout)
        log.info('%s "%s" %d %d', client, request_line, status, 0 if method == "HEAD" else len(body))
        return keep

    async def _send_error(self, writer: asyncio.StreamWriter, client: str, request_line: str, method: str,
                          status: int, keep: bool, headers: list[tuple[str, str]] | None = None) -> bool:
        text = f"{status} {REASONS[status]}"
        body = (f"<!DOCTYPE html>\n<html><head><title>{text}</title></head>"
                f"<body><h1>{text}</h1></body></html>\n").encode()
        return await self._send(writer, client, request_line, method, status, keep,
                                [*(headers or []), ("Content-Type", "text/html; charset=utf-8")], body)


def _parse_headers(lines: list[bytes]) -> dict[str, str] | None:
    """Header fields by lower-cased name (repeats joined with ", "); ``None`` when malformed."""
    headers: dict[str, str] = {}
    for raw in lines:
        line = raw.decode("latin-1")
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):  # also refuses obsolete line folding
            return None
        name, value = name.lower(), value.strip(" \t")
        if name == "content-length" and name in headers and headers[name] != value:
            return None
        if name in headers and name != "content-length":
            headers[name] = f"{headers[name]}, {value}"
        else:
            headers[name] = value
    return headers


def _split_target(target: str) -> tuple[list[str], bool, str]:
    """Decoded path segments, whether the path ends in ``/``, and the query of a request target."""
    if target.startswith("/"):
        path, _, query = target.partition("?")
        path = path.partition("#")[0]
    elif target.lower().startswith(("http://", "https://")):
        parts = urlsplit(target)
        path, query = parts.path or "/", parts.query
    else:
        raise _Reply(400)
    segments = []
    for raw in path.split("/")[1:]:
        try:
            name = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise _Reply(400) from None
        if "\0" in name:
            raise _Reply(400)
        if "/" in name:
            raise _Reply(404)  # an encoded slash names no file
        if name == "..":
            raise _Reply(403)
        if name not in ("", "."):
            segments.append(name)
    return segments, path.endswith("/"), query


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except PermissionError:
        raise _Reply(403) from None
    except (OSError, ValueError):
        raise _Reply(404) from None


def _not_modified(since: str | None, mtime: float) -> bool:
    if not since:
        return False
    try:
        when = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    return when.tzinfo is not None and int(mtime) <= when.timestamp()


class WebMaker(ServiceMaker):
    """Builds a static file web server."""

    name = "web"
    description = "static web server: serves a directory over HTTP/1.1 (GET, HEAD, keep-alive)"

    def options_parser(self) -> argparse.ArgumentParser:
        parser = super().options_parser()
        parser.add_argument("-p", "--port", type=int, default=DEFAULT_PORT,
                            help=f"TCP port to listen on (default {DEFAULT_PORT})")
        parser.add_argument("-i", "--interface", default="", help="address to listen on (default: all)")
        parser.add_argument("--path", default=None,
                            help="document root to serve (default: the current directory), "
                                 "saved as an absolute path")
        parser.add_argument("--index", default="index.html",
                            help="file served for a directory (default index.html)")
        parser.add_argument("--listing", action="store_true",
                            help="list a directory that has no index file (default: 403)")
        parser.add_argument("--timeout", type=float, default=60.0,
                            help="seconds an idle connection stays open (default 60)")
        return parser

    def make_service(self, options: argparse.Namespace) -> Service:
        root = os.path.abspath(options.path or os.getcwd())
        if not os.path.isdir(root):
            log.warning("web: document root %s is not a directory here; every request will get 404", root)
        options_ = {"root": root, "index": options.index, "listing": options.listing,
                    "timeout": options.timeout}
        return TCPServer(options.port, Factory(HTTPProtocol, options_), interface=options.interface,
                         name="web")


maker = WebMaker()
