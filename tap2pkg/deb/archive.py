"""Reproducible archives in pure Python: tar (gzip/xz/none) and ``ar``.

Every member is owned by root:root (uid/gid 0), members are written in the
order given (callers sort them), every mtime is the one ``mtime`` passed in
(the build time), gzip headers carry mtime 0 and no file
name, and xz runs single-threaded with a fixed preset, so the same input
always gives the same bytes.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

#: Compressions a tar member stream may use, and the suffix each adds.
COMPRESSIONS = {"xz": ".xz", "gzip": ".gz", "none": ""}


@dataclass(frozen=True)
class TarMember:
    """A file (``data`` set) or directory (``data`` None) to put in a tar archive."""

    name: str
    mode: int
    data: bytes | None = None


def tar_bytes(members: list[TarMember], mtime: int) -> bytes:
    """An uncompressed GNU tar of ``members``, all root:root with mtime ``mtime``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.mode = member.mode
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if member.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(member.data)
                tar.addfile(info, io.BytesIO(member.data))
    return buf.getvalue()


#: xz effort: preset 3 compresses a package's Python payload within a few per cent of
#: preset 6 at a fraction of the time (preset 6 dominated the native build's wall time).
XZ_PRESET = 3


def _xz_dict_size(size: int) -> int:
    # A dictionary larger than the input buys nothing and costs set-up time;
    # it depends only on the input size, so the output stays reproducible.
    dict_size = 1 << 16
    while dict_size < size and dict_size < (1 << 23):
        dict_size <<= 1
    return dict_size


def compress(data: bytes, compression: str) -> bytes:
    """``data`` compressed reproducibly with ``"xz"``, ``"gzip"`` or ``"none"``."""
    if compression == "xz":
        filters = [{"id": lzma.FILTER_LZMA2, "preset": XZ_PRESET, "dict_size": _xz_dict_size(len(data))}]
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, filters=filters)
    if compression == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


def ar_bytes(members: list[tuple[str, bytes]], mtime: int) -> bytes:
    """A System V ``ar`` archive (as ``dpkg-deb`` writes) of ``(name, data)`` pairs."""
    out = [b"!<arch>\n"]
    for name, data in members:
        header = f"{name:<16}{mtime:<12}{0:<6}{0:<6}{0o100644:<8o}{len(data):<10}`\n".encode("ascii")
        assert len(header) == 60, name
        out.append(header)
        out.append(data)
        if len(data) % 2:
            out.append(b"\n")
    return b"".join(out)


def normalize_modes(root: Path) -> None:
    """Give every directory under ``root`` mode 0755 and every file 0644 (0755 when its owner may run it).

    ``dpkg-source`` archives the tree with the modes it finds, so without this the ``.debian.tar.xz`` (and
    the ``.dsc`` naming its checksum) would change with the umask of whoever wrote or edited the tree.
    Links are left alone (their mode means nothing), and not followed.
    """
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                os.chmod(path, 0o755 if st.st_mode & stat.S_IXUSR else 0o644)
