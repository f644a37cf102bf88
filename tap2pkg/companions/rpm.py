"""RPM companion packages: a noarch RPM per companion, from a generated ``.spec``, built by rpmbuild.

The ``.spec`` builds the project one of two ways, chosen when rpmbuild reads
it (one ``%if`` on whether the ``%pyproject_wheel`` macro is defined):

* where the target has the pyproject macros (the Fedora family with
  ``pyproject-rpm-macros``): ``%pyproject_wheel`` in ``%build`` and
  ``%pyproject_install`` in ``%install``, with ``BuildRequires: python3-devel
  pyproject-rpm-macros``;
* elsewhere (the rpm-on-debian stand-in, the build host here): an explicit
  ``pip install --no-deps --no-build-isolation --target`` into
  ``%{python3_sitelib}`` (Debian's ``/usr/lib/python3/dist-packages`` where the
  macro is not defined), with ``BuildRequires: python3dist(pip)``.

Either way it build-requires the project's backend (its ``[build-system]
requires`` as ``python3dist(...)``), leaves out console scripts, provides
``python3dist(<name>) = <version>`` and requires the relations its own
requirements resolved to. A note says which way the build host took.

It is dated by the service's one build time (``SOURCE_DATE_EPOCH`` given to
rpmbuild, the build time and file times taken from it, a fixed build host), so
the same inputs give the same RPM. Nothing already in the output directory is
replaced (exit 73).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ..dependency import Relation
from ..pydeps import relations
from ..render import rpm_date
from ..rpm.source import BUILDHOST, spec_escape
from . import Companion, build_requirements, companion_entry
from .debian import _run, publish_into, sdist_of

#: The RPM group of a Python module (rpmlint wants one; rpm >= 4.14 ignores it).
GROUP_PYTHON = "Development/Languages/Python"

SPEC = """\
%{{!?python3_sitelib:%global python3_sitelib %{{_exec_prefix}}/lib/python3/dist-packages}}
%global debug_package %{{nil}}
# Reproducible builds: SOURCE_DATE_EPOCH (the service's build time) is the build time and the mtime ceiling.
%global use_source_date_epoch_as_buildtime 1
%global clamp_mtime_to_source_date_epoch 1
%global _buildhost {buildhost}
# 1 where the target has the pyproject macros (pyproject-rpm-macros), else the explicit pip install
%global tap2pkg_pyproject 0%{{?pyproject_wheel:1}}
Name:           {package}
Version:        {version}
Release:        1
Summary:        {summary}
License:        {license}
{url}Group:          {group}
Packager:       {packager}
BuildArch:      noarch
Source0:        {sdist}
{build_requires}%if %{{tap2pkg_pyproject}}
BuildRequires:  python3-devel
BuildRequires:  pyproject-rpm-macros
%else
BuildRequires:  python3dist(pip)
%endif
Provides:       python3dist({dist}) = {version}
Requires:       python3
{requires}
%description
The Python project {name} {version}, packaged by tap2pkg.

%prep
%setup -q -n {topdir}

%build
%if %{{tap2pkg_pyproject}}
%pyproject_wheel
%endif

%install
%if %{{tap2pkg_pyproject}}
%pyproject_install
%else
/usr/bin/python3 -m pip install --no-deps --no-build-isolation --no-compile --disable-pip-version-check \\
    --target %{{buildroot}}%{{python3_sitelib}} .
