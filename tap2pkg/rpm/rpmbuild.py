"""The ``rpmbuild`` runner: the generated ``.spec`` built in a private ``_topdir``.

rpmbuild records its build paths in the package (the parsed spec), so
:func:`private_topdir` gives each ``name-version-release`` one fixed path,
``$TMPDIR/tap2rpm-<uid>/<name-version-release>``, locked while in use: two
builds of the same package by one user are byte-identical, and two at the same
time wait for each other (saying so) instead of sharing it. The directory is the
build user's own (0700), so no other user can take its lock, plant files or
links in it, or block a build. The sources are copied there with normalized
modes, and owned by root (through ``fakeroot`` when the build user is not
root), since the source RPM records both.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
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

#: Where a build that waits for another one's lock says so (a silent wait looks like a hang).
_log = logging.getLogger(__name__)


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


def private_base(tmp: Path) -> Path:
    """``<tmp>/tap2rpm-<uid>``: the build user's own directory (made 0700), never another user's.

    Refused in one line (:class:`OutputError`) when something else is there: a link (never followed), a
    file, a directory of another user or one others may write to (they could plant files in it).
    """
    base = tmp / f"tap2rpm-{os.getuid()}"
    fix = "remove it, or set TMPDIR to a directory of your own"
    try:
        base.mkdir(mode=0o700)
        created = True
    except FileExistsError:
        created = False
    except OSError as exc:
        raise OutputError(f"{base}: cannot make the rpmbuild builder's private directory ({exc.strerror}); "
                          "set TMPDIR to a directory you may write to") from None
    try:
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:  # ELOOP: a link; ENOTDIR: a file
        what = ("a symbolic link" if os.path.islink(base) else "a file" if exc.errno == errno.ENOTDIR
                else f"cannot be opened ({exc.strerror})")
        raise OutputError(f"{base}: {what}, not the rpmbuild builder's private directory; {fix}") from None
    try:
        st = os.fstat(fd)
        if created and st.st_uid == os.getuid():
            os.fchmod(fd, 0o700)  # whatever the umask
            st = os.fstat(fd)
    finally:
        os.close(fd)
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) != 0o700:
        owner = "you" if st.st_uid == os.getuid() else f"uid {st.st_uid}"
        raise OutputError(f"{base}: owned by {owner} with mode {stat.S_IMODE(st.st_mode):04o}, not a private "
                          f"directory of yours (mode 0700) for the rpmbuild builder; {fix}")
    return base


@contextlib.contextmanager
def _label_lock(base: Path, label: str) -> Iterator[None]:
    """Hold ``<base>/<label>.lock``, waiting (with a note) while another build of ``label`` holds it; the
    file is removed when released, without letting a third build lock a file no longer there."""
    lock_path = base / f"{label}.lock"
    said = False
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise OutputError(f"{lock_path}: cannot open the rpmbuild builder's lock ({exc.strerror}); "
                              "remove it") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    _log.warning("tap2pkg: note: another build of %s holds %s; waiting for it to end "
                                 "(Ctrl-C stops this one)", label, lock_path)
                    said = True
                tools.wait_for_lock(fd)  # ends with Stopped when this build stops
            held = os.fstat(fd)
            try:
                now = os.stat(lock_path, follow_symlinks=False)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the build before removed the file this one waited on: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)  # still held: a build waiting on it sees it gone and starts over
        os.close(fd)


@contextlib.contextmanager
def private_topdir(label: str) -> Iterator[Path]:
    """A fixed ``_topdir`` for ``label`` (``name-version-release``) in :func:`private_base`, locked while in
    use and removed afterwards."""
    base = private_base(Path(tempfile.gettempdir()))
    with _label_lock(base, label):
        top = base / label
        if top.is_symlink() or (top.exists() and not top.is_dir()):
            top.unlink()
        shutil.rmtree(top, ignore_errors=True)  # a build that was killed
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
