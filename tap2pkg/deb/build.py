"""The two Debian builders, registered as ``("deb", "native")`` and ``("deb", "dpkg")``.

Both write the editable source tree ``<pkg>-<version>/`` first. ``native``
then makes the source package (``dpkg-source``, or only the
``.orig.tar.gz`` where it is not installed, said in the notes) and writes the
``.deb`` in Python; ``dpkg`` runs ``dpkg-buildpackage`` in the tree. With
``sign``, the ``.changes`` (or the ``.dsc``) is signed by ``debsign`` when a
secret key is there; with ``sign_key`` (``--sign-key``) by that key, and a
failure is an error (:mod:`tap2pkg.signing`). Staging and publishing are
:class:`tap2pkg.builders.StagedBuilder`'s; a file or link where the source
tree goes is refused before anything is built, never followed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..builders import BuildOptions, Staged, StagedBuilder, register
from ..output import Staging
from ..runtime.lazy import lazy_import
from ..spec import PackageSpec

if TYPE_CHECKING:
    import shutil
    import subprocess

    from .. import signing
    from . import dpkg, native, source
else:  # imported on first use: the registry loads this module to list the builders, which builds nothing
    shutil = lazy_import("shutil")
    subprocess = lazy_import("subprocess")
    signing = lazy_import("tap2pkg.signing")
    dpkg = lazy_import("tap2pkg.deb.dpkg")
    native = lazy_import("tap2pkg.deb.native")
    source = lazy_import("tap2pkg.deb.source")

#: Artifact kind of each file a Debian build writes, by the end of its name.
_KINDS = ((".dsc", "source-package"), (".orig.tar.gz", "orig"), (".debian.tar.xz", "debian-tar"),
          (".deb", "package"), (".changes", "changes"), (".buildinfo", "buildinfo"))


def artifact_kind(path: Path) -> str:
    """The :class:`~tap2pkg.builders.Artifact` kind of a Debian build's file."""
    return next(kind for suffix, kind in _KINDS if path.name.endswith(suffix))


def _signing_key_available() -> bool:
    if shutil.which("debsign") is None or shutil.which("gpg") is None:
        return False
    proc = subprocess.run(["gpg", "--batch", "--list-secret-keys"], capture_output=True, check=False)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def _sign(files: list[Path], notes: list[str], key_name: str | None) -> None:
    targets = [f for f in files if f.suffix in (".changes", ".dsc")]
    changes = [f for f in targets if f.suffix == ".changes"]
    targets = changes or targets
    if key_name is not None:
        if targets:
            signing.debsign(targets, signing.find_key(key_name))
        else:
            notes.append("nothing signed: a binary-only build has no .changes or .dsc; the .deb is signed "
                         "through the repository's Release file (tap2pkg publish)")
        return
    if not targets:
        return
    if not _signing_key_available():
        notes.append("not signed: debsign or a secret OpenPGP key is not available (use -u to say so)")
        return
    for target in targets:
        proc = subprocess.run(["debsign", "--no-re-sign", str(target)], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            said = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
            why = f" ({said[-1][:120]})" if said else ""
            notes.append(f"not signed: debsign failed on {target.name}{why}; without --sign-key it signs "
                         "with the maintainer's key: name the key with --sign-key KEYID, or build with -u")


def _staged(tree: source.SourceTree, files: list[Path], notes: list[str], options: BuildOptions) -> Staged:
    if options.sign or options.sign_key is not None:
        _sign(files, notes, options.sign_key)
    return Staged([(artifact_kind(f), f) for f in files], tree.root, notes, tree.version())


def write_native(spec: PackageSpec, stage: Staging, options: BuildOptions) -> Staged:
    """The native builder's writer: the tree, the source package, the ``.deb`` written in Python."""
    stage.check_free(f"{spec.name}-{spec.version}", directory=True)
    payload = options.payload_of(spec, source.DebPayload, source.DebPayload.for_spec)
    tree = source.write_source_tree(payload, stage.path, options.edits)
    files: list[Path] = []
    notes: list[str] = []
    if options.source:
        if shutil.which("dpkg-source"):
            files += source.build_source_package(tree)
        else:
            files.append(source.orig_tarball(tree))
            notes.append("no .dsc: dpkg-source is not installed (apt-get install dpkg-dev)")
    if options.binary:
        files.append(native.build_native_deb(tree, stage.path, compression=options.compression or "xz"))
    return _staged(tree, files, notes, options)


def write_dpkg(spec: PackageSpec, stage: Staging, options: BuildOptions) -> Staged:
    """The dpkg builder's writer: the tree, then ``dpkg-buildpackage`` in it."""
    stage.check_free(f"{spec.name}-{spec.version}", directory=True)
    payload = options.payload_of(spec, source.DebPayload, source.DebPayload.for_spec)
    tree = source.write_source_tree(payload, stage.path, options.edits)
    files = dpkg.build_with_dpkg(tree, source=options.source, binary=options.binary)
    return _staged(tree, files, [], options)


def _signs_dsc(options: BuildOptions) -> bool:  # the native writer signs the .dsc of a source package
    return options.sign_key is not None or (options.sign and options.source)


def _signs_changes(options: BuildOptions) -> bool:  # dpkg-buildpackage always makes a .changes
    return options.sign_key is not None or options.sign


NATIVE = StagedBuilder("deb", "native", "the .deb written in Python", ("xz", "gzip"), write_native,
                       _signs_dsc)
DPKG = StagedBuilder("deb", "dpkg", "dpkg-buildpackage in the emitted source tree", (), write_dpkg,
                     _signs_changes)

register(NATIVE)
register(DPKG)
