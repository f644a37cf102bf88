"""The spec read as rpm reads it: a packager's edit gives the same package with both builders, or one refusal.

Each test edits the written ``.spec`` as a packager would (a bumped ``Release`` or ``Version``, a comment in
``%description`` or ``%changelog``, entries out of date order, a vertical tab in a value, CRLF line ends)
and builds it with the native writer and with rpmbuild (:mod:`test_tree_edits`'s helpers for the package,
:mod:`test_hand_edits`'s for the command line).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_hand_edits import _epoch, rpm
from test_tree_edits import (
    emit_sources,
    native_rpm,
    needs_rpmbuild,
    query,
    replace,
    rpm_contents,
    rpmbuild_rpm,
    systemd_macros,
)

from tap2pkg.cli.tap2rpm import main as tap2rpm_main

__all__ = ["_epoch"]  # SOURCE_DATE_EPOCH for every test here too

BUILDERS = ("native", "rpmbuild")
NEW_ENTRY = "* Wed Nov 15 2023 Jane Doe <jane@example.org> - {}\n- Rebuilt by hand.\n\n"


def both_builders(tmp_path: Path, edit: str, new: str, *more: str) -> dict[str, dict[str, str]]:
    """The written sources edited (``replace``'s pairs in ``echo.spec``), built by each builder."""
    sources, directory = emit_sources(tmp_path)
    replace(directory / "echo.spec", edit, new, *more)
    native = rpm_contents(native_rpm(sources, directory, tmp_path / "native"))
    rpmbuild = rpm_contents(rpmbuild_rpm(directory, tmp_path / "rpmbuild"))
    if systemd_macros():  # rpmbuild then runs rpm's macros, the native writer their fallbacks
        del native["scripts"], rpmbuild["scripts"]
    return {"native": native, "rpmbuild": rpmbuild}


def edited_trees(tmp_path: Path, old: str, new: str, *more: str) -> dict[str, Path]:
    """A tap2rpm output directory, edited in ``echo.spec``, copied once for each builder."""
    assert rpm(tmp_path) == 0
    out = tmp_path / "out"
    for built in out.glob("*.rpm"):
        built.unlink()
    replace(out / "echo.spec", old, new, *more)
    trees = {}
    for builder in BUILDERS:
        trees[builder] = tmp_path / builder
        shutil.copytree(out, trees[builder])
    return trees


@needs_rpmbuild
@pytest.mark.slow
@pytest.mark.parametrize(("version", "release"), [("1.0", "2"), ("1.1", "1"), ("1.1", "3")])
def test_a_hand_bumped_version_or_release_names_the_files_and_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str, release: str) -> None:
    trees = edited_trees(tmp_path, "Version:        1.0", f"Version:        {version}",
                         "Release:        1", f"Release:        {release}",
                         "%changelog\n", "%changelog\n" + NEW_ENTRY.format(f"{version}-{release}"))
    capsys.readouterr()
    label = f"echo-{version}-{release}"
    contents = {}
    for builder, tree in trees.items():
        assert tap2rpm_main(["--from-tree", str(tree), "--builder", builder, "--json"]) == 0, builder
        report = json.loads(capsys.readouterr().out)["packages"][0]
        assert report["version"] == f"{version}-{release}"
        built = {Path(a["path"]).name: a["kind"] for a in report["artifacts"]}
        assert built[f"{label}.src.rpm"] == "source-package" and built[f"{label}.noarch.rpm"] == "package"
        assert built[f"echo-{version}.tar.gz"] == "sources"  # Source0 for the spec's Version, from the app
        assert query(tree / f"{label}.src.rpm", "-l").split() == sorted(
            name for name, kind in built.items() if kind in ("spec", "sources") and "rpmlintrc" not in name)
        contents[builder] = rpm_contents(tree / f"{label}.noarch.rpm")
    if systemd_macros():
        del contents["native"]["scripts"], contents["rpmbuild"]["scripts"]
    assert contents["native"] == contents["rpmbuild"]
    assert "Rebuilt by hand" in contents["native"]["meta"]


