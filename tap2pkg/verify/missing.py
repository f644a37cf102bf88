"""What the packages to verify need that a base image lacks, and which archive packages satisfy it.

:func:`missing_dependencies` answers for :func:`tap2pkg.verify.derived.derive_image`,
each need a :class:`Wanted`: the entry as the package spells it and the
archive's package names that may satisfy it, tried in order (none: nothing
maps to it, and the derived image is refused).

1. **What is missing** is asked of the base image itself, in a container
   without network: for a .deb, each ``Depends``/``Pre-Depends`` entry is checked
   against ``dpkg-query`` (alternatives, virtual packages and versions, compared by
   ``dpkg --compare-versions``); for an .rpm, ``rpm -i --test`` lists the
   ``Requires`` nothing provides. The old build of an upgrade test is asked too.
   Packages that verify installs from a local repository rather than the
   archive (``provided``: the companions a service depends on) count as a set
   with them: their own ``Depends``/``Requires`` are wanted too (so
   ``python3-klein``'s ``python3-werkzeug`` comes from the archive), and an entry
   they satisfy is not wanted. For a .deb they are added to what ``dpkg-query``
   reports, versions compared by ``dpkg --compare-versions`` in the image (so
   ``python3-kleinapp (= 1.0-1)`` is satisfied by that build only); for an .rpm
   each package to verify is tested in one ``rpm -i --test`` transaction with
   all of them (the old and the new build of an upgrade test each on its own,
   since both cannot be in one transaction), so the ``is needed by`` lines are
   only what the whole set lacks.
2. **What satisfies it.** A Debian entry names its packages; the first the
   archive can install is taken. On rpm-on-debian, a ``Requires`` is mapped to
   Debian packages: ``python3dist(x)`` first through dh-python's own mapping
   (:func:`tap2pkg.pydeps.dh_python_map`: ``python3dist(attrs)`` is
   ``python3-attr``, ``python3dist(pyyaml)`` is ``python3-yaml``), then to the
   guesses ``python3-x``; another name to itself. On Fedora, dnf resolves a
   ``Requires`` (files, ``python3dist(...)``) itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ..dependency import Dependency
from ..errors import Tap2pkgError
from ..pydeps import dh_python_map
from .artifact import Artifact
from .errors import ImageBuildError
from .images import Distro
from .throwaway import INBOX, run_once

# Run in the base image (python3 is in every one): which Depends entries the installed
# packages satisfy. argv[1] is a JSON list of entries, each a list of [name, op, version]
# alternatives (op: lt le eq ge gt, or ""); argv[2] (optional) a JSON list of [name, version]
# of packages counted as installed (those a local repository provides); prints the indexes of
# the unsatisfied ones.
DEB_CHECK = r"""
import json, subprocess, sys
rows = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Version}\t${Provides}\n"],
                      capture_output=True, text=True).stdout
have = {}
for row in rows.splitlines():
    status, name, version, provides = (row.split("\t") + ["", "", "", ""])[:4]
    if status[:2] != "ii":
        continue
    have.setdefault(name, []).append(version)
    for item in filter(None, (p.strip() for p in provides.split(","))):
        virtual, _, version = item.partition(" ")
        have.setdefault(virtual.split(":")[0], []).append(version.strip("()= ") or None)
def satisfied(name, op, version):
    for got in have.get(name, []):
        compare = ["dpkg", "--compare-versions", got or "", op, version]
        if not op or (got and subprocess.run(compare).returncode == 0):
            return True
    return False
for name, version in json.loads(sys.argv[2]) if len(sys.argv) > 2 else []:
    have.setdefault(name, []).append(version)
