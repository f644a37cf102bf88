"""Build a Debian package from a :class:`~tap2pkg.spec.PackageSpec`: the one entry point.

Everything is built in a private staging directory inside the output
directory (:class:`~tap2pkg.output.Staging`) and published only when every
step has worked, so a failure, a full disk or a signal leaves nothing
partial behind, and builds running at the same time into one directory do
not trip over each other. A file or link where the source tree
``<pkg>-<version>`` goes is refused, never followed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..bundle import check_output_dir
from ..errors import UsageError
from ..output import Staging
from ..spec import PackageSpec
from .dpkg import build_with_dpkg
from .native import build_native_deb
from .source import build_source_package, orig_tarball, write_source_tree

#: The builders ``--builder`` accepts.
BUILDERS = ("native", "dpkg")


@dataclass
class DebBuildResult:
    """What one build produced: the source tree and the artifacts, at their final paths."""

    spec: PackageSpec
    source_tree: Path
    artifacts: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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


def build_deb(spec: PackageSpec, output_dir: Path, *, builder: str = "native", source: bool = True,
              binary: bool = True, compression: str = "xz", sign: bool = False) -> DebBuildResult:
    """Write the source tree, the source package and/or the ``.deb`` for ``spec`` into ``output_dir``."""
    if builder not in BUILDERS:
        raise UsageError(f"--builder {builder!r} is unknown; use native or dpkg")
    if not (source or binary):
        raise UsageError("--source-only and --binary-only exclude each other; give at most one")
    check_output_dir(spec, output_dir)
    with Staging(output_dir) as stage:
        stage.check_free(f"{spec.name}-{spec.version}", directory=True)
        notes: list[str] = []
        try:
            tree = write_source_tree(spec, stage.path)
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
                    artifacts.append(build_native_deb(spec, stage.path, compression=compression))
            if sign:
                _sign(artifacts, notes)
        except OSError as exc:
            raise stage.error(exc) from None
        final = stage.publish([tree.root, *artifacts])
    return DebBuildResult(spec, final[0], final[1:], notes)
