"""What goes into a package, computed once: the installed layout, every file's bytes, one build time.

A build makes one :class:`Payload` and hands it to its destinations (the
Debian source tree, the ``.deb``, the rpm sources directory, the ``.rpm``);
none of them renders a template or reads a file again. The payload holds:

* the app file, as a conffile, to ``/etc/<pkg>/``;
* for an app run by the bundled runtime (``spec.runtime == "tapd"``): the
  runtime (``tap2pkg/runtime/**`` minus ``__pycache__``) plus a stub
  ``tap2pkg/__init__.py`` and the ``tapd`` launcher; for a Twisted app
  (``"twisted"``): only the Twisted launcher
  (:mod:`tap2pkg.launchers`, installed as ``twisted-launcher``), the
  distribution's Twisted being a dependency; in both, every ``--include``
  (:mod:`tap2pkg.includes` says what an included tree may hold), all to
  ``/usr/lib/<pkg>/``;
* the rendered service files (see :data:`SERVICE_ROLES`, the one table of
  them) at their standard places for the distribution, with (Fedora family)
  the license text of the code tap2pkg bundles;
* the build time (:func:`build_time`): ``SOURCE_DATE_EPOCH``, else the app
  file's modification time, for both formats.

Documentation files (``copyright``, changelogs) differ per format and are
added by each format's payload (:mod:`tap2pkg.deb.source`, :mod:`tap2pkg.rpm.source`).

Files are opened without following a link and without blocking, so a file
swapped for a FIFO cannot hang a build.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from . import __version__
from .deb import policy
from .errors import AppFileNotFoundError, IncludeNotFoundError, InvalidOptionValueError, UnknownAppTypeError
from .includes import SKIP_NAMES, SKIP_SUFFIXES, included_files
from .includes import check_includes as check_includes  # settings.py imports it from here
from .includes import check_output_dir as check_output_dir  # and builders.py this one
from .runtime.kinds import TWISTD_OPTIONS
from .runtime.lazy import lazy_import
from .spec import PackageSpec

if TYPE_CHECKING:
    from . import launchers, render
else:  # imported on first use: only making a payload renders templates or ships the Twisted launcher
    launchers = lazy_import("tap2pkg.launchers")
    render = lazy_import("tap2pkg.render")

#: Distribution families the layout knows; templates get this as ``distro``.
DISTROS = ("debian", "fedora")

STUB_INIT = b'''"""tap2pkg as bundled in a package: only the runtime is here."""

__version__ = "%s"
'''

LAUNCHER = '''#!/usr/bin/python3
"""tapd for {name}: runs the bundled tap2pkg runtime."""
import sys

# /usr/lib/{name} belongs to the package: never leave __pycache__ there for dpkg/rpm to trip on.
sys.dont_write_bytecode = True
sys.path.insert(0, "{libdir}")

from tap2pkg.runtime.daemon import main  # noqa: E402

sys.exit(main())
'''


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a package's files live once installed, for one distribution family."""

    name: str
    distro: str
    confdir: str
    app_path: str
    libdir: str
    launcher: str
    statedir: str
    logdir: str
    logfile: str
    rundir: str
    pidfile: str
    default_file: str
    unit_path: str
    init_path: str | None
    logrotate_path: str
    sysusers_path: str
    tmpfiles_path: str
    docdir: str
    #: the license text of the code tap2pkg bundles (None on Debian: ``copyright`` carries it)
    license_path: str | None

    @classmethod
    def for_spec(cls, spec: PackageSpec, distro: str = "debian") -> Layout:
        """The layout of ``spec``'s package on ``distro`` (``"debian"`` or ``"fedora"``)."""
        if distro not in DISTROS:
            raise ValueError(f"unknown distro {distro!r}")
        n = spec.name
        debian = distro == "debian"
        return cls(
            name=n,
            distro=distro,
            confdir=f"/etc/{n}",
            app_path=f"/etc/{n}/{spec.app_file_name}",
            libdir=f"/usr/lib/{n}",
            launcher=f"/usr/lib/{n}/twisted-launcher" if spec.runtime == "twisted" else f"/usr/lib/{n}/tapd",
            statedir=f"/var/lib/{n}",
            logdir=f"/var/log/{n}",
            logfile=f"/var/log/{n}/{n}.log",
            rundir=f"/run/{n}",
            pidfile=f"/run/{n}/{n}.pid",
            default_file=f"/etc/default/{n}" if debian else f"/etc/sysconfig/{n}",
            # debhelper 13.11 (bookworm) installs units under /lib; Fedora uses /usr/lib.
            unit_path=(f"/lib/systemd/system/{n}.service" if debian
                       else f"/usr/lib/systemd/system/{n}.service"),
            init_path=f"/etc/init.d/{n}" if debian else None,
            logrotate_path=f"/etc/logrotate.d/{n}",
            sysusers_path=f"/usr/lib/sysusers.d/{n}.conf",
            tmpfiles_path=f"/usr/lib/tmpfiles.d/{n}.conf",
            docdir=f"/usr/share/doc/{n}",
            license_path=None if debian else f"/usr/share/licenses/{n}/LICENSE.tap2pkg",
        )


