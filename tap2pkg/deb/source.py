"""The Debian payload, the editable source tree it is written as, and the source package.

:class:`DebPayload` is everything a Debian build writes, computed once: the
format-neutral :class:`~tap2pkg.payload.Payload` (files read once, service
files rendered once, one build time) plus every ``debian/`` file rendered from
``templates/debian/``. Its destinations: :func:`write_source_tree` lays out
``<pkg>-<version>/`` (the app file, the bundled runtime or the Twisted
launcher, the included code under ``lib/``, and ``debian/``); :func:`build_source_package` writes the
``.orig.tar.gz`` itself (reproducibly) and runs ``dpkg-source -b`` for the
``.dsc`` and the ``.debian.tar.xz``; the native writer
(:mod:`tap2pkg.deb.native`) makes the ``.deb``.
"""

from __future__ import annotations

import datetime
import email.utils
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BuildToolError, MissingToolError, OutputError, UnsupportedEditError
from ..payload import ROLES, Payload, build_time
from ..regen import TreeEdits, TreeFormat
from ..render import render
from ..runtime.lazy import lazy_import
from ..spec import PackageSpec
from ..tree_state import Files, regular_tree_file
from .archive import TarMember, compress, normalize_modes, tar_bytes
from .licenses import license_paragraphs
from .policy import DEFAULT_STANDARDS_VERSION, standards_version

if TYPE_CHECKING:
    import shutil

    from .. import tools
    from . import tree as deb_tree
else:  # imported on first use: deb/tree.py imports this module; the rest to run a tool or replace a tree
    shutil = lazy_import("shutil")
    tools = lazy_import("tap2pkg.tools")
    deb_tree = lazy_import("tap2pkg.deb.tree")

#: The Debian Policy version the generated packages follow (see :mod:`tap2pkg.deb.policy`).
STANDARDS_VERSION = DEFAULT_STANDARDS_VERSION

#: Python the bundled runtime needs.
PYTHON_DEPENDS = "python3 (>= 3.11)"


def python_depends(spec: PackageSpec) -> str:
    """The Python a package depends on: the bundled runtime's, or any python3 for the Twisted launcher
    (the distribution's python3-twisted, in ``spec.depends``, names its own)."""
    return "python3" if spec.runtime == "twisted" else PYTHON_DEPENDS

#: ``debian/`` files rendered from the template of the same name under ``templates/debian/``: (name, mode);
#: ``{pkg}`` is the package name.
_DEBIAN_TEMPLATES = (
    ("control", "control", 0o644), ("changelog", "changelog", 0o644), ("copyright", "copyright", 0o644),
    ("source/format", "source/format", 0o644), ("rules", "rules", 0o755), ("{pkg}.install", "install", 0o644),
    ("{pkg}.preinst", "preinst", 0o755), ("{pkg}.postinst", "postinst", 0o755),
    ("{pkg}.prerm", "prerm", 0o755), ("{pkg}.postrm", "postrm", 0o755),
    ("source/lintian-overrides", "source-lintian-overrides", 0o644),
    ("{pkg}.lintian-overrides", "lintian-overrides", 0o644),
)


@dataclass(frozen=True, slots=True)
class DebPayload:
    """A Debian package's payload, computed once: the installed files and every ``debian/`` file."""

    core: Payload
    #: what ``templates/debian/`` sees: the core context plus the Debian fields
    context: Mapping[str, Any]
    #: every file of ``debian/``: relative path -> (text, mode)
    debian: Mapping[str, tuple[str, int]]

    @classmethod
    def for_spec(cls, spec: PackageSpec) -> DebPayload:
        """Read and render ``spec``'s Debian package."""
        core = Payload.for_spec(spec, "debian")
        context = {
            **core.context,
            "standards_version": standards_version(spec.distribution),
            "depends": ", ".join(["${misc:Depends}", python_depends(spec), "adduser",
                                  *map(str, spec.depends)]),
            "long_description": spec.long_description or _default_long_description(spec),
            "year": time.gmtime(core.build_time).tm_year,
            "licenses": license_paragraphs(spec.license, "MIT"),
            # dh_install's lib/* leaves out names that start with a dot: the install list adds the patterns
            # that match them (never the names, which may hold a space or a wildcard), each only when it
            # matches one (dh_install refuses a pattern that matches nothing)
            "hidden_includes": _hidden_patterns({f.tree_path.split("/")[1] for f in core.files
                                                 if f.role == "include" and f.tree_path}),
            **_overrides_context(core.layout.app_path,
                                 [(f.path, f.data) for f in core.files if f.role in ("app", "include")]),
        }
        pkg = spec.name
        debian = {name.format(pkg=pkg): (render(f"debian/{template}", context), mode)
                  for name, template, mode in _DEBIAN_TEMPLATES}
        for f in core.service_files():  # debhelper sets the installed mode itself
            debian[f"{pkg}.{ROLES[f.role].debian_name}"] = (f.data.decode(), 0o644)
        return cls(core, context, debian)

    @property
    def spec(self) -> PackageSpec:
        """The package's spec."""
        return self.core.spec

    def text(self, name: str) -> str:
        """The text of ``debian/<name>`` (``{pkg}`` standing for the package name)."""
        return self.debian[name.format(pkg=self.spec.name)][0]


