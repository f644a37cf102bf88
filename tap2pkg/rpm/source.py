"""The RPM payload: the spec, its sources and the native package content, computed once.

:func:`rpm_sources` makes the format-neutral :class:`~tap2pkg.payload.Payload`
(files read once, service files rendered once, one build time) and renders
everything both builders start from: the ``.spec``
(``templates/rpm/spec.j2``), the ``<pkg>-<version>.tar.gz`` it names as
``Source0`` (the app file, the launcher, the bundled runtime unless the app
runs under the distribution's Twisted, and the included code) and the
service files named as ``Source1``... (unit, sysusers, tmpfiles, logrotate,
``/etc/sysconfig`` file), kept beside the spec so a packager can edit them. Its destinations:
:func:`write_sources` (the rpm sources
directory) and, through :func:`rpm_package` (the
:class:`~tap2pkg.rpm.model.RpmPackage` with the scriptlets the spec's
fallbacks expand to), the native ``.rpm`` writer.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .. import __version__
from ..payload import ROLES, Payload, build_time
from ..regen import TreeEdits, TreeFormat
from ..render import render, rpm_date, wrap_lines
from ..runtime.lazy import lazy_import
from ..spec import PackageSpec
from ..tree_state import Files, regular_tree_file
from .deflate import gzip_pieces
from .model import (
    FILE_CONFIG,
    FILE_LICENSE,
    FILE_NOREPLACE,
    SENSE_EQUAL,
    SENSE_FIND_REQUIRES,
    SENSE_SCRIPT_PRE,
    Dependency,
    RpmFile,
    RpmPackage,
)

if TYPE_CHECKING:
    import calendar
else:  # imported on first use: only a new release over an existing spec reads its %changelog dates
    calendar = lazy_import("calendar")

DISTRO = "fedora"
BUILDHOST = "localhost"
GROUP = "System Environment/Daemons"
#: What a package running on the bundled runtime provides (``Provides: bundled(...)``, Fedora's rule).
BUNDLED_RUNTIME = "bundled(tap2pkg-runtime)"
#: python3 for tapd; logrotate because the package ships a logrotate file.
BASE_REQUIRES = ("python3 >= 3.11", "logrotate")
#: The same for a Twisted app: any python3 runs the launcher (python3-twisted, in ``spec.depends``,
#: names the Python it needs).
TWISTED_BASE_REQUIRES = ("python3", "logrotate")


def base_requires(spec: PackageSpec) -> tuple[str, ...]:
    """The ``Requires:`` every package of ``spec``'s runtime has."""
    return TWISTED_BASE_REQUIRES if spec.runtime == "twisted" else BASE_REQUIRES

@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file named as ``SourceN`` in the spec: its name, content, installed place and mode."""

    name: str
    data: bytes
    macro_path: str
    path: str
    mode: int
    config: bool


@dataclass(frozen=True, slots=True)
class RpmSources:
    """Everything written beside the spec, and the payload both builders install."""

    payload: Payload
    spec_name: str
    spec_text: str
    tarball_name: str
    tarball: bytes
    sources: tuple[SourceFile, ...]
    scriptlets: dict[str, str]
    rpmlintrc: str

    @property
    def build_time(self) -> int:
        """The build time (see :func:`tap2pkg.payload.build_time`)."""
        return self.payload.build_time

    @property
    def spec(self) -> PackageSpec:
        """The package's spec."""
        return self.payload.spec

    def files(self) -> dict[str, bytes]:
        """``{file name: content}`` for the spec, the tarball, every other source and the rpmlintrc."""
        out = {self.spec_name: self.spec_text.encode(), self.tarball_name: self.tarball}
        out.update({s.name: s.data for s in self.sources})
        out[self.spec_name.removesuffix(".spec") + ".rpmlintrc"] = self.rpmlintrc.encode()
        return out


def rpm_requires(spec: PackageSpec) -> list[str]:
    """``Requires:`` values: python3 (>= 3.11 for tapd), logrotate, plus each ``--depends`` in RPM syntax."""
    return [*base_requires(spec), *(d.rpm() for d in spec.depends)]


def _requires_entries(spec: PackageSpec) -> list[Dependency]:
    """The same, as the native writer's entries (a rich dependency is one name with no flags)."""
    out = [Dependency.parse(r) for r in base_requires(spec)]
    out += [Dependency(d.rpm()) if d.rich else Dependency.parse(d.rpm()) for d in spec.depends]
    return out


def spec_escape(text: str) -> str:
    """``text`` with every ``%`` doubled, so rpmbuild reads it literally.

    Enough for a tag value, ``%description`` and ``%changelog``, which rpm
    expands once; a ``%global`` body takes :func:`global_escape`.
    ``PackageSpec`` has already refused line breaks, so no value can start a
    new tag or section.
    """
    return text.replace("%", "%%")


