"""piuparts, Debian's install/upgrade/purge tester, on the example package: a base with systemd, an
install and purge of 1.1, then 1.0 from a local repository upgraded to 1.1 and purged. Needs root,
piuparts, debootstrap and the Debian mirror (the base tarball is made once and cached)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tap2pkg.builders import BuildOptions, build
from tap2pkg.spec import PackageSpec

HERE = Path(__file__).parent
ECHO = HERE / "data" / "echo"
BASE_SCRIPT = HERE / "piuparts" / "base.sh"
SUITE = "bookworm"
MIRROR = os.environ.get("TAP2PKG_DEBIAN_MIRROR", "http://deb.debian.org/debian")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.getuid() != 0, reason="piuparts needs root"),
    pytest.mark.skipif(not (shutil.which("piuparts") and shutil.which("debootstrap")),
                       reason="piuparts and debootstrap are needed (ci/setup-system.sh installs them)"),
]


def base_tarball() -> Path:
    """The cached base tarball, made by tests/piuparts/base.sh; a new script makes a new one."""
    digest = hashlib.sha256(BASE_SCRIPT.read_bytes() + f"{SUITE} {MIRROR}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tap2pkg" / "piuparts"
    tarball = cache / f"{SUITE}-{digest}.tar.gz"
    if not tarball.exists():
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["sh", str(BASE_SCRIPT), SUITE, str(tarball), MIRROR], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot make the piuparts base with debootstrap: {proc.stderr.strip()[-300:]}")
    return tarball


def echo_deb(version: str, out: Path) -> Path:
    spec = PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python", version=version,
                       maintainer="Jane Doe <jane@example.org>", ports=(8007,),
                       includes=(ECHO / "echoproto.py",),
                       license="MIT", source_date_epoch=1700000000)
    result = build(spec, out, "deb", "native", options=BuildOptions(source=False))
    return result.paths("package")[0]


def test_piuparts_passes_install_upgrade_from_1_0_and_purge(tmp_path: Path) -> None:
    base = base_tarball()
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(echo_deb("1.0", tmp_path / "old"), repo)
    packages = subprocess.run(["dpkg-scanpackages", "."], cwd=repo, capture_output=True, text=True,
                              check=True)
    (repo / "Packages").write_text(packages.stdout)
    new = echo_deb("1.1", tmp_path / "new")
    proc = subprocess.run(
        ["piuparts", "-d", SUITE, "-m", MIRROR, "-b", str(base), f"--bindmount={repo}",
         f"--extra-repo=deb [trusted=yes] file://{repo} ./",
         # piuparts' own logrotate run writes the state file a booted system has already
         "-i", "/var/lib/logrotate/status", str(new)],
        capture_output=True, text=True, timeout=1200)
    log = proc.stdout + proc.stderr
    failures = [line for line in log.splitlines() if "ERROR" in line or "FAIL" in line]
    assert proc.returncode == 0, "\n".join(failures[-20:])
    assert "PASS: Installation, upgrade and purging tests." in log
    assert "Unpacking echo (1.0-1)" in log and "Unpacking echo (1.1-1) over (1.0-1)" in log
