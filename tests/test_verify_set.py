"""A service and its companion packages installed as a set: from one signed repository, through the
package manager, in an image holding what the set needs from the Debian archive.

Tiny packages are built here (``dpkg-deb``, ``rpmbuild``) in the shape of a tap2pkg service and its
companions: ``tap2pkg-set-app`` needs ``tap2pkg-set-mid`` at exactly 1.0-1, which needs
``tap2pkg-set-lib`` at 1.0 or later (the repository also holds the older 0.9-1), which needs the
archive's ``python3-attr`` (``python3dist(attrs)`` for rpm: the dh-python mapping trap). All are
published with :func:`tap2pkg.publish.publish`; only ``tap2pkg-set-app`` is asked for.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from container_helpers import offline_image
from gpg_helpers import throwaway_key, using_key

from tap2pkg.publish import PublishOptions, publish
from tap2pkg.signing import find_key
from tap2pkg.verify import DISTROS, VerifyContainer, read_artifact
from tap2pkg.verify.artifact import Artifact
from tap2pkg.verify.derived import derive_image
from tap2pkg.verify.missing import missing_dependencies
from tap2pkg.verify.repo import install_from_repo, pinned

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("gpg", "rpmsign", "apt-ftparchive", "createrepo_c",
                                                         "dpkg-deb", "rpmbuild")),
                       reason="needs gpg, rpmsign, apt-ftparchive, createrepo_c, dpkg-deb and rpmbuild"),
]

#: name, version, Debian Depends, rpm Requires, rpm Provides
PACKAGES = [
    *(("tap2pkg-set-lib", version, "python3-attr", "python3dist(attrs) >= 20",
       f"python3dist(tap2pkg-set-lib) = {version}") for version in ("0.9", "1.0")),
    ("tap2pkg-set-mid", "1.0", "tap2pkg-set-lib (>= 1.0)", "python3dist(tap2pkg-set-lib) >= 1.0", ""),
    ("tap2pkg-set-app", "1.0", "tap2pkg-set-mid (= 1.0-1)", "tap2pkg-set-mid = 1.0-1", ""),
    ("tap2pkg-set-broken", "1.0", "tap2pkg-set-nowhere", "tap2pkg-set-nowhere >= 1", ""),
]


def build_deb(out: Path, name: str, version: str, depends: str) -> Path:
    root = out / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}-1\nArchitecture: all\nMaintainer: tests <tests@example.org>\n"
        f"Depends: {depends}\nDescription: a package of a set for the tap2pkg tests\n")
    (root / "usr/share/tap2pkg-set").mkdir(parents=True)
    (root / f"usr/share/tap2pkg-set/{name}").write_text(f"{version}\n")
    output = out / f"{name}_{version}-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(output)],
                   check=True, capture_output=True)
    return output


def build_rpm(out: Path, name: str, version: str, requires: str, provides: str) -> Path:
    top = out / f"rpmbuild-{name}-{version}"
    (top / "SPECS").mkdir(parents=True)
    spec = top / "SPECS" / f"{name}.spec"
    spec.write_text(
        f"Name: {name}\nVersion: {version}\nRelease: 1\nSummary: a package of a set\nLicense: MIT\n"
        f"BuildArch: noarch\nRequires: {requires}\n" + (f"Provides: {provides}\n" if provides else "")
        + "\n%description\nA package of a set for the tap2pkg tests.\n\n%install\n"
        "mkdir -p %{buildroot}/usr/share/tap2pkg-set\n"
        f"echo {version} > %{{buildroot}}/usr/share/tap2pkg-set/{name}\n"
        f"\n%files\n/usr/share/tap2pkg-set/{name}\n")
    subprocess.run(["rpmbuild", "--quiet", "--define", f"_topdir {top}", "-bb", str(spec)],
                   check=True, capture_output=True)
    built = top / "RPMS" / "noarch" / f"{name}-{version}-1.noarch.rpm"
    return Path(shutil.copy(built, out / built.name))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Each package (``deb:tap2pkg-set-lib:1.0``) and the repositories (``repo:deb``, ``repo:rpm``)."""
    out = tmp_path_factory.mktemp("set")
    files: dict[str, Path] = {}
    for name, version, depends, requires, provides in PACKAGES:
        files[f"deb:{name}:{version}"] = build_deb(out / "deb", name, version, depends)
        files[f"rpm:{name}:{version}"] = build_rpm(out / "rpm", name, version, requires, provides)
    with throwaway_key() as key, using_key(key):
        publish(sorted(files.values()), find_key(key.fingerprint), PublishOptions("set"),
                apt_dir=out / "apt", rpm_dir=out / "rpm-repo")
        yield {**files, "repo:deb": out / "apt", "repo:rpm": out / "rpm-repo"}


def artifact(built: dict[str, Path], fmt: str, name: str, version: str = "1.0") -> Artifact:
    return read_artifact(built[f"{fmt}:tap2pkg-set-{name}:{version}"])


