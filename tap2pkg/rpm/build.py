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

from pathlib import Path
from typing import TYPE_CHECKING

from ..builders import BuildOptions, Staged, StagedBuilder, register
from ..errors import MissingToolError
from ..output import Staging
from ..runtime.lazy import lazy_import
from ..spec import PackageSpec
from . import native as rpm_native
from . import source
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


def _write(spec: PackageSpec, stage_dir: Path, options: BuildOptions, *, native: bool) -> Staged:
    sources = options.payload_of(spec, source.RpmSources, source.rpm_sources)
    # a native binary-only build never runs rpmbuild: do not look for it
    has_rpmbuild = rpmbuild_available() if (options.source or not native) else False
    if not has_rpmbuild and (not native or not options.binary):
        raise MissingToolError("rpmbuild is not installed; it is needed for the source RPM and "
                               "--builder rpmbuild; install rpm, or use --builder native --binary-only")
    written = source.write_sources(sources, stage_dir, options.edits)
    made = [("spec" if path.name == sources.spec_name else "sources", path) for path in written]
    # PackageSpec's name, version and revision rules are stricter than rpm's
    label, epoch = f"{spec.name}-{spec.full_version}", sources.build_time
    binary_name = f"{label}.noarch.rpm"  # the spec says BuildArch: noarch
    notes = []
    if not native and options.binary:
        rpmbuild_in_private_topdir(_MODES[(options.source, True)], stage_dir, sources.spec_name, label, epoch)
    elif options.source and has_rpmbuild:
        rpmbuild_in_private_topdir("-bs", stage_dir, sources.spec_name, label, epoch)
    elif options.source:
        notes.append(_NO_SRPM)
    if native and options.binary:
        # the spec and sources as they are on disk: an edit lands, or is refused naming --builder rpmbuild
        package = specfile.read_spec_dir(stage_dir, sources)
        rpm = rpm_native.build_rpm(package, compressor=options.compression or "gzip")
        binary_name = package.filename
        (stage_dir / binary_name).write_bytes(rpm)
    srpm = stage_dir / f"{label}.src.rpm"
    if options.source and srpm.exists():
        made.append(("source-package", srpm))
    if options.binary:
        made.append(("package", stage_dir / binary_name))
    if options.sign_key is not None:
        signing.rpmsign([path for kind, path in made if kind in ("package", "source-package")],
                        signing.find_key(options.sign_key))
    return Staged(made, None, notes)


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
