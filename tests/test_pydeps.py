"""Project requirements as distribution relations: mapping traps, markers, ~= == !=, extras, unknowns."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from tap2pkg.errors import EXIT_CODES, RequirementError
from tap2pkg.pydeps import Resolved, Resolver, Target, debian_version, dh_python_map

# the versions bookworm's archive has (apt-cache on the build host is not asked)
ARCHIVE = {"python3-attr": "22.2.0-1", "python3-yaml": "6.0-3+b2", "python3-twisted": "22.4.0-4+deb12u1",
           "python3-tubes": "0.2.1-3"}

needs_dh_python = pytest.mark.skipif(not dh_python_map(), reason="dh-python is not installed")


def resolve(text: str, target: Target | None = None, skip: frozenset[str] = frozenset()) -> Resolved:
    resolver = Resolver(target or Target(), ARCHIVE.get, lambda r: "24.8.0", skip)
    return resolver.resolve_one(Requirement(text))


@needs_dh_python
def test_pypi_names_become_debian_names_through_dh_python() -> None:
    attrs, yaml, twisted = (resolve(t) for t in ("attrs>=20.1", "PyYAML", "Twisted>=21.2"))
    assert [d.debian() for d in attrs.depends] == ["python3-attr (>= 20.1)"]
    assert [d.rpm() for d in attrs.depends] == ["python3dist(attrs) >= 20.1"]
    assert yaml.package == "python3-yaml" and yaml.resolution == "archive"
    assert twisted.package == "python3-twisted"
    assert "dh-python's mapping" in attrs.notes[0]


@needs_dh_python
def test_compatible_release_exact_and_excluded_versions() -> None:
    compatible = resolve("PyYAML~=6.0")
    assert [d.debian() for d in compatible.depends] == [
        "python3-yaml (>= 6.0)", "python3-yaml (<< 7)"]
    exact = resolve("attrs==22.2.0")
    assert [d.debian() for d in exact.depends] == [
        "python3-attr (>= 22.2.0)", "python3-attr (<< 22.2.0.0~)"]
    assert [d.rpm() for d in exact.depends] == [
        "python3dist(attrs) >= 22.2.0", "python3dist(attrs) <= 22.2.0"]
    excluded = resolve("PyYAML!=5.4,>=5.1")
    assert [d.debian() for d in excluded.depends] == ["python3-yaml (>= 5.1)"]
    assert any("'!=5.4' dropped" in n for n in excluded.notes)


def test_markers_are_evaluated_for_the_target() -> None:
    windows = resolve("colorama; sys_platform == 'win32'")
    old_python = resolve("typing_extensions; python_version < '3.8'")
    assert windows.resolution == old_python.resolution == "excluded"
    assert "Python 3.11 on linux" in windows.notes[0]
    extra = "attrs>=20; extra == 'yaml'"
    assert resolve(extra).resolution == "excluded"
    assert resolve(extra, target=Target(extras=frozenset({"yaml"}))).resolution == "archive"


def test_a_requirement_the_archive_lacks_becomes_a_companion_with_an_exact_version() -> None:
    klein = resolve("klein>=21.8")
    assert klein.resolution == "companion"
    assert [d.debian() for d in klein.depends] == ["python3-klein (= 24.8.0-1)"]
    assert [d.rpm() for d in klein.depends] == ["python3-klein = 24.8.0-1"]


def test_an_archive_version_the_specifier_refuses_is_not_taken() -> None:
    newer = resolve("tubes>=99")
    assert newer.resolution == "companion"
    assert "the archive has only python3-tubes 0.2.1-3" in newer.notes[-1]


def test_a_made_up_name_is_one_line_naming_it_and_the_options() -> None:
    resolver = Resolver(archive=ARCHIVE.get, index=lambda r: None, origin="the project webapp")
    with pytest.raises(RequirementError) as info:
        resolver.resolve_one(Requirement("no-such-project-tap2pkg>=1"))
    message = str(info.value)
    assert "\n" not in message and "no-such-project-tap2pkg" in message
    assert "--depends" in message and "--skip-requirement" in message
    assert info.value.exit_code == 93 and any(e.code == 93 for e in EXIT_CODES)


def test_skip_requirement_leaves_it_out() -> None:
    item = resolve("klein", skip=frozenset({"klein"}))
    assert item.resolution == "excluded" and not item.depends


def test_pre_releases_sort_before_the_release_in_debian_versions() -> None:
    assert debian_version("1.0rc1") == "1.0~rc1"
    assert debian_version("2.0.dev3") == "2.0~dev3"


@needs_dh_python
def test_arbitrary_equality_is_refused_it_would_carry_any_text_into_a_relation() -> None:
    from tap2pkg.errors import ProjectError

    # '===' accepts text that is no version; in a .spec it would reach rpm's macro expander
    with pytest.raises(ProjectError, match=r"'===%\{lua:os.exit\}' \(arbitrary equality\)"):
        resolve("attrs===%{lua:os.exit}")


def test_a_missing_build_tool_is_one_line_naming_its_package(tmp_path: object) -> None:
    from pathlib import Path

    from tap2pkg.companions.debian import _run
    from tap2pkg.errors import MissingToolError

    with pytest.raises(MissingToolError, match=r"^rpmbuild is not installed; .* \(apt-get install rpm\)$"):
        _run(["rpmbuild", "-bb", "x.spec"], Path(str(tmp_path)), "building x", env={"PATH": "/nonexistent"})


def test_a_companion_tool_that_runs_too_long_is_stopped_with_its_children(
        tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    from pathlib import Path

    from tap2pkg.companions import debian
    from tap2pkg.errors import BuildToolError

    monkeypatch.setattr(debian, "TOOL_TIMEOUT", 1)
    marker = Path(str(tmp_path)) / "still-running"
    script = f"(sleep 3; touch {marker}) & sleep 30"
    with pytest.raises(BuildToolError, match=r"^building x: no end after 0 minutes; stopped$"):
        debian._run(["sh", "-c", script], Path(str(tmp_path)), "building x")
    subprocess.run(["sleep", "3.5"], check=True)
    assert not marker.exists()  # the tool's whole process group went with it


def test_twisted_newer_than_the_archive_is_refused_before_any_sdist_is_fetched() -> None:
    """The twisted runtime runs on the distribution's Twisted, which a companion python3-twisted would
    replace."""
    asked: list[str] = []

    def index(requirement: Requirement) -> str:
        asked.append(requirement.name)
        return "26.10.0"

    resolver = Resolver(Target(), ARCHIVE.get, index, origin="the project pingsvc")
    with pytest.raises(RequirementError) as caught:
        resolver.resolve_one(Requirement("Twisted>=24.7"))
    message = str(caught.value)
    assert caught.value.exit_code == 93 and "\n" not in message and asked == []
    assert "the archive has only python3-twisted 22.4.0-4+deb12u1" in message
    assert "--skip-requirement Twisted" in message and "--distribution" in message
    assert resolver.resolve_one(Requirement("Twisted>=22.4")).resolution == "archive"
