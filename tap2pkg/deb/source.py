"""The editable Debian source tree, its ``debian/`` directory and the source package.

:func:`write_source_tree` lays out ``<pkg>-<version>/`` (the app file, the
bundled runtime, the included code under ``lib/``, and ``debian/`` rendered
from ``templates/debian/`` and ``templates/service/``);
:func:`build_source_package` writes the ``.orig.tar.gz`` itself
(reproducibly) and runs ``dpkg-source -b`` for the ``.dsc`` and the
``.debian.tar.xz``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle import Layout, PayloadFile, code_files
from ..errors import AppFileNotFoundError, BuildToolError, MissingToolError, OutputError
from ..render import render, render_service_files, template_context
from ..spec import PackageSpec
from .archive import TarMember, compress, tar_bytes
from .licenses import license_paragraphs

#: The Debian Policy version the generated packages follow.
STANDARDS_VERSION = "4.7.0"

#: Python the bundled runtime needs.
PYTHON_DEPENDS = "python3 (>= 3.11)"

#: Service roles -> the debian/ file debhelper installs each from.
_SERVICE_DEBIAN_NAMES = {
    "unit": "{pkg}.service", "init": "{pkg}.init", "default": "{pkg}.default",
    "logrotate": "{pkg}.logrotate", "sysusers": "{pkg}.sysusers", "tmpfiles": "{pkg}.tmpfiles",
}


@dataclass(frozen=True)
class SourceTree:
    """An emitted source tree ``<parent>/<pkg>-<version>/``."""

    spec: PackageSpec
    root: Path

    @property
    def parent(self) -> Path:
        """The directory holding the tree and, later, the source package files."""
        return self.root.parent


def build_epoch(spec: PackageSpec) -> int:
    """The build's timestamp: ``spec.source_date_epoch``, or now."""
    return spec.source_date_epoch if spec.source_date_epoch is not None else int(time.time())


def debian_context(spec: PackageSpec) -> dict[str, Any]:
    """The template context for ``templates/debian/``."""
    context = template_context(spec, "debian")
    epoch = build_epoch(spec)
    context.update(
        standards_version=STANDARDS_VERSION,
        depends=", ".join(["${misc:Depends}", PYTHON_DEPENDS, "adduser", *map(str, spec.depends)]),
        long_description=spec.long_description or _default_long_description(spec),
        year=time.gmtime(epoch).tm_year,
        licenses=license_paragraphs(spec.license, "MIT"),
    )
    return context


def _default_long_description(spec: PackageSpec) -> str:
    return (f"This package runs the application {spec.app_file_name} as the system service "
            f"{spec.name}, as user {spec.user}, with the bundled tap2pkg runtime (tapd).")


def debian_files(spec: PackageSpec) -> dict[str, tuple[str, int]]:
    """Every file of ``debian/``: relative path -> (text, mode)."""
    context = debian_context(spec)
    files: dict[str, tuple[str, int]] = {}
    for name in ("control", "changelog", "copyright", "source/format"):
        files[name] = (render(f"debian/{name}", context), 0o644)
    files["rules"] = (render("debian/rules", context), 0o755)
    pkg = spec.name
    files[f"{pkg}.install"] = (render("debian/install", context), 0o644)
    for script in ("preinst", "postinst", "postrm"):
        files[f"{pkg}.{script}"] = (render(f"debian/{script}", context), 0o755)
    files["source/lintian-overrides"] = (render("debian/source-lintian-overrides", context), 0o644)
    files[f"{pkg}.lintian-overrides"] = (render("debian/lintian-overrides", context), 0o644)
    for role, text in render_service_files(spec, "debian").items():
        files[_SERVICE_DEBIAN_NAMES[role].format(pkg=pkg)] = (text, 0o644)
    return files


def tree_payload(spec: PackageSpec) -> list[PayloadFile]:
    """The files of the tree outside ``debian/`` (they make the ``.orig.tar.gz``)."""
    if not spec.app_file.is_file():
        raise AppFileNotFoundError(spec.app_file, "no such file; give an existing app file")
    layout = Layout.for_spec(spec, "debian")
    app = PayloadFile(layout.app_path, 0o644, source=spec.app_file, conffile=True,
                      tree_path=spec.app_file_name, role="app")
    return sorted([app, *code_files(spec, layout)], key=lambda f: f.tree_path or "")


