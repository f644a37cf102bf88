"""What ``tap2pkg verify`` is given: a .deb or an .rpm, recognised by content, with its name and version.

Both formats are read with the standard library only (the ``ar`` archive and
control tarball of a .deb; the lead and header of an .rpm), so verifying needs
no dpkg or rpm tools on the host. Each artifact also carries what it requires
(``Depends`` and ``Pre-Depends`` of a .deb, the ``Requires`` of an .rpm, as the
package spells them), from which verify derives an image holding them
(:mod:`tap2pkg.verify.derived`).
"""

from __future__ import annotations

import io
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .errors import NotAPackageError
from .formats import PackageFormat, package_format

DEB_MAGIC = b"!<arch>\ndebian-binary   "
RPM_LEAD_MAGIC = b"\xed\xab\xee\xdb"
RPM_HEADER_MAGIC = b"\x8e\xad\xe8\x01"
RPMTAG_NAME, RPMTAG_VERSION, RPMTAG_RELEASE, RPMTAG_EPOCH = 1000, 1001, 1002, 1003
RPMTAG_REQUIREFLAGS, RPMTAG_REQUIRENAME, RPMTAG_REQUIREVERSION = 1048, 1049, 1050
#: RPMSENSE_LESS, _GREATER, _EQUAL: a Requires' comparison; RPMSENSE_RPMLIB: rpm's own features
RPMSENSE_LESS, RPMSENSE_GREATER, RPMSENSE_EQUAL, RPMSENSE_RPMLIB = 2, 4, 8, 1 << 24


@dataclass(frozen=True)
class Artifact:
    """A package file: its format ("deb"/"rpm"), package name and full version."""

    path: Path
    family: str
    name: str
    version: str
    conffiles: tuple[str, ...] = ()
    #: what it needs installed first, as the package spells it: ``python3 (>= 3.11)`` in a .deb
    #: (Depends, then Pre-Depends), ``python3 >= 3.11`` in an .rpm (rpm's own rpmlib() features left out)
    requires: tuple[str, ...] = ()

    @property
    def package_format(self) -> PackageFormat:
        """How to install, query, remove and purge a package of this format."""
        return package_format(self.family)

    @property
    def label(self) -> str:
        """``name version`` as reports show it."""
        return f"{self.name} {self.version}"


def read_artifact(path: Path) -> Artifact:
    """Recognise ``path`` as a .deb or .rpm by its content, or raise :class:`NotAPackageError`."""
    try:
        with path.open("rb") as handle:
            head = handle.read(96)
    except OSError as exc:
        raise NotAPackageError(
            f"{path}: cannot read it ({exc.strerror}); give the path of a .deb or .rpm"
        ) from exc
    if head.startswith(DEB_MAGIC):
        return _read_deb(path)
    if head.startswith(RPM_LEAD_MAGIC):
        if head[6:8] == b"\x00\x01":
            raise NotAPackageError(f"{path}: a source RPM; verify the binary .noarch.rpm instead")
        return _read_rpm(path)
    raise NotAPackageError(
        f"{path}: not a .deb or .rpm package (no ar/rpm signature); give the file tap2deb or tap2rpm wrote"
    )


def _ar_members(data: bytes) -> dict[str, bytes]:
    members = {}
    offset = 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size % 2)
    return members


def _read_deb(path: Path) -> Artifact:
    members = _ar_members(path.read_bytes())
    control_name = next((n for n in members if n.startswith("control.tar")), None)
    if control_name is None:
        raise NotAPackageError(f"{path}: a .deb without control.tar; rebuild it")
    if control_name.endswith(".zst"):
        raise NotAPackageError(f"{path}: control.tar.zst is not readable here; rebuild with xz or gzip")
    try:
        with tarfile.open(fileobj=io.BytesIO(members[control_name])) as tar:
            files = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
            control = _extract(tar, files, "control")
            conffiles = _extract(tar, files, "conffiles")
    except (tarfile.TarError, EOFError) as exc:
        raise NotAPackageError(f"{path}: damaged {control_name} ({exc}); rebuild it") from exc
    fields = {}
    for line in control.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
    if "package" not in fields or "version" not in fields:
        raise NotAPackageError(f"{path}: control file lacks Package or Version; rebuild it")
    return Artifact(
        path,
        "deb",
        fields["package"],
        fields["version"],
        tuple(line.strip() for line in conffiles.splitlines() if line.strip()),
        tuple(
            entry.strip()
            for key in ("depends", "pre-depends")
            for entry in _unfold(control, key).split(",")
            if entry.strip()
        ),
    )