%endif
# console scripts are left out: the service runs the project's code, not its commands
rm -rf %{{buildroot}}%{{python3_sitelib}}/bin %{{buildroot}}%{{_bindir}}
# pip records where it installed from (a temporary directory): not part of the package
rm -f %{{buildroot}}%{{python3_sitelib}}/*.dist-info/direct_url.json
sed -i '/direct_url.json/d' %{{buildroot}}%{{python3_sitelib}}/*.dist-info/RECORD

%files
%{{python3_sitelib}}/*

%changelog
* {date} {packager} - {version}-1
- Packaged by tap2pkg from {name} {version}.
"""


def build_requires(sdist: Path) -> tuple[str, ...]:
    """The ``[build-system] requires`` of ``sdist``'s ``pyproject.toml`` as RPM relations
    (``python3dist(setuptools) >= 61``); PEP 517's default when it declares none."""
    out: list[str] = []
    for requirement in build_requirements(sdist):
        name = f"python3dist({canonicalize_name(requirement.name)})"
        bounds = [b for spec in sorted(requirement.specifier, key=str) for b in relations(spec)[0]]
        out.extend(Relation(name, "le" if op == "exact" else op, version).rpm() for op, version in bounds)
        if not bounds:
            out.append(name)
    return tuple(dict.fromkeys(out))


def spec_text(companion: Companion, sdist: Path, topdir: str, *, epoch: int | None = None,
              packager: str = "tap2pkg") -> str:
    """The ``.spec`` of ``companion`` built from ``sdist`` (unpacking to ``topdir``), its changelog dated
    ``epoch`` (default: now) by ``packager`` (the service's maintainer)."""
    requires = "".join(f"Requires:       {spec_escape(d.rpm())}\n" for d in companion.depends)
    backend = "".join(f"BuildRequires:  {spec_escape(r)}\n" for r in build_requires(sdist))
    # the project's own words are read literally: a % in them never reaches rpm's macro expander
    return SPEC.format(package=companion.package, version=companion.version,
                       summary=spec_escape(companion.synopsis), license=spec_escape(companion.license_name),
                       sdist=spec_escape(sdist.name),
                       dist=canonicalize_name(companion.name), requires=requires,
                       name=spec_escape(companion.name), topdir=spec_escape(topdir), build_requires=backend,
                       buildhost=BUILDHOST, group=GROUP_PYTHON, packager=spec_escape(packager),
                       url=f"URL:            {spec_escape(companion.url)}\n" if companion.url else "",
                       date=rpm_date(int(time.time()) if epoch is None else epoch))


@functools.lru_cache(maxsize=1)
def host_has_pyproject_macros() -> bool:
    """Whether this host's rpm defines ``%pyproject_wheel`` (so the spec takes the macro branch here)."""
    try:
        done = subprocess.run(["rpm", "--eval", "0%{?pyproject_wheel:1}"], capture_output=True, text=True,
                              timeout=60, check=False)
    except OSError:
        return False
    return done.stdout.strip() == "01"


def build_rpm(companion: Companion, output_dir: Path, *, skip: Iterable[Path] = (), epoch: int | None = None,
              packager: str = "tap2pkg") -> tuple[list[Path], list[str]]:
    """Build ``companion``'s noarch RPM (and its .spec) into ``output_dir``; ``skip``: more paths to
    leave out of the copy of the project (the final output directory); ``epoch``: the build time that
    dates it (default: now; the front ends give the service's)."""
    epoch = int(time.time()) if epoch is None else epoch
    with tempfile.TemporaryDirectory(prefix="tap2pkg-companion-rpm-") as tmp:
        work = Path(tmp)
        sdist = sdist_of(companion, work, skip=(output_dir, *skip), epoch=epoch)
        top = sdist.name.removesuffix(".tar.gz")
        sources = work / "SOURCES"
        sources.mkdir()
        shutil.copy(sdist, sources / sdist.name)
        spec = work / f"{companion.package}.spec"
        spec.write_text(spec_text(companion, sdist, top, epoch=epoch, packager=packager), encoding="utf-8")
        _run(["rpmbuild", "-bb", "--define", f"_topdir {work}", "--define", f"_sourcedir {sources}",
              "--nodeps", str(spec)], work,
             f"building the companion {companion.package} {companion.version} (rpmbuild)", system=True,
             epoch=epoch)
        written = publish_into([spec, *sorted((work / "RPMS").rglob("*.rpm"))], output_dir)
    how = ("the %pyproject_wheel and %pyproject_install macros" if host_has_pyproject_macros() else
           "pip install --no-deps in %install: this host has no %pyproject_* macros")
    return written, [f"companion {companion.package} {companion.version} ({companion.role}) built as a "
                     f"noarch RPM from a generated spec ({how})"]


def package_names(companion: Companion) -> tuple[str, ...]:
    """The names ``companion``'s files are named after: its package (its ``.spec`` too)."""
    return (companion.package,)


def build_set(spec: Any, output_dir: Path, epoch: int, *,
              skip: Iterable[Path] = ()) -> tuple[list[dict[str, Any]], list[str]]:
    """Build every companion of ``spec`` as an RPM into ``output_dir``, dated ``epoch``: their ``--json``
    entries and notes. One another service of the call built there already is not built again."""
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    for companion in spec.companions:
        built = sorted(Path(output_dir).glob(f"{companion.package}-{companion.version}-1.*.rpm"))
        if built:
            written = [Path(output_dir) / f"{companion.package}.spec", *built]
            notes.append(f"companion {companion.package} {companion.version}: built once for this call")
        else:
            written, more = build_rpm(companion, Path(output_dir), skip=skip, epoch=epoch,
                                      packager=spec.maintainer)
            notes.extend(more)
        entries.append(companion_entry(companion, "rpm", "rpmbuild", written))
    return entries, notes
