"""The ``rpmbuild`` runner: the generated ``.spec`` built in a private ``_topdir``.

rpmbuild records its build paths in the package (the parsed spec), so
:func:`private_topdir` gives each ``name-version-release`` one fixed path,
``$TMPDIR/tap2rpm/<name-version-release>`` whoever builds (no user name or uid in
it), locked while in use: two builds of the same package are byte-identical, and
two builds at the same time wait for each other instead of sharing it. The
sources are copied there with normalized modes, and owned by root (through
``fakeroot`` when the build user is not root), since the source RPM records
both.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BuildToolError, MissingToolError, OutputError
from ..runtime.lazy import lazy_import

if TYPE_CHECKING:
    import shutil
    import tempfile

    from .. import tools
else:  # imported on first use: rpm/build.py imports this module when the registry lists the builders
    shutil = lazy_import("shutil")
    tempfile = lazy_import("tempfile")
    tools = lazy_import("tap2pkg.tools")


def rpmbuild_available() -> bool:
    """True when an ``rpmbuild`` executable is on ``PATH``."""
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
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch), TZ="UTC", LC_ALL="C.UTF-8")
    try:  # killed with its children if the build stops
        proc = tools.run_tool_process(args, cwd=cwd, env=env, merge_output=False)
    except FileNotFoundError:
        raise MissingToolError("rpmbuild is not installed; install the rpm package or use "
                               "--builder native --binary-only") from None
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise BuildToolError(f"rpmbuild failed (exit {proc.returncode}): {tail}; rerun with --debug "
                             f"or run '{' '.join(args)}' by hand")


def _shared_base(tmp: Path) -> Path:
    """``<tmp>/tap2rpm``, shared by every user like ``/tmp`` itself (sticky, 1777) so the path rpmbuild
    records holds no user name or uid; ``<tmp>/tap2rpm-<uid>`` when someone else made it otherwise."""
    base = tmp / "tap2rpm"
    with contextlib.suppress(FileExistsError):
        base.mkdir()
        if base.stat().st_uid == os.getuid():
            base.chmod(0o1777)
    st = os.lstat(base)
    if stat.S_ISDIR(st.st_mode) and st.st_uid in (0, os.getuid()) and st.st_mode & 0o7777 == 0o1777:
        return base
    private = tmp / f"tap2rpm-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    if private.stat().st_uid != os.getuid() or private.is_symlink():
        raise OutputError(f"{private} belongs to another user; remove it or set TMPDIR to a private "
                          "directory")
    return private


@contextlib.contextmanager
def private_topdir(label: str) -> Iterator[Path]:
    """A fixed, private ``_topdir`` for ``label`` (``name-version-release``), locked while in use."""
    base = _shared_base(Path(tempfile.gettempdir()))
    lock_path = base / f"{label}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    with open(fd, "w") as lock:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, 0o666)  # another build user may wait on it too
        tools.wait_for_lock(lock.fileno())  # another build of the same label: wait, unless the build stops
        top = base / label
        if top.is_symlink() or (top.exists() and top.stat().st_uid != os.getuid()):
            raise OutputError(f"{top} belongs to another user (a build that stopped); remove it")
        shutil.rmtree(top, ignore_errors=True)
        top.mkdir(mode=0o700)
        try:
            yield top
        finally:
            shutil.rmtree(top, ignore_errors=True)


def normalize_sources(sourcedir: Path) -> None:
    """Give the copied sources the modes of their kind (0644, 0755 when executable) whatever the umask,
    so the source RPM, which records them, is the same for every build user."""
    for path in sourcedir.iterdir():
        path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)


def rpmbuild_in_private_topdir(mode: str, stage: Path, spec_name: str, label: str, epoch: int) -> None:
    """Run ``rpmbuild mode`` on ``stage/spec_name`` with copies of the sources; results land in ``stage``."""
    with private_topdir(label) as top:
        sourcedir, outdir = top / "SOURCES", top / "OUT"
        sourcedir.mkdir()
        outdir.mkdir()
        for path in stage.iterdir():
            if path.is_file():
                shutil.copy2(path, sourcedir / path.name)
        normalize_sources(sourcedir)
        command = rpmbuild_command(mode, sourcedir / spec_name, top, sourcedir, outdir)
        if os.getuid() != 0 and shutil.which("fakeroot"):
            # the source RPM records its files' owner names: root's, not the build user's
            command = ["fakeroot", "sh", "-c", 'chown -R 0:0 "$0" && exec "$@"', str(sourcedir), *command]
        run_rpmbuild(command, epoch=epoch, cwd=top)
        for path in outdir.iterdir():
            shutil.move(path, stage / path.name)