@dataclass(frozen=True, slots=True)
class PayloadFile:
    """One installed file: where it goes, its mode and its bytes.

    ``tree_path`` is the file's place in the editable source tree (relative),
    or None for files a format places itself (the rendered service files live
    in ``debian/`` or beside the ``.spec``). ``role`` says what the file is:
    ``app``, ``launcher``, ``runtime``, ``include``, ``doc`` or a service role.
    """

    path: str
    mode: int
    data: bytes
    conffile: bool = False
    tree_path: str | None = None
    role: str = "file"


def read_file(path: Path, role: str) -> bytes:
    """The bytes of ``path``, read once for the payload; an unreadable file is one line naming it."""
    try:
        # Never block on a FIFO put where a file was, nor (for includes) follow a link put there;
        # an included file is read at its real path (links were resolved when the tree was read).
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if role == "include" else 0)
        fd = os.open(path, flags)
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            return fh.read()
    except OSError as exc:
        problem = f"cannot read {path} ({exc.strerror or exc})"
        if role == "app":
            raise AppFileNotFoundError(path, f"{problem}; fix its permissions") from None
        if role == "include":
            raise IncludeNotFoundError(f"--include: {problem}; fix its permissions or drop it") from None
        raise


def runtime_dir() -> Path:
    """The runtime package copied into every package."""
    return Path(__file__).resolve().parent / "runtime"


