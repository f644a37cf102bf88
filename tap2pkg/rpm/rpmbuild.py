"""The ``rpmbuild`` runner: the generated ``.spec`` built in a private ``_topdir``.

rpmbuild records its build paths in the package (the parsed spec), so
:func:`private_topdir` gives each ``name-version-release`` one fixed path,
locked while in use: two builds of the same package are byte-identical, and
two builds at the same time wait for each other instead of sharing it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import BuildToolError, MissingToolError, OutputError


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
    """A fixed, private ``_topdir`` for ``label`` (``name-version-release``), locked while in use."""
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
