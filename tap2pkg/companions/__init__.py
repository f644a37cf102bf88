"""Companion packages: the app's own project and the requirements the distribution lacks.

A service built from a real project needs more than its app file: the
project's code (``python3-<project>``) and every requirement that no archive
package provides (``python3-klein``). :func:`plan` lists them, each with its
role (``project`` or ``dependency``), its exact version and the relations it
carries itself; the service depends on each with ``=`` (see
:mod:`tap2pkg.settings`).

A dependency is fetched as an sdist from the package index (``pip download
--no-binary :all: --no-deps``, pinned to the newest version the requirement
allows; :class:`SdistIndex`) and its own requirements are resolved in turn,
recursively. The Debian companions are built by :mod:`tap2pkg.companions.debian`
(stdeb, with its known failures worked around, else a generated ``pybuild``
``debian/``), the RPM ones by :mod:`tap2pkg.companions.rpm` (a generated
``.spec``). The front ends call one function for either format:

>>> entries, notes = build_companions(spec, "rpm", Path("dist"))  # doctest: +SKIP
>>> [(e["name"], e["role"], e["builder"]) for e in entries]  # doctest: +SKIP
[('python3-kleinapp', 'project', 'rpmbuild'), ('python3-klein', 'dependency', 'rpmbuild')]

and :func:`requirement_entries` for the ``requirements`` of the service's
``--json`` entry.

Before anything is built, :func:`build_companions` refuses in one line a
companion whose package or source name is the service's own (their files would
replace each other; exit 73), and one whose ``[build-system] requires`` (a
backend's plugins: ``hatch-fancy-pypi-readme``, ``incremental >= 24.7.1``)
the build host's python3 lacks (:func:`check_build_requirements`), rather than
fail deep in the build. Every tool a companion build runs is dated by the
service's one build time (:func:`build_env`), and the project's sdist is
repacked to the same bytes for the same files (:func:`reproducible_sdist`).
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import textpolicy
from ..dependency import Dependency
from ..errors import (
    BuildToolError,
    InvalidOptionValueError,
    MissingToolError,
    OutputError,
    ProjectError,
    RequirementError,
)
from ..project import Project, read_sdist_metadata
from ..pydeps import (
    Resolved,
    Resolver,
    Target,
    apt_version,
    companion_package,
    debian_candidates,
    upstream_version,
)
from ..runtime.lazy import lazy_import

if TYPE_CHECKING:
    import tomllib

    from packaging import version as packaging_version

    from .. import payload, settings
else:  # imported on first use: settings.py imports this package (settings here would be a cycle)
    packaging_version = lazy_import("packaging.version")
    settings = lazy_import("tap2pkg.settings")
    payload = lazy_import("tap2pkg.payload")  # the build time, when building
    tomllib = lazy_import("tomllib")  # only to read a project's or sdist's [build-system]

#: Where fetched sdists are kept between builds.
CACHE_ENV = "TAP2PKG_CACHE_DIR"
#: The module of this package that builds each format's companions (its ``build_set(spec, output_dir)``).
FORMAT_MODULES = {"deb": "debian", "rpm": "rpm"}
#: PEP 517's default build requirement of a project that declares none (a setup.py-only one).
DEFAULT_BUILD_REQUIRES = ("setuptools>=40.8.0",)
#: Build requirements whose Debian package dh-python's mapping names otherwise (``python3-pkg-resources``).
BUILD_PACKAGES = {"setuptools": "python3-setuptools"}
#: The python3 a companion is built with (dh-python's, rpmbuild's): the distribution's.
SYSTEM_PYTHON = "/usr/bin/python3"


def cache_dir() -> Path:
    """``$TAP2PKG_CACHE_DIR``, else ``$XDG_CACHE_HOME/tap2pkg`` (``~/.cache/tap2pkg``)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tap2pkg"


