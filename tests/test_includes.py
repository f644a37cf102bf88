"""``--include``: what an included directory may hold, and one line for everything else.

An included tree is packaged as it is read: regular files, directories, and links that stay inside it.
A link out of it, a FIFO, a socket or a device, a dangling link, a file name with a control character and
the build's own output directory are refused before anything is written.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from test_cli_robustness import one_error as refused

ECHO = Path(__file__).parent / "data" / "echo"
BIN = Path(sys.executable).parent
MAINTAINER = "Jane Doe <jane@example.org>"
COMMANDS = {"tap2deb": ["tap2deb"], "tap2rpm": ["tap2rpm"], "tap2pkg build": ["tap2pkg", "build"]}


def command(name: str, *args: str | Path, cwd: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = COMMANDS[name]
    env = {k: v for k, v in os.environ.items() if k not in ("DEBEMAIL", "DEBFULLNAME")}
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    return subprocess.run([str(BIN / argv[0]), *argv[1:], *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout, check=False)


def package(tmp_path: Path) -> Path:
    """An included package directory ``pkg/`` with one module."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "proto.py").write_text("ANSWER = 42\n")
    return pkg


def build(name: str, tmp_path: Path, include: Path | str, *extra: str | Path,
          cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "out"
    proc = command(name, ECHO / "echo.tac", "-m", MAINTAINER, "--include", include, "-o", out, *extra,
                   cwd=cwd)
    return proc, out


def deb_data(deb: Path) -> dict[str, bytes]:
    raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name.removeprefix("."): tar.extractfile(m).read()  # type: ignore[union-attr]  # m.isfile(): never None
                for m in tar.getmembers() if m.isfile()}