def global_escape(text: str) -> str:
    """``text`` for the body of a ``%global``: rpm reads ``\\`` escapes when defining it and
    expands ``%`` twice (when defined and when used)."""
    return text.replace("\\", "\\\\").replace("%", "%%%%")


def spec_path(path: str) -> str:
    """An installed path written with rpm's directory macros (``/etc`` is ``%{_sysconfdir}``...)."""
    # %{_exec_prefix}/lib rather than a literal /usr/lib: rpmlint takes the latter for a lib/lib64 mix-up
    for prefix, macro in (("/etc/", "%{_sysconfdir}/"), ("/var/", "%{_localstatedir}/"),
                          ("/usr/lib/", "%{_exec_prefix}/lib/")):
        if path.startswith(prefix):
            return macro + path[len(prefix):]
    return path


def changelog_time(epoch: int) -> int:
    """The time rpm reads back from a ``%changelog`` date line: that day at 12:00 UTC."""
    return epoch - epoch % 86400 + 43200


def _description(spec: PackageSpec) -> str:
    text = spec.long_description.strip() or f"{spec.summary}, packaged by tap2rpm from {spec.app_file_name}."
    # a line starting with '%' would open a spec section (%files...), escaped or not
    return "\n".join(" " + line if line.startswith("%") else line for line in wrap_lines(text).split("\n"))


def tarball_members(payload: Payload) -> dict[str, tuple[int, bytes | None]]:
    """What the source tarball holds under its top directory: ``{tree path: (mode, data or None for a
    directory)}``, from the payload's tree files and their parent directories."""
    members: dict[str, tuple[int, bytes | None]] = {}
    for f in payload.tree_files():
        if f.tree_path is None:
            continue
        parts = f.tree_path.split("/")  # relative, normalized: tree paths are built by tap2pkg
        for i in range(1, len(parts)):
            members.setdefault("/".join(parts[:i]), (0o755, None))
        members[f.tree_path] = (f.mode, f.data)
    return members