@dataclass(frozen=True)
class Companion:
    """One companion package to build beside the service."""

    #: ``python3-<normalized name>``
    package: str
    #: the project's own name (``klein``)
    name: str
    #: upstream version (PEP 440)
    version: str
    #: ``project`` (the app's own) or ``dependency``
    role: str
    #: the project directory (role project) or the sdist (role dependency)
    source: Path
    #: its own requirements, resolved
    requires: tuple[Resolved, ...] = ()
    summary: str = ""
    license: str = ""
    homepage: str = ""
    #: the build backend its sources declare
    backend: str = ""

    def __post_init__(self) -> None:
        """Validated once: the metadata comes from someone else's project (an sdist from the index)."""
        where = f"the metadata of the project {self.name!r}"
        try:
            packaging_version.Version(self.version)
        except packaging_version.InvalidVersion:
            raise ProjectError(f"{where}: its version {self.version!r} is not a PEP 440 version; fix the "
                               "project, or skip the requirement (--skip-requirement)") from None
        try:
            for label, value in (("name", self.name), ("summary", self.summary), ("license", self.license),
                                 ("homepage", self.homepage)):
                textpolicy.check_text(label, value, option=where)
        except InvalidOptionValueError as exc:
            raise ProjectError(str(exc)) from None

    @property
    def synopsis(self) -> str:
        """The one-line summary the package carries (the project's, whitespace folded, else a generic one)."""
        return " ".join((self.summary or f"the Python project {self.name}").split())

    @property
    def license_name(self) -> str:
        """The license as one word (an SPDX name); :data:`~tap2pkg.settings.LICENSE_NOT_GIVEN` when the
        metadata gives none, or gives a text rather than a name. Nothing is invented."""
        return self.license if self.license and " " not in self.license else settings.LICENSE_NOT_GIVEN

    @property
    def url(self) -> str:
        """The project's homepage when it is one http(s) URL, else '' (no field is written)."""
        return self.homepage if re.fullmatch(r"https?://[^\s<>\"]+", self.homepage) else ""

    @property
    def depends(self) -> tuple[Dependency, ...]:
        """The relations it carries: its resolved requirements (archive and companions)."""
        return tuple(d for r in self.requires for d in r.depends)


@dataclass
class SdistIndex:
    """Finds (and fetches into the cache) the newest sdist a requirement allows, with pip."""

    directory: Path = field(default_factory=lambda: cache_dir() / "sdists")
    #: normalized name -> (version, path) of what was fetched
    fetched: dict[str, tuple[str, Path]] = field(default_factory=dict)

    def __call__(self, requirement: Requirement) -> str | None:
        """The version fetched for ``requirement`` (markers aside), None when the index has none."""
        name = canonicalize_name(requirement.name)
        if name in self.fetched:
            return self.fetched[name][0]
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.directory) as tmp:
            pinned = f"{requirement.name}{requirement.specifier}"
            done = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--no-binary", requirement.name, "--disable-pip-version-check", "-d", tmp, pinned],
                capture_output=True, text=True, timeout=600, check=False)
            files = sorted(Path(tmp).iterdir())
            if done.returncode != 0 or not files:
                return None
            sdist = files[0]
            final = self.directory / sdist.name
            os.replace(sdist, final)
        version = _sdist_version(final, requirement.name)
        self.fetched[name] = (version, final)
        return version

    def path(self, name: str) -> Path:
        """The sdist fetched for ``name``."""
        return self.fetched[canonicalize_name(name)][1]


def _sdist_version(path: Path, name: str) -> str:
    stem = re.sub(r"\.(tar\.gz|tar\.bz2|tar\.xz|zip|tgz)$", "", path.name)
    prefix = re.compile(re.escape(canonicalize_name(name)).replace(r"\-", "[-_.]"), re.IGNORECASE)
    match = prefix.match(stem)
    return stem[match.end() + 1:] if match else stem.rsplit("-", 1)[-1]


def unpack(sdist: Path, into: Path) -> Path:
    """Unpack ``sdist`` (a .tar.gz) into ``into``; the top directory it holds."""
    with tarfile.open(sdist) as tar:
        tar.extractall(into, filter="data")
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise BuildToolError(f"{sdist.name}: an sdist holds one top directory, this one {len(tops)}; "
                             "report it to the project")
    return tops[0]


def build_env(epoch: int) -> dict[str, str]:
    """The environment entries that date a tool's output by the build time ``epoch``."""
    return {"SOURCE_DATE_EPOCH": str(epoch), "TZ": "UTC", "LC_ALL": "C.UTF-8"}