def _tree_files(root: Path) -> Iterator[Path]:
    """Files under ``root`` (the bundled runtime), sorted, skipping caches."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_NAMES)
        for fname in sorted(filenames):
            if fname.endswith(SKIP_SUFFIXES):
                continue
            yield Path(dirpath) / fname


def _code_mode(path: Path) -> int:
    """0755 for an executable included file, but 0644 for a Python module, which the app imports: an
    executable one with a ``#!/usr/bin/env python`` line is what rpmlint and Fedora's shebang check
    refuse (``env-script-interpreter``, an ambiguous ``python``)."""
    return 0o755 if path.stat().st_mode & stat.S_IXUSR and path.suffix != ".py" else 0o644


def code_files(spec: PackageSpec, layout: Layout) -> list[PayloadFile]:
    """The launcher, the bundled runtime and its stub package (not for a Twisted app) and the included
    code, each read once."""
    if spec.runtime == "twisted":
        files = [PayloadFile(layout.launcher, 0o755, read_file(launchers.TWISTED_LAUNCHER, "launcher"),
                             tree_path=f"lib/{PurePosixPath(layout.launcher).name}", role="launcher")]
        return files + include_files(spec, layout)
    files = [
        PayloadFile(layout.launcher, 0o755, LAUNCHER.format(name=spec.name, libdir=layout.libdir).encode(),
                    tree_path="lib/tapd", role="launcher"),
        PayloadFile(f"{layout.libdir}/tap2pkg/__init__.py", 0o644, STUB_INIT % __version__.encode(),
                    tree_path="lib/tap2pkg/__init__.py", role="runtime"),
    ]
    for rel, data in runtime_files():
        files.append(PayloadFile(f"{layout.libdir}/{rel}", 0o644, data, tree_path=f"lib/{rel}",
                                 role="runtime"))
    return files + include_files(spec, layout)


@functools.lru_cache(maxsize=1)
def runtime_files() -> tuple[tuple[str, bytes], ...]:
    """The bundled runtime as packages carry it: ``(tap2pkg/runtime/..., bytes)``, sorted.

    tap2pkg's own installed files, read once per process: a batch (one call
    for many app files) does not read them again for every package
    (``BENCHMARKS.md``, the batch rows).
    """
    rt = runtime_dir()
    return tuple((str(PurePosixPath("tap2pkg/runtime", path.relative_to(rt).as_posix())),
                  read_file(path, "runtime")) for path in _tree_files(rt))


def include_files(spec: PackageSpec, layout: Layout) -> list[PayloadFile]:
    """Every ``--include``'s files, under the library directory."""
    files = []
    for inc in spec.includes:
        for installed, path in included_files(inc):
            files.append(PayloadFile(f"{layout.libdir}/{installed}", _code_mode(path),
                                     read_file(path, "include"), tree_path=f"lib/{installed}",
                                     role="include"))
    return files


@dataclass(frozen=True, slots=True)
class ServiceRole:
    """One service file: its template, where it is installed, and its name in each format's sources."""

    name: str
    template: str
    #: the :class:`Layout` attribute holding the installed path (None there: not on that distribution)
    place: str
    mode: int
    #: the ``debian/<pkg>.<debian_name>`` file debhelper installs it from
    debian_name: str
    #: the ``<pkg><rpm_suffix>`` file beside the ``.spec`` and its path with rpm macros ("": not in RPMs)
    rpm_suffix: str
    rpm_macro_path: str


#: The one table of service files, in the order the Debian tree lists them.
SERVICE_ROLES = (
    ServiceRole("unit", "service/unit.service", "unit_path", 0o644, "service",
                ".service", "%{_unitdir}/%{name}.service"),
    ServiceRole("init", "service/init.sh", "init_path", 0o755, "init", "", ""),
    ServiceRole("default", "service/default", "default_file", 0o644, "default",
                ".sysconfig", "%{_sysconfdir}/sysconfig/%{name}"),
    ServiceRole("logrotate", "service/logrotate", "logrotate_path", 0o644, "logrotate",
                ".logrotate", "%{_sysconfdir}/logrotate.d/%{name}"),
    ServiceRole("sysusers", "service/sysusers.conf", "sysusers_path", 0o644, "sysusers",
                ".sysusers", "%{_sysusersdir}/%{name}.conf"),
    ServiceRole("tmpfiles", "service/tmpfiles.conf", "tmpfiles_path", 0o644, "tmpfiles",
                ".tmpfiles", "%{_tmpfilesdir}/%{name}.conf"),
    # The license of what tap2pkg bundles (the runtime and tapd, or the Twisted launcher), for rpm's
    # %license; a Debian package has it in its copyright file.
    ServiceRole("license", "service/license.txt", "license_path", 0o644, "license",
                ".license", "%{_defaultlicensedir}/%{name}/LICENSE.tap2pkg"),
)
ROLES = {role.name: role for role in SERVICE_ROLES}


#: The latest build time every format can hold: RPM stores 32-bit unsigned times, and its changelog
#: entry is dated noon of the build's day (so the last day must end before 2**32 - 1 + 12 h).
MAX_SOURCE_DATE_EPOCH = (2**32 - 1 - 43200) // 86400 * 86400 + 86399  # 2106-02-06 23:59:59 UTC


