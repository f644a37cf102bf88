"""A project's requirements as distribution relations: never a guessed name.

Each requirement of the app's project (:class:`tap2pkg.project.Project`) is
resolved for the target (``python_version`` of the target distribution,
bookworm's 3.11; ``sys_platform`` linux; the extras asked for):

1. its marker is evaluated: a requirement the target does not need is left
   out, with a note;
2. its Debian package is found in dh-python's own mapping
   (``/usr/share/dh-python/dist/cpython3_fallback``: PyPI ``attrs`` is
   ``python3-attr``, ``PyYAML`` is ``python3-yaml``), else it is
   ``python3-<normalized name>``; either counts only when the archive has it
   (``apt-cache show`` on the build host) in a version the specifier allows;
3. the specifier becomes relations: ``>=``, ``>``, ``<``, ``<=`` kept,
   ``~=`` and ``==`` expanded to a lower and an upper bound, ``!=`` dropped
   (noted). RPM spells the same ``python3dist(<name>) >= <version>``;
4. a requirement the archive lacks becomes a **companion** package: the
   newest sdist the specifier allows, from the package index
   (:mod:`tap2pkg.companions`), resolved in turn through its own requirements.
   One that no index has either stops the build with one line
   (:class:`~tap2pkg.errors.RequirementError`, exit 93), and so does one
   of the distribution packages a service runs on (:data:`RUNTIME_PROJECTS`:
   Twisted), which a companion would replace, before anything is fetched.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import Specifier
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .dependency import Dependency, Relation
from .errors import ProjectError, RequirementError

#: dh-python's mapping of PyPI names to Debian packages, generated from the archive.
DH_PYTHON_FALLBACK = Path(os.environ.get("DH_PYTHON_DIST", "/usr/share/dh-python/dist")) / "cpython3_fallback"
#: The target's Python: Debian bookworm ships 3.11 (the verification images are bookworm).
TARGET_PYTHON = "3.11"

#: Projects the services run on from the distribution (the twisted runtime: twistd and tap2pkg's launcher run
#: the app on the archive's Twisted): never a companion, which would replace the distribution's package.
RUNTIME_PROJECTS = frozenset({"twisted"})

#: An archive lookup: Debian package name -> its candidate version, None when the archive lacks it.
ArchiveLookup = Callable[[str], str | None]
#: A companion finder: a requirement -> the version of the newest sdist it allows, None when none.
CompanionFinder = Callable[[Requirement], str | None]


@dataclass(frozen=True)
class Target:
    """What markers are evaluated for."""

    python_version: str = TARGET_PYTHON
    sys_platform: str = "linux"
    extras: frozenset[str] = frozenset()

    def environment(self, extra: str = "") -> dict[str, str]:
        """The marker environment of the target (``extra`` set to one asked-for extra, or '')."""
        env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
        env.update(python_version=self.python_version, python_full_version=f"{self.python_version}.0",
                   sys_platform=self.sys_platform, platform_system="Linux", os_name="posix",
                   implementation_name="cpython", platform_python_implementation="CPython", extra=extra)
        return env

    def wants(self, requirement: Requirement) -> bool:
        """Whether the target needs ``requirement`` (its marker true for it, with any asked-for extra)."""
        if requirement.marker is None:
            return True
        return any(requirement.marker.evaluate(self.environment(extra))
                   for extra in ("", *sorted(self.extras)))


@dataclass(frozen=True)
class Resolved:
    """One requirement, resolved: where it comes from and the relations the service carries."""

    requirement: Requirement
    #: ``archive`` (a distribution package), ``companion`` (built here) or ``excluded`` (marker false)
    resolution: str
    #: the Debian package name (``python3-attr``), '' when excluded
    package: str = ""
    #: the archive's version, or the companion's upstream version
    version: str = ""
    #: entries for ``Depends``/``Requires``, each spelled for both formats
    depends: tuple[Dependency, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The requirement's normalized name (``pyyaml``)."""
        return canonicalize_name(self.requirement.name)


@functools.lru_cache(maxsize=1)
def dh_python_map() -> dict[str, str]:
    """dh-python's fallback mapping, keyed by the normalized PyPI name; {} when dh-python is missing."""
    out: dict[str, str] = {}
    try:
        text = DH_PYTHON_FALLBACK.read_text(encoding="utf-8")
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and not line.startswith("#") and re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", parts[1]):
            out.setdefault(canonicalize_name(parts[0]), parts[1])
    return out


