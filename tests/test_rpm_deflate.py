"""gzip assembled from separately deflated pieces reads back as the plain concatenation."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import pytest

from tap2pkg.rpm.deflate import gzip_pieces


def test_pieces_round_trip_and_same_bytes_with_a_warm_cache() -> None:
    shared = os.urandom(300) * 20  # compressible, over the cache threshold
    pieces = [b"header one", shared, b"", b"h2" * 10, shared, os.urandom(5000), b"tail"]
    first = gzip_pieces(pieces)
    assert gzip.decompress(first) == b"".join(pieces)
    assert gzip_pieces(pieces) == first  # cached pieces give the same output
    out = subprocess.run(["gzip", "-dc"], input=first, capture_output=True, check=True).stdout
    assert out == b"".join(pieces)  # the gzip tool agrees (CRC and size checked)


def test_no_pieces_is_an_empty_gzip() -> None:
    assert gzip.decompress(gzip_pieces([])) == b""


def test_a_later_process_reads_deflated_pieces_from_the_disk_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tap2pkg.rpm import deflate

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(deflate, "_cache", {})
    pieces = [b"head", os.urandom(200) * 30, b"tail"]
    first = gzip_pieces(pieces)
    assert len(list((tmp_path / "tap2pkg" / "deflate").iterdir())) == 1
    deflate._cache.clear()  # as in a new process: only the disk remembers
    real = deflate._deflate

    def small_only(data: bytes, level: int) -> bytes:
        assert len(data) < deflate.CACHE_MIN, "a cached piece was deflated again"
        return real(data, level)

    monkeypatch.setattr(deflate, "_deflate", small_only)
    assert gzip_pieces(pieces) == first
