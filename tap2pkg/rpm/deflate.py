"""gzip output assembled from independently compressed pieces, so shared content is compressed once.

A batch of packages carries the same bundled runtime many times over. Each
large piece (a file's data) is deflated on its own, ending with a full flush
(byte-aligned, no back-references across the boundary), and cached by
content; the small pieces between them (archive headers) are compressed
fresh, by one stream that is fully flushed wherever a cached piece goes in.
Concatenated, the pieces form one valid deflate stream (the technique
``pigz`` uses), wrapped as a single gzip member with the CRC-32 and size of
the whole input. The output depends only on the input, never on the cache.

The cache lives in memory for one process: a batch (one ``tap2rpm`` call
for many apps) deflates the bundled runtime once.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

#: pieces at least this long are cached; smaller ones join the fresh stream
CACHE_MIN = 1024
#: bound on the cache's size (pieces and their deflated bytes), so a long batch does not grow without end
CACHE_MAX_BYTES = 64 << 20

#: (level, piece) -> its deflated bytes; a piece is its own key (bytes keep their hash, and the
#: bundled runtime's pieces are the same objects in every package of a batch)
_cache: dict[tuple[int, bytes], bytes] = {}
_cache_bytes = 0


def _deflate(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def _cached_deflate(data: bytes, level: int) -> bytes:
    global _cache_bytes
    key = (level, data)
    hit = _cache.get(key)
    if hit is None:
        hit = _deflate(data, level)
        if _cache_bytes + len(data) + len(hit) > CACHE_MAX_BYTES:
            _cache.clear()
            _cache_bytes = 0
        _cache[key] = hit
        _cache_bytes += len(data) + len(hit)
    return hit


def gzip_pieces(pieces: Iterable[bytes], level: int = 6) -> bytes:
    """One gzip member (mtime 0) holding the concatenation of ``pieces``."""
    out: list[bytes] = []
    pending: list[bytes] = []
    crc = size = 0
    # the small pieces go through one stream, fully flushed before each cached piece (a full flush
    # also forgets the history, so no back-reference crosses it); one compressor, not one per run
    fresh = zlib.compressobj(level, zlib.DEFLATED, -15)
    for piece in pieces:
        crc = zlib.crc32(piece, crc)
        size += len(piece)
        if len(piece) >= CACHE_MIN:
            if pending:
                out.append(fresh.compress(b"".join(pending)) + fresh.flush(zlib.Z_FULL_FLUSH))
                pending = []
            out.append(_cached_deflate(piece, level))
        elif piece:
            pending.append(piece)
    out.append(fresh.compress(b"".join(pending)) + fresh.flush(zlib.Z_FINISH))
    xfl = 2 if level == 9 else 4 if level == 1 else 0
    head = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + bytes([xfl, 255])
    return head + b"".join(out) + struct.pack("<II", crc, size & 0xFFFFFFFF)