@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm", "tap2pkg build"])
def test_a_link_out_of_the_included_tree_is_refused(tmp_path: Path, name: str) -> None:
    pkg = package(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text("root:$6$hash:19000::::::\n")
    (pkg / "x").symlink_to(secret)
    proc, out = build(name, tmp_path, pkg)
    refused(proc, 83, "pkg/x", "out of")
    assert not out.exists()


def test_a_link_to_etc_shadow_is_refused(tmp_path: Path) -> None:
    pkg = package(tmp_path)
    (pkg / "x").symlink_to("/etc/shadow")
    (pkg / "sub").mkdir()
    (pkg / "sub" / "up").symlink_to("../..")  # a directory link out of the tree, too
    proc, out = build("tap2deb", tmp_path, pkg)
    refused(proc, 83)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm"])
def test_anything_but_files_directories_and_inner_links_is_refused(tmp_path: Path, kind: str,
                                                                   name: str) -> None:
    pkg = package(tmp_path)
    special = pkg / "sub" / "special"
    special.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(special)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(special))
        sock.close()
    else:
        try:
            os.mknod(special, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("creating a device needs root")
    proc, out = build(name, tmp_path, pkg, "--binary-only")  # a FIFO used to hang the build here
    refused(proc, 83, "pkg/sub/special", {"fifo": "FIFO", "socket": "socket", "device": "device"}[kind])
    assert not out.exists()


def test_a_link_to_a_fifo_inside_the_tree_is_refused(tmp_path: Path) -> None:
    pkg = package(tmp_path)
    os.mkfifo(pkg / "pipe")
    (pkg / "alias").symlink_to("pipe")
    proc, out = build("tap2deb", tmp_path, pkg)
    refused(proc, 83, "FIFO")
    assert not out.exists()


@pytest.mark.parametrize("where", ["inside", "top"])
def test_a_dangling_link_gives_one_line(tmp_path: Path, where: str) -> None:
    pkg = package(tmp_path)
    link = pkg / "gone.py" if where == "inside" else tmp_path / "gone.py"
    link.symlink_to(tmp_path / "nowhere.py")
    proc, out = build("tap2deb", tmp_path, pkg if where == "inside" else link)
    refused(proc, 83, "gone.py")
    assert not out.exists()


def test_a_link_loop_gives_one_line(tmp_path: Path) -> None:
    pkg = package(tmp_path)
    (pkg / "a").symlink_to("b")
    (pkg / "b").symlink_to("a")
    (pkg / "sub").mkdir()
    proc, out = build("tap2deb", tmp_path, pkg)
    refused(proc, 83, "pkg/a")
    assert not out.exists()
    (pkg / "a").unlink()
    (pkg / "b").unlink()
    (pkg / "sub" / "again").symlink_to("..")  # a directory inside itself
    proc, out = build("tap2deb", tmp_path, pkg)
    refused(proc, 83, "pkg/sub/again")


def test_links_inside_the_tree_are_packaged_as_the_files_they_name(tmp_path: Path) -> None:
    pkg = package(tmp_path)
    (pkg / "alias.py").symlink_to("proto.py")
    (pkg / "data").mkdir()
    (pkg / "data" / "table.txt").write_text("1 2 3\n")
    (pkg / "tables").symlink_to("data")
    proc, out = build("tap2deb", tmp_path, pkg, "--binary-only")
    assert proc.returncode == 0, proc.stderr
    files = deb_data(out / "echo_1.0-1_all.deb")
    lib = "/usr/lib/echo/pkg"
    assert files[f"{lib}/alias.py"] == files[f"{lib}/proto.py"] == b"ANSWER = 42\n"
    assert files[f"{lib}/tables/table.txt"] == files[f"{lib}/data/table.txt"] == b"1 2 3\n"


@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm"])
@pytest.mark.parametrize("bad", ["evil\x1b[2J.py", "line\nbreak.py", "tab\there.py", "nel\x85.py",
                                 "sep\u2028.py"])
def test_a_file_name_inside_an_include_obeys_the_text_policy(tmp_path: Path, name: str, bad: str) -> None:
    pkg = package(tmp_path)
    (pkg / "sub").mkdir()
    (pkg / "sub" / bad).write_text("")
    proc, out = build(name, tmp_path, pkg)
    refused(proc, 86, "--include", "control character")
    assert not out.exists()


def test_a_file_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    pkg = package(tmp_path)
    with open(os.path.join(os.fsencode(pkg), b"latin\xe9.py"), "w"):
        pass
    proc, out = build("tap2deb", tmp_path, pkg)
    refused(proc, 86, "--include", "UTF-8")
    assert not out.exists()


@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm", "tap2pkg build"])
@pytest.mark.parametrize("output", [".", "dist"])
def test_include_dot_never_packages_the_output_directory(tmp_path: Path, name: str, output: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ECHO / "echoproto.py", project)
    shutil.copy(ECHO / "echo.tac", project)
    before = sorted(p.name for p in project.iterdir())
    proc = command(name, "echo.tac", "-m", MAINTAINER, "--include", ".", "-o", output, cwd=project)
    refused(proc, 64, "--include", "output directory")
    assert sorted(p.name for p in project.iterdir()) == before


def test_include_dot_with_the_output_elsewhere_builds(tmp_path: Path) -> None:
    project = tmp_path / "echo"
    project.mkdir()
    shutil.copy(ECHO / "echoproto.py", project)
    shutil.copy(ECHO / "echo.tac", project)
    out = tmp_path / "out"
    proc = command("tap2deb", "echo.tac", "-m", MAINTAINER, "--include", ".", "-o", out,
                   "--binary-only", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "/usr/lib/echo/echo/echoproto.py" in deb_data(out / "echo_1.0-1_all.deb")


def test_a_config_file_include_stays_inside_its_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ECHO / "echo.tac", project)
    secret = tmp_path / "secret.py"
    secret.write_text("TOKEN = 'x'\n")
    for include in ("../secret.py", str(secret), "link.py"):
        (project / "link.py").unlink(missing_ok=True)
        (project / "link.py").symlink_to(secret)
        (project / "pyproject.toml").write_text(f'[tool.tap2pkg]\ninclude = ["{include}"]\n')
        proc = command("tap2deb", project / "echo.tac", "-m", MAINTAINER, "-o", tmp_path / "out")
        refused(proc, 78, "pyproject.toml", include)
        assert not (tmp_path / "out").exists()