def build_time(spec: PackageSpec) -> int:
    """The one build time of both formats: ``SOURCE_DATE_EPOCH`` (``spec.source_date_epoch``), else the
    app file's modification time, so a rebuild of unchanged input gives the same bytes; but not before
    the Debian Policy release the package claims (:func:`tap2pkg.deb.policy.earliest_date`: an app
    file unpacked from an old tarball), which the build's notes say (:func:`app_file_time`)."""
    if spec.source_date_epoch is not None:
        return spec.source_date_epoch
    return max(app_file_time(spec.app_file), policy.earliest_date(spec.distribution))


def app_file_time(app_file: Path) -> int:
    """The app file's modification time, in whole seconds from 1970, within what packages carry."""
    try:
        when = int(os.stat(app_file).st_mtime)
    except OSError:
        raise AppFileNotFoundError(app_file, "no such file; give an existing app file") from None
    if not 0 <= when <= MAX_SOURCE_DATE_EPOCH:
        raise InvalidOptionValueError(
            f"{app_file}: modified at {when} seconds from 1970, outside 0 to {MAX_SOURCE_DATE_EPOCH} "
            "(the times a package can carry), and a build is dated by it: set SOURCE_DATE_EPOCH, or touch "
            "the file")
    return when


@dataclass(frozen=True, slots=True)
class Payload:
    """Everything format-neutral that goes into one package, computed once (see the module docs)."""

    spec: PackageSpec
    layout: Layout
    build_time: int
    #: what every template sees (:func:`tap2pkg.render.template_context`)
    context: Mapping[str, Any]
    #: every installed file, sorted by installed path
    files: tuple[PayloadFile, ...]

    @classmethod
    def for_spec(cls, spec: PackageSpec, distro: str) -> Payload:
        """Read and render ``spec``'s package for ``distro``: each file read once, each template once."""
        check_runtime(spec)
        when = build_time(spec)
        if not spec.app_file.is_file():
            raise AppFileNotFoundError(spec.app_file, "no such file; give an existing app file")
        layout = Layout.for_spec(spec, distro)
        context = render.template_context(spec, layout, when)
        files = [PayloadFile(layout.app_path, 0o644, read_file(spec.app_file, "app"), conffile=True,
                             tree_path=spec.app_file_name, role="app"),
                 *code_files(spec, layout)]
        for role in SERVICE_ROLES:
            path = getattr(layout, role.place)
            if path is not None:
                files.append(PayloadFile(path, role.mode, render.render(role.template, context).encode(),
                                         conffile=path.startswith("/etc/"), role=role.name))
        return cls(spec, layout, when, context, tuple(sorted(files, key=lambda f: f.path)))

    def service_files(self) -> list[PayloadFile]:
        """The rendered service files, in :data:`SERVICE_ROLES` order."""
        by_role = {f.role: f for f in self.files}
        return [by_role[role.name] for role in SERVICE_ROLES if role.name in by_role]

    def tree_files(self) -> list[PayloadFile]:
        """The files of the editable tree outside the format's own directory, sorted by tree path."""
        return sorted((f for f in self.files if f.tree_path is not None), key=lambda f: f.tree_path or "")


def check_runtime(spec: PackageSpec) -> None:
    """Refuse what the chosen runtime cannot run: a Twisted app in Twisted's old XML form (``.tax``)."""
    if spec.runtime == "twisted" and spec.app_kind not in TWISTD_OPTIONS:
        raise UnknownAppTypeError(
            f"{spec.app_file}: a Twisted application in Twisted's old XML form, which the distribution's "
            "Twisted cannot load any more; save it again as a .tap or .tas with Twisted "
            "(twisted.persisted.sob), or write it as a .tac")


def parent_dirs(paths: list[str]) -> list[str]:
    """Every directory above ``paths`` (not ``/``), sorted, for archive writers."""
    dirs: set[str] = set()
    for p in paths:
        parent = PurePosixPath(p).parent
        while str(parent) != "/":
            dirs.add(str(parent))
            parent = parent.parent
    return sorted(dirs)
