"""verify with dependencies: what a package requires, what maps to the archive, and derived images.

The unit tests read real packages built by tap2deb and tap2rpm with ``--depends
python3-twisted``. The container tests (``-m container``; they need the Debian
archive at image-build time) derive images holding python3-twisted on
debian:bookworm and rpm-on-debian, reuse them, and verify the echo example end
to end in them.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.pydeps import DH_PYTHON_FALLBACK
from tap2pkg.verify import DISTROS, VerifyContainer, VerifyOptions, build_image, read_artifact
from tap2pkg.verify import derived as derived_mod
from tap2pkg.verify import missing as missing_mod
from tap2pkg.verify.artifact import Artifact
from tap2pkg.verify.derived import derive_image, derived_tag, is_current
from tap2pkg.verify.errors import ImageBuildError
from tap2pkg.verify.images import list_images, remove_images
from tap2pkg.verify.lifecycle import verify_lifecycle
from tap2pkg.verify.missing import Wanted, deb_dependencies, debian_names, missing_dependencies
from tap2pkg.verify.report import PASS

ECHO = Path(__file__).resolve().parents[1] / "examples" / "echo"
ECHO_OPTIONS = VerifyOptions(ports=(8007,), probe_send="hello deps\\n", probe_expect="hello deps")


def _build(tool: str, version: str, out: Path, *depends: str) -> Path:
    argv = [sys.executable, "-m", f"tap2pkg.cli.{tool}", "--binary-only", "-V", version, "-o", str(out),
            str(ECHO / "echo.tac"), "--include", str(ECHO / "echoproto.py")]
    argv += [word for dep in depends for word in ("--depends", dep)]
    if tool == "tap2deb":
        argv += ["-m", "tap2pkg tests <tests@example.org>"]
    subprocess.run(argv, check=True, capture_output=True)
    return out / (f"echo_{version}-1_all.deb" if tool == "tap2deb" else f"echo-{version}-1.noarch.rpm")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("deps")
    built = {}
    for version in ("1.0", "1.1"):
        built[f"deb-{version}"] = _build("tap2deb", version, out / "deb", "python3-twisted")
        built[f"rpm-{version}"] = _build("tap2rpm", version, out / "rpm", "python3-twisted")
    built["deb-zope"] = _build("tap2deb", "2.0", out / "zope",
                               "python3-zope.interface (>= 5) | python3-twisted")
    built["rpm-nothing"] = _build("tap2rpm", "3.0", out / "nothing", "tap2pkg-no-such-package")
    return built


# -- what a package requires, read from the package file ------------------------------------------------


def test_a_deb_lists_its_depends_and_pre_depends_as_written(packages: dict[str, Path]) -> None:
    artifact = read_artifact(packages["deb-1.0"])
    assert "python3-twisted" in artifact.requires
    assert any(entry.startswith("init-system-helpers (>=") for entry in artifact.requires)  # Pre-Depends
    relations = {dep.alternatives[0].name: dep for dep in deb_dependencies(artifact)}
    assert relations["python3"].alternatives[0].op == "ge"
    systemd = [r.name for r in relations["systemd"].alternatives]
    assert systemd[:2] == ["systemd", "systemd-standalone-sysusers"]


def test_alternatives_and_versions_of_a_deb_are_kept(packages: dict[str, Path]) -> None:
    deps = deb_dependencies(read_artifact(packages["deb-zope"]))
    zope = next(dep for dep in deps if dep.alternatives[0].name == "python3-zope.interface")
    assert [(r.name, r.op, r.version) for r in zope.alternatives] == [
        ("python3-zope.interface", "ge", "5"), ("python3-twisted", "", "")]


def test_architecture_qualifiers_and_profiles_do_not_hide_the_name(tmp_path: Path) -> None:
    entry = "python3:any (>= 3.9) [amd64] <!nocheck>"
    artifact = Artifact(tmp_path / "x.deb", "deb", "x", "1", requires=(entry,))
    (relation,) = deb_dependencies(artifact)[0].alternatives
    assert (relation.name, relation.op, relation.version) == ("python3", "ge", "3.9")


def test_a_deb_dependency_verify_cannot_read_is_one_line_naming_it(tmp_path: Path) -> None:
    artifact = Artifact(tmp_path / "x.deb", "deb", "x", "1", requires=("Bad Name!",))
    with pytest.raises(ImageBuildError, match=r"x.deb: cannot read its dependency 'Bad Name!'"):
        deb_dependencies(artifact)


def test_an_rpm_lists_its_requires_without_rpmlib_features(packages: dict[str, Path]) -> None:
    requires = read_artifact(packages["rpm-1.0"]).requires
    assert "python3-twisted" in requires and "python3 >= 3.11" in requires
    assert not [r for r in requires if r.startswith("rpmlib(")]
    assert len(requires) == len(set(requires))


@pytest.mark.parametrize(
    ("requirement", "names"),
    [
        ("python3-twisted", ("python3-twisted",)),
        ("python3-twisted >= 22", ("python3-twisted",)),
        ("python3dist(twisted) >= 20", ("python3-twisted",)),
        ("python3.11dist(zope-interface)", ("python3-zope.interface", "python3-zope-interface")),
        ("python3dist(attrs) >= 21.3", ("python3-attr", "python3-attrs")),
        ("python3dist(pyyaml)", ("python3-yaml", "python3-pyyaml")),
        ("python3dist(PyYAML) < 7", ("python3-yaml", "python3-pyyaml")),
        ("python3dist(no-such)", ("python3-no-such", "python3-no.such")),
        ("(python3-a or python3-b >= 2)", ("python3-a", "python3-b")),
        ("/usr/bin/perl", ()),
        ("perl(Foo::Bar)", ()),
    ],
)
@pytest.mark.skipif(not DH_PYTHON_FALLBACK.is_file(), reason="needs dh-python's mapping (package dh-python)")
def test_rpm_requires_map_to_debian_packages_through_dh_python_first(
    requirement: str, names: tuple[str, ...]
) -> None:
    assert debian_names(requirement) == names


def test_without_dh_python_a_python_dist_maps_to_the_guesses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(missing_mod, "dh_python_map", dict)
    assert debian_names("python3dist(attrs)") == ("python3-attrs",)


def test_the_tag_is_one_per_base_image_and_dependency_set() -> None:
    twisted, zope = Wanted("python3-twisted", ("python3-twisted",)), Wanted("z", ("python3-zope.interface",))
    base = "tap2pkg/debian:bookworm-e41f4a118328"
    tag = derived_tag(base, "sha256:1", "deb", [twisted, zope])
    assert tag.startswith(base + "-deps-") and len(tag) == len(base) + len("-deps-") + 12
    assert derived_tag(base, "sha256:1", "deb", [zope, twisted]) == tag  # order does not matter
    assert derived_tag(base, "sha256:2", "deb", [twisted, zope]) != tag  # a rebuilt base is a new image
    assert derived_tag(base, "sha256:1", "deb", [twisted]) != tag
    # two requirements that the same package satisfies are one image
    newer = Wanted("python3-twisted (>= 22)", ("python3-twisted",))
    one = derived_tag(base, "sha256:1", "deb", [twisted])
    assert derived_tag(base, "sha256:1", "deb", [twisted, newer]) == one


def test_a_requires_that_maps_to_nothing_is_refused_before_anything_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wanted = [Wanted("perl(Foo)", ()), Wanted("python3-twisted", ("python3-twisted",), "python3-twisted")]
    monkeypatch.setattr(derived_mod, "missing_dependencies", lambda *args: wanted)
    artifact = Artifact(tmp_path / "app-1-1.noarch.rpm", "rpm", "app", "1-1")
    with pytest.raises(ImageBuildError) as error:
        derive_image(object(), DISTROS["rpm-on-debian"], "base", [artifact])  # the client is never used
    assert str(error.value).startswith("app-1-1.noarch.rpm requires perl(Foo), which rpm-on-debian does not")
    assert "\n" not in str(error.value)


# -- in containers -----------------------------------------------------------------------------------------


def _base(client: Any, distro: str) -> str:
    """The distro's offline image (built once, then reused by its recipe hash)."""
    return build_image(client, DISTROS[distro], offline=True).tag


