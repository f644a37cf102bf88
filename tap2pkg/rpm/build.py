"""The two RPM builders, registered as ``("rpm", "native")`` and ``("rpm", "rpmbuild")``.

Both write the ``.spec`` and its sources (the editable tree of an RPM) and give
the same binary package:

* ``native`` (default) writes the ``.rpm`` in Python (:mod:`tap2pkg.rpm.native`);
* ``rpmbuild`` runs ``rpmbuild`` on the generated spec in a private ``_topdir``
  (:mod:`tap2pkg.rpm.rpmbuild`).

The source RPM is always made from the spec by ``rpmbuild -bs``. Where
``rpmbuild`` is not installed the native builder still writes the spec, the
sources and the ``.rpm`` and leaves the SRPM out (said in the notes);
``--source-only`` then fails. With ``--sign-key`` the ``.rpm`` and the SRPM are
signed by ``rpmsign --addsign`` before they are published
(:mod:`tap2pkg.signing`). Staging and publishing are
:class:`tap2pkg.builders.StagedBuilder`'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..builders import BuildOptions, Staged, StagedBuilder, register
from ..errors import MissingToolError
from ..output import Staging
from ..runtime.lazy import lazy_import
from ..spec import PackageSpec
from . import header, source
from . import native as rpm_native
from .rpmbuild import rpmbuild_available, rpmbuild_in_private_topdir

# the package's __init__ has imported native and source already; these two load only when used
if TYPE_CHECKING:
    from .. import signing
    from . import specfile
else:  # imported on first use: the registry loads this module to list the builders, which builds nothing
    signing = lazy_import("tap2pkg.signing")
    specfile = lazy_import("tap2pkg.rpm.specfile")

#: rpmbuild's mode for (source, binary)
_MODES = {(True, True): "-ba", (True, False): "-bs", (False, True): "-bb"}
_NO_SRPM = ("rpmbuild is not installed: no source RPM was made (the spec and its sources are written; build "
            "the SRPM with 'rpmbuild -bs' where rpm exists)")


def _tarball_for(version: str, sources: source.RpmSources, stage_dir: Path) -> Path:
    """``Source0`` for a ``Version`` edited in the spec: the same content under ``<pkg>-<version>/``, named
    as the spec's ``%{name}-%{version}.tar.gz`` asks (made from the app files, as every build makes it)."""
    prefix = f"{sources.spec.name}-{version}"
    path = stage_dir / f"{prefix}.tar.gz"
    path.write_bytes(source.tarball(prefix, source.tarball_members(sources.payload), sources.build_time))
    os.utime(path, (sources.build_time, sources.build_time))  # the SRPM's cpio keeps it
    (stage_dir / sources.tarball_name).unlink()
    return path


def _write(spec: PackageSpec, stage_dir: Path, options: BuildOptions, *, native: bool) -> Staged:
    sources = options.payload_of(spec, source.RpmSources, source.rpm_sources)
    # a native binary-only build never runs rpmbuild: do not look for it
    has_rpmbuild = rpmbuild_available() if (options.source or not native) else False
    if not has_rpmbuild and (not native or not options.binary):
        raise MissingToolError("rpmbuild is not installed; it is needed for the source RPM and "
                               "--builder rpmbuild; install rpm, or use --builder native --binary-only")
    written = source.write_sources(sources, stage_dir, options.edits)
    # the spec as it is now (maybe edited by hand) names the package: both builders refuse the same edits
    version, release = specfile.check_spec(stage_dir, sources.spec_name) or (spec.version, spec.revision)
    if version != spec.version and sources.tarball_name in {path.name for path in written}:
        tarball = _tarball_for(version, sources, stage_dir)
        written = [tarball if path.name == sources.tarball_name else path for path in written]
    made = [("spec" if path.name == sources.spec_name else "sources", path) for path in written]
    label, epoch = f"{spec.name}-{version}-{release}", sources.build_time
    notes = []
    before, built_version = set(stage_dir.iterdir()), None
    if not native and options.binary:
        rpmbuild_in_private_topdir(_MODES[(options.source, True)], stage_dir, sources.spec_name, label, epoch)
    elif options.source and has_rpmbuild:
        rpmbuild_in_private_topdir("-bs", stage_dir, sources.spec_name, label, epoch)
    elif options.source:
        notes.append(_NO_SRPM)
    # rpmbuild names what it made from the spec (a macro in Version or Release included)
    built = sorted(path for path in set(stage_dir.iterdir()) - before if path.name.endswith(".rpm"))
    srpms = [path for path in built if path.name.endswith(".src.rpm")]
    binaries = [path for path in built if path not in srpms]
    if native and options.binary:
        # the spec and sources as they are on disk: an edit lands, or is refused naming --builder rpmbuild
        package = specfile.read_spec_dir(stage_dir, sources)
        built_version = f"{package.version}-{package.release}"
        rpm = rpm_native.build_rpm(package, compressor=options.compression or "gzip")
        binaries = [stage_dir / package.filename]
        binaries[0].write_bytes(rpm)
    if options.source:
        made += [("source-package", path) for path in srpms]
    if options.binary:
        made += [("package", path) for path in binaries]
    if options.sign_key is not None:
        signing.rpmsign([path for kind, path in made if kind in ("package", "source-package")],
                        signing.find_key(options.sign_key))
    return Staged(made, None, notes, built_version or _built_version(binaries or srpms))


def _built_version(packages: list[Path]) -> str | None:
    """``VERSION-RELEASE`` as the header of what rpmbuild built has it: the spec's, maybe bumped by hand or
    made by a macro (None when nothing was built)."""
    if not packages:
        return None
    tags = header.read_package_header(packages[0])
    version, release = tags.get(header.VERSION), tags.get(header.RELEASE)
    return f"{version}-{release}" if isinstance(version, str) and isinstance(release, str) else None


def write_native(spec: PackageSpec, stage: Staging, options: BuildOptions) -> Staged:
    """The native builder's writer: spec, sources, the SRPM (rpmbuild -bs) and the ``.rpm`` in Python."""
    return _write(spec, stage.path, options, native=True)


def write_rpmbuild(spec: PackageSpec, stage: Staging, options: BuildOptions) -> Staged:
    """The rpmbuild builder's writer: spec, sources, then ``rpmbuild`` for the SRPM and the ``.rpm``."""
    return _write(spec, stage.path, options, native=False)


NATIVE = StagedBuilder("rpm", "native", "the .rpm written in Python", ("gzip", "xz"), write_native)
RPMBUILD = StagedBuilder("rpm", "rpmbuild", "rpmbuild on the emitted .spec", (), write_rpmbuild)

register(NATIVE)
register(RPMBUILD)
