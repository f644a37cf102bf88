"""The ``rpmbuild`` runner: the generated ``.spec`` built in a private ``_topdir``.

rpmbuild records its build paths in the package (the parsed spec), so
:func:`private_topdir` gives each ``name-version-release`` one fixed path for
every build user, ``$TMPDIR/tap2rpm/<name-version-release>``: two builds of the
same package are byte-identical whoever runs them. ``$TMPDIR/tap2rpm`` is
sticky like ``/tmp``; the directory of a build is its user's own (0700) and
locked while in use, so no other user can plant files in it, remove it or
take its lock; a second build of the same package by the same user waits for
the first (saying so), and one by another user at the same moment is refused
in one line. The sources are copied there with normalized modes, and owned by
root (through ``fakeroot`` when the build user is not root), since the source
RPM records both.
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
    if tools.failed_on_a_full_disk(proc):
        raise OutputError(f"{cwd}: no space left on the device while rpmbuild ran; free some space or choose "
                          "another -o/--output-dir or TMPDIR")
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise BuildToolError(f"rpmbuild failed (exit {proc.returncode}): {tail}; rerun with --debug "
                             f"or run '{' '.join(args)}' by hand")


def shared_base(tmp: Path) -> Path:
    """``<tmp>/tap2rpm``: one path for every build user, so that every user's source RPM is the same bytes
    (rpmbuild records its build paths in it). Made like ``/tmp``, sticky and open to all; each build's
    own directory in it is private to its user, and only that user may remove or rename it.

    Refused in one line (:class:`OutputError`) when something else is there: a link (never followed), a
    file, or a directory another user could empty: owned by a user other than root and you, or open to
    others without the sticky bit.
    """
    base = tmp / "tap2rpm"
    fix = "remove it, or set TMPDIR to a directory of your own (its path then reaches the source RPM)"
    try:
        base.mkdir(mode=0o1777)
        created = True
    except FileExistsError:
        created = False
    except OSError as exc:
        raise OutputError(f"{base}: cannot make the rpmbuild builder's directory ({exc.strerror}); "
                          "set TMPDIR to a directory you may write to") from None
    try:
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:  # ELOOP: a link; ENOTDIR: a file
        what = ("a symbolic link" if os.path.islink(base) else "a file" if exc.errno == errno.ENOTDIR
                else f"cannot be opened ({exc.strerror})")
        raise OutputError(f"{base}: {what}, not the rpmbuild builder's directory; {fix}") from None
    try:
        st = os.fstat(fd)
        if created and st.st_uid == os.getuid():
            os.fchmod(fd, 0o1777)  # whatever the umask
            st = os.fstat(fd)
    finally:
        os.close(fd)
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid not in (0, os.getuid()) or (mode & 0o022 and not mode & stat.S_ISVTX):
        owner = "you" if st.st_uid == os.getuid() else "root" if st.st_uid == 0 else f"uid {st.st_uid}"
        raise OutputError(f"{base}: owned by {owner} with mode {mode:04o}, so another user could remove the "
                          f"rpmbuild builder's directories in it; {fix}")
    return base


@contextlib.contextmanager
def private_topdir(label: str) -> Iterator[Path]:
    """``<TMPDIR>/tap2rpm/<label>`` (``label``: ``name-version-release``), the build user's own (0700) and
    locked while in use: a fixed ``_topdir`` for every build of the package, removed afterwards.

    A second build of ``label`` by the same user waits for the first (saying so, and ending when the
    call stops); one by another user at the same moment is refused in one line, never waited on.
    """
    base = shared_base(Path(tempfile.gettempdir()))
    top, said = base / label, False
    while True:
        with contextlib.suppress(FileExistsError):
            os.mkdir(top, 0o700)
        try:
            fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # removed by the build before this one: make it again
        except OSError as exc:  # a link, a file, another user's private directory
            what = "a symbolic link" if os.path.islink(top) else f"cannot be opened ({exc.strerror})"
            raise OutputError(f"{top}: {what}; another user may be building {label} now: build again "
                              "when it is done, or set TMPDIR to a directory of your own") from None
        try:
            held = os.fstat(fd)
            if held.st_uid != os.getuid():
                raise OutputError(f"{top}: uid {held.st_uid} is building {label} there now; build again when "
                                  "it is done, or set TMPDIR to a directory of your own")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    _log.warning("tap2pkg: note: another build of %s is using %s; waiting for it to end "
                                 "(Ctrl-C stops this one)", label, top)
                    said = True
                tools.wait_for_lock(fd)  # ends with Stopped when this build stops
            try:
                now: os.stat_result | None = os.stat(top, follow_symlinks=False)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the build before removed the directory this one waited on: start over
    try:
        os.fchmod(fd, 0o700)  # whatever the umask
        for child in top.iterdir():  # what a build that was killed left
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)  # still locked: a build waiting on it finds it gone
        os.close(fd)


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
