"""The spec is built in the library: ``PackageSpec.from_app_file`` merges settings, reads the environment
and inspects the app file, and names the setting that is wrong. The command line only maps options."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tap2pkg.errors import AppFileNotFoundError, InvalidOptionValueError, UsageError
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"
NO_ENV: dict[str, str] = {}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "echo.tac"
    shutil.copyfile(ECHO / "echo.tac", path)
    return path


def test_settings_file_beside_the_app_then_given_settings_win(app: Path) -> None:
    (app.parent / "pyproject.toml").write_text(
        '[tool.tap2pkg]\nversion = "2.0"\nlicense = "Apache-2.0"\nmaintainer = "F P <f@example.org>"\n')
    spec = PackageSpec.from_app_file(app, {"version": "3.1", "license": None}, env=NO_ENV)
    assert (spec.version, spec.license, spec.maintainer) == ("3.1", "Apache-2.0", "F P <f@example.org>")
    assert spec.app_kind == "python" and spec.name == "echo"


def test_a_config_file_replaces_the_pyproject_beside_the_app(app: Path, tmp_path: Path) -> None:
    (app.parent / "pyproject.toml").write_text('[tool.tap2pkg]\nlicense = "GPL-2.0"\n')
    other = tmp_path / "other.toml"
    other.write_text('[tool.tap2pkg]\nversion = "4.0"\n')
    spec = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER}, config_file=other, env=NO_ENV)
    assert (spec.version, spec.license) == ("4.0", "LicenseRef-not-specified")  # none given: not invented


def test_maintainer_and_build_time_come_from_the_given_environment(app: Path) -> None:
    env = {"DEBFULLNAME": "Env Person", "DEBEMAIL": "env@example.org", "SOURCE_DATE_EPOCH": "1700000000"}
    spec = PackageSpec.from_app_file(app, env=env)
    assert (spec.maintainer, spec.source_date_epoch) == ("Env Person <env@example.org>", 1700000000)
    assert PackageSpec.from_app_file(app, env={}, default_maintainer=MAINTAINER).maintainer == MAINTAINER
    with pytest.raises(UsageError, match="maintainer must be specified"):
        PackageSpec.from_app_file(app, env={})
    with pytest.raises(InvalidOptionValueError, match="SOURCE_DATE_EPOCH='soon'"):
        PackageSpec.from_app_file(app, {"maintainer": MAINTAINER}, env={"SOURCE_DATE_EPOCH": "soon"})


def test_ports_come_from_the_app_file_unless_given(app: Path) -> None:
    # a .tas is parsed, never run: its servers' ports are known without starting them
    found = Path(__file__).parent / "data" / "appfiles" / "echo.tas"
    assert PackageSpec.from_app_file(found, {"maintainer": MAINTAINER}, env=NO_ENV).ports == (8007, 8008)
    given = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER, "port": ["9000", 9001]}, env=NO_ENV)
    assert given.ports == (9000, 9001)


@pytest.mark.parametrize(("settings", "named"), [
    ({"verison": "2.0"}, "setting 'verison' is unknown"),
    ({"version": 2.0}, "setting 'version' must be a string, not float"),
    ({"depends": "python3-yaml"}, "setting 'depends' must be a list of strings, not str"),
    ({"port": [True]}, "setting 'port' must be a list of port numbers"),
])
def test_a_bad_setting_is_a_usage_error_naming_it(app: Path, settings: dict[str, object], named: str) -> None:
    with pytest.raises(UsageError) as info:
        PackageSpec.from_app_file(app, {"maintainer": MAINTAINER, **settings}, env=NO_ENV)
    assert named in str(info.value) and info.value.exit_code == 64


def test_a_missing_app_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AppFileNotFoundError, match=r"nothere\.tac: no such file"):
        PackageSpec.from_app_file(tmp_path / "nothere.tac", {"maintainer": MAINTAINER}, env=NO_ENV)


@pytest.mark.parametrize(("package_format", "name", "revision"),
                         [("deb", "echo-deb", "4"), ("rpm", "echo-rpm", "5"), (None, "echo-deb", "4")])
def test_twisted_option_names_in_a_settings_file_apply_to_their_format(
        app: Path, package_format: str | None, name: str, revision: str) -> None:
    # debfile, rpmfile and release were accepted in [tool.tap2pkg] and then ignored
    (app.parent / "pyproject.toml").write_text(
        '[tool.tap2pkg]\ndebfile = "echo-deb"\nrpmfile = "echo-rpm"\nrevision = "4"\nrelease = "5"\n')
    spec = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER}, env=NO_ENV,
                                     package_format=package_format)
    assert (spec.name, spec.revision) == (name, revision)
    given = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER, "name": "given"}, env=NO_ENV,
                                      package_format=package_format)
    assert given.name == "given"


@pytest.mark.parametrize("tool", ["tap2deb", "tap2rpm"])
def test_source_only_and_binary_only_exclude_each_other_on_the_command_line(tool: str, app: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", f"tap2pkg.cli.{tool}", "-m", MAINTAINER, "--source-only",
                           "--binary-only", str(app)], capture_output=True, text=True, cwd=app.parent)
    assert proc.returncode == 64
    assert proc.stderr.count("\n") == 1
    assert "--binary-only: not allowed with argument --source-only" in proc.stderr
    assert sorted(p.name for p in app.parent.iterdir()) == ["echo.tac"]
