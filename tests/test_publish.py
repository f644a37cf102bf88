"""tap2pkg publish: signed apt and yum repositories, retention, atomic updates (interrupted publishes)."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpg_helpers import ThrowawayKey, throwaway_key
from test_publish_ci import load_yaml

ECHO = Path(__file__).resolve().parents[1] / "examples" / "echo"
TAP2PKG = [sys.executable, "-m", "tap2pkg.cli.tap2pkg"]

Builds = dict[str, list[Path]]

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("gpg", "gpgv", "rpmsign", "apt-ftparchive", "createrepo_c")),
    reason="needs gpg, gpgv, rpmsign, apt-ftparchive (apt-utils) and createrepo_c (createrepo-c)")


@pytest.fixture(scope="module")
def key() -> Iterator[ThrowawayKey]:
    with throwaway_key() as made:
        yield made


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The echo example at 1.0, 1.1 and 1.2: its .deb, .rpm and .src.rpm (unsigned)."""
    out = tmp_path_factory.mktemp("builds")
    made = {}
    for version in ("1.0", "1.1", "1.2"):
        subprocess.run([*TAP2PKG, "build", "-m", "Me <me@example.org>", "-V", version,
                        "-o", str(out / version), str(ECHO / "echo.tac"),
                        "--include", str(ECHO / "echoproto.py")],
                       check=True, capture_output=True)
        made[version] = sorted((out / version).glob("*.deb")) + sorted((out / version).glob("*.rpm"))
    return made


def command(key: ThrowawayKey, repos: Path, files: list[Path], *extra: str) -> list[str]:
    return [*TAP2PKG, "publish", "--apt", str(repos / "apt"), "--rpm", str(repos / "rpm"),
            "--sign-key", key.fingerprint, *extra, *map(str, files)]


def publish(key: ThrowawayKey, repos: Path, files: list[Path],
            *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(key, repos, files, *extra), env=key.env(), capture_output=True, text=True,
                          check=False)


def apt_versions(apt: Path) -> list[str]:
    packages = (apt / "dists/stable/main/binary-amd64/Packages").read_text()
    return [line.split()[1] for line in packages.splitlines() if line.startswith("Version:")]


def assert_valid(key: ThrowawayKey, repos: Path) -> None:
    """Both repositories verify: InRelease and Release.gpg with the published keyring, every Packages
    file listed in Release and every pool file listed in Packages exists; repomd.xml.asc and rpm -K."""
    apt, rpm = repos / "apt", repos / "rpm"
    dists = apt / "dists" / "stable"
    subprocess.run(["gpgv", "--keyring", str(apt / "echo.gpg"), str(dists / "InRelease")],
                   check=True, capture_output=True)
    subprocess.run(["gpgv", "--keyring", str(apt / "echo.gpg"), str(dists / "Release.gpg"),
                    str(dists / "Release")], check=True, capture_output=True)
    sha256 = (dists / "Release").read_text().split("SHA256:")[1].split("SHA512:")[0]
    for line in sha256.strip().splitlines():
        _digest, size, name = line.split()
        assert (dists / name).stat().st_size == int(size)
    for line in (dists / "main/binary-amd64/Packages").read_text().splitlines():
        if line.startswith("Filename:"):
            assert (apt / line.split()[1]).is_file()
    subprocess.run(["gpg", "--batch", "--verify", str(rpm / "repodata/repomd.xml.asc"),
                    str(rpm / "repodata/repomd.xml")], env=key.env(), check=True, capture_output=True)
    db = repos.parent / f"rpmdb-{repos.name}"
    db.mkdir(exist_ok=True)
    subprocess.run(["rpm", "--dbpath", str(db), "--import", str(rpm / "echo.asc")], check=True)
    checked = subprocess.run(["rpm", "--dbpath", str(db), "-K", *map(str, (rpm / "Packages").glob("*.rpm"))],
                             capture_output=True, text=True, check=True).stdout
    assert checked.count("digests signatures OK") == len(list((rpm / "Packages").glob("*.rpm"))), checked


