"""RPM header structures: the tag numbers, the typed index and its data store.

An RPM header is an 8-byte magic, the index length and data length, then one
16-byte index entry per tag (tag, type, offset, count) and the data store. The
first entry is a *region* tag whose trailer marks every tag as part of the
immutable, digested header. This module writes such headers and reads them back
(the reader is what the tests and the equivalence checks use).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

HEADER_MAGIC = b"\x8e\xad\xe8\x01\x00\x00\x00\x00"

# Tag data types (rpmTagType)
NULL, CHAR, INT8, INT16, INT32, INT64, STRING, BIN, STRING_ARRAY, I18NSTRING = range(10)

_ALIGN = {INT16: 2, INT32: 4, INT64: 8}
_INT_FORMAT = {CHAR: "B", INT8: "B", INT16: "H", INT32: "I", INT64: "Q"}

# Region tags
HEADERSIGNATURES = 62
HEADERIMMUTABLE = 63
HEADERI18NTABLE = 100

# Signature header tags
SIG_SHA1 = 269
SIG_SHA256 = 273
SIG_SIZE = 1000
SIG_MD5 = 1004
SIG_PAYLOADSIZE = 1007
SIG_RESERVEDSPACE = 1008

# Main header tags (rpmtag.h)
NAME, VERSION, RELEASE = 1000, 1001, 1002
SUMMARY, DESCRIPTION, BUILDTIME, BUILDHOST = 1004, 1005, 1006, 1007
SIZE = 1009
LICENSE, PACKAGER, GROUP, URL, OS, ARCH = 1014, 1015, 1016, 1020, 1021, 1022
PREIN, POSTIN, PREUN, POSTUN = 1023, 1024, 1025, 1026
FILESIZES, FILEMODES, FILERDEVS, FILEMTIMES = 1028, 1030, 1033, 1034
FILEDIGESTS, FILELINKTOS, FILEFLAGS = 1035, 1036, 1037
FILEUSERNAME, FILEGROUPNAME = 1039, 1040
SOURCERPM, FILEVERIFYFLAGS = 1044, 1045
PROVIDENAME, REQUIREFLAGS, REQUIRENAME, REQUIREVERSION = 1047, 1048, 1049, 1050
CHANGELOGTIME, CHANGELOGNAME, CHANGELOGTEXT = 1080, 1081, 1082
PREINPROG, POSTINPROG, PREUNPROG, POSTUNPROG = 1085, 1086, 1087, 1088
RPMVERSION = 1064
FILEDEVICES, FILEINODES, FILELANGS = 1095, 1096, 1097
PROVIDEFLAGS, PROVIDEVERSION = 1112, 1113
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
OPTFLAGS, PAYLOADFORMAT, PAYLOADCOMPRESSOR, PAYLOADFLAGS = 1122, 1124, 1125, 1126
PLATFORM = 1132
FILECOLORS = 1140
SOURCEPACKAGE = 1106
FILEDIGESTALGO = 5011
ENCODING = 5062
PAYLOADDIGEST, PAYLOADDIGESTALGO = 5092, 5093
PAYLOADDIGESTALT = 5097

PGPHASHALGO_SHA256 = 8

Value = str | bytes | list[str] | list[int]


@dataclass(frozen=True)
class Entry:
    """One tag of a header: its number, data type and value."""

    tag: int
    type: int
    value: Value


def _count_and_data(entry: Entry) -> tuple[int, bytes]:
    value = entry.value
    if entry.type in (STRING, I18NSTRING) and isinstance(value, str):
        return 1, value.encode() + b"\0"
    if entry.type == STRING_ARRAY and isinstance(value, list):
        return len(value), b"".join(str(s).encode() + b"\0" for s in value)
    if entry.type == BIN and isinstance(value, bytes):
        return len(value), value
    if entry.type in _INT_FORMAT and isinstance(value, list):
        fmt = ">" + _INT_FORMAT[entry.type] * len(value)
        return len(value), struct.pack(fmt, *value)
    raise TypeError(f"tag {entry.tag}: value {value!r} does not fit type {entry.type}")


def build_header(entries: Iterable[Entry], region_tag: int = HEADERIMMUTABLE) -> bytes:
    """Serialise ``entries`` as one immutable header region (sorted by tag, data in index order)."""
    ordered = sorted(entries, key=lambda e: e.tag)
    index: list[bytes] = []
    store = bytearray()
    total = len(ordered) + 1  # plus the region tag
    for entry in ordered:
        count, data = _count_and_data(entry)
        align = _ALIGN.get(entry.type, 1)
        store += b"\0" * (-len(store) % align)
        index.append(struct.pack(">4I", entry.tag, entry.type, len(store), count))
        store += data
    # The region trailer: a copy of the region entry whose offset is minus the index size.
    trailer_offset = len(store)
    store += struct.pack(">IIiI", region_tag, BIN, -16 * total, 16)
    region = struct.pack(">4I", region_tag, BIN, trailer_offset, 16)
    return HEADER_MAGIC + struct.pack(">II", total, len(store)) + region + b"".join(index) + bytes(store)


def parse_header(blob: bytes, start: int = 0) -> tuple[dict[int, Value], int]:
    """Read the header at ``blob[start:]``; return ``{tag: value}`` and the offset just after it."""
    if blob[start:start + 8] != HEADER_MAGIC:
        raise ValueError(f"no RPM header magic at offset {start}")
    count, size = struct.unpack_from(">II", blob, start + 8)
    base = start + 16 + 16 * count
    tags: dict[int, Value] = {}
    for i in range(count):
        tag, typ, offset, n = struct.unpack_from(">4I", blob, start + 16 + 16 * i)
        pos = base + offset
        if typ in (STRING, I18NSTRING):
            tags[tag] = blob[pos:blob.index(b"\0", pos)].decode()
        elif typ == STRING_ARRAY:
            strings: list[str] = []
            for _ in range(n):
                end = blob.index(b"\0", pos)
                strings.append(blob[pos:end].decode())
                pos = end + 1
            tags[tag] = strings
        elif typ == BIN:
            tags[tag] = blob[pos:pos + n]
        elif typ in _INT_FORMAT:
            fmt = ">" + _INT_FORMAT[typ] * n
            tags[tag] = list(struct.unpack_from(fmt, blob, pos))
    return tags, base + size


def read_package_header(path: Path) -> dict[int, Value]:
    """The main header of the ``.rpm`` at ``path`` (after the lead and the padded signature), read alone."""
    with path.open("rb") as fh:
        fh.seek(96)  # the lead
        for padded in (True, False):  # the signature header, then the main one
            start = fh.read(16)
            if len(start) < 16 or start[:8] != HEADER_MAGIC:
                raise ValueError(f"{path}: not an RPM package")
            count, size = struct.unpack_from(">II", start, 8)
            blob = start + fh.read(16 * count + size)
            if padded:
                fh.seek(-len(blob) % 8, 1)
    return parse_header(blob)[0]


def entries_from(mapping: Mapping[int, tuple[int, Value]]) -> list[Entry]:
    """Turn ``{tag: (type, value)}`` into a list of :class:`Entry`."""
    return [Entry(tag, typ, value) for tag, (typ, value) in mapping.items()]