def _write(path: str, data: bytes, mode: int, epoch: int, made: set[str]) -> None:
    parent = os.path.dirname(path)
    if parent not in made:  # one mkdir per directory, not per file
        os.makedirs(parent, exist_ok=True)
        made.add(parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.utime(path, (epoch, epoch))



def write_source_tree(spec: PackageSpec, parent: Path) -> SourceTree:
    """Write ``<parent>/<pkg>-<version>/`` with the payload and ``debian/``."""
    epoch = build_epoch(spec)
    root = parent / f"{spec.name}-{spec.version}"
    if os.path.lexists(root):
        if root.is_symlink() or not root.is_dir():
            raise OutputError(f"{root}: a file or link is where the source tree goes; it is left alone: "
                              "move it away")
        import shutil

        shutil.rmtree(root)
    made: set[str] = set()
    for f in tree_payload(spec):
        assert f.tree_path is not None
        _write(f"{root}/{f.tree_path}", f.read(), f.mode, epoch, made)
    for rel, (text, mode) in debian_files(spec).items():
        _write(f"{root}/debian/{rel}", text.encode(), mode, epoch, made)
    for dirpath, _dirs, _files in os.walk(root):
        os.utime(dirpath, (epoch, epoch))
    return SourceTree(spec, root)


def orig_tarball(tree: SourceTree) -> Path:
    """Write ``<pkg>_<version>.orig.tar.gz`` beside the tree (everything but ``debian/``)."""
    spec = tree.spec
    top = f"{spec.name}-{spec.version}"
    members: list[TarMember] = []
    seen: set[str] = set()
    for f in tree_payload(spec):
        assert f.tree_path is not None
        parts = f.tree_path.split("/")
        for i in range(len(parts)):
            d = "/".join([top, *parts[:i]])
            if d not in seen:
                seen.add(d)
                members.append(TarMember(d, 0o755))
        members.append(TarMember(f"{top}/{f.tree_path}", f.mode, f.read()))
    out = tree.parent / f"{spec.name}_{spec.version}.orig.tar.gz"
    out.write_bytes(compress(tar_bytes(members, build_epoch(spec)), "gzip"))
    return out


def tool_env(spec: PackageSpec) -> dict[str, str]:
    """The environment for dpkg tools: reproducible timestamps, C locale."""
    env = dict(os.environ)
    env.update(SOURCE_DATE_EPOCH=str(build_epoch(spec)), LC_ALL="C.UTF-8", TZ="UTC")
    return env


def run_tool(argv: list[str], *, cwd: Path, env: dict[str, str], what: str) -> str:
    """Run an external tool; raise :class:`BuildToolError` with its last output lines on failure."""
    import shutil

    from ..tools import run_tool_process

    if "/" not in argv[0] and shutil.which(argv[0]) is None:
        raise MissingToolError(f"{argv[0]} is not installed; install it (apt-get install dpkg-dev debhelper) "
                               f"or use --builder native")
    proc = run_tool_process(argv, cwd=cwd, env=env)  # killed with its children if the build stops
    if proc.returncode != 0:
        tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
        raise BuildToolError(f"{what} failed in {cwd} (exit {proc.returncode}): {tail}")
    return proc.stdout


def build_source_package(tree: SourceTree) -> list[Path]:
    """Make the ``.orig.tar.gz``, then ``dpkg-source -b``: returns the three source package files."""
    spec = tree.spec
    orig = orig_tarball(tree)
    run_tool(["dpkg-source", "--compression=xz", "-b", tree.root.name], cwd=tree.parent, env=tool_env(spec),
             what="dpkg-source -b")
    base = f"{spec.name}_{spec.full_version}"
    return [tree.parent / f"{base}.dsc", orig, tree.parent / f"{base}.debian.tar.xz"]
