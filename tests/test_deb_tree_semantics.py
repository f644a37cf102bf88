"""The native ``.deb`` writer reads the edited ``debian/`` tree as dpkg and debhelper 13 read it.

Each case edits the emitted tree as a packager would, then builds it with the native writer and with
``dpkg-buildpackage``: the two packages agree (files, modes, fields, control members), or the native writer
refuses the edit in one line naming ``--builder dpkg`` and the dpkg build shows why (debhelper does
something there that the native writer does not).
"""

from __future__ import annotations

import dataclasses
import gzip
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from test_tree_edits import (
    DebContents,
    deb_contents,
    deb_spec,
    dpkg_build,
    native_build,
    needs_dpkg,
    replace,
)

from tap2pkg.deb.source import DebPayload, SourceTree, write_source_tree
from tap2pkg.deb.tree import changelog_version, parse_deb822
from tap2pkg.errors import UnsupportedEditError

Edit = Callable[[Path], object]


def emit(tmp_path: Path, *, includes: tuple[Path, ...] = ()) -> SourceTree:
    spec = deb_spec()
    if includes:
        spec = dataclasses.replace(spec, includes=spec.includes + includes)
    (tmp_path / "tree").mkdir()
    return write_source_tree(DebPayload.for_spec(spec), tmp_path / "tree")


def both(tmp_path: Path, tree: SourceTree) -> tuple[DebContents, DebContents]:
    """The package of ``tree`` built by the native writer and by dpkg-buildpackage; they must agree."""
    native = deb_contents(native_build(tree, tmp_path / "native"))
    dpkg = deb_contents(dpkg_build(tree))
    for key in native:
        assert native.get(key) == dpkg.get(key), key
    return native, dpkg


def refused(tmp_path: Path, tree: SourceTree, where: str) -> str:
    with pytest.raises(UnsupportedEditError) as info:
        native_build(tree, tmp_path / "native")
    message = str(info.value)
    assert "\n" not in message and message.startswith(where) and "--builder dpkg" in message, message
    assert info.value.exit_code == 91
    return message


def add_install_line(tree: Path, line: str) -> None:
    install = tree / "debian/echo.install"
    install.write_text(install.read_text() + line + "\n")


def dpkg_script(tree: SourceTree, name: str) -> str:
    [deb] = tree.parent.glob("*.deb")
    return subprocess.run(["dpkg-deb", "-I", str(deb), name], capture_output=True, text=True,
                          check=True).stdout


# --- 1. the changelog's top line: dpkg's header, whatever the case of the distribution -----------------

def test_changelog_header_as_dpkg_reads_it() -> None:
    head = " -- Jane Doe <jane@example.org>  Wed, 15 Nov 2023 10:00:00 +0000\n"
    for top in ("echo (1.0-2) UNRELEASED; urgency=medium",
                "echo (1.0-2) Stable-Security\texperimental; urgency=low\r",
                "# a comment dpkg skips\n$Id: changelog,v 1 $\necho (1.0-2) unstable; urgency=low"):
        assert changelog_version(f"{top}\n\n  * x\n\n{head}", "echo", "debian/changelog") == "1.0-2", top
    with pytest.raises(UnsupportedEditError, match=r"^debian/changelog:1: expected"):
        changelog_version("echo (1.0-2)\funstable urgency=low\n", "echo", "debian/changelog")


@needs_dpkg
@pytest.mark.slow
def test_unreleased_changelog_builds_with_both(tmp_path: Path) -> None:
    tree = emit(tmp_path)
    replace(tree.root / "debian/changelog", ") unstable;", ") UNRELEASED;")
    native, _ = both(tmp_path, tree)
    assert native["fields"]["version"] == "1.0-1"


# --- 2. what debhelper does to the files debian/echo.install installs ---------------------------------

def _odd_modes(tree: Path) -> None:
    (tree / "lib/group-x.py").write_text("x = 1\n")
    (tree / "lib/group-x.py").chmod(0o4610)  # setuid, executable by the group only: go=rX,u+rw,a-s
    (tree / "lib/script.js").write_text("//\n")
    (tree / "lib/script.js").chmod(0o755)  # *.js: 0644 wherever it is