def _hidden_patterns(names: set[str]) -> list[str]:
    """The glob patterns (the shell's own pair) that match the ``names`` starting with a dot, which ``*``
    leaves out: ``.[!.]*`` for ``.x``, ``..?*`` for ``..x``; only those that match one."""
    return [pattern for pattern, found in ((".[!.]*", any(n[:1] == "." and n[1:2] not in ("", ".")
                                                          for n in names)),
                                           ("..?*", any(n[:2] == ".." and len(n) > 2 for n in names)))
            if found]


def _overrides_context(app_path: str, code: list[tuple[str, bytes]]) -> dict[str, Any]:
    """What ``templates/debian/lintian-overrides`` sees besides the spec: the app file's installed path,
    whether it starts with a ``#!`` line (it is read by the launcher, never run), and the installed app
    file and modules (``code``: path, content) whose ``#!`` line names an interpreter lintian does not
    know (``python``, not ``python3``; never used)."""
    app = next((data for path, data in code if path == app_path), b"")
    return {"app_path": app_path, "app_shebang": app.startswith(b"#!"),
            "unusual_interpreters": [path for path, data in code if _unusual_interpreter(data)]}


def _unusual_interpreter(data: bytes) -> bool:
    """Whether ``data`` starts with a ``#!`` line naming an interpreter other than ``python3``."""
    first_line = data.split(b"\n", 1)[0]
    words = first_line[2:].split() if first_line.startswith(b"#!") else []
    if words[:1] and words[0].endswith(b"/env"):
        words = words[1:]
    return bool(words) and not words[0].rsplit(b"/", 1)[-1].startswith(b"python3")


def _default_long_description(spec: PackageSpec) -> str:
    if spec.runtime == "twisted":
        return (f"This package runs the Twisted application {spec.app_file_name} as the system service "
                f"{spec.name}, as user {spec.user}, with the distribution's Twisted.")
    return (f"This package runs the application {spec.app_file_name} as the system service "
            f"{spec.name}, as user {spec.user}, with the bundled tap2pkg runtime (tapd).")


@dataclass(frozen=True, slots=True)
class SourceTree:
    """An emitted source tree ``<parent>/<pkg>-<version>/`` and the payload written there."""

    payload: DebPayload
    root: Path

    @property
    def spec(self) -> PackageSpec:
        """The package's spec."""
        return self.payload.spec

    @property
    def parent(self) -> Path:
        """The directory holding the tree and, later, the source package files."""
        return self.root.parent

    def version(self) -> str:
        """The version of the top entry of the tree's ``debian/changelog`` as it is on disk: the spec's,
        or the one a packager gave by hand (``dch -v 1.0-2``); what the built files are named after."""
        where = "debian/changelog"
        try:
            text = (self.root / where).read_bytes().decode(errors="replace")
        except FileNotFoundError:
            raise UnsupportedEditError(f"{where}: removed; a source tree needs it (restore it, "
                                       "or regenerate the tree)") from None
        return deb_tree.changelog_version(text, self.spec.name, where)

    def file_version(self) -> str:
        """:meth:`version` as file names carry it: without an epoch (``1:1.0-2`` → ``1.0-2``)."""
        return self.version().split(":", 1)[-1]

    def upstream_version(self) -> str:
        """The upstream part of :meth:`version`, which names the ``.orig.tar.gz`` (``1.1-1`` → ``1.1``)."""
        version = self.file_version()
        return version.rsplit("-", 1)[0] if "-" in version else version


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


