"""The native .rpm writer, checked with the real rpm tools: digests, queries, install."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tap2pkg.errors import InvalidPackageNameError, InvalidVersionError
from tap2pkg.rpm import header as h
from tap2pkg.rpm.cpio import read_cpio
from tap2pkg.rpm.model import FILE_CONFIG, FILE_NOREPLACE, Dependency, RpmFile, RpmPackage
from tap2pkg.rpm.native import build_rpm, write_rpm
from tap2pkg.runtime.errors import ConfigError

needs_rpm = pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed")
EPOCH = 1700000000


def demo_package(**changes: object) -> RpmPackage:
    pkg = RpmPackage(
        name="demo", version="1.2", release="3", summary="Demo service",
        description="A demo service\nover two lines.\n", license="MIT", url="https://example.org",
        packager="Jane Doe <jane@example.org>",
        requires=[Dependency.parse("python3 >= 3.11"), Dependency.parse("logrotate")],
        scriptlets={"pre": "getent passwd demo >/dev/null || useradd -r demo\n",
                    "post": 'echo "post $1"', "preun": 'echo "preun $1"', "postun": 'echo "postun $1"'},
        files=[
            RpmFile.directory("/etc/demo"),
            RpmFile.regular("/etc/demo/app.tac", b"application = None\n", flags=FILE_CONFIG | FILE_NOREPLACE),
            RpmFile.directory("/usr/lib/demo"),
            RpmFile.regular("/usr/lib/demo/tapd", b"#!/usr/bin/python3\nprint('hi')\n", 0o755),
            RpmFile("/usr/lib/demo/run", stat.S_IFLNK | 0o777, target="tapd"),
            RpmFile.directory("/var/lib/demo", 0o750, user="demo", group="demo"),
        ],
        changelog=[(EPOCH, "Jane Doe <jane@example.org> - 1.2-3", "- First package.")],
        buildtime=EPOCH,
    )
    for key, value in changes.items():
        setattr(pkg, key, value)
    return pkg


def rpm(*args: str | Path) -> str:
    proc = subprocess.run(["rpm", *map(str, args)], capture_output=True, text=True, check=True)
    return proc.stdout


@pytest.fixture
def demo_rpm(tmp_path: Path) -> Path:
    return write_rpm(demo_package(), tmp_path)


def test_file_name_and_reproducible_bytes(tmp_path: Path) -> None:
    path = write_rpm(demo_package(), tmp_path)
    assert path.name == "demo-1.2-3.noarch.rpm"
    assert path.read_bytes() == build_rpm(demo_package())
    assert build_rpm(demo_package(), compressor="xz") == build_rpm(demo_package(), compressor="xz")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_header_and_payload_read_back() -> None:
    data = build_rpm(demo_package())
    assert data[:4] == b"\xed\xab\xee\xdb"
    sig, end = h.parse_header(data, 96)
    end += -end % 8
    tags, payload_start = h.parse_header(data, end)
    assert tags[h.NAME] == "demo" and tags[h.VERSION] == "1.2" and tags[h.RELEASE] == "3"
    assert sig[h.SIG_SIZE] == [len(data) - end]
    import gzip

    members = read_cpio(gzip.decompress(data[payload_start:]))
    assert [m.path for m in members] == ["etc/demo", "etc/demo/app.tac", "usr/lib/demo", "usr/lib/demo/run",
                                         "usr/lib/demo/tapd", "var/lib/demo"]
    assert members[1].data == b"application = None\n"


@needs_rpm
@pytest.mark.parametrize("compressor", ["gzip", "xz"])
def test_rpm_checks_every_digest(tmp_path: Path, compressor: str) -> None:
    path = write_rpm(demo_package(), tmp_path, compressor=compressor)
    out = rpm("-Kv", path)
    for line in ("Header SHA256 digest: OK", "Header SHA1 digest: OK", "Payload SHA256 digest: OK",
                 "MD5 digest: OK"):
        assert line in out
    assert rpm("-qp", "--qf", "%{PAYLOADCOMPRESSOR}", path) == compressor


@needs_rpm
def test_rpm_reads_the_metadata(demo_rpm: Path) -> None:
    info = rpm("-qip", demo_rpm)
    for line in ("Name        : demo", "Version     : 1.2", "Release     : 3", "Architecture: noarch",
                 "License     : MIT", "URL         : https://example.org", "Summary     : Demo service",
                 "Source RPM  : demo-1.2-3.src.rpm", "over two lines."):
        assert line in info
    assert rpm("-qp", "--changelog", demo_rpm).splitlines()[1] == "- First package."


@needs_rpm
def test_rpm_lists_files_with_modes_owners_and_config(demo_rpm: Path) -> None:
    listing = [line.split() for line in rpm("-qlvp", demo_rpm).splitlines()]
    rows = {(cols[-3] if cols[-2] == "->" else cols[-1]): (cols[0], cols[2], cols[3], cols[4])
            for cols in listing}
    assert listing[3][-3:] == ["/usr/lib/demo/run", "->", "tapd"]
    assert rows == {
        "/etc/demo": ("drwxr-xr-x", "root", "root", "0"),
        "/etc/demo/app.tac": ("-rw-r--r--", "root", "root", "19"),
        "/usr/lib/demo": ("drwxr-xr-x", "root", "root", "0"),
        "/usr/lib/demo/tapd": ("-rwxr-xr-x", "root", "root", "31"),
        "/usr/lib/demo/run": ("lrwxrwxrwx", "root", "root", "4"),
        "/var/lib/demo": ("drwxr-x---", "demo", "demo", "0"),
    }
    assert rpm("-qpc", demo_rpm).split() == ["/etc/demo/app.tac"]
    flags = rpm("-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", demo_rpm)
    assert "cn /etc/demo/app.tac" in flags


@needs_rpm
def test_rpm_shows_requires_provides_and_scripts(demo_rpm: Path) -> None:
    requires = rpm("-qp", "--requires", demo_rpm).splitlines()
    assert "python3 >= 3.11" in requires and "logrotate" in requires
    assert "config(demo) = 1.2-3" in requires
    assert "rpmlib(CompressedFileNames) <= 3.0.4-1" in requires
    assert requires.count("/bin/sh") == 4
    assert rpm("-qp", "--provides", demo_rpm).splitlines() == ["config(demo) = 1.2-3", "demo = 1.2-3"]
    scripts = rpm("-qp", "--scripts", demo_rpm)
    pre = "preinstall scriptlet (using /bin/sh):\ngetent passwd demo >/dev/null || useradd -r demo\n"
    assert pre in scripts
    assert 'postuninstall scriptlet (using /bin/sh):\necho "postun $1"' in scripts


@needs_rpm
@pytest.mark.skipif(os.geteuid() != 0, reason="rpm -i --root needs root")
def test_installs_into_a_scratch_root(demo_rpm: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    # --nodeps: the scratch root's rpm database is empty, so python3 and /bin/sh are "missing";
    # --noscripts: it has no shell to run the scriptlets in (they are tested on their own).
    subprocess.run(["rpm", "-i", "--root", root, "--dbpath", "/var/lib/rpm", "--nodeps", "--noscripts",
                    demo_rpm], check=True, capture_output=True)
    assert (root / "etc/demo/app.tac").read_bytes() == b"application = None\n"
    assert (root / "usr/lib/demo/tapd").stat().st_mode & 0o777 == 0o755
    assert os.readlink(root / "usr/lib/demo/run") == "tapd"
    assert (root / "var/lib/demo").stat().st_mode & 0o777 == 0o750
    out = subprocess.run(["rpm", "--root", root, "--dbpath", "/var/lib/rpm", "-V", "--nodeps", "demo"],
                         capture_output=True, text=True)
    # the user "demo" does not exist in the scratch root, so only ownership may differ
    assert all(line.split()[0].strip(".") in ("U", "G", "UG") for line in out.stdout.splitlines()), out.stdout


def test_bad_names_and_versions_are_refused() -> None:
    with pytest.raises(InvalidPackageNameError, match="--rpmfile"):
        build_rpm(demo_package(name="bad name"))
    with pytest.raises(InvalidVersionError, match=r"no '-'.*--set-version"):
        build_rpm(demo_package(version="1.0-2"))
    with pytest.raises(InvalidVersionError, match="--release"):
        build_rpm(demo_package(release="1-1"))
    with pytest.raises(ConfigError, match="compressor"):
        build_rpm(demo_package(), compressor="lzip")
    with pytest.raises(ConfigError, match="--depends"):
        Dependency.parse("python3 >=")


def test_write_into_a_missing_directory_leaves_nothing(tmp_path: Path) -> None:
    from tap2pkg.runtime.errors import OutputError

    with pytest.raises(OutputError, match="output-dir"):
        write_rpm(demo_package(), tmp_path / "missing")
    assert list(tmp_path.iterdir()) == []