def _js_into_bin_and_sudoers(tree: Path) -> None:
    (tree / "lib/run.js").write_text("//\n")
    add_install_line(tree, "lib/run.js usr/bin/")
    add_install_line(tree, "lib/echoproto.py etc/sudoers.d/")


def _dotfile_named(tree: Path) -> None:
    (tree / "lib/.secret").write_text("named\n")
    add_install_line(tree, "lib/.secret usr/share/echo/")


INSTALLED: dict[str, tuple[Edit, Callable[[DebContents], bool]]] = {
    "into usr/bin: made executable": (
        lambda t: add_install_line(t, "lib/echoproto.py usr/bin/"),
        lambda c: c["files"]["./usr/bin/echoproto.py"][0] == 0o755),
    "a small executable into usr/share/doc: 0644": (
        lambda t: add_install_line(t, "lib/tapd usr/share/doc/echo/"),
        lambda c: c["files"]["./usr/share/doc/echo/tapd"][0] == 0o644),
    "odd modes and a .js": (
        _odd_modes,
        lambda c: c["files"]["./usr/lib/echo/group-x.py"][0] == 0o655
        and c["files"]["./usr/lib/echo/script.js"][0] == 0o644),
    "a .js into usr/bin and a file into etc/sudoers.d": (
        _js_into_bin_and_sudoers,
        lambda c: c["files"]["./usr/bin/run.js"][0] == 0o755
        and c["files"]["./etc/sudoers.d/echoproto.py"][0] == 0o440),
    "a dotfile: the wildcard skips it": (
        lambda t: (t / "lib/.secret").write_text("not for the package\n"),
        lambda c: "./usr/lib/echo/.secret" not in c["files"]),
    "a dotfile named: installed": (
        _dotfile_named,
        lambda c: "./usr/share/echo/.secret" in c["files"] and "./usr/lib/echo/.secret" not in c["files"]),
    "an install file with CRLF lines": (
        lambda t: (t / "debian/echo.install").write_text(
            (t / "debian/echo.install").read_text().replace("\n", "\r\n")),
        lambda c: "./usr/lib/echo/echoproto.py" in c["files"]),
}


@needs_dpkg
@pytest.mark.slow
@pytest.mark.parametrize("edit", list(INSTALLED))
def test_installed_files_as_debhelper_installs_them(tmp_path: Path, edit: str) -> None:
    change, landed = INSTALLED[edit]
    tree = emit(tmp_path)
    change(tree.root)
    native, _ = both(tmp_path, tree)
    assert landed(native)


