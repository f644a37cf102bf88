"""Build a Debian package from a :class:`~tap2pkg.spec.PackageSpec`: the one entry point.

Everything is built in a private directory inside the output directory and
moved into place only when every step has worked, so a failure leaves
nothing partial behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import OutputError, UsageError
from ..record import field, record
from ..spec import PackageSpec
from .dpkg import build_with_dpkg
from .native import build_native_deb
from .source import build_source_package, orig_tarball, write_source_tree

#: The builders ``--builder`` accepts.
BUILDERS = ("native", "dpkg")


@record
class DebBuildResult:
    """What one build produced: the source tree and the artifacts, at their final paths."""

    spec: PackageSpec
    source_tree: Path
    artifacts: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def prepare_output_dir(output_dir: Path) -> Path:
    """Create ``output_dir`` if needed; raise :class:`OutputError` when it cannot be written."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--output-dir {output_dir}: cannot create it ({exc.strerror}); "
                          "choose a writable directory") from None
    if not output_dir.is_dir() or not os.access(output_dir, os.W_OK | os.X_OK):
        raise OutputError(f"--output-dir {output_dir}: not a writable directory; choose a writable directory")
    return output_dir


def _signing_key_available() -> bool:
    import shutil
    import subprocess

    if shutil.which("debsign") is None or shutil.which("gpg") is None:
        return False
    proc = subprocess.run(["gpg", "--batch", "--list-secret-keys"], capture_output=True, check=False)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def _sign(files: list[Path], notes: list[str]) -> None:
    targets = [f for f in files if f.suffix in (".changes", ".dsc")]
    changes = [f for f in targets if f.suffix == ".changes"]
    targets = changes or targets
    if not targets:
        return
    import subprocess

    if not _signing_key_available():
        notes.append("not signed: debsign or a secret OpenPGP key is not available (use -u to say so)")
        return
    for target in targets:
        proc = subprocess.run(["debsign", "--no-re-sign", str(target)], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            notes.append(f"not signed: debsign failed on {target.name}")


def _move_into_place(src: Path, output_dir: Path) -> Path:
    dest = output_dir / src.name
    if dest.is_dir() and not dest.is_symlink():
        import shutil

        shutil.rmtree(dest)
    os.replace(src, dest)
    return dest


def build_deb(spec: PackageSpec, output_dir: Path, *, builder: str = "native", source: bool = True,
              binary: bool = True, compression: str = "xz", sign: bool = False) -> DebBuildResult:
    """Write the source tree, the source package and/or the ``.deb`` for ``spec`` into ``output_dir``."""
    if builder not in BUILDERS:
        raise UsageError(f"--builder {builder!r} is unknown; use native or dpkg")
    if not (source or binary):
        raise UsageError("--source-only and --binary-only exclude each other; give at most one")
    output_dir = prepare_output_dir(output_dir)
    try:
        work = _work_dir(output_dir, f".{spec.name}-build-")
    except OSError as exc:
        raise OutputError(f"--output-dir {output_dir}: cannot write there ({exc.strerror}); "
                          "choose a writable directory") from None
    notes: list[str] = []
    try:
        tree = write_source_tree(spec, work)
        if builder == "dpkg":
            artifacts = build_with_dpkg(tree, source=source, binary=binary)
        else:
            artifacts = []
            if source:
                import shutil

                if shutil.which("dpkg-source"):
                    artifacts += build_source_package(tree)
                else:
                    artifacts.append(orig_tarball(tree))
                    notes.append("no .dsc: dpkg-source is not installed (apt-get install dpkg-dev)")
            if binary:
                artifacts.append(build_native_deb(spec, work, compression=compression))
        if sign:
            _sign(artifacts, notes)
        final_tree = _move_into_place(tree.root, output_dir)
        final = [_move_into_place(a, output_dir) for a in artifacts]
    finally:
        _remove_work_dir(work)
    return DebBuildResult(spec, final_tree, final, notes)


def _work_dir(parent: Path, prefix: str) -> Path:
    """A new private directory ``<prefix><pid>-<n>`` in ``parent``, as ``tempfile.mkdtemp`` makes
    (without importing ``tempfile``, a visible part of a single build's start-up)."""
    for n in range(10000):
        work = parent / f"{prefix}{os.getpid()}-{n}"
        try:
            work.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return work
    raise FileExistsError(17, f"no free work directory name in {parent}")


def _remove_work_dir(work: Path) -> None:
    """Remove the work directory: empty after a successful build, anything after a failure."""
    try:
        work.rmdir()
    except OSError:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
