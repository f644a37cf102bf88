"""The tap2rpm command line: what a user types, what lands in the output directory, the exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tap2pkg.cli.tap2rpm import main

ECHO = Path(__file__).parent / "data" / "echo"
BAD = Path(__file__).parent / "data" / "rpm" / "bad"
MAINTAINER = "Jane Doe <jane@example.org>"
needs_rpm = pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed")


def tap2rpm(*args: str | Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "tap2rpm"
    return subprocess.run([str(script), *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000"))


@needs_rpm
def test_json_summary_names_every_artifact(tmp_path: Path) -> None:
    proc = tap2rpm(ECHO / "echo.tac", "--include", ECHO / "echoproto.py", "-m", MAINTAINER, "-o", tmp_path,
                   "-V", "2.1", "--release", "4", "--depends", "python3-yaml >= 5", "--json")
    assert proc.returncode == 0, proc.stderr
    package = json.loads(proc.stdout)["packages"][0]
    assert (package["name"], package["version"], package["format"]) == ("echo", "2.1-4", "rpm")
    names = {Path(a["path"]).name for a in package["artifacts"]}
    assert {"echo.spec", "echo-2.1.tar.gz", "echo-2.1-4.src.rpm", "echo-2.1-4.noarch.rpm"} <= names
    rpm_file = tmp_path / "echo-2.1-4.noarch.rpm"
    requires = subprocess.run(["rpm", "-qp", "--requires", str(rpm_file)], capture_output=True, text=True,
                              check=True).stdout.splitlines()
    assert "python3-yaml >= 5" in requires


@needs_rpm
def test_twisted_options_keep_their_meaning(tmp_path: Path) -> None:
    proc = tap2rpm("-t", ECHO / "echo.tac", "--include", ECHO / "echoproto.py", "-p", "echoer",
                   "-e", "Echoes bytes", "-l", "It echoes every byte back.", "-r", "echo-server",
                   "-o", tmp_path, "-u", "-q", "--binary-only")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "-u/--unsigned is deprecated" in proc.stderr
    rpm_file = tmp_path / "echo-server-1.0-1.noarch.rpm"
    info = subprocess.run(["rpm", "-qip", str(rpm_file)], capture_output=True, text=True, check=True).stdout
    assert "Summary     : Echoes bytes" in info and "It echoes every byte back." in info
    assert "Packager    : tap2rpm" in info  # Twisted's default maintainer
    assert not list(tmp_path.glob("*.src.rpm"))


@needs_rpm
def test_builder_rpmbuild_and_xz(tmp_path: Path) -> None:
    assert main([str(ECHO / "echo.tac"), "--include", str(ECHO / "echoproto.py"), "-m", MAINTAINER,
                 "-o", str(tmp_path), "--builder", "rpmbuild", "-q"]) == 0
    assert (tmp_path / "echo-1.0-1.noarch.rpm").is_file()
    assert main([str(ECHO / "echo.tac"), "--include", str(ECHO / "echoproto.py"), "-m", MAINTAINER,
                 "-o", str(tmp_path / "xz"), "--compression", "xz", "--binary-only", "-q"]) == 0
    rpm_file = tmp_path / "xz/echo-1.0-1.noarch.rpm"
    out = subprocess.run(["rpm", "-qp", "--qf", "%{PAYLOADCOMPRESSOR}", str(rpm_file)],
                         capture_output=True, text=True, check=True).stdout
    assert out == "xz"


@needs_rpm
def test_settings_from_pyproject_beside_the_app_file(tmp_path: Path) -> None:
    shutil.copy(ECHO / "echo.tac", tmp_path)
    shutil.copy(ECHO / "echoproto.py", tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.tap2pkg]\nmaintainer = "Jane Doe <jane@example.org>"\nversion = "3.0"\nrelease = "2"\n'
        'include = ["echoproto.py"]\nlicense = "Apache-2.0"\n')
    assert main([str(tmp_path / "echo.tac"), "-o", str(tmp_path / "out"), "-q", "--binary-only"]) == 0
    rpm_file = tmp_path / "out/echo-3.0-2.noarch.rpm"
    assert subprocess.run(["rpm", "-qp", "--qf", "%{LICENSE}", str(rpm_file)], capture_output=True,
                          text=True, check=True).stdout == "Apache-2.0"


BAD_CASES = [
    ("missing app file", [str(ECHO / "nope.tac")], 66, "nope.tac"),
    ("unknown type", [str(ECHO / "echoproto.py"), "-y", "yaml"], 79, "--type"),
    ("syntax error", [str(BAD / "syntax_error.tac")], 65, "syntax error"),
    ("no application", [str(BAD / "no_application.tac")], 65, "no application"),
    ("garbage .tap", [str(BAD / "garbage.tap")], 65, "garbage.tap"),
    ("code in a .tap", [str(BAD / "unsafe.tap")], 76, "refusing"),
    ("entity bomb", [str(BAD / "bomb.tax")], 76, "DOCTYPE"),
    ("bad name", [str(ECHO / "echo.tac"), "-r", "Echo_Server"], 80, "-r/--rpmfile"),
    ("dash in version", [str(ECHO / "echo.tac"), "-V", "1.0-2"], 81, "-V/--set-version"),
    ("dash in release", [str(ECHO / "echo.tac"), "--release", "1-2"], 81, "--release"),
    ("maintainer without email", [str(ECHO / "echo.tac"), "-m", "Jane Doe"], 82, "-m/--maintainer"),
    ("missing include", [str(ECHO / "echo.tac"), "--include", str(ECHO / "nope.py")], 83, "--include"),
    ("unknown builder", [str(ECHO / "echo.tac"), "--builder", "mock"], 64, "--builder"),
    ("unknown compression", [str(ECHO / "echo.tac"), "--compression", "bz2"], 64, "--compression 'bz2'"),
    ("bad dependency", [str(ECHO / "echo.tac"), "--depends", "python3 >>= 1"], 86, "--depends"),
]


@pytest.mark.parametrize(("case", "argv", "code", "needle"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_one_line_distinct_code_nothing_written(case: str, argv: list[str], code: int, needle: str,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [*argv, "-o", str(out)]
    if "-m" not in argv:
        argv += ["-m", MAINTAINER]
    proc = tap2rpm(*argv)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tap2rpm: error: ") and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() or list(out.iterdir()) == []
    assert not Path("/tmp/tap2rpm-test-pwned").exists()


def test_unwritable_output_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = tap2rpm(ECHO / "echo.tac", "--include", ECHO / "echoproto.py", "-m", MAINTAINER,
                   "-o", blocker / "out")
    assert proc.returncode == 73, proc.stderr
    assert "output-dir" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_two_app_files_refuse_a_single_package_name(tmp_path: Path) -> None:
    proc = tap2rpm(ECHO / "echo.tac", ECHO / "echo.tac", "-r", "echo", "-m", MAINTAINER, "-o", tmp_path)
    assert proc.returncode == 64 and "-r/--rpmfile" in proc.stderr


@needs_rpm
def test_source_only_writes_spec_sources_and_srpm(tmp_path: Path) -> None:
    proc = tap2rpm(ECHO / "echo.tac", "--include", ECHO / "echoproto.py", "-m", MAINTAINER, "-o", tmp_path,
                   "--source-only", "--json")
    assert proc.returncode == 0, proc.stderr
    names = {Path(a["path"]).name for a in json.loads(proc.stdout)["packages"][0]["artifacts"]}
    assert "echo-1.0-1.src.rpm" in names and "echo.spec" in names
    assert not list(tmp_path.glob("*.noarch.rpm"))
