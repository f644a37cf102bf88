"""The native builder: a ``.deb`` written in pure Python, no dpkg tools needed.

A ``.deb`` is an ``ar`` archive of ``debian-binary`` (``2.0``),
``control.tar.xz`` (``control``, ``md5sums``, ``conffiles`` and the maintainer
scripts) and ``data.tar.xz`` (the installed files). This writer puts in the
same files, modes, control fields and script behaviour that the ``dpkg``
builder gets from debhelper (a test holds the two to it), and is reproducible:
every mtime is the build's ``SOURCE_DATE_EPOCH``, members are sorted, owners
are root:root.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..payload import PayloadFile, parent_dirs
from ..render import fold_description, render
from ..runtime.lazy import lazy_import
from .archive import COMPRESSIONS, TarMember, ar_bytes, compress, tar_bytes
from .source import DebPayload, SourceTree, python_depends

if TYPE_CHECKING:
    from . import tree as deb_tree
else:  # imported on first use: tap2pkg.deb.tree imports this module
    deb_tree = lazy_import("tap2pkg.deb.tree")

#: What ``${misc:Depends}`` / ``${misc:Pre-Depends}`` expand to under debhelper 13
#: for a package with a sysusers file, an init script and a unit.
MISC_DEPENDS = "systemd | systemd-standalone-sysusers | systemd-sysusers"
MISC_PRE_DEPENDS = "init-system-helpers (>= 1.54~)"


def doc_files(payload: DebPayload) -> list[PayloadFile]:
    """``copyright``, ``changelog.Debian.gz`` and the lintian overrides, as debhelper installs them."""
    name = payload.spec.name
    docdir = f"/usr/share/doc/{name}"
    changelog = payload.text("changelog").encode()
    return [
        PayloadFile(f"{docdir}/changelog.Debian.gz", 0o644, gzip.compress(changelog, 9, mtime=0), role="doc"),
        PayloadFile(f"{docdir}/copyright", 0o644, payload.text("copyright").encode(), role="doc"),
        PayloadFile(f"/usr/share/lintian/overrides/{name}", 0o644,
                    payload.text("{pkg}.lintian-overrides").encode(), role="doc"),
    ]


def deb_files(payload: DebPayload) -> list[PayloadFile]:
    """Every file of the binary package, sorted by installed path."""
    return sorted([*payload.core.files, *doc_files(payload)], key=lambda f: f.path)


def maintainer_scripts(payload: DebPayload) -> dict[str, str]:
    """``preinst``, ``postinst``, ``prerm``, ``postrm``: what debhelper would produce."""
    scripts = {}
    for name in ("preinst", "postinst", "prerm", "postrm"):
        snippet = render(f"debian/native/{name}.snippet", payload.context).rstrip("\n")
        scripts[name] = payload.text(f"{{pkg}}.{name}").replace("#DEBHELPER#", snippet)
    return scripts


def installed_size(files: list[PayloadFile], dirs: list[str], control: list[bytes]) -> int:
    """``Installed-Size`` in KiB, counted the way ``dpkg-gencontrol`` counts it.

    Each file counts its size rounded up to KiB, each directory (the root
    included) 1. dh_gencontrol runs after dh_installdeb, so the ``DEBIAN``
    directory and the ``control`` members written by then count too.
    """
    def kib(data: bytes) -> int:
        return -(-len(data) // 1024)

    return sum(kib(f.data) for f in files) + len(dirs) + 2 + sum(kib(c) for c in control)


def control_text(payload: DebPayload, size: int) -> str:
    """The binary package's ``control`` file."""
    spec = payload.spec
    fields = [
        ("Package", spec.name),
        ("Version", spec.full_version),
        ("Architecture", "all"),
        ("Maintainer", spec.maintainer),
        ("Installed-Size", str(size)),
        ("Pre-Depends", MISC_PRE_DEPENDS),
        ("Depends", ", ".join([MISC_DEPENDS, python_depends(spec), "adduser", *map(str, spec.depends)])),
        ("Section", "net"),
        ("Priority", "optional"),
    ]
    if spec.homepage:
        fields.append(("Homepage", spec.homepage))
    fields.append(("Description", fold_description(spec.summary, payload.context["long_description"])))
    return "".join(f"{k}: {v}\n" for k, v in fields)


def build_native_deb(tree: SourceTree, output_dir: Path, *, compression: str = "xz") -> Path:
    """Write ``<output_dir>/<pkg>_<version>-<rev>_all.deb`` for the package of ``tree``; return its path."""
    if compression not in ("xz", "gzip"):
        raise ValueError(f"unknown compression {compression!r}")
    # the tree as it is on disk: a hand edit lands in the .deb, or is refused naming --builder dpkg
    edited = deb_tree.read_debian_tree(tree)
    epoch = tree.payload.core.build_time
    files = list(edited.files)
    dirs = parent_dirs([f.path for f in files])
    members = [TarMember("./", 0o755)]
    entries: list[tuple[str, PayloadFile | None]] = [(d, None) for d in dirs] + [(f.path, f) for f in files]
    for path, f in sorted(entries, key=lambda e: e[0]):
        if f is None:
            members.append(TarMember(f".{path}/", 0o755))
        else:
            members.append(TarMember(f".{path}", f.mode, f.data))
    data_tar = compress(tar_bytes(members, epoch), compression)

    md5sums = "".join(f"{hashlib.md5(f.data).hexdigest()}  {f.path.lstrip('/')}\n"
                      for f in files if not f.conffile)
    conffiles = "".join(f"{f.path}\n" for f in files if f.conffile)
    scripts = {name: text.encode() for name, text in edited.scripts.items()}
    size = installed_size(files, dirs, [conffiles.encode(), *scripts.values()])
    control_members = [
        TarMember("./", 0o755),
        TarMember("./conffiles", 0o644, conffiles.encode()),
        TarMember("./control", 0o644, edited.control_text(size).encode()),
        TarMember("./md5sums", 0o644, md5sums.encode()),
    ]
    control_members += [TarMember(f"./{name}", 0o755, data) for name, data in sorted(scripts.items())]
    control_tar = compress(tar_bytes(control_members, epoch), compression)

    suffix = COMPRESSIONS[compression]
    deb = ar_bytes([("debian-binary", b"2.0\n"), (f"control.tar{suffix}", control_tar),
                    (f"data.tar{suffix}", data_tar)], epoch)
    out = output_dir / edited.deb_name
    out.write_bytes(deb)
    return out