def reproducible_sdist(sdist: Path, epoch: int) -> None:
    """Rewrite the .tar.gz ``sdist`` in place: members sorted, owned by root, no mtime after ``epoch``, a
    gzip header without time or name, so the same files give the same bytes (setuptools dates it now)."""
    with tarfile.open(sdist) as tar:
        members = sorted(tar.getmembers(), key=lambda m: m.name)
        data = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}  # type: ignore[union-attr]
    out = sdist.with_suffix(".tmp")
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            member.mtime = min(int(member.mtime), epoch)
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
            member.pax_headers = {}
            tar.addfile(member, io.BytesIO(data[member.name]) if member.isfile() else None)
    os.replace(out, sdist)


def build_requirements(source: Path) -> tuple[Requirement, ...]:
    """The ``[build-system] requires`` of a project directory or sdist ``source`` the target needs; PEP
    517's default when it declares none."""
    text: str | None = None
    if source.is_dir():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = (source / "pyproject.toml").read_text(encoding="utf-8")
    elif tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            member = next((m for m in tar.getmembers() if m.isfile() and m.name.count("/") == 1
                           and m.name.endswith("/pyproject.toml")), None)
            data = tar.extractfile(member) if member is not None else None
            with contextlib.suppress(UnicodeDecodeError):
                text = data.read().decode("utf-8") if data is not None else None
    wanted: list[str] = list(DEFAULT_BUILD_REQUIRES)
    try:
        table = tomllib.loads(text).get("build-system", {}) if text is not None else {}
    except tomllib.TOMLDecodeError:
        table = {}
    if isinstance(table, dict) and isinstance(table.get("requires"), list):
        wanted = [str(r) for r in table["requires"]]
    out: list[Requirement] = []
    for item in wanted:
        try:
            requirement = Requirement(item)
        except InvalidRequirement:
            continue  # the backend's own front end would refuse it too; the build reports what is missing
        if Target().wants(requirement):
            out.append(requirement)
    return tuple(out)


def build_package(requirement: Requirement) -> str:
    """The Debian package of a build requirement: ours, dh-python's, else ``python3-<name>``."""
    name = canonicalize_name(requirement.name)
    return BUILD_PACKAGES.get(name) or debian_candidates(name)[0]


def debian_build_depends(companion: Companion) -> list[str]:
    """The Debian packages ``companion``'s ``[build-system] requires`` need, in its Build-Depends."""
    return list(dict.fromkeys(build_package(r) for r in build_requirements(companion.source)))


def host_versions(names: Sequence[str]) -> dict[str, str | None]:
    """The version of each distribution ``names`` the build host's python3 has installed, or None."""
    script = ("import json, sys, importlib.metadata as m\nout = {}\nfor n in json.loads(sys.argv[1]):\n"
              "    try: out[n] = m.version(n)\n    except Exception: out[n] = None\nprint(json.dumps(out))")
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", script, json.dumps(list(names))], capture_output=True,
                              text=True, timeout=120, check=False)
        found = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {n: None for n in names}
    return {n: found.get(n) for n in names}


def check_build_requirements(companions: Sequence[Companion], *,
                             installed: Callable[[Sequence[str]], dict[str, str | None]] = host_versions,
                             archive: Callable[[str], str | None] = apt_version) -> None:
    """Refuse, before anything is built, a companion whose ``[build-system] requires`` the build host's
    python3 lacks (or has too old): exit 85 when the archive has them, else 93 (92 for the project)."""
    wanted = {c.package: build_requirements(c.source) for c in companions if c.source.exists()}
    have = installed(sorted({canonicalize_name(r.name) for rs in wanted.values() for r in rs}))
    for companion in companions:
        missing: list[str] = []
        packages: list[str] = []
        fixable = True
        for requirement in wanted.get(companion.package, ()):
            version = have.get(canonicalize_name(requirement.name))
            if version is not None and _allows(requirement, version):
                continue
            package = build_package(requirement)
            offered = archive(package)
            fixable = fixable and offered is not None and _allows(requirement, upstream_version(offered))
            packages.append(package)
            missing.append(f"{requirement} (the build host has {version or 'none'}; the archive "
                           + (f"has {package} {offered})" if offered else f"has no {package})"))
        if not missing:
            continue
        what = (f"the companion {companion.package} {companion.version} cannot be built here: its "
                f"[build-system] requires {'; '.join(missing)}")
        if fixable:
            raise MissingToolError(f"{what}; install them (apt-get install {' '.join(packages)}) and build "
                                   "again")
        if companion.role == "project":
            raise ProjectError(f"{what}; build the project with a backend and plugins the distribution has")
        raise RequirementError(f"{what}; require a release of {companion.name} that the archive has or that "
                               f"builds with it, or leave it out with --skip-requirement {companion.name} "
                               "and give the package that provides it with --depends")


