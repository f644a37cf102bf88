"""Same input, same bytes: every artifact of both formats, built twice with what differs between two
build machines (umask, build path, time zone, locale and, when run as root, the build user)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ECHO = Path(__file__).parent / "data" / "echo"
EPOCH = "1700000000"
ARTIFACTS = (".deb", ".dsc", ".orig.tar.gz", ".debian.tar.xz", ".src.rpm", ".noarch.rpm", ".tar.gz")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("dpkg-buildpackage") and shutil.which("rpmbuild")),
                                 reason="dpkg-buildpackage and rpmbuild are needed")]


def other_user() -> str | None:
    """A second build user when running as root and the venv is readable by it, else None."""
    if os.getuid() != 0:
        return None
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return None
    probe = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", "import tap2pkg"],
                           capture_output=True)
    return "nobody" if probe.returncode == 0 else None


def build_all(where: Path, *, umask: int, tz: str, lc_all: str, user: str | None) -> dict[str, bytes]:
    """Build the echo example with both tool builders into ``where``; ``{artifact name: bytes}``."""
    app = where / "deeper" / "src"
    app.mkdir(parents=True)
    for name in ("echo.tac", "echoproto.py"):
        shutil.copy(ECHO / name, app / name)
        os.utime(app / name, (int(EPOCH), int(EPOCH)))
    bindir = Path(sys.executable).parent
    script = (f"umask {umask:03o} && cd {app} && "
              f"{bindir}/tap2deb --builder dpkg -u -o out echo.tac --include echoproto.py && "
              f"{bindir}/tap2rpm --builder rpmbuild -o out echo.tac --include echoproto.py")
    env = {"PATH": os.environ["PATH"], "HOME": str(where), "TZ": tz, "LC_ALL": lc_all,
           "SOURCE_DATE_EPOCH": EPOCH, "DEBFULLNAME": "Jane Doe", "DEBEMAIL": "jane@example.org"}
    command = ["sh", "-c", script]
    if user is not None:
        shutil.chown(where, user)
        for path in where.rglob("*"):
            shutil.chown(path, user)
        command = ["runuser", "-u", user, "--", *command]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return {p.name: p.read_bytes() for p in sorted((app / "out").iterdir())
            if p.is_file() and p.name.endswith(ARTIFACTS)}


def test_every_artifact_is_byte_identical_across_build_machines(tmp_path: Path) -> None:
    first = build_all(tmp_path / "a", umask=0o002, tz="UTC", lc_all="C.UTF-8", user=None)
    second = build_all(tmp_path / "b" / "elsewhere", umask=0o022, tz="Pacific/Auckland", lc_all="C",
                       user=other_user())
    assert {Path(n).suffix for n in first} >= {".deb", ".dsc", ".gz", ".xz", ".rpm"}
    assert first.keys() == second.keys()
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"differ between the two builds: {differ}"
