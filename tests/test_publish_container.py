"""Published repositories installed from in containers: apt-get with signed-by, rpm -K then rpm -U.

The echo example is published at 1.0, then 1.1; installing ``echo`` through
the package manager gets 1.1, and the same repository checked against another
key fails at the install step (``verify --from-repo --repo-key``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from container_helpers import offline_image
from gpg_helpers import ThrowawayKey, throwaway_key, using_key

from tap2pkg.publish import PublishOptions, publish
from tap2pkg.signing import find_key
from tap2pkg.verify import VerifyContainer
from tap2pkg.verify.repo import install_from_repo

ECHO = Path(__file__).resolve().parents[1] / "examples" / "echo"
TAP2PKG = [sys.executable, "-m", "tap2pkg.cli.tap2pkg"]

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("gpg", "rpmsign", "apt-ftparchive", "createrepo_c")),
                       reason="needs gpg, rpmsign, apt-ftparchive and createrepo_c"),
]


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[ThrowawayKey, ThrowawayKey]]:
    with throwaway_key() as key, throwaway_key("Someone Else <else@example.org>") as other:
        yield key, other


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory,
          keys: tuple[ThrowawayKey, ThrowawayKey]) -> dict[str, Path]:
    """echo 1.0 then 1.1 published to apt and yum repositories; the packages and the other key's files."""
    key, other = keys
    out = tmp_path_factory.mktemp("published")
    made: dict[str, Path] = {}
    with using_key(key):
        signing_key = find_key(key.fingerprint)
        for version in ("1.0", "1.1"):
            subprocess.run([*TAP2PKG, "build", "-m", "Me <me@example.org>", "-V", version, "--binary-only",
                            "-o", str(out / version), str(ECHO / "echo.tac"),
                            "--include", str(ECHO / "echoproto.py")], check=True, capture_output=True)
            files = sorted((out / version).glob("*.deb")) + sorted((out / version).glob("*.rpm"))
            publish(files, signing_key, PublishOptions("echo"), apt_dir=out / "apt", rpm_dir=out / "rpm")
            made[f"deb-{version}"] = next((out / version).glob("*.deb"))
            made[f"rpm-{version}"] = next((out / version).glob("*.rpm"))
    for armor, name in ((False, "other.gpg"), (True, "other.asc")):
        subprocess.run(["gpg", "--batch", "--export", *(["--armor"] if armor else []), "--output",
                        str(out / name), other.fingerprint], env=other.env(), check=True)
    return {**made, "apt": out / "apt", "rpm": out / "rpm", "other.gpg": out / "other.gpg",
            "other.asc": out / "other.asc"}


def test_apt_get_installs_the_newest_version_through_signed_by(client: Any, repos: dict[str, Path]) -> None:
    with VerifyContainer(client, offline_image(client, "debian:bookworm"), systemd=False) as box:
        result = install_from_repo(box, "deb", repos["apt"], ["echo"])
        assert result.ok, result.output
        assert box.run(["dpkg-query", "-W", "-f=${Version}", "echo"]).output == "1.1-1"
        assert "Signed-By: /etc/apt/keyrings/tap2pkg-verify.gpg" in box.run(
            ["cat", "/etc/apt/sources.list.d/tap2pkg-verify.sources"]).output


def test_apt_get_refuses_a_repository_signed_with_another_key(client: Any, repos: dict[str, Path]) -> None:
    with VerifyContainer(client, offline_image(client, "debian:bookworm"), systemd=False) as box:
        result = install_from_repo(box, "deb", repos["apt"], ["echo"], keyring=repos["other.gpg"])
        assert not result.ok
        assert "NO_PUBKEY" in result.output
        assert not box.run(["dpkg-query", "-W", "echo"]).ok


def test_rpm_side_checks_metadata_and_package_signatures(client: Any, repos: dict[str, Path]) -> None:
    with VerifyContainer(client, offline_image(client, "rpm-on-debian"), systemd=False) as box:
        result = install_from_repo(box, "rpm", repos["rpm"], ["echo"])
        assert result.ok, result.output
        assert "digests signatures OK" in result.output
        assert box.run(["rpm", "-q", "echo"]).output.strip() == "echo-1.1-1.noarch"
    with VerifyContainer(client, offline_image(client, "rpm-on-debian"), systemd=False) as box:
        result = install_from_repo(box, "rpm", repos["rpm"], ["echo"], keyring=repos["other.asc"])
        assert not result.ok and "repomd.xml.asc does not verify" in result.output
        assert not box.run(["rpm", "-q", "echo"]).ok


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TAP2PKG, "verify", "--no-sysvinit", "--json", *args], capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize("fmt", ["deb", "rpm"])
def test_verify_from_repo_upgrades_through_the_package_manager(client: Any, repos: dict[str, Path],
                                                               fmt: str) -> None:
    offline_image(client, "debian:bookworm" if fmt == "deb" else "rpm-on-debian")
    repo = repos["apt" if fmt == "deb" else "rpm"]
    proc = verify(str(repos[f"{fmt}-1.1"]), "--upgrade-from", str(repos[f"{fmt}-1.0"]),
                  "--from-repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    steps = {s["name"]: s for s in json.loads(proc.stdout)["runs"][0]["steps"]}
    assert "from the signed repository" in steps["install"]["detail"]
    assert steps["upgrade"]["status"] == "pass" and "1.0-1 -> 1.1-1" in steps["upgrade"]["detail"]
    wrong = verify(str(repos[f"{fmt}-1.1"]), "--from-repo", str(repo),
                   "--repo-key", str(repos["other.gpg" if fmt == "deb" else "other.asc"]))
    assert wrong.returncode == 1
    steps = {s["name"]: s for s in json.loads(wrong.stdout)["runs"][0]["steps"]}
    assert steps["snapshot"]["status"] == "pass" and steps["install"]["status"] == "fail"
    assert "from the repository failed" in steps["install"]["detail"]
