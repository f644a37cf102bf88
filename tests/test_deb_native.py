"""The native .deb writer: what dpkg and python-debian read back from it."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from debian.debfile import DebFile

from tap2pkg.deb import native
from tap2pkg.deb.source import DebPayload, write_source_tree
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"


def make_spec(**kw: object) -> PackageSpec:
    base: dict[str, Any] = dict(
        name="echo", app_file=ECHO / "echo.tac", app_kind="python", maintainer="Jane Doe <jane@example.org>",
        ports=(8007,), includes=(ECHO / "echoproto.py",), depends=("python3-yaml",),
        source_date_epoch=1700000000)
    base.update(kw)
    return PackageSpec(**base)


def build_native_deb(spec: PackageSpec, out: Path, *, compression: str = "xz") -> Path:
    """The .deb of ``spec``, written as a build writes it: the tree first, then the package."""
    tree = write_source_tree(DebPayload.for_spec(spec), out)
    return native.build_native_deb(tree, out, compression=compression)


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_native_deb(make_spec(), tmp_path_factory.mktemp("native"))


def ar_members(deb: Path) -> dict[str, bytes]:
    """The members of an ``ar`` archive, read independently of the writer."""
    raw = deb.read_bytes()
    assert raw.startswith(b"!<arch>\n")
    out, pos = {}, 8
    while pos < len(raw):
        header = raw[pos:pos + 60]
        name, size = header[:16].decode().strip(), int(header[48:58])
        out[name] = raw[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
    return out


def members(deb: Path) -> dict[str, tarfile.TarInfo]:
    [(_name, blob)] = [(n, b) for n, b in ar_members(deb).items() if n.startswith("data.tar")]
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_ar_layout(deb: Path) -> None:
    parts = ar_members(deb)
    assert list(parts) == ["debian-binary", "control.tar.xz", "data.tar.xz"]
    assert parts["debian-binary"] == b"2.0\n"


def test_file_name_and_control_fields(deb: Path) -> None:
    assert deb.name == "echo_1.0-1_all.deb"
    control = DebFile(str(deb)).debcontrol()
    assert control["Package"] == "echo"
    assert control["Version"] == "1.0-1"
    assert control["Architecture"] == "all"
    assert control["Maintainer"] == "Jane Doe <jane@example.org>"
    assert "python3 (>= 3.11)" in control["Depends"]
    assert "python3-yaml" in control["Depends"]
    assert int(control["Installed-Size"]) > 0


def test_installed_layout(deb: Path) -> None:
    names = members(deb)
    for path in ("./etc/echo/echo.tac", "./etc/default/echo", "./etc/init.d/echo", "./etc/logrotate.d/echo",
                 "./lib/systemd/system/echo.service", "./usr/lib/sysusers.d/echo.conf",
                 "./usr/lib/tmpfiles.d/echo.conf", "./usr/lib/echo/tapd", "./usr/lib/echo/echoproto.py",
                 "./usr/lib/echo/tap2pkg/__init__.py", "./usr/lib/echo/tap2pkg/runtime/service.py",
                 "./usr/share/doc/echo/copyright", "./usr/share/doc/echo/changelog.Debian.gz"):
        assert path in names, path
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_modes_and_ownership(deb: Path) -> None:
    for name, info in members(deb).items():
        assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "root", "root"), name
        assert info.mtime == 1700000000, name
        if info.isdir():
            assert info.mode == 0o755, name
        elif name in ("./usr/lib/echo/tapd", "./etc/init.d/echo"):
            assert info.mode == 0o755, name
        else:
            assert info.mode == 0o644, name


def test_conffiles_and_md5sums(deb: Path) -> None:
    debfile = DebFile(str(deb))
    content = debfile.control.get_content("conffiles")
    assert content is not None
    conffiles = content.decode().split()
    assert conffiles == ["/etc/default/echo", "/etc/echo/echo.tac", "/etc/init.d/echo",
                         "/etc/logrotate.d/echo"]
    md5sums = debfile.md5sums()
    assert b"etc/echo/echo.tac" not in md5sums  # debhelper leaves conffiles out
    data = debfile.data
    for path, digest in md5sums.items():
        content = data.get_content("./" + path.decode())
        assert content is not None, path
        assert hashlib.md5(content).hexdigest() == digest


def test_maintainer_scripts_are_executable(deb: Path) -> None:
    control = DebFile(str(deb)).control.tgz()
    for name in ("preinst", "postinst", "prerm", "postrm"):
        assert control.getmember(f"./{name}").mode == 0o755


def test_reproducible(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = build_native_deb(make_spec(), tmp_path / "a")
    b = build_native_deb(make_spec(), tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()


def test_gzip_on_request(tmp_path: Path) -> None:
    deb = build_native_deb(make_spec(), tmp_path, compression="gzip")
    assert list(ar_members(deb)) == ["debian-binary", "control.tar.gz", "data.tar.gz"]
    assert "./etc/echo/echo.tac" in members(deb)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
def test_dpkg_deb_reads_it(deb: Path) -> None:
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Package: echo" in info
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    assert "./usr/lib/echo/tapd" in listing


def test_included_package_directory_without_caches(tmp_path: Path) -> None:
    pkg = tmp_path / "echolib"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "proto.py").write_text("X = 1\n")
    (pkg / "__pycache__" / "proto.cpython-311.pyc").write_bytes(b"\0")
    tool = pkg / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    names = members(build_native_deb(make_spec(includes=(pkg,)), out))
    assert "./usr/lib/echo/echolib/proto.py" in names
    assert names["./usr/lib/echo/echolib/tool.sh"].mode == 0o755
    assert not [n for n in names if "__pycache__" in n]
