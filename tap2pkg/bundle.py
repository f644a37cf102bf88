"""What goes into a package: the installed layout and the payload file list.

Both formats' native writers and both source-tree writers take their file
list from :func:`payload`, so a ``.deb`` and an ``.rpm`` of one app install
the same files with the same modes:

* the app file, as a conffile, to ``/etc/<pkg>/``;
* the bundled runtime (``tap2pkg/runtime/**`` minus ``__pycache__``) plus a
  stub ``tap2pkg/__init__.py``, the ``tapd`` launcher and every ``--include``
  to ``/usr/lib/<pkg>/``;
* the rendered service files (unit, init script, default file, logrotate,
  sysusers, tmpfiles) to their standard places for the distribution.

Documentation files (``copyright``, changelogs) differ per format and are
added by each backend.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path, PurePosixPath

from .errors import IncludeNotFoundError
from .record import record
from .spec import PackageSpec

#: Distribution families the layout knows; templates get this as ``distro``.
DISTROS = ("debian", "fedora")

#: Names never copied from the runtime or included code.
_SKIP_NAMES = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache"})
_SKIP_SUFFIXES = (".pyc", ".pyo")

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


@record(frozen=True)
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
            launcher=f"/usr/lib/{n}/tapd",
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
        )


@record(frozen=True)
class PayloadFile:
    """One installed file: where it goes, its mode, and where its bytes come from.

    Exactly one of ``data`` and ``source`` is set. ``tree_path`` is the file's
    place in the editable source tree (relative), or None for files a backend
    places itself (the rendered service files live in ``debian/`` or beside
    the ``.spec``).
    """

    path: str
    mode: int
    data: bytes | None = None
    source: Path | None = None
    conffile: bool = False
    tree_path: str | None = None
    role: str = "file"

    def read(self) -> bytes:
        """The file's content."""
        if self.data is not None:
            return self.data
        assert self.source is not None
        st = self.source.stat()
        return _read_cached(str(self.source), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=1024)
def _read_cached(path: str, mtime_ns: int, size: int) -> bytes:
    # Every package of a batch bundles the same runtime files, and each build reads
    # each file several times (tree, md5sums, archive); the stat key keeps it fresh.
    del mtime_ns, size
    with open(path, "rb") as fh:
        return fh.read()


def runtime_dir() -> Path:
    """The runtime package copied into every package."""
    return Path(__file__).resolve().parent / "runtime"


def check_includes(spec: PackageSpec) -> None:
    """Raise :class:`IncludeNotFoundError` for an ``--include`` that does not exist."""
    for inc in spec.includes:
        if not inc.exists():
            raise IncludeNotFoundError(f"--include {inc}: no such file or directory; fix the path or drop it")


def _tree_files(root: Path) -> Iterator[Path]:
    """Files under ``root`` (or ``root`` itself), sorted, skipping caches."""
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_NAMES)
        for fname in sorted(filenames):
            if fname.endswith(_SKIP_SUFFIXES):
                continue
            yield Path(dirpath) / fname


def _code_mode(path: Path) -> int:
    return 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644


def code_files(spec: PackageSpec, layout: Layout) -> list[PayloadFile]:
    """The launcher, the bundled runtime, its stub package and the included code."""
    from . import __version__

    files = [
        PayloadFile(layout.launcher, 0o755,
                    data=LAUNCHER.format(name=spec.name, libdir=layout.libdir).encode(),
                    tree_path="lib/tapd", role="launcher"),
        PayloadFile(f"{layout.libdir}/tap2pkg/__init__.py", 0o644, data=STUB_INIT % __version__.encode(),
                    tree_path="lib/tap2pkg/__init__.py", role="runtime"),
    ]
    rt = runtime_dir()
    for path in _tree_files(rt):
        rel = PurePosixPath("tap2pkg/runtime", path.relative_to(rt).as_posix())
        files.append(PayloadFile(f"{layout.libdir}/{rel}", 0o644, source=path, tree_path=f"lib/{rel}",
                                 role="runtime"))
    check_includes(spec)
    for inc in spec.includes:
        base = inc.resolve()
        for path in _tree_files(base):
            rel = PurePosixPath(base.name) if base.is_file() else PurePosixPath(
                base.name, path.relative_to(base).as_posix())
            files.append(PayloadFile(f"{layout.libdir}/{rel}", _code_mode(path), source=path,
                                     tree_path=f"lib/{rel}", role="include"))
    return files


#: Service file roles, as :func:`tap2pkg.render.render_service_files` names them.
SERVICE_ROLES = ("unit", "init", "default", "logrotate", "sysusers", "tmpfiles")


def service_files(layout: Layout, rendered: Mapping[str, str]) -> list[PayloadFile]:
    """The rendered service files at their installed places."""
    places = {
        "unit": (layout.unit_path, 0o644),
        "init": (layout.init_path, 0o755),
        "default": (layout.default_file, 0o644),
        "logrotate": (layout.logrotate_path, 0o644),
        "sysusers": (layout.sysusers_path, 0o644),
        "tmpfiles": (layout.tmpfiles_path, 0o644),
    }
    out = []
    for role in SERVICE_ROLES:
        path, mode = places[role]
        if path is None or role not in rendered:
            continue
        out.append(PayloadFile(path, mode, data=rendered[role].encode(), conffile=path.startswith("/etc/"),
                               role=role))
    return out


def payload(spec: PackageSpec, layout: Layout, rendered: Mapping[str, str]) -> list[PayloadFile]:
    """Every format-neutral installed file, sorted by installed path.

    ``rendered`` maps service roles (see :data:`SERVICE_ROLES`) to file text.
    """
    if not spec.app_file.is_file():
        from .errors import AppFileNotFoundError

        raise AppFileNotFoundError(spec.app_file, "no such file; give an existing app file")
    files = [PayloadFile(layout.app_path, 0o644, source=spec.app_file, conffile=True,
                         tree_path=spec.app_file_name, role="app")]
    files += code_files(spec, layout)
    files += service_files(layout, rendered)
    return sorted(files, key=lambda f: f.path)


def parent_dirs(paths: list[str]) -> list[str]:
    """Every directory above ``paths`` (not ``/``), sorted, for archive writers."""
    dirs: set[str] = set()
    for p in paths:
        parent = PurePosixPath(p).parent
        while str(parent) != "/":
            dirs.add(str(parent))
            parent = parent.parent
    return sorted(dirs)
