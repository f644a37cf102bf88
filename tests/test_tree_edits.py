"""A hand edit of the emitted tree lands in the package with both builders of the format, or the native
builder refuses it with one line naming the tool builder (which builds it).

Debian: each generated ``debian/`` file is edited in turn, then the tree is built by the native writer and
by ``dpkg-buildpackage``; RPM: the ``.spec`` and its sources, then the native writer and ``rpmbuild``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import pytest

from tap2pkg.deb.native import build_native_deb
from tap2pkg.deb.source import DebPayload, SourceTree, write_source_tree
from tap2pkg.deb.tree import parse_deb822
from tap2pkg.dependency import Dependency
from tap2pkg.errors import UnsupportedEditError
from tap2pkg.rpm.native import build_rpm
from tap2pkg.rpm.rpmbuild import rpmbuild_in_private_topdir
from tap2pkg.rpm.source import RpmSources, rpm_sources, write_sources
from tap2pkg.rpm.specfile import read_spec_dir
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"
EPOCH = 1700000000
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-buildpackage") is None or shutil.which("dh") is None,
                                reason="dpkg-dev and debhelper are not installed")
needs_rpmbuild = pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is not installed")

Edit = Callable[[Path], object]


def replace(path: Path, old: str, new: str, *more: str) -> None:
    """Replace ``old`` by ``new`` (and each further pair in ``more``) once in ``path``."""
    text = path.read_text()
    pairs = [(old, new), *zip(more[::2], more[1::2], strict=True)]
    for before, after in pairs:
        assert before in text, (path, before)
        text = text.replace(before, after, 1)
    path.write_text(text)


# --- Debian -----------------------------------------------------------------------------------------

def deb_spec() -> PackageSpec:
    return PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python",
                       maintainer="Jane Doe <jane@example.org>", ports=(8007,),
                       includes=(ECHO / "echoproto.py",), depends=(Dependency.parse("python3-yaml"),),
                       homepage="https://example.org/echo", source_date_epoch=EPOCH)


def emit_tree(tmp_path: Path) -> SourceTree:
    (tmp_path / "tree").mkdir()
    return write_source_tree(DebPayload.for_spec(deb_spec()), tmp_path / "tree")


def dpkg_build(tree: SourceTree) -> Path:
    proc = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree.root, capture_output=True,
                          text=True, env={**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [deb] = tree.parent.glob("*.deb")
    return deb


def native_build(tree: SourceTree, out: Path) -> Path:
    out.mkdir()
    return build_native_deb(tree, out)


# What both builders must agree on: control fields but the size, control members, installed files.
DebContents = TypedDict("DebContents", {
    "fields": dict[str, str],
    "conffiles": bytes,
    "md5sums paths": list[bytes],
    "scripts": list[str],  # their text differs (debhelper's snippets vs the native ones)
    "preinst/postinst/postrm own parts": dict[str, str],
    "files": dict[str, tuple[int, bytes]],  # name -> (mode, content, gunzipped)
})


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """A regular member's bytes."""
    file = tar.extractfile(member)
    assert file is not None, member.name
    return file.read()


def deb_contents(deb: Path) -> DebContents:
    """The parts of ``deb`` both builders must agree on."""
    def part(flag: str) -> tarfile.TarFile:
        data = subprocess.run(["dpkg-deb", flag, str(deb)], capture_output=True, check=True).stdout
        return tarfile.open(fileobj=io.BytesIO(data))

    with part("--ctrl-tarfile") as tar:
        members = {m.name: _read(tar, m) for m in tar.getmembers() if m.isfile()}
    [paragraph] = parse_deb822(members.pop("./control").decode(), "control")
    fields = {k: f.value for k, f in paragraph.items() if k != "installed-size"}
    conffiles = members.pop("./conffiles", b"")
    md5sums_paths = members.pop("./md5sums").split()[1::2]
    own_parts = {name: members[name].decode().split("# Automatically added by", 1)[0].split("# What dh", 1)[0]
                 for name in ("./preinst", "./postinst", "./postrm")}
    with part("--fsys-tarfile") as tar:
        files = {}
        for m in tar.getmembers():
            data = _read(tar, m) if m.isfile() else b""
            files[m.name] = (m.mode, gzip.decompress(data) if m.name.endswith(".gz") else data)
    return {"fields": fields, "conffiles": conffiles, "md5sums paths": md5sums_paths,
            "scripts": sorted(members), "preinst/postinst/postrm own parts": own_parts, "files": files}