@pytest.mark.container
@pytest.mark.parametrize(("distro", "family"), [("debian:bookworm", "deb"), ("rpm-on-debian", "rpm")])
def test_only_what_the_base_image_lacks_is_wanted(
    client: Any, packages: dict[str, Path], distro: str, family: str
) -> None:
    artifacts = [read_artifact(packages[f"{family}-1.0"]), read_artifact(packages[f"{family}-1.1"])]
    wanted = missing_dependencies(client, DISTROS[distro], _base(client, distro), artifacts)
    assert [w.requirement for w in wanted] == ["python3-twisted"]


@pytest.mark.container
@pytest.mark.parametrize(("distro", "family"), [("debian:bookworm", "deb"), ("rpm-on-debian", "rpm")])
def test_a_package_with_dependencies_passes_every_step_in_its_derived_image(
    client: Any, packages: dict[str, Path], distro: str, family: str
) -> None:
    base = _base(client, distro)
    old, new = read_artifact(packages[f"{family}-1.0"]), read_artifact(packages[f"{family}-1.1"])
    image = derive_image(client, DISTROS[distro], base, [old, new])
    assert image.tag.startswith(f"{base}-deps-") and image.base == base
    assert [d.split("=")[0] for d in image.dependencies] == ["python3-twisted"]
    assert "python3-twisted from the Debian archive" in image.note
    again = derive_image(client, DISTROS[distro], base, [new])  # the same set: the same image, not rebuilt
    assert (again.tag, again.reused, again.seconds) == (image.tag, True, 0.0)

    with VerifyContainer(client, image.tag, image_note=image.note) as box:
        run = verify_lifecycle(box, DISTROS[distro], new, replace(ECHO_OPTIONS, upgrade_from=old))
        assert box.run(["python3", "-c", "import twisted"]).ok  # the dependency outlives the purge
    assert run.passed, "\n".join(f"{s.name} {s.status} {s.detail}\n{s.log}" for s in run.steps)
    assert all(step.status == PASS for step in run.steps)
    assert "from the Debian archive" in run.heading and image.tag in run.heading
    if family == "rpm":
        assert "stand-in for Fedora" in run.heading and "declared to rpm" in run.heading
    listed = {info.tag: info for info in list_images(client)}
    assert listed[image.tag].method == "derived" and listed[image.tag].current
    assert listed[image.tag].dependencies.startswith("python3-twisted=")