def write_source_tree(payload: DebPayload, parent: Path, edits: TreeEdits | None = None) -> SourceTree:
    """Write ``<parent>/<pkg>-<version>/`` with the payload and ``debian/``, then ``edits`` over it
    (hand edits carried from an earlier tree, :mod:`tap2pkg.regen`)."""
    spec, epoch = payload.spec, payload.core.build_time
    root = parent / f"{spec.name}-{spec.version}"
    if os.path.lexists(root):
        if root.is_symlink() or not root.is_dir():
            raise OutputError(f"{root}: a file or link is where the source tree goes; it is left alone: "
                              "move it away")
        shutil.rmtree(root)
    made: set[str] = set()
    for f in payload.core.tree_files():
        _write(f"{root}/{f.tree_path}", f.data, f.mode, epoch, made)
    for rel, (text, mode) in payload.debian.items():
        _write(f"{root}/debian/{rel}", text.encode(), mode, epoch, made)
    if edits is not None:
        edits.apply(root, epoch)
    for dirpath, _dirs, _files in os.walk(root):
        os.utime(dirpath, (epoch, epoch))
    return SourceTree(payload, root)


def orig_tarball(tree: SourceTree) -> Path:
    """Write ``<pkg>_<version>.orig.tar.gz`` beside the tree (everything but ``debian/``)."""
    spec = tree.spec
    top = f"{spec.name}-{spec.version}"
    members: list[TarMember] = []
    seen: set[str] = set()
    for f in tree.payload.core.tree_files():
        assert f.tree_path is not None
        parts = f.tree_path.split("/")
        for i in range(len(parts)):
            d = "/".join([top, *parts[:i]])
            if d not in seen:
                seen.add(d)
                members.append(TarMember(d, 0o755))
        members.append(TarMember(f"{top}/{f.tree_path}", f.mode, f.data))
    out = tree.parent / f"{spec.name}_{tree.upstream_version()}.orig.tar.gz"
    out.write_bytes(compress(tar_bytes(members, tree.payload.core.build_time), "gzip"))
    return out


def tool_env(tree: SourceTree) -> dict[str, str]:
    """The environment for dpkg tools in ``tree``: the build time as ``SOURCE_DATE_EPOCH``, C locale."""
    env = dict(os.environ)
    env.update(SOURCE_DATE_EPOCH=str(tree.payload.core.build_time), LC_ALL="C.UTF-8", TZ="UTC")
    return env


def run_tool(argv: list[str], *, cwd: Path, env: dict[str, str], what: str) -> str:
    """Run an external tool; raise :class:`BuildToolError` with its last output lines on failure."""
    if "/" not in argv[0] and shutil.which(argv[0]) is None:
        raise MissingToolError(f"{argv[0]} is not installed; install it (apt-get install dpkg-dev debhelper) "
                               f"or use --builder native")
    proc = tools.run_tool_process(argv, cwd=cwd, env=env)  # killed with its children if the build stops
    if tools.failed_on_a_full_disk(proc):
        raise OutputError(f"no space left on the device while {what} ran in {cwd.parent}; free some space or "
                          "choose another -o/--output-dir")
    if proc.returncode != 0:
        tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
        raise BuildToolError(f"{what} failed in {cwd} (exit {proc.returncode}): {tail}")
    return proc.stdout


def build_source_package(tree: SourceTree) -> list[Path]:
    """Make the ``.orig.tar.gz``, then ``dpkg-source -b``: returns the three source package files, named
    after the version of the tree's changelog."""
    orig = orig_tarball(tree)
    normalize_modes(tree.root)
    run_tool(["dpkg-source", "--compression=xz", "-b", tree.root.name], cwd=tree.parent, env=tool_env(tree),
             what="dpkg-source -b")
    base = f"{tree.spec.name}_{tree.file_version()}"
    return [tree.parent / f"{base}.dsc", orig, tree.parent / f"{base}.debian.tar.xz"]


# --- the tree's history and edits (tap2pkg.regen) ------------------------------------------------------

_CHANGELOG = "debian/changelog"


def generated_tree(payload: DebPayload) -> Files:
    """Every file of the payload's generated tree, relative to it: (content, mode)."""
    files = {f.tree_path: (f.data, f.mode) for f in payload.core.tree_files() if f.tree_path is not None}
    files.update({f"debian/{rel}": (text.encode(), mode) for rel, (text, mode) in payload.debian.items()})
    return files