DEB_EDITS: dict[str, tuple[Edit, Callable[[DebContents], bool]]] = {
    "control Description": (
        lambda t: replace(t / "debian/control", "Description: Server for echo\n",
                          "Description: Hand-edited echo service\n Its long text, by hand.\n .\n"),
        lambda c: c["fields"]["description"].startswith("Hand-edited echo service"),
    ),
    "control Depends and Recommends": (
        lambda t: replace(t / "debian/control", "python3-yaml\n",
                          "python3-yaml,\n  python3-requests(>=2.0)\nRecommends: curl\n"),
        lambda c: "python3-requests (>= 2.0)" in c["fields"]["depends"]
        and c["fields"]["recommends"] == "curl",
    ),
    "changelog entry": (
        lambda t: (t / "debian/changelog").write_text(
            "echo (1.0-2) unstable; urgency=medium\n\n  * Rebuilt by hand.\n\n"
            " -- Jane Doe <jane@example.org>  Wed, 15 Nov 2023 10:00:00 +0000\n\n"
            + (t / "debian/changelog").read_text()),
        lambda c: c["fields"]["version"] == "1.0-2"
        and b"Rebuilt by hand" in c["files"]["./usr/share/doc/echo/changelog.Debian.gz"][1],
    ),
    "the unit": (
        lambda t: replace(t / "debian/echo.service", "RestartSec=2", "RestartSec=9"),
        lambda c: b"RestartSec=9" in c["files"]["./lib/systemd/system/echo.service"][1],
    ),
    "the default file": (
        lambda t: (t / "debian/echo.default").write_text((t / "debian/echo.default").read_text()
                                                         + "EXTRA_OPTS=--hand-edited\n"),
        lambda c: b"--hand-edited" in c["files"]["./etc/default/echo"][1],
    ),
    "a maintainer script": (
        lambda t: replace(t / "debian/echo.postinst", "#DEBHELPER#",
                          "echo 'hand-edited #PACKAGE#' >&2\n\n#DEBHELPER#"),
        lambda c: "hand-edited echo" in c["preinst/postinst/postrm own parts"]["./postinst"],
    ),
    "an included file, and a new one": (
        lambda t: ((t / "lib/echoproto.py").write_text("# by hand\n"),
                   (t / "lib/extra.py").write_text("x = 1\n")),
        lambda c: c["files"]["./usr/lib/echo/extra.py"] == (0o644, b"x = 1\n"),
    ),
}


@needs_dpkg
@pytest.mark.slow
@pytest.mark.parametrize("edit", list(DEB_EDITS))
def test_deb_edit_lands_with_both_builders(tmp_path: Path, edit: str) -> None:
    change, landed = DEB_EDITS[edit]
    tree = emit_tree(tmp_path)
    change(tree.root)
    native = deb_contents(native_build(tree, tmp_path / "native"))
    dpkg = deb_contents(dpkg_build(tree))
    assert landed(native)
    for key in native:
        assert native.get(key) == dpkg.get(key), key


def test_deb_unedited_tree_reads_back_as_written(tmp_path: Path) -> None:
    tree = emit_tree(tmp_path)
    deb = native_build(tree, tmp_path / "native")
    again = native_build(tree, tmp_path / "again")  # a tree already read once
    assert deb.read_bytes() == again.read_bytes()
    assert deb.name == "echo_1.0-1_all.deb"