COMMENTS = (
    "Server for echo, packaged",
    "Server for echo,   \n  # said by hand\nnot # a comment\n\t#\n# last\npackaged",
    "%changelog\n", "%changelog\n" + NEW_ENTRY.format("1.2-3").replace(
        "by hand.\n", "by hand.  \n# dropped\n\n  # joined to the next line\n- Fixes #12.\n#\n"))


@needs_rpmbuild
@pytest.mark.slow
def test_comments_in_description_and_changelog_read_as_rpmbuild_reads_them(tmp_path: Path) -> None:
    built = both_builders(tmp_path, *COMMENTS)
    assert built["native"] == built["rpmbuild"]
    meta = built["native"]["meta"]
    assert "Server for echo,\n  \nnot # a comment\n\t\n\npackaged" in meta  # a comment is a blank line
    assert "- Rebuilt by hand.  \n\n  - Fixes #12.\n" in meta and "#\n" not in meta  # joined, or gone


@needs_rpmbuild
@pytest.mark.slow
@pytest.mark.parametrize("builder", BUILDERS)
def test_a_changelog_out_of_date_order_is_refused_by_both_builders(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], builder: str) -> None:
    old = "* Sat Nov 18 2023 Jane Doe <jane@example.org> - 0.9-1\n- Later than the entry above.\n"
    trees = edited_trees(tmp_path, "%changelog\n", "%changelog\n" + NEW_ENTRY.format("1.0-1"),
                         "- Packaged echo.tac with tap2rpm.\n", f"- Packaged echo.tac with tap2rpm.\n\n{old}")
    capsys.readouterr()
    assert tap2rpm_main(["--from-tree", str(trees[builder]), "--builder", builder]) == 91
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("tap2rpm: error: echo.spec:") and "newest first" in err, err
    assert not list(trees[builder].glob("*.rpm"))


@needs_rpmbuild
@pytest.mark.slow
def test_only_a_line_feed_ends_a_spec_line(tmp_path: Path) -> None:
    built = both_builders(tmp_path, "Summary:        Server for echo",
                          "Summary:        Server for echo\vRequires: bash\u2028more",
                          "Server for echo, packaged", "Server\x85for\u2029echo, packaged")
    assert built["native"] == built["rpmbuild"]
    assert "bash" not in built["native"]["requires"]
    assert "|Server for echo\vRequires: bash\u2028more|" in built["native"]["meta"]


@needs_rpmbuild
@pytest.mark.slow
@pytest.mark.parametrize("builder", BUILDERS)
def test_crlf_line_ends_are_refused_in_one_line_by_both_builders(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], builder: str) -> None:
    tree = edited_trees(tmp_path, "Release:        1", "Release:        1")[builder]
    spec = tree / "echo.spec"
    spec.write_bytes(spec.read_bytes().replace(b"\n", b"\r\n"))
    capsys.readouterr()
    assert tap2rpm_main(["--from-tree", str(tree), "--builder", builder]) == 91
    err = capsys.readouterr().err.strip()
    assert err == ("tap2rpm: error: echo.spec:1: the line ends with a carriage return (CRLF line endings); "
                   "save the spec with LF line endings")


@needs_rpmbuild
@pytest.mark.slow
@pytest.mark.parametrize("requires", ["", "Requires:       /usr/bin/python3\n"])
def test_requires_found_by_rpmbuild_carry_its_flags(tmp_path: Path, requires: str) -> None:
    sources, directory = emit_sources(tmp_path)  # with --depends python3-yaml >= 5.0
    replace(directory / "echo.spec", "Requires(pre):", requires + "Requires(pre):")
    flags = "[%{REQUIRENAME} %{REQUIREFLAGS} %{REQUIREVERSION}\n]"
    native = query(native_rpm(sources, directory, tmp_path / "native"), "--qf", flags)
    rpmbuild = query(rpmbuild_rpm(directory, tmp_path / "rpmbuild"), "--qf", flags)
    assert native == rpmbuild
    assert "/usr/bin/python3 16384 \n" in native and ("/usr/bin/python3 0 \n" in native) == bool(requires)