@needs_dpkg
@pytest.mark.slow
def test_an_included_dotfile_is_installed_by_both_builders(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    included, spaced, doubled, hidden_dir = (conf / ".settings.py", conf / ".my settings.py", conf / "..odd",
                                             conf / ".data")
    hidden_dir.mkdir(parents=True)
    for path in (included, spaced, doubled):
        path.write_text("DEBUG = False\n")
    (hidden_dir / "seed").write_text("1\n")
    tree = emit(tmp_path, includes=(included, spaced, doubled, hidden_dir))
    assert (tree.root / "lib/.settings.py").is_file()
    native, _ = both(tmp_path, tree)
    # lib/* leaves names with a leading dot out: the generated install list adds the patterns that match
    # them (a name with a space could not be written there)
    assert {"./usr/lib/echo/.settings.py", "./usr/lib/echo/.my settings.py", "./usr/lib/echo/..odd",
            "./usr/lib/echo/.data/seed"} <= set(native["files"])


@needs_dpkg
@pytest.mark.slow
@pytest.mark.parametrize(("line", "compressed"), [
    ("lib/tap2pkg/runtime/daemon.py usr/share/doc/echo/", "./usr/share/doc/echo/daemon.py.gz"),
    ("lib/echoproto.py usr/share/man/man1/", "./usr/share/man/man1/echoproto.py.gz"),
])
def test_a_file_dh_compress_compresses_is_refused(tmp_path: Path, line: str, compressed: str) -> None:
    tree = emit(tmp_path)
    add_install_line(tree.root, line)
    refused(tmp_path, tree, "debian/echo.install")
    assert compressed in deb_contents(dpkg_build(tree))["files"]


# --- 3. the unit as dh_installsystemd reads it ----------------------------------------------------------

@needs_dpkg
@pytest.mark.slow
def test_a_unit_without_install_section_is_refused(tmp_path: Path) -> None:
    tree = emit(tmp_path)
    unit = tree.root / "debian/echo.service"
    unit.write_text(unit.read_text().split("[Install]")[0])
    refused(tmp_path, tree, "debian/echo.service")
    dpkg_build(tree)  # dh_installsystemd then neither enables the unit nor purges its state
    assert "deb-systemd-helper enable" not in dpkg_script(tree, "postinst")
    assert "deb-systemd-helper purge" not in dpkg_script(tree, "postrm")


def test_a_unit_with_also_is_refused(tmp_path: Path) -> None:
    tree = emit(tmp_path)
    replace(tree.root / "debian/echo.service", "WantedBy=multi-user.target",
            "WantedBy=multi-user.target\nAlso=echo-helper.socket")
    refused(tmp_path, tree, "debian/echo.service")


@needs_dpkg
@pytest.mark.slow
def test_a_unit_alias_changes_no_script(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    plain = emit(tmp_path / "plain")
    dpkg_build(plain)
    scripts = {name: dpkg_script(plain, name) for name in ("preinst", "postinst", "prerm", "postrm")}
    tree = emit(tmp_path)
    replace(tree.root / "debian/echo.service", "WantedBy=multi-user.target",
            "WantedBy=multi-user.target\nAlias=echo-server.service")
    both(tmp_path, tree)
    assert {name: dpkg_script(tree, name) for name in scripts} == scripts


# --- 4. lines end at \n only, as in dpkg ------------------------------------------------------------------

def test_deb822_lines_end_at_newline_only() -> None:
    [paragraph] = parse_deb822("Description: a\fb\u2028c\x85d\r\n\fcontinued\n \u2028\n", "debian/control")
    assert paragraph["description"].value == "a\fb\u2028c\x85d\n continued\n \u2028"


@needs_dpkg
@pytest.mark.slow
def test_control_characters_in_a_description_as_dpkg_keeps_them(tmp_path: Path) -> None:
    tree = emit(tmp_path)
    replace(tree.root / "debian/control", "Description: Server for echo\n",
            "Description: Server\ffor echo\u2028more\x85x\n\tmore\vhere\n\fstarted by a form feed\n")
    native, _ = both(tmp_path, tree)
    assert native["fields"]["description"].startswith("Server\ffor echo\u2028more\x85x\n more\vhere\n")


def test_unusual_white_space_in_a_relation_is_refused(tmp_path: Path) -> None:
    tree = emit(tmp_path)
    replace(tree.root / "debian/control", "python3-yaml\n", "python3-yaml,\u00a0curl\n")
    refused(tmp_path, tree, "debian/control:")


@needs_dpkg
@pytest.mark.slow
def test_an_included_gzip_file_is_the_same_bytes_with_both_builders(tmp_path: Path) -> None:
    """dh_strip_nondeterminism would rewrite its header (the time and name gzip keeps); it does not run."""
    data = tmp_path / "seed.txt.gz"
    data.write_bytes(gzip.compress(b"hello\n", mtime=1234567890))
    tree = emit(tmp_path, includes=(data,))

    def member(deb: Path) -> bytes:
        listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True)
        return subprocess.run(["tar", "-xO", "./usr/lib/echo/seed.txt.gz"], input=listing.stdout,
                              capture_output=True, check=True).stdout

    assert member(native_build(tree, tmp_path / "native")) == member(dpkg_build(tree)) == data.read_bytes()