DEB_REFUSED: dict[str, tuple[Edit, str]] = {
    "debian/rules": (lambda t: (t / "debian/rules").write_text(
        (t / "debian/rules").read_text() + "\noverride_dh_installchangelogs:\n\tdh_installchangelogs\n"),
        "debian/rules"),
    "an extra debian file": (
        lambda t: (t / "debian/echo.links").write_text("usr/lib/echo/tapd usr/bin/echo-tapd\n"),
        "debian/echo.links"),
    "a removed debian file": (lambda t: (t / "debian/echo.logrotate").unlink(), "debian/echo.logrotate"),
    "an unknown control field": (
        lambda t: replace(t / "debian/control", "Architecture: all",
                          "Architecture: all\nMulti-Arch: foreign"),
        "debian/control:"),
    "an unknown substitution variable": (
        lambda t: replace(t / "debian/control", "${misc:Depends},", "${misc:Depends}, ${shlibs:Depends},"),
        "debian/control:"),
    "an unknown script token": (
        lambda t: replace(t / "debian/echo.preinst", "#DEBHELPER#", "echo #DEB_HOST_ARCH#\n#DEBHELPER#"),
        "debian/echo.preinst"),
}


@pytest.mark.parametrize("edit", list(DEB_REFUSED))
def test_deb_edit_the_native_writer_cannot_build_is_refused(tmp_path: Path, edit: str) -> None:
    change, where = DEB_REFUSED[edit]
    tree = emit_tree(tmp_path)
    change(tree.root)
    with pytest.raises(UnsupportedEditError) as info:
        native_build(tree, tmp_path / "native")
    message = str(info.value)
    assert "\n" not in message and where in message and "--builder dpkg" in message, message
    assert info.value.exit_code == 91
    assert not list((tmp_path / "native").iterdir())


@needs_dpkg
@pytest.mark.slow
@pytest.mark.parametrize("edit", ["debian/rules", "an extra debian file", "an unknown script token"])
def test_deb_refused_edit_builds_with_dpkg(tmp_path: Path, edit: str) -> None:
    change, _where = DEB_REFUSED[edit]
    tree = emit_tree(tmp_path)
    change(tree.root)
    contents = deb_contents(dpkg_build(tree))
    if edit == "an extra debian file":
        assert "./usr/bin/echo-tapd" in contents["files"]


def test_deb_build_leftovers_are_not_edits(tmp_path: Path) -> None:
    tree = emit_tree(tmp_path)
    first = native_build(tree, tmp_path / "one")
    for rel in ("debian/.debhelper/generated/echo/installed-by-dh_installdocs", "debian/echo/DEBIAN/control",
                "debian/files", "debian/debhelper-build-stamp", "debian/echo.substvars",
                "debian/echo.postinst.debhelper"):
        (tree.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree.root / rel).write_text("left by a dpkg build\n")
    assert native_build(tree, tmp_path / "two").read_bytes() == first.read_bytes()


def test_deb822_errors_name_the_line() -> None:
    with pytest.raises(UnsupportedEditError, match=r"^debian/control:3: a continuation line"):
        parse_deb822("Source: echo\n\n continued\n", "debian/control")
    with pytest.raises(UnsupportedEditError, match=r"^debian/control:2: Source is given twice"):
        parse_deb822("Source: echo\nSource: again\n", "debian/control")


# --- RPM --------------------------------------------------------------------------------------------

def rpm_spec() -> PackageSpec:
    return PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python",
                       maintainer="Jane 100% <jane@example.org>", version="1.2", revision="3", ports=(8007,),
                       includes=(ECHO / "echoproto.py",), homepage="https://example.org/echo",
                       depends=(Dependency.parse("python3-yaml (>= 5.0)"),), source_date_epoch=EPOCH)


def emit_sources(tmp_path: Path) -> tuple[RpmSources, Path]:
    sources = rpm_sources(rpm_spec())
    directory = tmp_path / "sources"
    directory.mkdir()
    write_sources(sources, directory)
    return sources, directory


