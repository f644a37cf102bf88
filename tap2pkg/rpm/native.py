"""The native ``.rpm`` writer: a binary RPM built in pure Python, no rpm tools needed.

The file is four parts back to back: the 96-byte *lead*, the *signature header*
(sizes and the SHA-1/SHA-256 digests of the header, the MD5 of header and
payload) padded to 8 bytes, the *header* (every tag rpm needs to query, verify
and install the package) and the compressed cpio *payload*. ``rpm -K`` checks
every digest written here; the payload digest sits in the header itself.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import stat
import struct
from pathlib import Path

from ..runtime.errors import ConfigError, OutputError
from . import header as h
from .cpio import CpioMember, cpio_pieces
from .deflate import gzip_pieces
from .model import (
    FILE_CONFIG,
    SENSE_CONFIG,
    SENSE_EQUAL,
    SENSE_INTERP,
    SENSE_LESS,
    SENSE_RPMLIB,
    SENSE_SCRIPT_POST,
    SENSE_SCRIPT_POSTUN,
    SENSE_SCRIPT_PRE,
    SENSE_SCRIPT_PREUN,
    Dependency,
    RpmFile,
    RpmPackage,
)

RPM_VERSION = "4.18.0"
RESERVED_SPACE = 4128  # the room rpmbuild leaves for a later signature
COMPRESSORS = ("gzip", "xz")

_SCRIPT_TAGS = {
    "pre": (h.PREIN, h.PREINPROG, SENSE_SCRIPT_PRE),
    "post": (h.POSTIN, h.POSTINPROG, SENSE_SCRIPT_POST),
    "preun": (h.PREUN, h.PREUNPROG, SENSE_SCRIPT_PREUN),
    "postun": (h.POSTUN, h.POSTUNPROG, SENSE_SCRIPT_POSTUN),
}
_RPMLIB = SENSE_RPMLIB | SENSE_LESS | SENSE_EQUAL


def _lead(pkg: RpmPackage) -> bytes:
    name = f"{pkg.name}-{pkg.evr}".encode()[:65]
    # magic, format 3.0, binary type 0, arch 1, name, os 1 (Linux), signature type 5 (header-style)
    return struct.pack(">4sBBhh66shh16x", b"\xed\xab\xee\xdb", 3, 0, 0, 1, name, 1, 5)


def _requires(pkg: RpmPackage, compressor: str) -> list[Dependency]:
    deps = list(pkg.requires)
    if any(f.flags & FILE_CONFIG for f in pkg.files):
        deps.append(Dependency(f"config({pkg.name})", SENSE_EQUAL | SENSE_CONFIG, pkg.evr))
    for key, (_tag, _prog, sense) in _SCRIPT_TAGS.items():
        if key in pkg.scriptlets:
            deps.append(Dependency("/bin/sh", SENSE_INTERP | sense))
    deps += [Dependency("rpmlib(CompressedFileNames)", _RPMLIB, "3.0.4-1"),
             Dependency("rpmlib(FileDigests)", _RPMLIB, "4.6.0-1"),
             Dependency("rpmlib(PayloadFilesHavePrefix)", _RPMLIB, "4.0-1")]
    if compressor == "xz":
        deps.append(Dependency("rpmlib(PayloadIsXz)", _RPMLIB, "5.2-1"))
    if any(d.name.startswith("(") for d in pkg.requires):  # a rich dependency, (a or b)
        deps.append(Dependency("rpmlib(RichDependencies)", _RPMLIB, "4.12.0-1"))
    return sorted(set(deps))


def _provides(pkg: RpmPackage) -> list[Dependency]:
    deps = [*pkg.provides, Dependency(pkg.name, SENSE_EQUAL, pkg.evr)]
    if any(f.flags & FILE_CONFIG for f in pkg.files):
        deps.append(Dependency(f"config({pkg.name})", SENSE_EQUAL | SENSE_CONFIG, pkg.evr))
    return sorted(set(deps))


def _dep_entries(deps: list[Dependency], name_tag: int, flags_tag: int, version_tag: int) -> list[h.Entry]:
    return [h.Entry(name_tag, h.STRING_ARRAY, [d.name for d in deps]),
            h.Entry(flags_tag, h.INT32, [d.flags for d in deps]),
            h.Entry(version_tag, h.STRING_ARRAY, [d.version for d in deps])]


def _file_entries(files: list[RpmFile], mtime: int) -> list[h.Entry]:
    dirnames: list[str] = []
    dirindexes: list[int] = []
    for f in files:
        parent = os.path.dirname(f.path.rstrip("/")).rstrip("/") + "/"
        if parent not in dirnames:
            dirnames.append(parent)
        dirindexes.append(dirnames.index(parent))
    n = len(files)

    def size(f: RpmFile) -> int:
        return len(f.data) if stat.S_ISREG(f.mode) else len(f.target) if stat.S_ISLNK(f.mode) else 0

    return [
        h.Entry(h.FILESIZES, h.INT32, [size(f) for f in files]),
        h.Entry(h.FILEMODES, h.INT16, [f.mode for f in files]),
        h.Entry(h.FILERDEVS, h.INT16, [0] * n),
        h.Entry(h.FILEMTIMES, h.INT32, [mtime] * n),
        h.Entry(h.FILEDIGESTS, h.STRING_ARRAY,
                [hashlib.sha256(f.data).hexdigest() if stat.S_ISREG(f.mode) else "" for f in files]),
        h.Entry(h.FILELINKTOS, h.STRING_ARRAY, [f.target for f in files]),
        h.Entry(h.FILEFLAGS, h.INT32, [f.flags for f in files]),
        h.Entry(h.FILEUSERNAME, h.STRING_ARRAY, [f.user for f in files]),
        h.Entry(h.FILEGROUPNAME, h.STRING_ARRAY, [f.group for f in files]),
        h.Entry(h.FILEVERIFYFLAGS, h.INT32, [0xFFFFFFFF] * n),
        h.Entry(h.FILEDEVICES, h.INT32, [1] * n),
        h.Entry(h.FILEINODES, h.INT32, list(range(1, n + 1))),
        h.Entry(h.FILELANGS, h.STRING_ARRAY, [""] * n),
        h.Entry(h.DIRINDEXES, h.INT32, dirindexes),
        h.Entry(h.BASENAMES, h.STRING_ARRAY, [os.path.basename(f.path.rstrip("/")) for f in files]),
        h.Entry(h.DIRNAMES, h.STRING_ARRAY, dirnames),
        h.Entry(h.FILEDIGESTALGO, h.INT32, [h.PGPHASHALGO_SHA256]),
    ]


def _compress(pieces: list[bytes], compressor: str) -> tuple[bytes, str]:
    if compressor == "gzip":
        return gzip_pieces(pieces, 6), "6"
    if compressor == "xz":
        return lzma.compress(b"".join(pieces), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=6), "6"
    raise ConfigError(f"unknown payload compressor {compressor!r}: expected one of {', '.join(COMPRESSORS)}")


def build_rpm(pkg: RpmPackage, *, compressor: str = "gzip") -> bytes:
    """Return the bytes of the binary RPM for ``pkg``; same input, same bytes."""
    pkg.validate()
    files = sorted(pkg.files, key=lambda f: f.path)
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"package {pkg.name}: a path is listed twice in the file list")
    if sum(len(f.data) for f in files) >= 1 << 32:
        # sizes over 4 GiB need the 64-bit LONG* tags and a different cpio header
        raise ConfigError(f"package {pkg.name}: the files add up to 4 GiB or more, more than the native "
                          "writer handles; use --builder rpmbuild")
    mtime = pkg.buildtime
    pieces = list(cpio_pieces([CpioMember(f.path, f.mode, i, mtime, f.data if stat.S_ISREG(f.mode) else
                                          f.target.encode(), 2 if f.is_dir else 1)
                               for i, f in enumerate(files, start=1)]))
    raw = b"".join(pieces)
    payload, level = _compress(pieces, compressor)

    entries = [
        h.Entry(h.HEADERI18NTABLE, h.STRING_ARRAY, ["C"]),
        h.Entry(h.NAME, h.STRING, pkg.name),
        h.Entry(h.VERSION, h.STRING, pkg.version),
        h.Entry(h.RELEASE, h.STRING, pkg.release),
        h.Entry(h.SUMMARY, h.I18NSTRING, pkg.summary),
        h.Entry(h.DESCRIPTION, h.I18NSTRING, pkg.description.rstrip("\n")),
        h.Entry(h.BUILDTIME, h.INT32, [pkg.buildtime]),
        h.Entry(h.BUILDHOST, h.STRING, pkg.buildhost),
        h.Entry(h.SIZE, h.INT32, [sum(len(f.data) for f in files)]),
        h.Entry(h.LICENSE, h.STRING, pkg.license),
        h.Entry(h.GROUP, h.I18NSTRING, pkg.group),
        h.Entry(h.OS, h.STRING, "linux"),
        h.Entry(h.ARCH, h.STRING, pkg.arch),
        h.Entry(h.SOURCERPM, h.STRING, f"{pkg.name}-{pkg.evr}.src.rpm"),
        h.Entry(h.RPMVERSION, h.STRING, RPM_VERSION),
        h.Entry(h.PAYLOADFORMAT, h.STRING, "cpio"),
        h.Entry(h.PAYLOADCOMPRESSOR, h.STRING, compressor),
        h.Entry(h.PAYLOADFLAGS, h.STRING, level),
        h.Entry(h.ENCODING, h.STRING, "utf-8"),
        h.Entry(h.PAYLOADDIGEST, h.STRING_ARRAY, [hashlib.sha256(payload).hexdigest()]),
        h.Entry(h.PAYLOADDIGESTALGO, h.INT32, [h.PGPHASHALGO_SHA256]),
        h.Entry(h.PAYLOADDIGESTALT, h.STRING_ARRAY, [hashlib.sha256(raw).hexdigest()]),
    ]
    if pkg.packager:
        entries.append(h.Entry(h.PACKAGER, h.STRING, pkg.packager))
    if pkg.url:
        entries.append(h.Entry(h.URL, h.STRING, pkg.url))
    for key, (tag, prog_tag, _sense) in _SCRIPT_TAGS.items():
        if key in pkg.scriptlets:
            entries.append(h.Entry(tag, h.STRING, pkg.scriptlets[key].rstrip("\n")))
            entries.append(h.Entry(prog_tag, h.STRING, "/bin/sh"))
    entries += _dep_entries(_requires(pkg, compressor), h.REQUIRENAME, h.REQUIREFLAGS, h.REQUIREVERSION)
    entries += _dep_entries(_provides(pkg), h.PROVIDENAME, h.PROVIDEFLAGS, h.PROVIDEVERSION)
    if pkg.changelog:
        entries += [h.Entry(h.CHANGELOGTIME, h.INT32, [c[0] for c in pkg.changelog]),
                    h.Entry(h.CHANGELOGNAME, h.STRING_ARRAY, [c[1] for c in pkg.changelog]),
                    h.Entry(h.CHANGELOGTEXT, h.STRING_ARRAY, [c[2] for c in pkg.changelog])]
    if files:
        entries += _file_entries(files, mtime)
    header = h.build_header(entries, h.HEADERIMMUTABLE)

    signature = h.build_header([
        h.Entry(h.SIG_SHA1, h.STRING, hashlib.sha1(header).hexdigest()),
        h.Entry(h.SIG_SHA256, h.STRING, hashlib.sha256(header).hexdigest()),
        h.Entry(h.SIG_SIZE, h.INT32, [len(header) + len(payload)]),
        h.Entry(h.SIG_MD5, h.BIN, hashlib.md5(header + payload).digest()),
        h.Entry(h.SIG_PAYLOADSIZE, h.INT32, [len(raw)]),
        h.Entry(h.SIG_RESERVEDSPACE, h.BIN, b"\0" * RESERVED_SPACE),
    ], h.HEADERSIGNATURES)
    signature += b"\0" * (-len(signature) % 8)
    return _lead(pkg) + signature + header + payload


def write_rpm(pkg: RpmPackage, output_dir: Path, *, compressor: str = "gzip") -> Path:
    """Write ``pkg`` as ``output_dir/<name>-<version>-<release>.<arch>.rpm`` atomically; return the path."""
    data = build_rpm(pkg, compressor=compressor)
    target = Path(output_dir) / pkg.filename
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc.strerror}; choose a writable --output-dir") from exc
    return target
