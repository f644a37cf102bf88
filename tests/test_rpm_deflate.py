"""gzip assembled from separately deflated pieces reads back as the plain concatenation."""

from __future__ import annotations

import gzip
import os
import subprocess

from tap2pkg.rpm.deflate import gzip_pieces


def test_pieces_round_trip_and_same_bytes_with_a_warm_cache() -> None:
    shared = os.urandom(300) * 20  # compressible, over the cache threshold
    small = b"a header like the next one " * 30  # under the threshold: deflated by the one fresh stream
    # the same small text on both sides of a cached piece: a back-reference across it would corrupt
    pieces = [b"header one", small, shared, b"", small, b"h2" * 10, shared, os.urandom(5000), small, b"tail"]
    first = gzip_pieces(pieces)
    assert gzip.decompress(first) == b"".join(pieces)
    assert gzip_pieces(pieces) == first  # cached pieces give the same output
    out = subprocess.run(["gzip", "-dc"], input=first, capture_output=True, check=True).stdout
    assert out == b"".join(pieces)  # the gzip tool agrees (CRC and size checked)


def test_no_pieces_is_an_empty_gzip() -> None:
    assert gzip.decompress(gzip_pieces([])) == b""
