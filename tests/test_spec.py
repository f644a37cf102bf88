"""PackageSpec: defaults a user relies on, and one clear error per bad value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tap2pkg.errors import (
    InvalidMaintainerError,
    InvalidOptionValueError,
    InvalidPackageNameError,
    InvalidVersionError,
    UnknownAppTypeError,
)
from tap2pkg.spec import PackageSpec, kind_for

MAINTAINER = "Jane Doe <jane@example.org>"


def make(**kw: object) -> PackageSpec:
    base: dict[str, Any] = dict(name="echo", app_file=Path("echo.tac"), app_kind="python",
                                   maintainer=MAINTAINER)
    base.update(kw)
    return PackageSpec(**base)


def test_defaults_follow_twisted() -> None:
    spec = make()
    assert spec.full_version == "1.0-1"
    assert spec.user == "echo"
    assert spec.protocol == "echo"
    assert spec.summary == "Server for echo"
    assert spec.maintainer_name == "Jane Doe"
    assert spec.maintainer_email == "jane@example.org"
    assert spec.app_file_name == "echo.tac"


def test_protocol_names_the_default_description() -> None:
    assert make(protocol="web").summary == "Server for web"


@pytest.mark.parametrize("name", ["Echo", "e", "-echo", "echo_server", "echo server", ""])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidPackageNameError, match="--debfile") as info:
        make(name=name)
    assert info.value.exit_code == 80


@pytest.mark.parametrize("version", ["v1", "1.0-2", "1:1.0", "", "1 0"])
def test_invalid_versions_are_refused(version: str) -> None:
    with pytest.raises(InvalidVersionError, match="--set-version"):
        make(version=version)


def test_pre_release_version_with_tilde_is_fine() -> None:
    assert make(version="2.0~rc1").full_version == "2.0~rc1-1"


def test_invalid_revision_is_refused() -> None:
    with pytest.raises(InvalidVersionError, match="--revision"):
        make(revision="1-2")


@pytest.mark.parametrize("maintainer", ["Jane Doe", "jane@example.org", "<jane@example.org>", "Jane <jane>"])
def test_maintainer_needs_name_and_email(maintainer: str) -> None:
    with pytest.raises(InvalidMaintainerError, match="-m/--maintainer") as info:
        make(maintainer=maintainer)
    assert info.value.exit_code == 82


@pytest.mark.parametrize(("field", "value", "option"), [
    ("user", "Bad User", "--user"),
    ("ports", (0,), "--port"),
    ("ports", (70000,), "--port"),
    ("depends", ("bad dep,",), "--depends"),
    ("license", "MIT license", "--license"),
    ("homepage", "example.org", "--homepage"),
])
def test_other_bad_values_name_their_option(field: str, value: object, option: str) -> None:
    with pytest.raises(InvalidOptionValueError, match=option):
        make(**{field: value})


def test_app_file_name_must_be_installable() -> None:
    with pytest.raises(InvalidOptionValueError, match="rename the file"):
        make(app_file=Path("my app.tac"))


def test_kind_from_type_option_and_suffix() -> None:
    assert kind_for(Path("a.tap")) == "pickle"
    assert kind_for(Path("a.tac")) == "python"
    assert kind_for(Path("a.tas")) == "source"
    assert kind_for(Path("a.tax")) == "xml"
    assert kind_for(Path("a.bin"), "tap") == "pickle"


def test_unknown_type_and_suffix_are_refused() -> None:
    with pytest.raises(UnknownAppTypeError, match="--type"):
        kind_for(Path("a.tac"), "yaml")
    with pytest.raises(UnknownAppTypeError, match="suffix"):
        kind_for(Path("a.yaml"))


def test_depends_accept_versions_and_alternatives() -> None:
    spec = make(depends=("python3-yaml (>= 6.0)", "default-mta | mail-transport-agent"))
    assert [str(d) for d in spec.depends] == ["python3-yaml (>= 6.0)", "default-mta | mail-transport-agent"]
    assert [d.rpm() for d in spec.depends] == ["python3-yaml >= 6.0", "(default-mta or mail-transport-agent)"]


def test_as_dict_is_json_friendly() -> None:
    import json

    data = make(includes=(Path("x.py"),), ports=(8007,)).as_dict()
    assert json.loads(json.dumps(data))["includes"] == ["x.py"]


@pytest.mark.parametrize(("name", "kind"), [
    ("tas", "source"), ("tax", "xml"), ("tac", "python"), ("py", "python"), ("tap", "pickle"),
    ("pickle", "pickle"), ("TAS", "source")])
def test_every_name_the_runtime_accepts_is_a_type(name: str, kind: str) -> None:
    """One kinds table: ``tap2deb -y tas`` exited 79 although ``tapd`` accepts ``tas``."""
    from tap2pkg.runtime.persist import normalize_kind

    assert kind_for(Path("app.bin"), name) == kind == normalize_kind(name)


def test_a_package_name_that_is_no_user_name_says_the_user_came_from_it() -> None:
    with pytest.raises(InvalidOptionValueError) as info:
        make(name="3proxy")
    assert "user '3proxy', by default the package name, is not a valid system user name" in str(info.value)
    assert "starting with a letter or _" in str(info.value) and "give one with --user" in str(info.value)
    assert make(name="3proxy", user="proxy").user == "proxy"


@pytest.mark.parametrize(("kw", "error"), [
    ({"name": "a" * 240, "user": "a"}, InvalidPackageNameError),
    ({"version": "1." + "0" * 220}, InvalidVersionError),
    ({"revision": "1" * 240}, InvalidVersionError),
])
def test_a_name_and_version_too_long_for_a_file_name_are_refused(kw: dict[str, str],
                                                                  error: type[Exception]) -> None:
    with pytest.raises(error, match="too long together: a build would write a file named with"):
        make(**kw)


def test_the_longest_name_and_version_that_fit_a_file_name_are_taken() -> None:
    longest = "1." + "0" * (255 - len("echo_1..orig.tar.gz.tmp-extract.XXXXX"))  # 255 bytes exactly
    assert make(version=longest).version == longest


def test_a_quote_in_the_homepage_is_refused() -> None:
    with pytest.raises(InvalidOptionValueError, match="percent-encode"):
        make(homepage="https://example.org/it's")
    assert make(homepage="https://example.org/it%27s").homepage == "https://example.org/it%27s"
