"""Building RPMs from a :class:`~tap2pkg.spec.PackageSpec`: the spec and sources, the SRPM, the RPM.

Two builders give the same binary package:

* ``native`` (default) writes the ``.rpm`` in Python (:mod:`tap2pkg.rpm.native`);
* ``rpmbuild`` runs ``rpmbuild`` on the generated spec in a private ``_topdir``.

The source RPM is always made from the spec by ``rpmbuild -bs``. Where
``rpmbuild`` is not installed the native builder still writes the spec, the
sources and the ``.rpm`` and leaves the SRPM out (said in
:attr:`RpmBuildResult.notes`); ``--source-only`` then fails. Everything is
made in a staging directory inside the output directory and published at the
end (:class:`~tap2pkg.output.Staging`), so a failure, a full disk or a signal
leaves nothing partial behind, and builds running at the same time into one
directory each publish a whole set.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..bundle import check_output_dir
from ..errors import BuildToolError, MissingToolError
from ..output import Staging
from ..runtime.errors import OutputError, UsageError
from ..spec import PackageSpec
from .native import COMPRESSORS, build_rpm
from .source import build_epoch, rpm_package, rpm_sources

BUILDERS = ("native", "rpmbuild")


@dataclass
class RpmBuildResult:
    """What one build wrote: every artifact path, keyed by kind, plus notes for the user."""

    name: str
    version: str
    release: str
    artifacts: dict[str, list[Path]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def paths(self) -> list[Path]:
        """All artifacts, in a stable order."""
        return [p for kind in ("spec", "sources", "srpm", "rpm") for p in self.artifacts.get(kind, [])]


def rpmbuild_available() -> bool:
    """True when an ``rpmbuild`` executable is on ``PATH``."""
    import shutil

    return shutil.which("rpmbuild") is not None


def rpmbuild_command(mode: str, spec_file: Path, topdir: Path, sourcedir: Path, outdir: Path) -> list[str]:
    """The ``rpmbuild`` command line that builds ``spec_file`` (``mode``: ``-ba``, ``-bb``, ``-bs``)."""
    defines = {
        "_topdir": str(topdir), "_sourcedir": str(sourcedir), "_srcrpmdir": str(outdir),
        "_rpmdir": str(outdir), "_build_name_fmt": "%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
    }
    args = ["rpmbuild", mode, "--quiet"]
    for key, value in defines.items():
        args += ["--define", f"{key} {value}"]
    return [*args, str(spec_file)]


def run_rpmbuild(args: list[str], *, epoch: int, cwd: Path) -> None:
    """Run ``rpmbuild``; a failure becomes :class:`BuildToolError` with its last lines of output."""
    from ..tools import run_tool_process

    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch), TZ="UTC", LC_ALL="C.UTF-8")
    try:  # killed with its children if the build stops
        proc = run_tool_process(args, cwd=cwd, env=env, merge_output=False)
    except FileNotFoundError:
        raise MissingToolError("rpmbuild is not installed; install the rpm package or use "
                               "--builder native --binary-only") from None
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise BuildToolError(f"rpmbuild failed (exit {proc.returncode}): {tail}; rerun with --debug "
                             f"or run '{' '.join(args)}' by hand")


@contextlib.contextmanager
def private_topdir(label: str) -> Iterator[Path]:
    """A fixed, private ``_topdir`` for ``label`` (``name-version-release``), locked while in use.

    rpmbuild records its build paths in the package (the parsed spec), so a
    path that only depends on the package keeps two builds byte-identical.
    """
    import fcntl
    import shutil
    import tempfile

    base = Path(tempfile.gettempdir()) / f"tap2rpm-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    if base.stat().st_uid != os.getuid() or base.is_symlink():
        raise OutputError(f"{base} belongs to another user; remove it or set TMPDIR to a private directory")
    with open(base / f"{label}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        top = base / label
        shutil.rmtree(top, ignore_errors=True)
        top.mkdir()
        try:
            yield top
        finally:
            shutil.rmtree(top, ignore_errors=True)


def rpmbuild_in_private_topdir(mode: str, stage: Path, spec_name: str, label: str, epoch: int) -> None:
    """Run ``rpmbuild mode`` on ``stage/spec_name`` with copies of the sources; results land in ``stage``."""
    import shutil

    with private_topdir(label) as top:
        sourcedir, outdir = top / "SOURCES", top / "OUT"
        sourcedir.mkdir()
        outdir.mkdir()
        for path in stage.iterdir():
            if path.is_file():
                shutil.copy2(path, sourcedir / path.name)
        command = rpmbuild_command(mode, sourcedir / spec_name, top, sourcedir, outdir)
        run_rpmbuild(command, epoch=epoch, cwd=top)
        for path in outdir.iterdir():
            shutil.move(path, stage / path.name)


def build_rpms(spec: PackageSpec, output_dir: Path, *, builder: str = "native", source_only: bool = False,
               binary_only: bool = False, compressor: str = "gzip") -> RpmBuildResult:
    """Write the spec, its sources, the SRPM and the RPM of ``spec`` into ``output_dir``."""
    if builder not in BUILDERS:
        raise UsageError(f"--builder {builder!r} is unknown; use one of {', '.join(BUILDERS)}")
    if compressor not in COMPRESSORS:
        raise UsageError(f"--compression {compressor!r} is unknown; use one of {', '.join(COMPRESSORS)}")
    if source_only and binary_only:
        raise UsageError("--source-only and --binary-only exclude each other; give at most one")
    sources = rpm_sources(spec)
    package = rpm_package(spec, sources)
    package.validate()
    want_srpm, want_rpm = not binary_only, not source_only
    # a native binary-only build never runs rpmbuild: do not look for it
    has_rpmbuild = rpmbuild_available() if (want_srpm or builder == "rpmbuild") else False
    if not has_rpmbuild and (builder == "rpmbuild" or source_only):
        raise MissingToolError("rpmbuild is not installed; it is needed for the source RPM and "
                               "--builder rpmbuild; install rpm, or use --builder native --binary-only")
    result = RpmBuildResult(spec.name, spec.version, spec.revision)
    check_output_dir(spec, output_dir)
    with Staging(Path(output_dir), option="-o/--output-dir") as staging:
        stage = staging.path
        made: dict[str, list[Path]] = {"spec": [], "sources": [], "srpm": [], "rpm": []}
        try:
            epoch = build_epoch(spec)
            for name, data in sources.files().items():
                (stage / name).write_bytes(data)
                os.utime(stage / name, (epoch, epoch))  # the SRPM's cpio keeps these mtimes
                made["spec" if name == sources.spec_name else "sources"].append(stage / name)
            label = f"{spec.name}-{package.evr}"
            rpm_name = package.filename
            srpm_name = f"{spec.name}-{package.evr}.src.rpm"
            mode = {(True, True): "-ba", (True, False): "-bs", (False, True): "-bb"}
            if builder == "rpmbuild" and want_rpm:
                rpmbuild_in_private_topdir(mode[(want_srpm, True)], stage, sources.spec_name, label, epoch)
            elif want_srpm and has_rpmbuild:
                rpmbuild_in_private_topdir("-bs", stage, sources.spec_name, label, epoch)
            elif want_srpm:
                result.notes.append("rpmbuild is not installed: no source RPM was made (the spec and its "
                                    "sources are written; build the SRPM with 'rpmbuild -bs' where rpm "
                                    "exists)")
            if builder == "native" and want_rpm:
                (stage / rpm_name).write_bytes(build_rpm(package, compressor=compressor))
            if want_srpm and (stage / srpm_name).exists():
                made["srpm"].append(stage / srpm_name)
            if want_rpm:
                made["rpm"].append(stage / rpm_name)
        except OSError as exc:
            raise staging.error(exc) from None
        kinds = [kind for kind, paths in made.items() for _ in paths]
        published = staging.publish([path for paths in made.values() for path in paths])
        for kind, path in zip(kinds, published, strict=True):
            result.artifacts.setdefault(kind, []).append(path)
    return result