@functools.lru_cache(maxsize=512)
def apt_version(package: str) -> str | None:
    """The version of ``package`` the build host's archive lists (``apt-cache show``), or None."""
    try:
        done = subprocess.run(["apt-cache", "show", "--no-all-versions", package], capture_output=True,
                              text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"^Version: (\S+)$", done.stdout, re.MULTILINE)
    return match[1] if done.returncode == 0 and match else None


def debian_candidates(name: str) -> tuple[str, ...]:
    """The Debian packages that may hold the PyPI project ``name``: dh-python's, else python3-<name>."""
    key = canonicalize_name(name)
    mapped = dh_python_map().get(key)
    guesses = [f"python3-{key}", f"python3-{key.replace('-', '.')}"]
    return tuple(dict.fromkeys([mapped] if mapped else guesses))


def upstream_version(debian_version: str) -> str:
    """The upstream part of a Debian version: no epoch, no revision, no repack suffix (``+dfsg``)."""
    text = re.sub(r"^\d+:", "", debian_version)
    text = text.rsplit("-", 1)[0] if "-" in text else text
    return re.split(r"[+~](?:dfsg|ds|repack|really)", text)[0]


def debian_version(pep440: str) -> str:
    """A PEP 440 version spelled for dpkg, pre-releases first (``1.0rc1`` -> ``1.0~rc1``)."""
    try:
        version = Version(pep440)
    except InvalidVersion:
        return pep440
    text = ".".join(map(str, version.release))
    if version.epoch:
        text = f"{version.epoch}:{text}"
    if version.pre:
        text += f"~{version.pre[0]}{version.pre[1]}"
    if version.post is not None:
        text += f".post{version.post}"
    if version.dev is not None:
        text += f"~dev{version.dev}"
    return text


def _bump(release: str, keep: int) -> str:
    """``release`` cut to ``keep`` parts, its last one raised by one: ``_bump('1.4.2', 2)`` -> ``1.5``."""
    parts = [int(p) for p in Version(release).release[:keep]]
    parts[-1] += 1
    return ".".join(map(str, parts))


def relations(spec: Specifier) -> tuple[list[tuple[str, str]], str]:
    """``(op, PEP 440 version)`` bounds for one specifier (op: lt le ge gt, or ``exact``: the upper bound
    of ``==``), and a note when it had to be dropped."""
    op, version = spec.operator, spec.version
    if op == "===":  # arbitrary equality: any text, which no distribution relation can hold
        raise ProjectError(f"the requirement specifier '==={version}' (arbitrary equality) compares text, "
                           "which Debian and RPM relations cannot express; use '==' with a PEP 440 version, "
                           "or --skip-requirement")
    if op == "!=":
        return [], f"'!={version}' dropped: Debian and RPM relations cannot exclude one version"
    if op == "==" and version.endswith(".*"):
        base = version[:-2]
        return [("ge", base), ("lt", _bump(base, len(Version(base).release)))], ""
    if op == "~=":
        release = Version(version).release
        return [("ge", version), ("lt", _bump(version, max(len(release) - 1, 1)))], ""
    if op == "==":
        # "exact": at least it and below its next sub-release; dpkg's "(= 1.2)" would never match "1.2-1"
        return [("ge", version), ("exact", version)], ""
    return [({">=": "ge", ">": "gt", "<=": "le", "<": "lt"}[op], version)], ""


def _entries(requirement: Requirement, deb_name: str,
             rpm_name: str) -> tuple[tuple[Dependency, ...], list[str]]:
    entries: list[Dependency] = []
    notes: list[str] = []
    for spec in sorted(requirement.specifier, key=str):
        bounds, note = relations(spec)
        if note:
            notes.append(f"{requirement.name}: {note}")
        for op, version in bounds:
            if op == "exact":
                rel = Relation(deb_name, "lt", f"{debian_version(version)}.0~", rpm_name=rpm_name,
                               rpm_op="le", rpm_version=version)
            else:
                rel = Relation(deb_name, op, debian_version(version), rpm_name=rpm_name, rpm_version=version)
            entries.append(Dependency((rel,)))
    if not entries:
        entries.append(Dependency((Relation(deb_name, rpm_name=rpm_name),)))
    return tuple(entries), notes


