"""Signing with --sign-key: debsign for .changes/.dsc, rpmsign --addsign for .rpm/.src.rpm."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpg_helpers import ThrowawayKey, throwaway_key

ECHO = Path(__file__).resolve().parents[1] / "examples" / "echo"
TAP2PKG = [sys.executable, "-m", "tap2pkg.cli.tap2pkg"]

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("gpg", "rpmsign", "debsign", "rpmbuild", "dpkg-buildpackage")),
    reason="needs gpg, rpmsign, debsign, rpmbuild and dpkg-buildpackage")


@pytest.fixture(scope="module")
def key() -> Iterator[ThrowawayKey]:
    with throwaway_key() as made:
        yield made


def build(key: ThrowawayKey, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TAP2PKG, "build", "-m", "Me <me@example.org>", "-V", "1.0", "-o", str(out),
                           str(ECHO / "echo.tac"), "--include", str(ECHO / "echoproto.py"), *extra],
                          env=key.env(), capture_output=True, text=True, check=False)


def rpm_check(key: ThrowawayKey, tmp: Path, rpms: list[Path]) -> str:
    """``rpm -K`` of ``rpms`` in a private rpm database that has imported ``key``'s public key."""
    db = tmp / "rpmdb"
    db.mkdir(exist_ok=True)
    public = tmp / "key.asc"
    public.write_bytes(subprocess.run(["gpg", "--armor", "--export", key.fingerprint], env=key.env(),
                                      check=True, capture_output=True).stdout)
    subprocess.run(["rpm", "--dbpath", str(db), "--import", str(public)], check=True)
    return subprocess.run(["rpm", "--dbpath", str(db), "-K", *map(str, rpms)], capture_output=True,
                          text=True, check=False).stdout


def gpg_verify(key: ThrowawayKey, path: Path) -> bool:
    return subprocess.run(["gpg", "--batch", "--verify", str(path)], env=key.env(),
                          capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("builders", ["native", "dpkg,rpmbuild"])
def test_sign_key_signs_every_package_file(key: ThrowawayKey, tmp_path: Path, builders: str) -> None:
    out = tmp_path / "out"
    proc = build(key, out, "--builder", builders, "--sign-key", key.fingerprint)
    assert proc.returncode == 0, proc.stderr
    rpms = sorted(out.glob("*.rpm"))
    assert {p.name for p in rpms} == {"echo-1.0-1.noarch.rpm", "echo-1.0-1.src.rpm"}
    checked = rpm_check(key, tmp_path, rpms)
    assert checked.count("digests signatures OK") == 2, checked
    assert gpg_verify(key, out / "echo_1.0-1.dsc")
    if builders != "native":  # dpkg-buildpackage writes a .changes; debsign signs it too
        assert gpg_verify(key, out / "echo_1.0-1_amd64.changes")


def test_without_a_key_rpms_stay_unsigned(key: ThrowawayKey, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = build(key, out, "--format", "rpm")
    assert proc.returncode == 0, proc.stderr
    checked = rpm_check(key, tmp_path, sorted(out.glob("*.rpm")))
    assert "signatures" not in checked and checked.count("digests OK") == 2, checked


def test_unknown_key_is_one_line_before_building(key: ThrowawayKey, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = build(key, out, "--sign-key", "nobody@example.org")
    assert proc.returncode == 86
    assert "--sign-key nobody@example.org: no secret key" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_sign_key_and_unsigned_contradict(key: ThrowawayKey, tmp_path: Path) -> None:
    proc = build(key, tmp_path / "out", "--sign-key", key.fingerprint, "-u")
    assert proc.returncode == 64 and "--unsigned" in proc.stderr


def test_without_sign_key_a_keyring_lacking_the_maintainers_key_says_what_to_do(key: ThrowawayKey,
                                                                                 tmp_path: Path) -> None:
    # the keyring holds a secret key, but not one for Me <me@example.org>: debsign cannot sign
    done = build(key, tmp_path, "--format", "deb")
    assert done.returncode == 0, done.stderr
    note = next(line for line in done.stderr.splitlines() if "not signed" in line)
    assert "debsign failed on echo_1.0-1" in note and "--sign-key KEYID" in note, note