entries = json.loads(sys.argv[1])
print(json.dumps([i for i, alts in enumerate(entries) if not any(satisfied(*a) for a in alts)]))
"""


@dataclass(frozen=True, order=True)
class Wanted:
    """A dependency the base image lacks: as the package says it, and what may satisfy it."""

    #: the entry as the package spells it (``python3-twisted``, ``python3dist(twisted) >= 20``)
    requirement: str
    #: the archive's package names that satisfy it, tried in order (none: nothing maps to it)
    candidates: tuple[str, ...]
    #: rpm-on-debian: the Requires name to declare as provided ('' elsewhere)
    provide: str = ""

    @property
    def recipe_word(self) -> str:
        """The argument of ``install-deps.sh``: ``LABEL=NAME1|NAME2``."""
        return f"{self.provide}={'|'.join(self.candidates)}"


def install_mode(distro: Distro) -> str:
    """How ``install-deps.sh`` installs on ``distro``: ``deb``, ``rpm-on-debian`` or ``dnf``."""
    if distro.family == "deb":
        return "deb"
    return "rpm-on-debian" if distro.offline_flavour == "rpm-on-debian" else "dnf"


def deb_dependencies(artifact: Artifact) -> list[Dependency]:
    """The ``Depends``/``Pre-Depends`` entries of a .deb, architecture qualifiers and profiles dropped."""
    out = []
    for entry in artifact.requires:
        plain = re.sub(r"\s*\[[^]]*\]|\s*<[^>]*>|:[a-z0-9-]+(?=\s|\(|\||$)", "", entry)
        try:
            out.append(Dependency.parse(plain))
        except Tap2pkgError:
            raise ImageBuildError(
                f"{artifact.path.name}: cannot read its dependency {entry!r}; "
                "verify takes Debian's syntax (name (>= version) | other)"
            ) from None
    return out


def debian_names(requirement: str) -> tuple[str, ...]:
    """The Debian packages that may satisfy the rpm ``requirement``, in order; none for a file or ``x(y)``.

    ``python3dist(NAME)``: dh-python's package for NAME first (``python3-attr`` for ``attrs``), then
    ``python3-NAME``.
    """
    text = requirement.strip()
    if text.startswith("(") and text.endswith(")") and " or " in text:
        names: dict[str, None] = {}
        for part in text[1:-1].split(" or "):
            names.update(dict.fromkeys(debian_names(part)))
        return tuple(names)
    name = text.split()[0] if text else ""
    python = re.fullmatch(r"python3(?:\.\d+)?dist\(([A-Za-z0-9._-]+)\)", name)
    if python:
        dist = canonicalize_name(python[1])
        # dh-python's mapping knows the archive's names (attrs is python3-attr, pyyaml python3-yaml);
        # then the guesses: Fedora spells dists with '-', Debian keeps a module's dots
        # (python3-zope.interface)
        mapped = dh_python_map().get(dist)
        return tuple(dict.fromkeys((*([mapped] if mapped else []), f"python3-{dist}",
                                    f"python3-{dist.replace('-', '.')}")))
    if re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name):
        return (name,)
    return ()


def _provided_name(requirement: str) -> str:
    name = requirement.strip().split()[0] if requirement.strip() else ""
    return "" if name.startswith(("(", "/")) else name


def missing_dependencies(
    client: Any, distro: Distro, base: str, artifacts: Iterable[Artifact],
    provided: Iterable[Artifact] = (),
) -> list[Wanted]:
    """What ``artifacts`` need that the image ``base`` lacks (asked inside it, without network).

    ``provided`` are packages installed with them from a local repository: what they need counts,
    what they satisfy does not.
    """
    artifacts, provided = list(artifacts), list(provided)
    mode = install_mode(distro)
    if distro.family == "deb":
        entries = sorted({dep for artifact in [*artifacts, *provided] for dep in deb_dependencies(artifact)})
        if not entries:
            return []
        argument = json.dumps([[[r.name, r.op, r.version] for r in e.alternatives] for e in entries])
        local = json.dumps([[artifact.name, artifact.version] for artifact in provided])
        code, output = run_once(client, base, ["python3", "-c", DEB_CHECK, argument, local], network="none")
        try:
            missing = json.loads(output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise ImageBuildError(f"checking the dependencies in {base} failed (exit {code}): "
                                  f"{output.strip()[-300:]}") from None
        return [Wanted(entries[i].debian(), tuple(r.name for r in entries[i].alternatives))
                for i in missing]
    output = _rpm_test(client, base, artifacts, provided)
    needed = dict.fromkeys(
        match[1] for match in re.finditer(r"^\s+(.+?) is needed by \S+$", output, re.MULTILINE)
    )
    if mode == "dnf":  # dnf resolves a Requires (files, python3dist(...)) itself
        return [Wanted(need, (need.split()[0] if not need.startswith("(") else need,)) for need in needed]
    return [Wanted(need, debian_names(need), _provided_name(need)) for need in needed]


def _rpm_test(client: Any, base: str, artifacts: list[Artifact], provided: list[Artifact]) -> str:
    """``rpm -i --test`` in ``base`` of each artifact, in one transaction with the ``provided`` set."""
    files: dict[str, bytes] = {}
    names: dict[Path, str] = {}
    for artifact in [*artifacts, *provided]:
        if artifact.path not in names:
            names[artifact.path] = f"{len(names)}.rpm"
            files[names[artifact.path]] = artifact.path.read_bytes()
    transactions = [[artifact, *(p for p in provided if p.name != artifact.name)] for artifact in artifacts]
    if not artifacts:
        transactions = [provided]
    script = "; ".join(
        "LC_ALL=C rpm -i --test " + " ".join(dict.fromkeys(f"{INBOX}/{names[a.path]}" for a in group))
        + " 2>&1" for group in transactions if group
    )
    if not script:
        return ""
    _code, output = run_once(client, base, ["sh", "-c", f"{script}; true"], network="none", files=files)
    return output
