"""The RPM backend: the ``.spec`` and its sources, the ``rpmbuild`` builder and the native writer.

Its builders, ``native`` and ``rpmbuild`` (:mod:`tap2pkg.rpm.build`), are
reached through :mod:`tap2pkg.builders`: from a
:class:`~tap2pkg.spec.PackageSpec` to the spec, the sources, the SRPM and the
RPM in an output directory. :func:`build_rpm` writes the bytes of a binary RPM
from a plain :class:`RpmPackage` (names, texts, dependencies, scriptlets and
:class:`RpmFile` entries), with no rpm tools at all.
"""

from .model import Dependency, RpmFile, RpmPackage
from .native import build_rpm, write_rpm
from .source import RpmSources, rpm_package, rpm_sources

__all__ = [
    "Dependency",
    "RpmFile",
    "RpmPackage",
    "RpmSources",
    "build_rpm",
    "rpm_package",
    "rpm_sources",
    "write_rpm",
]