def native_rpm(sources: RpmSources, directory: Path, out: Path) -> Path:
    package = read_spec_dir(directory, sources)
    out.mkdir()
    (out / package.filename).write_bytes(build_rpm(package))
    return out / package.filename


def rpmbuild_rpm(directory: Path, out: Path) -> Path:
    out.mkdir()
    for path in directory.iterdir():
        shutil.copy2(path, out / path.name)
    rpmbuild_in_private_topdir("-bb", out, "echo.spec", "echo-edit-test", EPOCH)
    [rpm] = out.glob("*.noarch.rpm")
    return rpm


def query(rpm: Path, *args: str) -> str:
    return subprocess.run(["rpm", "-qp", *args, str(rpm)], capture_output=True, text=True, check=True).stdout


def rpm_contents(rpm: Path) -> dict[str, str]:
    qf = ("%{NAME}|%{VERSION}|%{RELEASE}|%{SUMMARY}|%{LICENSE}|%{URL}|%{PACKAGER}\n%{DESCRIPTION}\n"
          "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILEDIGESTS} "
          "%{FILENAMES}\n][%{CHANGELOGTIME} %{CHANGELOGNAME} %{CHANGELOGTEXT}\n]")
    return {"meta": query(rpm, "--qf", qf), "requires": query(rpm, "--requires"),
            "scripts": query(rpm, "--scripts"), "name": rpm.name}


def systemd_macros() -> bool:
    return subprocess.run(["rpm", "--eval", "%{?systemd_post:1}"], capture_output=True, text=True,
                          check=True).stdout.strip() == "1"


RPM_EDITS: dict[str, tuple[Edit, Callable[[dict[str, str]], bool]]] = {
    "Summary": (lambda d: replace(d / "echo.spec", "Summary:        Server for echo",
                                  "Summary:        Echo, 100%% edited by hand"),
                lambda c: "|Echo, 100% edited by hand|" in c["meta"]),
    "Release": (lambda d: replace(d / "echo.spec", "Release:        3", "Release:        4"),
                lambda c: c["name"] == "echo-1.2-4.noarch.rpm"),
    "Requires": (lambda d: replace(d / "echo.spec", "Requires:       logrotate",
                                   "Requires:       logrotate, curl >= 7\n"
                                   "Requires:       (nginx or apache2)"),
                 lambda c: "curl >= 7" in c["requires"] and "(nginx or apache2)" in c["requires"]),
    "%description": (lambda d: replace(d / "echo.spec", "Server for echo, packaged",
                                       "Edited by hand: 50%% more echo.\n\nServer for echo, packaged"),
                     lambda c: "Edited by hand: 50% more echo.\n\nServer" in c["meta"]),
    "%post fallback and tail": (
        lambda d: replace(d / "echo.spec", "# $1: 1 on first install, 2 on upgrade.",
                          "# $1: 1 on first install, 2 on upgrade.\necho fallback-edit",
                          "# On first install, make", "echo 100%% tail-edit\n# On first install, make"),
        lambda c: "echo 100% tail-edit" in c["scripts"]),
    "%changelog": (lambda d: replace(d / "echo.spec", "%changelog\n",
                                     "%changelog\n* Wed Nov 15 2023 Jane Doe <jane@example.org> - 1.2-3\n"
                                     "- Rebuilt by hand.\n\n"),
                   lambda c: "Rebuilt by hand" in c["meta"]),
    "%files attr": (lambda d: replace(d / "echo.spec", "%attr(0750,echo,echo) %{_localstatedir}/log/echo",
                                      "%attr(0700,echo,echo) %{_localstatedir}/log/echo"),
                    lambda c: "drwx------ echo echo" in c["meta"]),
    "the unit": (lambda d: replace(d / "echo.service", "RestartSec=2", "RestartSec=7"),
                 lambda c: True),
    "the sysconfig file": (lambda d: (d / "echo.sysconfig").write_text("EXTRA=1\n"), lambda c: True),
}


