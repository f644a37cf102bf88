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
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..dependency import Dependency
from ..errors import BuildToolError, InvalidOptionValueError, ProjectError
from ..project import Project, read_sdist_metadata
from ..pydeps import Resolved, Resolver, companion_package
from ..runtime.lazy import lazy_import

if TYPE_CHECKING:
    from packaging import version as packaging_version

    from .. import settings
    from .. import spec as spec_module
else:  # imported on first use: settings.py imports this package (settings and spec here would be a cycle)
    packaging_version = lazy_import("packaging.version")
    settings = lazy_import("tap2pkg.settings")
    spec_module = lazy_import("tap2pkg.spec")

#: Where fetched sdists are kept between builds.
CACHE_ENV = "TAP2PKG_CACHE_DIR"
#: The module of this package that builds each format's companions (its ``build_set(spec, output_dir)``).
FORMAT_MODULES = {"deb": "debian", "rpm": "rpm"}


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
                spec_module.check_text(label, value, option=where)
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
    entries, notes = module.build_set(spec, Path(output_dir), skip=() if final_dir is None else (final_dir,))
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
