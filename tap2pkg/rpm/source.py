"""The RPM payload: the spec, its sources and the native package content, computed once.

:func:`rpm_sources` makes the format-neutral :class:`~tap2pkg.payload.Payload`
(files read once, service files rendered once, one build time) and renders
everything both builders start from: the ``.spec``
(``templates/rpm/spec.j2``), the ``<pkg>-<version>.tar.gz`` it names as
``Source0`` (the app file, the launcher, the bundled runtime unless the app
runs under the distribution's Twisted, and the included code) and the
service files named as ``Source1``... (unit, sysusers, tmpfiles, logrotate,
``/etc/sysconfig`` file), kept beside the spec so a packager can edit them. Its destinations: :func:`write_sources` (the rpm sources
directory) and, through :func:`rpm_package` (the
:class:`~tap2pkg.rpm.model.RpmPackage` with the scriptlets the spec's
fallbacks expand to), the native ``.rpm`` writer.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import __version__
from ..payload import ROLES, Payload
from ..render import render, rpm_date
from ..spec import PackageSpec
from .deflate import gzip_pieces
from .model import FILE_CONFIG, FILE_NOREPLACE, Dependency, RpmFile, RpmPackage

DISTRO = "fedora"
BUILDHOST = "localhost"
GROUP = "System Environment/Daemons"
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
    from ..render import wrap_lines

    text = spec.long_description.strip() or f"{spec.summary}, packaged by tap2rpm from {spec.app_file_name}."
    # a line starting with '%' would open a spec section (%files...), escaped or not
    return "\n".join(" " + line if line.startswith("%") else line for line in wrap_lines(text).split("\n"))


def _tarball(prefix: str, files: list[tuple[str, int, bytes]], mtime: int) -> bytes:
    """A reproducible ``.tar.gz`` (GNU format, root-owned) of ``(tree path, mode, data)`` under ``prefix``."""
    members: dict[str, tuple[int, bytes | None]] = {}
    for tree_path, mode, data in files:
        parts = PurePosixPath(tree_path).parts
        for i in range(1, len(parts)):
            members.setdefault("/".join(parts[:i]), (0o755, None))
        members[tree_path] = (mode, data)
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
        if maybe:
            pieces.append(maybe + b"\0" * (-len(maybe) % tarfile.BLOCKSIZE))
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
               for key in ("pre_dirs", "pre", "post", "post_start", "preun", "postun")}
    sysusers_index = 1 + [s.name for s in sources].index(spec.name + ".sysusers")
    context.update(tool_version=__version__, buildhost=BUILDHOST, sources=sources, group=GROUP,
                   requires=rpm_requires(spec), scripts=scripts,
                   # user text in a spec: a '%' would start a macro
                   summary=spec_escape(spec.summary), maintainer=spec_escape(spec.maintainer),
                   packager=global_escape(spec.maintainer), homepage=spec_escape(spec.homepage),
                   description=spec_escape(_description(spec)),
                   sysusers_index=sysusers_index, changelog_date=rpm_date(epoch),
                   paths={key: spec_path(getattr(layout, key))
                          for key in ("app_path", "confdir", "libdir", "statedir", "logdir")})
    prefix = f"{spec.name}-{spec.version}"
    return RpmSources(
        payload=payload,
        spec_name=f"{spec.name}.spec",
        spec_text=render("rpm/spec.j2", context),
        tarball_name=f"{prefix}.tar.gz",
        tarball=_tarball(prefix, [(f.tree_path, f.mode, f.data) for f in payload.tree_files()
                                  if f.tree_path is not None], epoch),
        sources=tuple(sources),
        scriptlets={"pre": scripts["pre_dirs"] + "\n" + scripts["pre"],
                    "post": scripts["post"] + "\n" + scripts["post_start"],
                    "preun": scripts["preun"], "postun": scripts["postun"]},
        rpmlintrc=render("rpm/rpmlintrc", context),
    )


def write_sources(sources: RpmSources, directory: Path) -> list[Path]:
    """Write the spec, its sources and the rpmlintrc into ``directory``, dated at the build time (the
    SRPM's cpio keeps these mtimes); return their paths, the spec first."""
    epoch = sources.build_time
    written = []
    for name, data in sources.files().items():
        path = directory / name
        path.write_bytes(data)
        os.utime(path, (epoch, epoch))
        written.append(path)
    return written


def _interpreters(files: list[RpmFile]) -> list[Dependency]:
    """What rpmbuild's script dependency generator finds: the ``#!`` interpreter of executables."""
    found = set()
    for f in files:
        if f.mode & 0o111 and f.data.startswith(b"#!"):
            words = f.data[2:].split(b"\n", 1)[0].split()
            if words and words[0].startswith(b"/"):
                found.add(Dependency(words[0].decode()))
    return sorted(found)


def rpm_package(sources: RpmSources) -> RpmPackage:
    """The binary package content the native writer turns into an ``.rpm``."""
    payload = sources.payload
    spec, layout, epoch = payload.spec, payload.layout, payload.build_time
    files = [RpmFile(f.path, stat.S_IFREG | f.mode, data=f.data,
                     flags=FILE_CONFIG | FILE_NOREPLACE if f.conffile else 0) for f in payload.files]
    dirs = {layout.confdir, layout.libdir}
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
        requires=_requires_entries(spec) + _interpreters(files),
        scriptlets=dict(sources.scriptlets), files=files,
        changelog=[(changelog_time(epoch), f"{spec.maintainer} - {spec.full_version}",
                    f"- Packaged {spec.app_file_name} with tap2rpm.")],
        buildhost=BUILDHOST, buildtime=epoch,
    )