@pytest.mark.container
def test_without_the_derived_image_the_install_fails_for_the_missing_dependency(
    client: Any, packages: dict[str, Path]
) -> None:
    artifact = read_artifact(packages["deb-1.0"])
    with VerifyContainer(client, _base(client, "debian:bookworm")) as box:
        run = verify_lifecycle(box, DISTROS["debian:bookworm"], artifact, ECHO_OPTIONS)
    install = next(step for step in run.steps if step.name == "install")
    assert install.status == "fail" and "python3-twisted" in install.log


@pytest.mark.container
def test_a_derived_image_of_an_older_base_or_recipe_is_stale(client: Any, packages: dict[str, Path]) -> None:
    distro = DISTROS["debian:bookworm"]
    artifact = read_artifact(packages["deb-1.0"])
    image = derive_image(client, distro, _base(client, "debian:bookworm"), [artifact])
    labels = dict(client.images.get(image.tag).labels)
    assert is_current(client, distro, labels)
    assert not is_current(client, distro, {**labels, derived_mod.LABEL_BASE_ID: "sha256:an-older-base"})
    assert not is_current(client, distro, {**labels, derived_mod.LABEL_WANTED: "=python3-six"})
    assert image.tag not in remove_images(client, distros=["debian:bookworm"], stale_only=True)


@pytest.mark.container
def test_no_archive_at_image_build_time_is_one_clear_error(client: Any, packages: dict[str, Path]) -> None:
    artifact = read_artifact(packages["rpm-nothing"])
    base = _base(client, "rpm-on-debian")
    before = {info.tag for info in list_images(client)}
    with pytest.raises(ImageBuildError) as error:
        derive_image(client, DISTROS["rpm-on-debian"], base, [artifact], network="none")
    message = str(error.value)
    assert error.value.exit_code == 89
    assert message.startswith("cannot install tap2pkg-no-such-package into an image for rpm-on-debian: "
                              "the Debian archive is not reachable")
    assert "image-build time" in message and "\n" not in message
    assert {info.tag for info in list_images(client)} == before  # nothing half-built is kept
    assert not client.containers.list(all=True, filters={"ancestor": base})


@pytest.mark.container
def test_a_requires_the_archive_lacks_names_it(client: Any, packages: dict[str, Path]) -> None:
    artifact = read_artifact(packages["rpm-nothing"])
    with pytest.raises(ImageBuildError, match=r"^tap2pkg-no-such-package: not in the Debian archive"):
        derive_image(client, DISTROS["rpm-on-debian"], _base(client, "rpm-on-debian"), [artifact])