def _allows(requirement: Requirement, debian: str) -> bool:
    try:
        return requirement.specifier.contains(Version(upstream_version(debian)), prereleases=True)
    except InvalidVersion:
        return True


@dataclass
class Resolver:
    """Resolves requirements against an archive and, failing that, the package index."""

    target: Target = field(default_factory=Target)
    archive: ArchiveLookup = apt_version
    #: finds the companion version (None: companions are not made, a missing requirement is an error)
    index: CompanionFinder | None = None
    #: requirement names (normalized) the user said to leave out
    skip: frozenset[str] = frozenset()
    #: where the requirements come from, for messages (``kleinapp's pyproject.toml``)
    origin: str = "the project"

    def resolve(self, requirements: Iterable[Requirement]) -> list[Resolved]:
        """Every requirement resolved; a missing one with no sdist either is a :class:`RequirementError`."""
        return [self.resolve_one(r) for r in requirements]

    def resolve_one(self, requirement: Requirement) -> Resolved:
        """One requirement: excluded, from the archive, or a companion."""
        name = canonicalize_name(requirement.name)
        if not self.target.wants(requirement):
            return Resolved(requirement, "excluded", notes=(
                f"{requirement} not needed: its marker is false for Python {self.target.python_version} on "
                f"{self.target.sys_platform}" + (f" with extras {', '.join(sorted(self.target.extras))}"
                                                 if self.target.extras else ""),))
        if name in self.skip:
            return Resolved(requirement, "excluded", notes=(f"{requirement} left out (--skip-requirement)",))
        for spec in requirement.specifier:  # what no relation can hold ('===') before anything is asked
            try:
                relations(spec)
            except ProjectError as exc:
                raise ProjectError(f"{self.origin} requires {requirement}: {exc}") from None
        notes = [f"{requirement.name}'s own extras [{', '.join(sorted(requirement.extras))}] are not "
                 "resolved; add what they need with --depends"] if requirement.extras else []
        older: list[str] = []
        for package in debian_candidates(requirement.name):
            version = self.archive(package)
            if version is None:
                continue
            if not _allows(requirement, version):
                older.append(f"{package} {version}")
                continue
            depends, more = _entries(requirement, package, f"python3dist({name})")
            how = ("dh-python's mapping" if dh_python_map().get(name) == package else "its normalized name")
            notes.append(f"requirement {requirement} -> {', '.join(d.debian() for d in depends)} "
                         f"(by {how}; the archive has {version}); rpm: "
                         f"{', '.join(d.rpm() for d in depends)}")
            return Resolved(requirement, "archive", package, version, depends, (*notes, *more))
        if name in RUNTIME_PROJECTS:
            packages = " or ".join(debian_candidates(requirement.name))
            has = f"the archive has only {', '.join(older)}" if older else f"the archive has no {packages}"
            raise RequirementError(
                f"{self.origin} requires {requirement}, but {has}, and {requirement.name} is not made a "
                f"companion package: the service runs on the distribution's {requirement.name} (the twisted "
                "runtime), which a companion would replace; lower the requirement to what the archive has, "
                f"leave it out with --skip-requirement {requirement.name}, or build on a host whose archive "
                "has a newer one (its release in --distribution)")
        found = self.index(requirement) if self.index is not None else None
        if found is None:
            lacking = " or ".join(debian_candidates(requirement.name))
            why = f" (the archive has only {', '.join(older)})" if older else ""
            raise RequirementError(
                f"{self.origin} requires {requirement}: no {lacking} in the distribution archive{why} and no "
                "sdist on the package index to build a companion from; give the package that provides it "
                f"with --depends and --skip-requirement {requirement.name}, or fix the requirement")
        package = companion_package(requirement.name)
        relation = Relation(package, "eq", f"{debian_version(found)}-1", rpm_name=package,
                            rpm_version=f"{found}-1")
        notes.append(f"requirement {requirement} -> companion package {package} {found}: "
                     + (f"the archive has only {', '.join(older)}" if older else
                        f"the archive has no {' or '.join(debian_candidates(requirement.name))}"))
        return Resolved(requirement, "companion", package, found, (Dependency((relation,)),), tuple(notes))


def companion_package(name: str) -> str:
    """The package name of a companion built from the PyPI project ``name``: ``python3-<normalized>``."""
    return f"python3-{canonicalize_name(name)}"