def tarball(prefix: str, members: dict[str, tuple[int, bytes | None]], mtime: int) -> bytes:
    """A reproducible ``.tar.gz`` (GNU format, root-owned) of :func:`tarball_members` under ``prefix``."""
    pieces: list[bytes] = []
    for name in ["", *sorted(members)]:
        mode, maybe = members.get(name, (0o755, None))
        info = tarfile.TarInfo(f"{prefix}/{name}".rstrip("/"))
        info.mtime, info.mode, info.uname, info.gname = mtime, mode, "root", "root"
        if maybe is None:
            info.type = tarfile.DIRTYPE
        else:
            info.size = len(maybe)
        pieces.append(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
        if maybe:  # the data on its own: the binary RPM's payload deflates the same piece
            pieces += [maybe, b"\0" * (-len(maybe) % tarfile.BLOCKSIZE)]
    size = sum(len(p) for p in pieces) + 2 * tarfile.BLOCKSIZE
    # the end-of-archive marker, padded to a whole record as tarfile does
    pieces.append(b"\0" * (2 * tarfile.BLOCKSIZE + (-size % tarfile.RECORDSIZE)))
    return gzip_pieces(pieces, 6)


def rpm_sources(spec: PackageSpec) -> RpmSources:
    """Read and render ``spec``'s RPM payload: the spec, the source tarball and the service sources."""
    payload = Payload.for_spec(spec, DISTRO)
    layout, epoch = payload.layout, payload.build_time
    sources = [SourceFile(spec.name + ROLES[f.role].rpm_suffix, f.data, ROLES[f.role].rpm_macro_path, f.path,
                          f.mode, f.conffile)
               for f in payload.files if f.role in ROLES and ROLES[f.role].rpm_suffix]
    context = dict(payload.context)
    scripts = {key: render(f"rpm/{key.replace('_', '-')}.sh", context).rstrip("\n")
               for key in ("pre_dirs", "pre", "pre_check", "post", "post_start", "preun",
                                          "preun_clean", "postun")}
    sysusers_index = 1 + [s.name for s in sources].index(spec.name + ".sysusers")
    context.update(tool_version=__version__, buildhost=BUILDHOST, bundled_runtime=BUNDLED_RUNTIME,
                   sources=sources, group=GROUP,
                   requires=rpm_requires(spec), scripts=scripts,
                   # user text in a spec: a '%' would start a macro
                   summary=spec_escape(spec.summary), maintainer=spec_escape(spec.maintainer),
                   packager=global_escape(spec.maintainer), homepage=spec_escape(spec.homepage),
                   description=spec_escape(_description(spec)),
                   sysusers_index=sysusers_index, changelog_date=rpm_date(epoch),
                   # the app file is read by the launcher, never run: a "#!" line in it is only text
                   app_shebang=any(f.role == "app" and f.data.startswith(b"#!") for f in payload.files),
                   module_shebang=any(f.role == "include" and f.path.endswith(".py")
                                      and f.data.startswith(b"#!") for f in payload.files),
                   paths={key: spec_path(getattr(layout, key))
                          for key in ("app_path", "confdir", "libdir", "statedir", "logdir")})
    prefix = f"{spec.name}-{spec.version}"
    return RpmSources(
        payload=payload,
        spec_name=f"{spec.name}.spec",
        spec_text=render("rpm/spec.j2", context),
        tarball_name=f"{prefix}.tar.gz",
        tarball=tarball(prefix, tarball_members(payload), epoch),
        sources=tuple(sources),
        scriptlets={"pre": scripts["pre_dirs"] + "\n" + scripts["pre"] + "\n" + scripts["pre_check"],
                    "post": scripts["post"] + "\n" + scripts["post_start"],
                    "preun": scripts["preun"] + "\n" + scripts["preun_clean"], "postun": scripts["postun"]},
        rpmlintrc=render("rpm/rpmlintrc", context),
    )


def write_sources(sources: RpmSources, directory: Path, edits: TreeEdits | None = None) -> list[Path]:
    """Write the spec, its sources and the rpmlintrc into ``directory``, dated at the build time (the
    SRPM's cpio keeps these mtimes), then ``edits`` over them (hand edits carried, :mod:`tap2pkg.regen`);
    return their paths, the spec first."""
    epoch = sources.build_time
    written = []
    for name, data in sources.files().items():
        path = directory / name
        path.write_bytes(data)
        os.utime(path, (epoch, epoch))
        written.append(path)
    if edits is not None:
        edits.apply(directory, epoch)
        written = [p for p in written if p.name not in edits.removed]
        written += [directory / name for name in sorted(edits.files) if directory / name not in written]
    return written


def _interpreters(files: list[RpmFile]) -> list[Dependency]:
    """What rpmbuild's script dependency generator finds: the ``#!`` interpreter of executables, marked
    found (:data:`~tap2pkg.rpm.model.SENSE_FIND_REQUIRES`) as rpmbuild marks it, beside an entry of the
    spec's own ``Requires:`` that may name it too."""
    found = set()
    for f in files:
        if f.mode & 0o111 and f.data.startswith(b"#!"):
            words = f.data[2:].split(b"\n", 1)[0].split()
            if words and words[0].startswith(b"/"):
                found.add(Dependency(words[0].decode(), SENSE_FIND_REQUIRES))
    return sorted(found)


def rpm_package(sources: RpmSources) -> RpmPackage:
    """The binary package content the native writer turns into an ``.rpm``."""
    payload = sources.payload
    spec, layout, epoch = payload.spec, payload.layout, payload.build_time
    files = [RpmFile(f.path, stat.S_IFREG | f.mode, data=f.data,
                     flags=FILE_CONFIG | FILE_NOREPLACE if f.conffile else FILE_LICENSE if f.role == "license"
                     else 0) for f in payload.files]
    dirs = {layout.confdir, layout.libdir}
    if layout.license_path:
        dirs.add(str(PurePosixPath(layout.license_path).parent))
    for f in payload.files:
        if f.path.startswith(layout.libdir + "/"):
            parent = PurePosixPath(f.path).parent
            while str(parent) != layout.libdir:
                dirs.add(str(parent))
                parent = parent.parent
    files += [RpmFile.directory(d) for d in sorted(dirs)]
    files += [RpmFile.directory(d, 0o750, user=spec.user, group=spec.user)
              for d in (layout.statedir, layout.logdir)]
    return RpmPackage(
        name=spec.name, version=spec.version, release=spec.revision, summary=spec.summary,
        description=_description(spec), license=spec.license, url=spec.homepage,
        group=GROUP, packager=spec.maintainer,
        requires=[*_requires_entries(spec), Dependency("shadow-utils", SENSE_SCRIPT_PRE),
                  *_interpreters(files)],
        provides=[Dependency(BUNDLED_RUNTIME, SENSE_EQUAL, __version__)] if spec.runtime == "tapd" else [],
        scriptlets=dict(sources.scriptlets), files=files,
        changelog=[(changelog_time(epoch), f"{spec.maintainer} - {spec.full_version}",
                    f"- Packaged {spec.app_file_name} with tap2rpm.")],
        buildhost=BUILDHOST, buildtime=epoch,
    )


# --- the spec's history and edits (tap2pkg.regen) ------------------------------------------------------

_SOURCE_TAG = re.compile(r"^(?:Source|Patch)\d*\s*:\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)
_CHANGELOG_TOP = re.compile(r"^\*.* - (\S+)\s*$")


def generated_tree(sources: RpmSources) -> Files:
    """The spec, its text sources and the rpmlintrc as generated (the tarball is made from the app file
    every time, never merged)."""
    return {name: (data, 0o644) for name, data in sources.files().items() if name != sources.tarball_name}


def tree_files(directory: Path, tracked: Iterable[str]) -> Files:
    """The spec's files in ``directory`` as they are: the tracked ones, and what the spec names as a
    ``SourceN``/``PatchN`` beside it (but a version's tarball, made from the app file)."""
    names = set(tracked)
    for spec_file in [n for n in names if n.endswith(".spec")]:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = (directory / spec_file).read_text(encoding="utf-8")
            names.update(m.rsplit("/", 1)[-1] for m in _SOURCE_TAG.findall(text)
                         if "%" not in m and not m.endswith(".tar.gz"))
    found: Files = {}
    for name in sorted(names):
        path = directory / name
        if path.is_symlink() or path.exists():  # a link is refused, not taken for a removed file
            found[name] = regular_tree_file(path)
    return found


def _split_changelog(text: str) -> tuple[str, str]:
    """The spec up to and with its ``%changelog`` line, and the entries after it."""
    match = re.search(r"^%changelog[ \t]*\n", text, re.MULTILINE)
    if match is None:
        return text.rstrip("\n") + "\n%changelog\n", ""
    return text[:match.end()], text[match.end():]


def last_version(files: Mapping[str, tuple[bytes, int]], spec: PackageSpec) -> str | None:
    """The ``VERSION-RELEASE`` of the spec's top ``%changelog`` entry (None without one)."""
    name = f"{spec.name}.spec"
    if name not in files:
        return None
    for line in _split_changelog(files[name][0].decode(errors="replace"))[1].splitlines():
        if line.startswith("*"):
            match = _CHANGELOG_TOP.match(line)
            return match[1].partition(":")[2] or match[1] if match else None
    return None


def changelog_entry(spec: PackageSpec, message: str, not_before: int | None = None) -> str:
    """A new ``%changelog`` entry for ``spec``, dated at the build time (``SOURCE_DATE_EPOCH``), or at
    ``not_before`` when that is later (rpm wants the entries in descending order of date)."""
    when = build_time(spec) if not_before is None else max(build_time(spec), not_before)
    return (f"* {rpm_date(when)} {spec_escape(spec.maintainer)} - {spec.full_version}\n"
            f"- {spec_escape(message)}\n")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ENTRY_DATE = re.compile(
    r"^\*\s+[A-Z][a-z]{2}\s+(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+(?P<year>\d{4})\b", re.MULTILINE)


def top_entry_time(entries: str) -> int | None:
    """The date of the top ``%changelog`` entry (noon UTC of its day; None when there is none rpm reads)."""
    match = _ENTRY_DATE.search(entries)
    if match is None or match["month"] not in _MONTHS:
        return None
    try:
        return calendar.timegm((int(match["year"]), _MONTHS.index(match["month"]) + 1, int(match["day"]),
                                12, 0, 0, 0, 0, 0))
    except (ValueError, OverflowError):
        return None


def carry_history(sources: RpmSources, base: Files, theirs: Files, new: Files,
                  message: str | None) -> tuple[Files, Files]:
    """The ``%changelog`` as the packager has it, with a new entry on top for a new release (``new`` is
    what ``sources`` generated)."""
    spec = sources.spec
    name = f"{spec.name}.spec"
    base, new = dict(base), dict(new)
    head, generated_entries = _split_changelog(new[name][0].decode())
    if name not in theirs:
        if message is not None:
            new[name] = ((head + changelog_entry(spec, message)).encode(), new[name][1])
        return base, new
    history = _split_changelog(theirs[name][0].decode(errors="replace"))[1]
    if last_version(theirs, spec) != spec.full_version:
        default = f"New release {spec.full_version}, regenerated by tap2rpm."
        # never dated before the entry below it: rpmbuild wants the %changelog newest first
        history = changelog_entry(spec, message or default, top_entry_time(history)) + "\n" + history
    new[name] = ((head + history).encode(), new[name][1])
    if name in base:
        base_head = _split_changelog(base[name][0].decode(errors="replace"))[0]
        base[name] = ((base_head + _split_changelog(theirs[name][0].decode(errors="replace"))[1]).encode(),
                      base[name][1])
    del generated_entries
    return base, new


def _tree_dir(spec: PackageSpec, output_dir: Path) -> Path:
    del spec  # the spec and its sources are written into the output directory itself
    return Path(output_dir)


#: What :mod:`tap2pkg.regen` asks of an RPM spec directory.
TREE_FORMAT = TreeFormat("rpm", _tree_dir, rpm_sources, generated_tree, tree_files, last_version,
                         carry_history)