def tree_files(root: Path, tracked: object = ()) -> Files:
    """The files of the tree at ``root`` as they are (debhelper's build leftovers skipped). A link or
    anything else but a regular file or directory is refused (:func:`~tap2pkg.tree_state.regular_tree_file`):
    the rewritten tree could not keep it."""
    del tracked  # a Debian tree is all its files
    package = root.resolve().name.rsplit("-", 1)[0]  # <pkg>-<version>
    found: Files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = sorted(d for d in dirnames
                             if not build_leftover(f"{rel_dir}/{d}".removeprefix("./"), package))
        for name in dirnames:  # os.walk lists a link to a directory here, and does not enter it
            regular_tree_file(Path(dirpath) / name, directory=True)
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}".removeprefix("./")
            if not build_leftover(rel, package):
                found[rel] = regular_tree_file(Path(dirpath) / name)
    return found


def build_leftover(rel: str, package: str) -> bool:
    """True for a path of a tree (relative to it) that debhelper leaves after a build: not an edit."""
    inside = rel.removeprefix("debian/")
    # debhelper's leftovers: the one list, kept with the reader that skips them too
    return inside != rel and (bool(deb_tree._BUILD_LEFTOVERS.fullmatch(inside)) or inside == package
                              or inside.startswith(f"{package}/"))


def last_version(files: Mapping[str, tuple[bytes, int]], spec: PackageSpec) -> str | None:
    """The version of the top entry of the tree's ``debian/changelog`` (None without one)."""
    if _CHANGELOG not in files:
        return None
    return deb_tree.changelog_version(files[_CHANGELOG][0].decode(errors="replace"), spec.name, _CHANGELOG)


def changelog_entry(spec: PackageSpec, message: str | None, not_before: int | None = None) -> str:
    """A new ``debian/changelog`` entry for ``spec``, dated at the build time (``SOURCE_DATE_EPOCH``), or
    at ``not_before`` when that is later (an entry must be newer than the one below it)."""
    when = build_time(spec) if not_before is None else max(build_time(spec), not_before)
    context: dict[str, Any] = {"spec": spec, "build_time": when}
    if message is not None:
        context["message"] = message
    return render("debian/changelog", context)


#: The trailer line of a changelog entry: `` -- NAME <ADDRESS>  DATE``.
_TRAILER = re.compile(r"^ -- .*?>  (?P<date>\S.*?)\s*$", re.MULTILINE)


def top_entry_time(changelog: bytes) -> int | None:
    """The date of the top entry of a Debian changelog, in seconds (None when it has none dpkg reads)."""
    match = _TRAILER.search(changelog.decode(errors="replace"))
    if match is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(match["date"])
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC
        when = when.replace(tzinfo=datetime.UTC)
    return int(when.timestamp())


def carry_history(payload: DebPayload, base: Files, theirs: Files, new: Files,
                  message: str | None) -> tuple[Files, Files]:
    """The changelog as the packager has it, with a new entry on top for a new release (dch's way): dated
    at the build time, or one second after the entry below it when the build time is not later (an app
    file unchanged since the last release), as dpkg and lintian want every entry newer than the last;
    ``new`` is what ``payload`` generated."""
    spec = payload.spec
    base, new = dict(base), dict(new)
    if _CHANGELOG not in theirs:
        if message is not None:
            new[_CHANGELOG] = (changelog_entry(spec, message).encode(), new[_CHANGELOG][1])
        return base, new
    history, mode = theirs[_CHANGELOG]
    if last_version(theirs, spec) != spec.full_version:
        default = f"New release {spec.full_version}, regenerated by tap2pkg."
        previous = top_entry_time(history)
        history = (changelog_entry(spec, message or default, None if previous is None else previous + 1)
                   .encode() + b"\n" + history)
    base[_CHANGELOG] = theirs[_CHANGELOG]
    new[_CHANGELOG] = (history, mode)
    overrides = f"debian/{spec.name}.lintian-overrides"
    if overrides in new and len(_TRAILER.findall(history.decode(errors="replace"))) > 1:
        # a later release: the first upload's override would be unused (lintian's unused-override)
        new[overrides] = (render("debian/lintian-overrides", {**payload.context, "first_release": False})
                          .encode(), new[overrides][1])
    return base, new


def _tree_dir(spec: PackageSpec, output_dir: Path) -> Path:
    return Path(output_dir) / f"{spec.name}-{spec.version}"


#: What :mod:`tap2pkg.regen` asks of a Debian tree.
TREE_FORMAT = TreeFormat("deb", _tree_dir, DebPayload.for_spec, generated_tree, tree_files, last_version,
                         carry_history)
