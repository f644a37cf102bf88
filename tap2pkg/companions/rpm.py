"""RPM companion packages: a noarch RPM per companion, from a generated ``.spec``, built by rpmbuild.

The ``.spec`` installs the project with ``pip install --no-deps
--no-build-isolation --target`` into the target's ``%{python3_sitelib}`` (the
Fedora family defines it; elsewhere, such as the rpm-on-debian stand-in, it is
Debian's ``/usr/lib/python3/dist-packages``): an explicit ``%install`` that
works where the ``%pyproject_*`` macros are missing, as they are on the build
host here. Each RPM provides ``python3dist(<name>) = <version>`` and requires
the relations its own requirements resolved to.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import Companion
from .debian import _run, sdist_of

SPEC = """\
%{{!?python3_sitelib:%global python3_sitelib /usr/lib/python3/dist-packages}}
%global debug_package %{{nil}}
Name:           {package}
Version:        {version}
Release:        1
Summary:        {summary}
License:        {license}
BuildArch:      noarch
Source0:        {sdist}
Provides:       python3dist({dist}) = {version}
Requires:       python3
{requires}
%description
The Python project {name} {version}, packaged by tap2pkg.

%prep
%setup -q -n {topdir}

%build

%install
/usr/bin/python3 -m pip install --no-deps --no-build-isolation --no-compile --disable-pip-version-check \\
    --target %{{buildroot}}%{{python3_sitelib}} .
rm -rf %{{buildroot}}%{{python3_sitelib}}/bin

%files
%{{python3_sitelib}}/*
"""


def spec_text(companion: Companion, sdist: Path, topdir: str) -> str:
    """The ``.spec`` of ``companion`` built from ``sdist`` (unpacking to ``topdir``)."""
    from packaging.utils import canonicalize_name

    requires = "".join(f"Requires:       {d.rpm()}\n" for d in companion.depends)
    summary = " ".join((companion.summary or f"the Python project {companion.name}").split())
    license_name = companion.license if companion.license and " " not in companion.license \
        else "LicenseRef-not-specified"
    return SPEC.format(package=companion.package, version=companion.version, summary=summary,
                       license=license_name, sdist=sdist.name, dist=canonicalize_name(companion.name),
                       requires=requires, name=companion.name, topdir=topdir)


def build_rpm(companion: Companion, output_dir: Path, *,
              skip: Iterable[Path] = ()) -> tuple[list[Path], list[str]]:
    """Build ``companion``'s noarch RPM (and its .spec) into ``output_dir``; ``skip``: more paths to
    leave out of the copy of the project (the final output directory)."""
    with tempfile.TemporaryDirectory(prefix="tap2pkg-companion-rpm-") as tmp:
        work = Path(tmp)
        sdist = sdist_of(companion, work, skip=(output_dir, *skip))
        top = sdist.name.removesuffix(".tar.gz")
        sources = work / "SOURCES"
        sources.mkdir()
        shutil.copy(sdist, sources / sdist.name)
        spec = work / f"{companion.package}.spec"
        spec.write_text(spec_text(companion, sdist, top), encoding="utf-8")
        _run(["rpmbuild", "-bb", "--define", f"_topdir {work}", "--define", f"_sourcedir {sources}",
              "--nodeps", str(spec)], work,
             f"building the companion {companion.package} {companion.version} (rpmbuild)", system=True)
        output_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for item in [spec, *sorted((work / "RPMS").rglob("*.rpm"))]:
            target = output_dir / item.name
            shutil.copy(item, target)
            written.append(target)
    return written, [f"companion {companion.package} {companion.version} ({companion.role}) built as a "
                     "noarch RPM from a generated spec (pip install --no-deps in %install)"]


def build_set(spec: Any, output_dir: Path, *, skip: Iterable[Path] = ()) -> tuple[list[dict[str, Any]],
                                                                                   list[str]]:
    """Build every companion of ``spec`` as an RPM into ``output_dir``: their ``--json`` entries and notes."""
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    for companion in spec.companions:
        written, more = build_rpm(companion, Path(output_dir), skip=skip)
        notes.extend(more)
        entries.append({"name": companion.package, "version": f"{companion.version}-1", "format": "rpm",
                        "role": companion.role, "resolution": "companion", "builder": "rpmbuild",
                        "artifacts": [{"path": str(p)} for p in written]})
    return entries, notes
