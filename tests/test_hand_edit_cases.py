"""Hand edits a packager makes that are not text in a generated file: a version bumped with ``dch``, a
link put in the tree, a ``chmod``, one output directory holding several packages' trees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_hand_edits import _epoch, deb, field, needs_dpkg, rpm, sub

from tap2pkg.cli.tap2deb import main as tap2deb_main
from tap2pkg.cli.tap2rpm import main as tap2rpm_main

__all__ = ["_epoch"]  # SOURCE_DATE_EPOCH for every test here too


@needs_dpkg
@pytest.mark.slow
@pytest.mark.parametrize("builder", ["native", "dpkg"])
@pytest.mark.parametrize(("version", "files"), [
    ("1.0-2", ["echo_1.0-2.dsc", "echo_1.0.orig.tar.gz", "echo_1.0-2.debian.tar.xz", "echo_1.0-2_all.deb"]),
    ("1:1.1-1", ["echo_1.1-1.dsc", "echo_1.1.orig.tar.gz", "echo_1.1-1.debian.tar.xz", "echo_1.1-1_all.deb"]),
])
def test_a_version_bumped_in_the_changelog_by_hand_names_the_built_files_and_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], builder: str, version: str,
        files: list[str]) -> None:
    assert deb(tmp_path) == 0
    out, tree = tmp_path / "out", tmp_path / "out" / "echo-1.0"
    for old in out.glob("echo_*"):
        old.unlink()
    changelog = tree / "debian/changelog"
    top = changelog.read_text().split("\n\n", 1)[0]  # what dch -v writes: a new entry on top
    entry = top.replace("(1.0-1)", f"({version})").replace("Initial release", "Fix by hand")
    changelog.write_text(f"{entry}\n\n{changelog.read_text()}")
    capsys.readouterr()

    assert tap2deb_main(["--from-tree", str(tree), "-u", "--builder", builder, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["packages"][0]
    assert report["version"] == version
    built = {Path(a["path"]).name for a in report["artifacts"]}
    assert set(files) <= built
    assert all((out / name).is_file() for name in built)
    assert field(out / files[-1], "Version") == version


@pytest.mark.parametrize("fmt", ["deb", "rpm"])
def test_a_link_in_the_tree_is_refused_in_one_line_and_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    build = deb if fmt == "deb" else rpm
    assert build(tmp_path, "--binary-only") == 0
    out = tmp_path / "out"
    if fmt == "deb":
        link, target = out / "echo-1.0/lib/alias.py", "echoproto.py"
    else:  # a tracked file replaced by a link to the packager's own copy
        (out / "mine.service").write_bytes((out / "echo.service").read_bytes())
        (out / "echo.service").unlink()
        link, target = out / "echo.service", "mine.service"
    os.symlink(target, link)
    before = sorted(p.name for p in out.iterdir())
    capsys.readouterr()

    assert build(tmp_path, "--binary-only") == 73
    err = capsys.readouterr().err
    assert f"{link}: a symbolic link in the source tree" in err and len(err.strip().splitlines()) == 1
    assert link.is_symlink() and os.readlink(link) == target
    assert sorted(p.name for p in out.iterdir()) == before


def test_from_tree_over_several_rpm_packages_needs_their_name(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert rpm(tmp_path, "--binary-only") == 0
    assert rpm(tmp_path, "--binary-only", "-r", "other") == 0
    out = tmp_path / "out"
    sub(out / "echo.spec", r"^Summary: .*$", "Summary: Echo by hand")
    for built in out.glob("*.rpm"):
        built.unlink()
    capsys.readouterr()

    assert tap2rpm_main(["--from-tree", str(out), "--binary-only", "-q"]) == 64
    assert ("holds the trees of several packages (echo, other); name the one to build with -r/--rpmfile"
            in capsys.readouterr().err)
    assert not list(out.glob("*.rpm"))
    assert tap2rpm_main(["--from-tree", str(out), "--binary-only", "-q", "-r", "nothere"]) == 64
    assert "no package 'nothere' was generated there (it holds: echo, other)" in capsys.readouterr().err

    assert tap2rpm_main(["--from-tree", str(out), "--binary-only", "-q", "-r", "echo"]) == 0
    assert [p.name for p in out.glob("*.rpm")] == ["echo-1.0-1.noarch.rpm"]


def test_diff_shows_a_chmod_and_not_a_umask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = os.umask(0o077)
    try:
        assert deb(tmp_path, "--binary-only") == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    assert deb(tmp_path, "--diff") == 0  # the files written under umask 077 are no edit
    (tmp_path / "out/echo-1.0/echo.tac").chmod(0o755)
    assert deb(tmp_path, "--diff") == 1
    assert "Mode of generated/echo.tac 0644 and echo-1.0/echo.tac 0755 differ" in capsys.readouterr().out


def test_a_build_over_an_edited_tree_says_which_files_carry_edits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deb(tmp_path, "--binary-only") == 0
    assert "built with the tree's own changes" not in capsys.readouterr().err
    tree = tmp_path / "out/echo-1.0"
    sub(tree / "debian/echo.postinst", r"^#DEBHELPER#$", "#DEBHELPER#\necho hand-added-step >/dev/null")
    sub(tree / "debian/echo.service", r"^\[Service\]$", "[Service]\nEnvironment=ECHO_MODE=edited")
    assert deb(tmp_path, "--binary-only") == 0
    assert (f"note: {tree}: built with the tree's own changes to what tap2pkg generates "
            "(debian/echo.postinst, debian/echo.service); --diff shows them" in capsys.readouterr().err)
