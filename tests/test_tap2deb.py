"""The ``tap2deb`` command as a user runs it: outputs, settings, and one clear error per bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ECHO = Path(__file__).parent / "data" / "echo"
BAD = Path(__file__).parent / "data" / "deb" / "bad"
MAINTAINER = "Jane Doe <jane@example.org>"


def tap2deb(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("DEBEMAIL", "DEBFULLNAME")}
    full_env["SOURCE_DATE_EPOCH"] = "1700000000"
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "tap2pkg.cli.tap2deb", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, check=False)


def test_json_summary_lists_every_artifact_with_its_digest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = tap2deb("-m", MAINTAINER, "--include", str(ECHO / "echoproto.py"), "-o", str(out), "-u", "--json",
                   str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [package] = json.loads(proc.stdout)["packages"]
    assert package["name"] == "echo"
    assert package["version"] == "1.0-1"
    assert package["user"] == "echo"
    names = {Path(a["path"]).name for a in package["artifacts"]}
    assert {"echo_1.0-1_all.deb", "echo_1.0-1.dsc", "echo_1.0.orig.tar.gz",
            "echo_1.0-1.debian.tar.xz"} <= names
    for artifact in package["artifacts"]:
        assert hashlib.sha256(Path(artifact["path"]).read_bytes()).hexdigest() == artifact["sha256"]
    tree = Path(package["source_tree"])
    assert (tree / "debian" / "control").is_file()
    assert (tree / "echo.tac").is_file()
    assert (tree / "lib" / "echoproto.py").is_file()
    assert (tree / "lib" / "tap2pkg" / "runtime" / "service.py").is_file()
    # nothing but the results in the output directory (and .tap2pkg/, the record of what was generated)
    assert sorted(p.name for p in out.iterdir()) == sorted(names | {"echo-1.0", ".tap2pkg"})


def test_options_name_version_and_description(tmp_path: Path) -> None:
    proc = tap2deb("-m", MAINTAINER, "-p", "ping", "-d", "ping-server", "-V", "2.5", "--revision", "3",
                   "-e", "Answers pings", "--binary-only", "-u", str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    deb = tmp_path / "ping-server_2.5-3_all.deb"
    assert deb.is_file()
    assert not list(tmp_path.glob("*.dsc"))
    from debian.debfile import DebFile

    control = DebFile(str(deb)).debcontrol()
    assert control["Description"].startswith("Answers pings")


def test_source_only_writes_no_deb(tmp_path: Path) -> None:
    proc = tap2deb("-m", MAINTAINER, "--source-only", "-u", str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "echo_1.0-1.dsc").is_file()
    assert not list(tmp_path.glob("*.deb"))


def test_maintainer_from_environment(tmp_path: Path) -> None:
    proc = tap2deb("-u", "--binary-only", str(ECHO / "echo.tac"), cwd=tmp_path,
                   env={"DEBFULLNAME": "Env Person", "DEBEMAIL": "env@example.org"})
    assert proc.returncode == 0, proc.stderr
    from debian.debfile import DebFile

    assert DebFile(str(tmp_path / "echo_1.0-1_all.deb")).debcontrol()["Maintainer"] == \
        "Env Person <env@example.org>"


def test_missing_maintainer_is_a_usage_error(tmp_path: Path) -> None:
    proc = tap2deb(str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 64
    assert "maintainer must be specified" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_pyproject_beside_the_app_file_and_cli_wins(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "echo.tac").write_bytes((ECHO / "echo.tac").read_bytes())
    (app / "echoproto.py").write_bytes((ECHO / "echoproto.py").read_bytes())
    (app / "pyproject.toml").write_text(
        '[tool.tap2pkg]\nmaintainer = "Conf Person <conf@example.org>"\nversion = "3.0"\n'
        'include = ["echoproto.py"]\nport = [8007]\noutput-dir = "dist"\n')
    proc = tap2deb("-V", "3.1", "-u", "--json", "--binary-only", str(app / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [package] = json.loads(proc.stdout)["packages"]
    assert package["version"] == "3.1-1"
    assert package["ports"] == [8007]
    assert (app / "dist" / "echo_3.1-1_all.deb").is_file()


def test_config_option(tmp_path: Path) -> None:
    conf = tmp_path / "release.toml"
    conf.write_text('[tool.tap2pkg]\nmaintainer = "Conf Person <conf@example.org>"\nrevision = 7\n')
    proc = tap2deb("--config", str(conf), "-u", "--binary-only", str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "echo_1.0-7_all.deb").is_file()


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    conf = tmp_path / "release.toml"
    conf.write_text('[tool.tap2pkg]\nmaintaner = "typo"\n')
    proc = tap2deb("--config", str(conf), str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 78
    assert "maintaner" in proc.stderr


def test_several_app_files_make_one_package_each(tmp_path: Path) -> None:
    second = tmp_path / "ping.tac"
    second.write_bytes((ECHO / "echo.tac").read_bytes())
    proc = tap2deb("-m", MAINTAINER, "-u", "--binary-only", "--json", str(ECHO / "echo.tac"), str(second),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [p["name"] for p in json.loads(proc.stdout)["packages"]] == ["echo", "ping"]


def test_two_app_files_with_one_package_name_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "echo.tac").write_bytes((ECHO / "echo.tac").read_bytes())
    proc = tap2deb("-m", MAINTAINER, str(ECHO / "echo.tac"), str(other / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 64
    assert "would both make package 'echo'" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]


@pytest.mark.parametrize("option", [["-p", "x"], ["-d", "x"]])
def test_single_package_options_refused_with_several_files(tmp_path: Path, option: list[str]) -> None:
    proc = tap2deb("-m", MAINTAINER, *option, str(ECHO / "echo.tac"), str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 64
    assert option[0] in proc.stderr


# (arguments, exit code, text the one error line must contain)
BAD_INPUTS = {
    "missing app file": (["nothere.tac"], 66, "no such file"),
    "directory as app file": ([str(ECHO)], 66, "echo: is a directory; give the app file in it"),
    "device as app file": (["/dev/null"], 66, "/dev/null: is not a regular file"),
    "default twistd.tap missing": ([], 66, "twistd.tap"),
    "unknown type": (["-y", "yaml", str(ECHO / "echo.tac")], 79, "--type"),
    "syntax error": ([str(BAD / "syntax.tac")], 65, "syntax error"),
    "no application": ([str(BAD / "noapp.tac")], 65, "application"),
    "truncated tap": ([str(BAD / "truncated.tap")], 65, "truncated.tap"),
    "garbage tap": ([str(BAD / "garbage.tap")], 65, "garbage.tap"),
    "entity bomb": ([str(BAD / "bomb.tax")], 76, "bomb.tax"),
    "code in tap": ([str(BAD / "evil.tap")], 76, "evil.tap"),
    "code in tas": ([str(BAD / "evil.tas")], 76, "evil.tas"),
    "invalid name": (["-d", "Bad_Name", str(ECHO / "echo.tac")], 80, "-d/--debfile"),
    "invalid version": (["-V", "v1-beta", str(ECHO / "echo.tac")], 81, "--set-version"),
    "maintainer without email": (["-m", "Jane Doe", str(ECHO / "echo.tac")], 82, "--maintainer"),
    "include missing": (["--include", "nothere.py", str(ECHO / "echo.tac")], 83, "--include"),
    "bad port": (["--port", "http", str(ECHO / "echo.tac")], 86, "--port"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_one_line_distinct_code_nothing_written(tmp_path: Path, case: str) -> None:
    args, code, text = BAD_INPUTS[case]
    out = tmp_path / "out"
    out.mkdir()
    maintainer = [] if "-m" in args else ["-m", MAINTAINER]
    proc = tap2deb(*maintainer, "-o", str(out), *args, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tap2deb: error: "), proc.stderr
    assert text in lines[0]
    assert "Traceback" not in proc.stderr
    assert list(out.iterdir()) == []
    assert not (tmp_path / "tap2pkg-pwned").exists()


def test_unknown_suffix_is_its_own_error(tmp_path: Path) -> None:
    app = tmp_path / "echo.conf"
    app.write_text("x")
    proc = tap2deb("-m", MAINTAINER, str(app), cwd=tmp_path)
    assert proc.returncode == 79
    assert "--type" in proc.stderr


def test_unwritable_output_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = tap2deb("-m", MAINTAINER, "-o", str(blocker / "out"), str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 73
    assert "--output-dir" in proc.stderr
    proc = tap2deb("-m", MAINTAINER, "-o", str(blocker), str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 73


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    # dpkg builder with a broken PATH: the tool is missing, nothing partial stays behind.
    out = tmp_path / "out"
    proc = tap2deb("-m", MAINTAINER, "--builder", "dpkg", "-o", str(out), str(ECHO / "echo.tac"),
                   cwd=tmp_path, env={"PATH": "/nonexistent"})
    assert proc.returncode == 85, proc.stderr
    assert "dpkg-buildpackage" in proc.stderr
    assert not out.exists()  # the build made it, and took it away again


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = tap2deb("--debug", "-m", MAINTAINER, "missing.tac", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


@pytest.mark.parametrize("option", [["--builder", "mock"], ["--compression", "bz2"]])
def test_an_unknown_builder_or_compression_is_a_usage_error_as_in_tap2rpm_and_build(
        tmp_path: Path, option: list[str]) -> None:
    out = tmp_path / "out"
    proc = tap2deb("-m", MAINTAINER, "-o", str(out), *option, str(ECHO / "echo.tac"), cwd=tmp_path)
    assert proc.returncode == 64, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"tap2deb: error: {option[0]} '{option[1]}' is unknown for .deb packages; use "
        + ("native or dpkg" if option[0] == "--builder" else "xz or gzip")]
    assert not out.exists()


def test_bad_codes_are_distinct_per_kind_of_problem() -> None:
    by_code: dict[int, set[str]] = {}
    for case, (_args, code, _text) in BAD_INPUTS.items():
        by_code.setdefault(code, set()).add(case)
    loading = {"syntax error", "no application", "truncated tap", "garbage tap"}
    unsafe = {"entity bomb", "code in tap", "code in tas"}
    assert by_code[65] == loading
    assert by_code[76] == unsafe
    assert all(len(cases) == 1 for code, cases in by_code.items() if code not in (65, 66, 76))


def test_native_builder_needs_no_dpkg_tools(tmp_path: Path) -> None:
    proc = tap2deb("-m", MAINTAINER, "-u", str(ECHO / "echo.tac"), cwd=tmp_path, env={"PATH": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "echo_1.0-1_all.deb").is_file()
    assert (tmp_path / "echo_1.0.orig.tar.gz").is_file()
    assert not (tmp_path / "echo_1.0-1.dsc").exists()
    assert "dpkg-source is not installed" in proc.stderr