@pytest.mark.parametrize(("distro", "fmt", "attrs", "lib"), [
    ("debian:bookworm", "deb", "python3-attr", "tap2pkg-set-lib (>= 1.0)"),
    ("rpm-on-debian", "rpm", "python3dist(attrs) >= 20", "python3dist(tap2pkg-set-lib) >= 1.0"),
])
def test_the_image_wants_what_the_set_needs_and_nothing_it_provides(
    client: Any, built: dict[str, Path], distro: str, fmt: str, attrs: str, lib: str
) -> None:
    base = offline_image(client, distro)
    app, mid = artifact(built, fmt, "app"), artifact(built, fmt, "mid")
    # the companions' own dependencies are wanted; the companions are not
    wanted = missing_dependencies(client, DISTROS[distro], base, [app], [mid, artifact(built, fmt, "lib")])
    assert [w.requirement for w in wanted] == [attrs]
    if fmt == "rpm":
        assert wanted[0].candidates[0] == "python3-attr" and wanted[0].provide == "python3dist(attrs)"
    # the version relation is checked: lib 0.9 does not satisfy mid's ">= 1.0"
    older = missing_dependencies(client, DISTROS[distro], base, [app],
                                 [mid, artifact(built, fmt, "lib", "0.9")])
    assert sorted(w.requirement for w in older) == sorted([attrs, lib])
    # without the set, the service's own dependency is what is missing
    alone = missing_dependencies(client, DISTROS[distro], base, [app])
    assert [w.requirement for w in alone] == ["tap2pkg-set-mid (= 1.0-1)" if fmt == "deb"
                                              else "tap2pkg-set-mid = 1.0-1"]


@pytest.mark.parametrize(("distro", "fmt"), [("debian:bookworm", "deb"), ("rpm-on-debian", "rpm")])
def test_the_service_installs_with_its_companions_from_the_repository(
    client: Any, built: dict[str, Path], distro: str, fmt: str
) -> None:
    base = offline_image(client, distro)
    companions = [artifact(built, fmt, "mid"), artifact(built, fmt, "lib")]
    derived = derive_image(client, DISTROS[distro], base, [artifact(built, fmt, "app")], provided=companions)
    assert [d.split("=")[0] for d in derived.dependencies] == ["python3-attr"]
    with VerifyContainer(client, derived.tag, systemd=False) as box:
        result = install_from_repo(box, fmt, built[f"repo:{fmt}"], [pinned(fmt, "tap2pkg-set-app", "1.0-1")])
        assert result.ok, result.output
        # the companions came from the repository, the newest that satisfies (lib 1.0, not 0.9)
        for name in ("app", "mid", "lib"):
            assert box.run(["cat", f"/usr/share/tap2pkg-set/tap2pkg-set-{name}"]).output.strip() == "1.0"
        assert box.run(["python3", "-c", "import attr"]).ok
        if fmt == "rpm":
            assert "tap2pkg-set-mid-1.0-1 from the repository: tap2pkg-set-mid = 1.0-1" in result.output
            assert "tap2pkg-set-lib-1.0-1 from the repository: python3dist(tap2pkg-set-lib) >= 1.0" \
                in result.output
            assert result.output.count("digests signatures OK") == 3  # each file of the set was checked
            assert box.run(["rpm", "-q", "tap2pkg-set-lib"]).output.strip() == "tap2pkg-set-lib-1.0-1.noarch"


@pytest.mark.parametrize(("distro", "fmt"), [("debian:bookworm", "deb"), ("rpm-on-debian", "rpm")])
def test_a_dependency_the_repository_lacks_fails_with_the_package_managers_lines(
    client: Any, built: dict[str, Path], distro: str, fmt: str
) -> None:
    with VerifyContainer(client, offline_image(client, distro), systemd=False) as box:
        result = install_from_repo(box, fmt, built[f"repo:{fmt}"], ["tap2pkg-set-broken"])
        assert not result.ok
        if fmt == "deb":
            assert "tap2pkg-set-nowhere but it is not installable" in result.output
        else:
            assert "tap2pkg-set-nowhere >= 1 is needed by tap2pkg-set-broken-1.0-1.noarch" in result.output
        assert not box.run(["test", "-e", "/usr/share/tap2pkg-set/tap2pkg-set-broken"]).ok


def test_an_unsigned_companion_in_the_repository_stops_the_rpm_install(
    client: Any, built: dict[str, Path], tmp_path: Path
) -> None:
    base = offline_image(client, "rpm-on-debian")
    repo = Path(shutil.copytree(built["repo:rpm"], tmp_path / "repo"))
    # the companion replaced by its unsigned build: the metadata still verifies, the package must not
    shutil.copy(built["rpm:tap2pkg-set-mid:1.0"], repo / "Packages" / built["rpm:tap2pkg-set-mid:1.0"].name)
    derived = derive_image(client, DISTROS["rpm-on-debian"], base, [artifact(built, "rpm", "app")],
                           provided=[artifact(built, "rpm", "mid"), artifact(built, "rpm", "lib")])
    with VerifyContainer(client, derived.tag, systemd=False) as box:
        result = install_from_repo(box, "rpm", repo, ["tap2pkg-set-app"])
        assert not result.ok
        assert result.output.startswith("rpm -K: a package is not signed by the key given")
        assert not box.run(["rpm", "-q", "tap2pkg-set-app"]).ok