@needs_rpmbuild
@pytest.mark.slow
@pytest.mark.parametrize("edit", list(RPM_EDITS))
def test_rpm_edit_lands_with_both_builders(tmp_path: Path, edit: str) -> None:
    change, landed = RPM_EDITS[edit]
    sources, directory = emit_sources(tmp_path)
    change(directory)
    native = rpm_contents(native_rpm(sources, directory, tmp_path / "native"))
    rpmbuild = rpm_contents(rpmbuild_rpm(directory, tmp_path / "rpmbuild"))
    if systemd_macros():  # rpmbuild then runs rpm's macros, the native writer their fallbacks
        del native["scripts"], rpmbuild["scripts"]
    assert landed(native) or edit == "%post fallback and tail"
    assert native == rpmbuild
    if edit == "%post fallback and tail" and "scripts" in native:
        assert "echo fallback-edit" in native["scripts"]
    for source in sources.sources:  # every source file, edited or not, is in the package as it is now
        assert hashlib.sha256((directory / source.name).read_bytes()).hexdigest() in native["meta"]


def test_rpm_unedited_spec_reads_back_as_rendered(tmp_path: Path) -> None:
    from tap2pkg.rpm.source import rpm_package

    sources, directory = emit_sources(tmp_path)
    assert build_rpm(read_spec_dir(directory, sources)) == build_rpm(rpm_package(sources))


RPM_REFUSED: dict[str, tuple[Edit, str]] = {
    "%install": (lambda d: replace(d / "echo.spec", "install -d -m 0750",
                                   "touch %{buildroot}%{_sysconfdir}/echo/extra.conf\ninstall -d -m 0750",
                                   "%dir %attr(0750,echo,echo) %{_localstatedir}/lib/echo",
                                   "%config(noreplace) %{_sysconfdir}/echo/extra.conf\n"
                                   "%dir %attr(0750,echo,echo) %{_localstatedir}/lib/echo"), "echo.spec:"),
    "%build": (lambda d: replace(d / "echo.spec", "%build\n", "%build\ntrue\n"), "echo.spec:"),
    "a macro it cannot expand": (lambda d: replace(d / "echo.spec", "Summary:        Server for echo",
                                                   "Summary:        %{name} server"), "echo.spec:"),
    "a new section": (lambda d: replace(d / "echo.spec", "%files\n", "%posttrans\ntrue\n\n%files\n"),
                      "echo.spec:"),
    "a new tag": (lambda d: replace(d / "echo.spec", "BuildArch:      noarch",
                                    "BuildArch:      noarch\nConflicts:      echo-server"), "echo.spec:"),
    "the macro branch": (lambda d: replace(d / "echo.spec", "%systemd_post %{name}.service",
                                           "%systemd_post %{name}.service other.service"), "echo.spec:"),
}


@pytest.mark.parametrize("edit", list(RPM_REFUSED))
def test_rpm_edit_the_native_writer_cannot_build_is_refused(tmp_path: Path, edit: str) -> None:
    change, where = RPM_REFUSED[edit]
    sources, directory = emit_sources(tmp_path)
    change(directory)
    with pytest.raises(UnsupportedEditError) as info:
        read_spec_dir(directory, sources)
    message = str(info.value)
    assert "\n" not in message and message.startswith(where) and "--builder rpmbuild" in message, message


@needs_rpmbuild
@pytest.mark.slow
@pytest.mark.parametrize("edit", ["%install", "a macro it cannot expand", "a new tag"])
def test_rpm_refused_edit_builds_with_rpmbuild(tmp_path: Path, edit: str) -> None:
    change, _where = RPM_REFUSED[edit]
    _sources, directory = emit_sources(tmp_path)
    change(directory)
    contents = rpm_contents(rpmbuild_rpm(directory, tmp_path / "rpmbuild"))
    if edit == "%install":
        assert "/etc/echo/extra.conf" in contents["meta"]
    if edit == "a macro it cannot expand":
        assert "|echo server|" in contents["meta"]