def _allows(requirement: Requirement, version: str) -> bool:
    try:
        return requirement.specifier.contains(packaging_version.Version(version), prereleases=True)
    except packaging_version.InvalidVersion:
        return False


def plan(project: Project, resolver: Resolver, *, with_project: bool = True) -> tuple[list[Resolved],
                                                                                     list[Companion]]:
    """The project's resolved requirements and every companion the set needs (the project's own first,
    then each missing dependency and, recursively, theirs)."""
    resolved = resolver.resolve(project.requires)
    companions: list[Companion] = []
    if with_project:
        companions.append(Companion(
            companion_package(project.name), project.name, project.version, "project", project.path,
            tuple(resolved), project.summary, project.license, project.homepage, project.backend))
    seen: set[str] = {canonicalize_name(project.name)}
    queue = [r for r in resolved if r.resolution == "companion"]
    while queue:
        item = queue.pop(0)
        if item.name in seen:
            continue
        seen.add(item.name)
        index = resolver.index
        sdist = index.path(item.name) if isinstance(index, SdistIndex) else None
        if sdist is None:
            companions.append(Companion(item.package, item.requirement.name, item.version, "dependency",
                                        Path(item.requirement.name)))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            meta = read_sdist_metadata(unpack(sdist, Path(tmp)))
        own = Resolver(resolver.target, resolver.archive, resolver.index, resolver.skip,
                       f"{meta.name} {meta.version} (a dependency of {project.name})")
        sub = own.resolve(meta.requires)
        companions.append(Companion(item.package, meta.name, item.version, "dependency", sdist, tuple(sub),
                                    meta.summary, meta.license, meta.homepage, meta.backend))
        queue.extend(r for r in sub if r.resolution == "companion")
    return resolved, companions


def build_companions(spec: Any, fmt: str, output_dir: Path, *,
                     final_dir: Path | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Build every companion of ``spec`` as ``fmt`` packages into ``output_dir``: one ``--json`` entry each
    (``name``, ``version``, ``format``, ``role``, ``resolution``, ``builder``, ``artifacts``) and the notes
    saying how each was built. Nothing for a spec without a project.

    ``final_dir``: the output directory the files are published to, when ``output_dir`` is a staging
    directory inside it (both are left out of the copy of the project the sdist is made from).
    """
    if spec.project is None or not spec.companions:
        return [], []
    if fmt not in FORMAT_MODULES:
        raise BuildToolError(f"{spec.name}: companion packages cannot be built as {fmt!r} packages yet; "
                             f"build {' or '.join(FORMAT_MODULES)}, or leave the project out")
    module = importlib.import_module(f"{__name__}.{FORMAT_MODULES[fmt]}")
    for companion in spec.companions:
        if spec.name in module.package_names(companion):
            option = spec.option_names.get("name") or textpolicy.FIELD_OPTIONS.get("name", "--name")
            raise OutputError(f"{spec.name}: the service's package name is also a name of its companion "
                              f"{companion.package} ({fmt}), whose files would replace the service's; give "
                              f"the service another name ({option})")
    check_build_requirements(spec.companions)
    entries, notes = module.build_set(spec, Path(output_dir), payload.build_time(spec),
                                      skip=() if final_dir is None else (final_dir,))
    return list(entries), list(notes)


def companion_entry(companion: Companion, fmt: str, builder: str, written: Sequence[Path]) -> dict[str, Any]:
    """The ``--json`` entry of one built companion."""
    return {"name": companion.package, "version": f"{companion.version}-1", "format": fmt,
            "role": companion.role, "resolution": "companion", "builder": builder,
            "artifacts": [{"path": str(p)} for p in written]}


def requirement_entries(spec: Any) -> list[dict[str, Any]]:
    """Each project requirement of ``spec`` and how it was resolved, for the service's ``--json`` entry."""
    return [{"requirement": str(r.requirement), "resolution": r.resolution, "package": r.package,
             "version": r.version, "depends": [d.debian() for d in r.depends]} for r in spec.requirements]