def _unfold(control: str, key: str) -> str:
    """The value of field ``key`` of a control file, continuation lines joined."""
    value, inside = [], False
    for line in control.splitlines():
        if line[:1].isspace():
            if inside:
                value.append(line.strip())
            continue
        name, _, rest = line.partition(":")
        inside = name.strip().lower() == key
        if inside:
            value.append(rest.strip())
    return " ".join(value)


def _extract(tar: tarfile.TarFile, files: dict[str, tarfile.TarInfo], name: str) -> str:
    member = files.get(name)
    if member is None:
        return ""
    handle = tar.extractfile(member)
    return handle.read().decode(errors="replace") if handle else ""


def _header(data: bytes, offset: int) -> tuple[dict[int, tuple[int, int, int]], bytes, int]:
    if data[offset : offset + 4] != RPM_HEADER_MAGIC:
        raise ValueError("bad header magic")
    count, size = struct.unpack(">II", data[offset + 8 : offset + 16])
    index = {}
    for i in range(count):
        tag, kind, off, cnt = struct.unpack(">IIII", data[offset + 16 + 16 * i : offset + 32 + 16 * i])
        index[tag] = (kind, off, cnt)
    store_start = offset + 16 + 16 * count
    return index, data[store_start : store_start + size], store_start + size


def _read_rpm(path: Path) -> Artifact:
    data = path.read_bytes()
    try:
        _sig, _store, end = _header(data, 96)
        end += (8 - end % 8) % 8  # the signature header is padded to 8 bytes
        index, store, _end = _header(data, end)

        def string(tag: int) -> str:
            _kind, off, _count = index[tag]
            return store[off : store.index(b"\0", off)].decode()

        def strings(tag: int) -> list[str]:
            if tag not in index:
                return []
            _kind, off, count = index[tag]
            return [word.decode() for word in store[off:].split(b"\0", count)[:count]]

        def integers(tag: int) -> list[int]:
            if tag not in index:
                return []
            _kind, off, count = index[tag]
            return list(struct.unpack(f">{count}I", store[off : off + 4 * count]))

        name, version, release = string(RPMTAG_NAME), string(RPMTAG_VERSION), string(RPMTAG_RELEASE)
        requires = _rpm_requires(
            strings(RPMTAG_REQUIRENAME), integers(RPMTAG_REQUIREFLAGS), strings(RPMTAG_REQUIREVERSION)
        )
        epoch = ""
        if RPMTAG_EPOCH in index:
            epoch = f"{struct.unpack('>I', store[index[RPMTAG_EPOCH][1] : index[RPMTAG_EPOCH][1] + 4])[0]}:"
    except (ValueError, KeyError, struct.error, UnicodeDecodeError) as exc:
        raise NotAPackageError(f"{path}: damaged RPM header ({exc}); rebuild it") from exc
    return Artifact(path, "rpm", name, f"{epoch}{version}-{release}", requires=requires)


def _rpm_requires(names: list[str], flags: list[int], versions: list[str]) -> tuple[str, ...]:
    """``name``, or ``name >= version``, for each Requires but rpm's own features; each once, in order."""
    out: dict[str, None] = {}
    for name, flag, version in zip(names, flags, versions, strict=False):
        if flag & RPMSENSE_RPMLIB or name.startswith("rpmlib("):
            continue
        op = "".join(sign for bit, sign in ((RPMSENSE_LESS, "<"), (RPMSENSE_GREATER, ">"),
                                             (RPMSENSE_EQUAL, "=")) if flag & bit)
        out[f"{name} {op} {version}" if op and version else name] = None
    return tuple(out)