def test_publish_twice_keeps_older_versions_and_signs_everything(key: ThrowawayKey, builds: Builds,
                                                                 tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    first = publish(key, repos, builds["1.0"])
    assert first.returncode == 0, first.stderr
    assert "echo-1.0-1.src.rpm: a source RPM; not published" in first.stderr
    second = publish(key, repos, builds["1.1"])
    assert second.returncode == 0, second.stderr
    assert sorted(apt_versions(repos / "apt")) == ["1.0-1", "1.1-1"]
    assert sorted(p.name for p in (repos / "rpm/Packages").iterdir()) == ["echo-1.0-1.noarch.rpm",
                                                                          "echo-1.1-1.noarch.rpm"]
    assert_valid(key, repos)
    sources = (repos / "apt/echo.sources").read_text()
    assert f"URIs: {(repos / 'apt').as_uri()}" in sources
    assert "Signed-By: /usr/share/keyrings/echo.gpg" in sources
    assert "gpgcheck=1" in (repos / "rpm/echo.repo").read_text()
    # no hidden staging copies or moved-aside repositories are left
    assert sorted(p.name for p in repos.iterdir()) == [".apt.lock", ".rpm.lock", "apt", "rpm"]


def test_retention_drops_the_oldest_beyond_keep(key: ThrowawayKey, builds: Builds,
                                                tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    for version in ("1.1", "1.0", "1.2"):  # published out of order: versions decide, not dates
        proc = publish(key, repos, builds[version], "--keep", "2")
        assert proc.returncode == 0, proc.stderr
    assert sorted(apt_versions(repos / "apt")) == ["1.1-1", "1.2-1"]
    assert sorted(p.name for p in (repos / "rpm/Packages").iterdir()) == ["echo-1.1-1.noarch.rpm",
                                                                          "echo-1.2-1.noarch.rpm"]
    assert "removed Packages/echo-1.0-1.noarch.rpm" in proc.stdout
    assert_valid(key, repos)


def test_republishing_a_version_replaces_it_without_touching_the_old_files(
        key: ThrowawayKey, builds: Builds, tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    assert publish(key, repos, builds["1.0"]).returncode == 0
    live = next((repos / "apt/pool").rglob("*.deb"))
    inode = live.stat().st_ino
    assert publish(key, repos, builds["1.0"]).returncode == 0
    assert apt_versions(repos / "apt") == ["1.0-1"]
    assert next((repos / "apt/pool").rglob("*.deb")).stat().st_ino != inode
    assert_valid(key, repos)


@pytest.fixture(scope="module")
def rotated() -> Iterator[ThrowawayKey]:
    """Another key, as a release key is usually made: a certifying primary key and a signing subkey."""
    with throwaway_key("Rotated Releases <rotated@example.org>") as made:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-add-key", made.fingerprint, "rsa2048",
                        "sign", "never"], env=made.env(), check=True, capture_output=True)
        yield made


def test_a_new_key_signs_the_older_packages_again_and_the_old_files_are_not_written(
        key: ThrowawayKey, rotated: ThrowawayKey, builds: Builds, tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    assert publish(key, repos, builds["1.0"]).returncode == 0
    # a copy made of hard links (a backup, or what a web server is serving) shares the files' contents
    snapshot = tmp_path / "snapshot"
    shutil.copytree(repos, snapshot, copy_function=os.link)
    before = {p: p.read_bytes() for p in snapshot.rglob("*") if p.is_file()}
    rotate = publish(rotated, repos, builds["1.1"])
    assert rotate.returncode == 0, rotate.stderr
    assert {p: p.read_bytes() for p in snapshot.rglob("*") if p.is_file()} == before
    assert f"1 older package(s) signed again with {rotated.fingerprint}" in rotate.stderr
    assert_valid(rotated, repos)  # every RPM, 1.0 included, passes rpm -K with the new key only
    again = publish(rotated, repos, builds["1.1"])  # signed by the subkey: nothing to sign again
    assert again.returncode == 0 and "signed again" not in again.stderr, again.stderr


def test_killed_publish_leaves_the_previous_repository_intact(key: ThrowawayKey, builds: Builds,
                                                              tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    assert publish(key, repos, builds["1.0"]).returncode == 0
    before = {p: p.read_bytes() for p in repos.rglob("*") if p.is_file() and not p.name.endswith(".lock")}
    killed_at = []
    for delay in (0.3, 0.6, 0.9, 1.2):  # kill at several points: staging, indexing, signing
        proc = subprocess.Popen(command(key, repos, builds["1.1"]), env=key.env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not list(repos.glob(".apt.new-*")):
            time.sleep(0.01)
        time.sleep(delay / 4)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at.append(sorted(p.name.split("-")[0] for p in repos.glob(".*.new-*")))
        after = {p: p.read_bytes() for p in (repos / "apt").rglob("*") if p.is_file()}
        if apt_versions(repos / "apt") == ["1.0-1"]:
            assert after == {p: b for p, b in before.items() if p.is_relative_to(repos / "apt")}
        assert_valid(key, repos)
    assert any(killed_at), "no publish was caught mid-run"
    # the next publish cleans up and succeeds
    done = publish(key, repos, builds["1.1"])
    assert done.returncode == 0, done.stderr
    assert sorted(apt_versions(repos / "apt")) == ["1.0-1", "1.1-1"]
    assert not list(repos.glob(".*.new-*")) and not list(repos.glob(".*.old-*"))
    assert_valid(key, repos)


def test_publish_needs_a_repository_for_each_format(key: ThrowawayKey, builds: Builds,
                                                    tmp_path: Path) -> None:
    proc = subprocess.run([*TAP2PKG, "publish", "--apt", str(tmp_path / "apt"), "--sign-key", key.fingerprint,
                           *map(str, builds["1.0"])], env=key.env(), capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 64 and "add --rpm DIR" in proc.stderr
    assert not (tmp_path / "apt").exists()


def fetch_previous(key: ThrowawayKey, site: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """The release template's "previous repositories" step, reading ``site`` served on loopback."""
    steps = load_yaml(ECHO.parents[1] / "ci" / "github-release.yml")["jobs"]["publish"]["steps"]
    script = next(step["run"] for step in steps if step.get("name") == "previous repositories")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        script = re.sub(r'BASE="https://[^"]*"', f'BASE="{base}"', script)
        try:
            return subprocess.run(["bash", "-c", script], env={**key.env(), "KEY": key.fingerprint,
                                                              "OUT": str(out)},
                                  capture_output=True, text=True, check=False)
        finally:
            server.shutdown()


def test_release_template_starts_from_the_served_repositories_and_refuses_unsigned_files(
        key: ThrowawayKey, builds: Builds, tmp_path: Path) -> None:
    site = tmp_path / "live"
    assert publish(key, site, builds["1.0"]).returncode == 0
    assert publish(key, site, builds["1.1"]).returncode == 0
    first = fetch_previous(key, tmp_path / "nothing-yet", tmp_path / "first")
    assert first.returncode == 0, first.stderr  # the first release: nothing served yet
    fetched = fetch_previous(key, site, tmp_path / "ci")
    assert fetched.returncode == 0, fetched.stderr
    assert publish(key, tmp_path / "ci", builds["1.2"]).returncode == 0
    assert sorted(apt_versions(tmp_path / "ci/apt")) == ["1.0-1", "1.1-1", "1.2-1"]
    assert len(list((tmp_path / "ci/rpm/Packages").glob("*.rpm"))) == 3
    # a file changed on the server is not taken (and so never signed again by the release)
    deb = next((site / "apt/pool").rglob("echo_1.0-1_all.deb"))
    deb.write_bytes(deb.read_bytes() + b"x")
    tampered = fetch_previous(key, site, tmp_path / "tampered-deb")
    assert tampered.returncode != 0 and "FAILED" in tampered.stdout + tampered.stderr
    shutil.copyfile(builds["1.0"][0], deb)  # back to the original, unsigned .rpm below
    unsigned = next(p for p in builds["1.0"] if p.name.endswith(".noarch.rpm"))
    shutil.copyfile(unsigned, site / "rpm/Packages" / unsigned.name)
    tampered = fetch_previous(key, site, tmp_path / "tampered-rpm")
    assert tampered.returncode != 0 and "the release key did not sign" in tampered.stderr


def test_a_missing_tool_is_found_before_either_repository_is_written(key: ThrowawayKey, builds: Builds,
                                                                     tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # everything publish needs but createrepo_c
    bin_dir.mkdir()
    for tool in ("gpg", "gpg-agent", "rpm", "rpmsign", "dpkg-deb", "dpkg", "apt-ftparchive"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {**key.env(), "PATH": str(bin_dir)}
    proc = subprocess.run(command(key, tmp_path / "repos", builds["1.0"]), env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 85 and "createrepo_c is not installed" in proc.stderr
    assert not (tmp_path / "repos" / "apt").exists()
