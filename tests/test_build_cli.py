"""``tap2pkg build``: a .deb and an .rpm from one PackageSpec in one call."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tap2pkg.cli.tap2pkg import main

ECHO = Path(__file__).parent / "data" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"
pytestmark = pytest.mark.skipif(shutil.which("rpm") is None or shutil.which("dpkg-deb") is None,
                                reason="rpm and dpkg-deb are needed to read the packages")


def build(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["build", str(ECHO / "echo.tac"), "--include", str(ECHO / "echoproto.py"), "-m", MAINTAINER,
                 *args])
    out, err = capsys.readouterr()
    return code, out, err


def deb_files(deb: Path) -> dict[str, tuple[int, str]]:
    """path -> (mode, owner) of every regular file in the .deb's data.tar."""
    raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name.removeprefix("."): (m.mode, m.uname) for m in tar.getmembers() if m.isfile()}


def rpm_files(rpm_file: Path) -> dict[str, tuple[int, str]]:
    out = subprocess.run(["rpm", "-qp", "--qf", "[%{FILEMODES:octal} %{FILEUSERNAME} %{FILENAMES}\n]",
                          str(rpm_file)], capture_output=True, text=True, check=True).stdout
    files = {}
    for line in out.splitlines():
        mode, user, path = line.split(" ", 2)
        if mode.startswith("100"):
            files[path] = (int(mode, 8) & 0o7777, user)
    return files


def test_both_formats_from_one_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    code, out, err = build("-o", str(tmp_path), "-V", "2.0", "--revision", "3", "--format", "deb,rpm",
                           "--binary-only", "-u", "--json", capsys=capsys)
    assert code == 0, err
    packages = json.loads(out)["packages"]
    assert [(p["format"], p["name"], p["version"]) for p in packages] == [("deb", "echo", "2.0-3"),
                                                                          ("rpm", "echo", "2.0-3")]
    deb, rpm_file = tmp_path / "echo_2.0-3_all.deb", tmp_path / "echo-2.0-3.noarch.rpm"
    assert {Path(a["path"]).name for p in packages for a in p["artifacts"]} >= {deb.name, rpm_file.name}
    in_deb, in_rpm = deb_files(deb), rpm_files(rpm_file)
    # The app file and every bundled file land in the same place with the same mode in both.
    roots = ("/etc/echo/", "/usr/lib/echo/")
    shared = {p: v for p, v in in_deb.items() if p.startswith(roots)}
    assert shared and shared == {p: v for p, v in in_rpm.items() if p.startswith(roots)}
    assert "/etc/sysconfig/echo" in in_rpm and "/etc/default/echo" in in_deb


def test_rpm_only_plain_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = build("-o", str(tmp_path), "--format", "rpm", capsys=capsys)
    assert code == 0, err
    assert "tap2pkg build: rpm: wrote " in out and "deb:" not in out
    assert (tmp_path / "echo-1.0-1.noarch.rpm").is_file() and (tmp_path / "echo-1.0-1.src.rpm").is_file()
    assert not list(tmp_path.glob("*.deb"))


@pytest.mark.parametrize(("args", "needle"), [(["--format", "deb,msi"], "--format"),
                                               (["--builder", "mock"], "--builder"),
                                               # a ValueError traceback before: one line and 64, as tap2deb
                                               (["--format", "deb", "--compression", "bz2"], "'bz2'"),
                                               (["--compression", "bz2"], "--compression 'bz2'")])
def test_bad_format_or_builder(args: list[str], needle: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = build("-o", str(tmp_path / "out"), *args, capsys=capsys)
    assert code == 64 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_a_failing_format_removes_what_the_call_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PATH", "/nonexistent")  # the native .deb needs no tool; rpmbuild is then missing
    code, _, err = build("-o", str(tmp_path), "--binary-only", "-u", "--builder", "native,rpmbuild",
                         capsys=capsys)
    assert code == 85 and "rpmbuild" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize(("args", "code", "needle"), [(["--release", "1-2"], 81, "--revision/--release"),
                                                       (["-n", "Bad_Name"], 80, "-n/--name"),
                                                       (["-V", "1.0-2"], 81, "-V/--set-version")])
def test_bad_name_or_version_names_build_options(args: list[str], code: int, needle: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    result, _, err = build("-o", str(tmp_path / "out"), *args, capsys=capsys)
    assert result == code and needle in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("front", ["tap2rpm", "tap2pkg build"])
def test_two_app_files_with_one_package_name_are_refused_by_every_front_end(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], front: str) -> None:
    """tap2rpm built both (the second replacing the first's files), tap2pkg build failed with exit 73."""
    from tap2pkg.cli.tap2rpm import main as tap2rpm_main

    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(ECHO / "echo.tac", other / "echo.tac")
    args = [str(ECHO / "echo.tac"), str(other / "echo.tac"), "--include", str(ECHO / "echoproto.py"),
            "-m", MAINTAINER, "-o", str(tmp_path / "out")]
    code = tap2rpm_main(args) if front == "tap2rpm" else main(["build", *args])
    assert code == 64
    err = capsys.readouterr().err
    assert "would both make package 'echo'" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("front", ["tap2deb", "tap2rpm"])
def test_help_shows_no_markup(front: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tap2pkg.cli.tap2deb import main as tap2deb_main
    from tap2pkg.cli.tap2rpm import main as tap2rpm_main

    with pytest.raises(SystemExit) as exit_:
        (tap2deb_main if front == "tap2deb" else tap2rpm_main)(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"{front}: an editable" in out and "``" not in out
