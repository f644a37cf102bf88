"""The builder registry: four builders, one contract, one result, one way to refuse a bad choice."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tap2pkg import builders
from tap2pkg.builders import BuildOptions, BuildResult
from tap2pkg.errors import UsageError
from tap2pkg.output import Staging
from tap2pkg.spec import PackageSpec

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "echo"
ALL = [("deb", "native"), ("deb", "dpkg"), ("rpm", "native"), ("rpm", "rpmbuild")]
TOOLS = {"dpkg": "dpkg-buildpackage", "rpmbuild": "rpmbuild"}
#: what each format's binary package file is called
PACKAGE_NAMES = {"deb": "echo_1.0-1_all.deb", "rpm": "echo-1.0-1.noarch.rpm"}


def echo_spec() -> PackageSpec:
    return PackageSpec(name="echo", app_file=EXAMPLE / "echo.tac", app_kind="python",
                       maintainer="Jane Doe <jane@example.org>", includes=(EXAMPLE / "echoproto.py",),
                       ports=(8007,), source_date_epoch=1700000000)


def test_the_registry_enumerates_the_four_builders_default_first() -> None:
    assert [(b.format, b.name) for b in builders.enumerate()] == ALL
    assert builders.formats() == ["deb", "rpm"]
    assert [b.name for b in builders.enumerate("rpm")] == ["native", "rpmbuild"]
    for fmt, name in ALL:
        builder = builders.get(fmt, name)
        assert (builder.format, builder.name) == (fmt, name) and builder.help
    assert builders.get("deb") is builders.get("deb", "native")


def test_a_second_builder_under_a_taken_key_is_refused() -> None:
    def write(spec: PackageSpec, stage: Staging, options: BuildOptions) -> builders.Staged:
        raise AssertionError("never built")

    taken = builders.get("deb", "native")
    other = builders.StagedBuilder("deb", "native", "an impostor", ("xz",), write)
    with pytest.raises(ValueError, match="already registered"):
        builders.register(other)
    assert builders.get("deb", "native") is taken


@pytest.fixture(scope="module", params=ALL, ids=[f"{f}-{n}" for f, n in ALL])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    fmt, name = request.param
    if name in TOOLS and shutil.which(TOOLS[name]) is None:
        pytest.skip(f"{TOOLS[name]} is not installed")
    return builders.build(echo_spec(), tmp_path_factory.mktemp(f"{fmt}-{name}"), fmt, name)


def test_each_builder_gives_one_result_whose_artifacts_exist_with_their_sha256(built: BuildResult) -> None:
    assert built.spec == echo_spec() and built.format in ("deb", "rpm")
    assert built.artifacts, "a build with no artifact"
    for artifact in built.artifacts:
        assert artifact.path.is_file(), artifact
        assert hashlib.sha256(artifact.path.read_bytes()).hexdigest() == artifact.sha256, artifact.path
    [package] = built.paths("package")
    assert package.name == PACKAGE_NAMES[built.format]
    assert len(built.paths("source-package")) == 1
    directory = package.parent
    # the output directory holds what the result names, and no staging leftovers
    named = {p.name for p in built.paths()} | ({built.source_tree.name} if built.source_tree else set())
    assert {p.name for p in directory.iterdir()} == named


def test_the_json_summary_is_built_from_the_artifacts(built: BuildResult) -> None:
    summary = built.summary()
    assert (summary["name"], summary["version"], summary["format"], summary["builder"]) == (
        "echo", "1.0-1", built.format, built.builder)
    assert summary["artifacts"] == [{"path": str(a.path), "sha256": a.sha256, "kind": a.kind}
                                    for a in built.artifacts]


@pytest.mark.parametrize(("fmt", "name"), ALL, ids=[f"{f}-{n}" for f, n in ALL])
def test_a_binary_only_build_makes_no_source_package(fmt: str, name: str, tmp_path: Path) -> None:
    if name in TOOLS and shutil.which(TOOLS[name]) is None:
        pytest.skip(f"{TOOLS[name]} is not installed")
    result = builders.build(echo_spec(), tmp_path, fmt, name, BuildOptions(source=False))
    assert [p.name for p in result.paths("package")] == [PACKAGE_NAMES[fmt]]
    assert not result.paths("source-package")


@pytest.mark.parametrize(("fmt", "name", "options", "needle"), [
    ("deb", "mock", BuildOptions(), "--builder 'mock' is unknown for .deb packages; use native or dpkg"),
    ("msi", "native", BuildOptions(), "--format 'msi' is unknown"),
    ("deb", "native", BuildOptions(compression="bz2"), "--compression 'bz2' is unknown for .deb packages"),
    ("rpm", "native", BuildOptions(compression="bz2"), "--compression 'bz2' is unknown for .rpm packages"),
    ("rpm", "native", BuildOptions(source=False, binary=False), "--source-only and --binary-only"),
])
def test_every_bad_choice_is_one_usage_error_and_nothing_is_written(
        fmt: str, name: str, options: BuildOptions, needle: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        builders.build(echo_spec(), tmp_path / "out", fmt, name, options)
    assert needle in str(caught.value) and caught.value.exit_code == 64
    assert not (tmp_path / "out").exists()


def test_a_compression_the_tool_chooses_itself_is_a_note(tmp_path: Path) -> None:
    if shutil.which("rpmbuild") is None:
        pytest.skip("rpmbuild is not installed")
    options = BuildOptions(source=False, compression="xz")
    result = builders.build(echo_spec(), tmp_path, "rpm", "rpmbuild", options)
    assert any("--compression xz is not applied by the rpmbuild builder" in n for n in result.notes)


def test_help_texts_come_from_the_registry() -> None:
    assert builders.builder_help("deb") == ("native (default): the .deb written in Python; "
                                            "dpkg: dpkg-buildpackage in the emitted source tree")
    assert builders.compression_help("rpm") == "payload compression of the native .rpm: gzip (default) or xz"
