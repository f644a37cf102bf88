"""The RPM payload: a cpio archive in the "newc" (SVR4, ``070701``) format.

Names carry the ``./`` prefix rpm expects (``rpmlib(PayloadFilesHavePrefix)``);
owners are left at 0 because rpm takes them from the header's user and group
names; every entry gets the inode number the header gives it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class CpioMember:
    """One archive entry: its path (without ``./``), mode bits with file type, inode, mtime, data."""

    path: str
    mode: int
    inode: int
    mtime: int
    data: bytes = b""
    nlink: int = 1


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _entry(name: str, mode: int, inode: int, mtime: int, nlink: int, data: bytes) -> bytes:
    raw_name = name.encode() + b"\0"
    fields = (inode, mode, 0, 0, nlink, mtime, len(data), 0, 0, 0, 0, len(raw_name), 0)
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + raw_name
    return head + _pad4(len(head)) + data + _pad4(len(data))


def cpio_pieces(members: list[CpioMember]) -> Iterator[bytes]:
    """The newc archive as pieces: each header with its name, each file's data and its padding, the
    trailer. A file's data is a piece of its own, the same bytes as in the source tarball, so
    :func:`~tap2pkg.rpm.deflate.gzip_pieces` deflates it once for both."""
    for m in members:
        raw_name = b"./" + m.path.lstrip("/").encode() + b"\0"
        fields = (m.inode, m.mode, 0, 0, m.nlink, m.mtime, len(m.data), 0, 0, 0, 0, len(raw_name), 0)
        head = b"070701" + b"".join(b"%08X" % f for f in fields) + raw_name
        yield head + _pad4(len(head))
        if m.data:
            yield m.data
            yield _pad4(len(m.data))
    yield _entry(TRAILER, 0, 0, 0, 1, b"")


def write_cpio(members: list[CpioMember]) -> bytes:
    """Return the whole uncompressed newc archive, trailer included."""
    return b"".join(cpio_pieces(members))


def read_cpio(blob: bytes) -> list[CpioMember]:
    """Parse a newc archive (as written by :func:`write_cpio` or rpmbuild) into members."""
    members: list[CpioMember] = []
    pos = 0
    while True:
        if blob[pos:pos + 6] not in (b"070701", b"070702"):
            raise ValueError(f"bad cpio magic at offset {pos}")
        fields = [int(blob[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = fields[11], fields[6]
        name_start = pos + 110
        name = blob[name_start:name_start + namesize - 1].decode()
        pos = name_start + namesize
        pos += -pos % 4
        data = blob[pos:pos + filesize]
        pos += filesize
        pos += -pos % 4
        if name == TRAILER:
            return members
        members.append(CpioMember(name.removeprefix("./"), fields[1], fields[0], fields[5], data, fields[4]))
