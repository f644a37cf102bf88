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
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..dependency import Relation
from ..pydeps import Target, relations
from ..rpm.source import spec_escape
from ..runtime.lazy import lazy_import
from . import Companion, companion_entry
from .debian import _run, sdist_of

if TYPE_CHECKING:
    import tomllib
else:  # imported on first use: only to read an sdist's pyproject.toml
    tomllib = lazy_import("tomllib")

#: PEP 517's default build requirement of a project that declares none (a setup.py-only one).
DEFAULT_BUILD_REQUIRES = ("setuptools>=40.8.0",)

SPEC = """\
%{{!?python3_sitelib:%global python3_sitelib /usr/lib/python3/dist-packages}}
%global debug_package %{{nil}}
# 1 where the target has the pyproject macros (pyproject-rpm-macros), else the explicit pip install
%global tap2pkg_pyproject 0%{{?pyproject_wheel:1}}
Name:           {package}
Version:        {version}
Release:        1
Summary:        {summary}
License:        {license}
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

%files
%{{python3_sitelib}}/*
"""


def build_requires(sdist: Path) -> tuple[str, ...]:
    """The ``[build-system] requires`` of ``sdist``'s ``pyproject.toml`` as RPM relations
    (``python3dist(setuptools) >= 61``); PEP 517's default when it declares none."""
    wanted: list[str] = list(DEFAULT_BUILD_REQUIRES)
    with tarfile.open(sdist) as tar:
        member = next((m for m in tar.getmembers() if m.isfile() and m.name.count("/") == 1
                       and m.name.endswith("/pyproject.toml")), None)
        data = tar.extractfile(member) if member is not None else None
        if data is not None:
            try:
                table = tomllib.loads(data.read().decode("utf-8")).get("build-system", {})
            except (UnicodeDecodeError, tomllib.TOMLDecodeError):
                table = {}
            if isinstance(table, dict) and isinstance(table.get("requires"), list):
                wanted = [str(r) for r in table["requires"]]
    out: list[str] = []
    for text in wanted:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue  # the backend's own front end would refuse it too; rpmbuild reports what is missing
        if not Target().wants(requirement):
            continue
        name = f"python3dist({canonicalize_name(requirement.name)})"
        bounds = [b for spec in sorted(requirement.specifier, key=str) for b in relations(spec)[0]]
        out.extend(Relation(name, "le" if op == "exact" else op, version).rpm() for op, version in bounds)
        if not bounds:
            out.append(name)
    return tuple(dict.fromkeys(out))


def spec_text(companion: Companion, sdist: Path, topdir: str) -> str:
    """The ``.spec`` of ``companion`` built from ``sdist`` (unpacking to ``topdir``)."""
    requires = "".join(f"Requires:       {spec_escape(d.rpm())}\n" for d in companion.depends)
    backend = "".join(f"BuildRequires:  {spec_escape(r)}\n" for r in build_requires(sdist))
    # the project's own words are read literally: a % in them never reaches rpm's macro expander
    return SPEC.format(package=companion.package, version=companion.version,
                       summary=spec_escape(companion.synopsis), license=spec_escape(companion.license_name),
                       sdist=spec_escape(sdist.name),
                       dist=canonicalize_name(companion.name), requires=requires,
                       name=spec_escape(companion.name), topdir=spec_escape(topdir), build_requires=backend)


@functools.lru_cache(maxsize=1)
def host_has_pyproject_macros() -> bool:
    """Whether this host's rpm defines ``%pyproject_wheel`` (so the spec takes the macro branch here)."""
    try:
        done = subprocess.run(["rpm", "--eval", "0%{?pyproject_wheel:1}"], capture_output=True, text=True,
                              timeout=60, check=False)
    except OSError:
        return False
    return done.stdout.strip() == "01"


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
    how = ("the %pyproject_wheel and %pyproject_install macros" if host_has_pyproject_macros() else
           "pip install --no-deps in %install: this host has no %pyproject_* macros")
    return written, [f"companion {companion.package} {companion.version} ({companion.role}) built as a "
                     f"noarch RPM from a generated spec ({how})"]


def build_set(spec: Any, output_dir: Path, *, skip: Iterable[Path] = ()) -> tuple[list[dict[str, Any]],
                                                                                   list[str]]:
    """Build every companion of ``spec`` as an RPM into ``output_dir``: their ``--json`` entries and notes."""
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    for companion in spec.companions:
        written, more = build_rpm(companion, Path(output_dir), skip=skip)
        notes.extend(more)
        entries.append(companion_entry(companion, "rpm", "rpmbuild", written))
    return entries, notes
