"""The build commands under pressure: concurrent runs, things in the way, a full disk, bad environment
and config files, usage errors and signals. Each ends in one line, its exit code and nothing half-written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ECHO = Path(__file__).parent / "data" / "echo"
BIN = Path(sys.executable).parent
MAINTAINER = "Jane Doe <jane@example.org>"
EPOCH = "1700000000"
#: command -> argv before the options (tap2pkg build builds both formats unless told otherwise)
COMMANDS = {"tap2deb": ["tap2deb"], "tap2rpm": ["tap2rpm"], "tap2pkg build": ["tap2pkg", "build"]}
needs_rpmbuild = pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is not installed")


def command(name: str, *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run an installed command (``tap2deb``...) as a user would; ``env`` adds to a clean environment."""
    argv = COMMANDS.get(name, [name])
    full_env = {k: v for k, v in os.environ.items() if k not in ("DEBEMAIL", "DEBFULLNAME")}
    full_env["SOURCE_DATE_EPOCH"] = EPOCH
    full_env.update(env or {})
    return subprocess.run([str(BIN / argv[0]), *argv[1:], *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout, check=False)


def build_args(out: Path, *extra: str | Path) -> list[str | Path]:
    return [ECHO / "echo.tac", "--include", ECHO / "echoproto.py", "-m", MAINTAINER, "-o", out, *extra]


def one_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The single stderr line of a failed run, after checking its exit code and the absence of a traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(directory: Path) -> dict[str, str]:
    """Every entry below ``directory``: relative path -> kind and content digest (or link target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            rel = str(path.relative_to(directory))
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = f"link {os.readlink(path)}"
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            else:
                out[rel] = f"{stat.S_IMODE(st.st_mode):o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return out


# -- concurrent runs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm"])
def test_concurrent_runs_into_one_directory_all_succeed_with_the_same_bytes(tmp_path: Path,
                                                                             name: str) -> None:
    if name == "tap2rpm" and shutil.which("rpmbuild") is None:
        pytest.skip("rpmbuild is not installed")
    reference = tmp_path / "reference"
    assert command(name, *build_args(reference)).returncode == 0
    shared = tmp_path / "shared"
    results: list[subprocess.CompletedProcess[str]] = []

    def one() -> None:
        results.append(command(name, *build_args(shared)))

    for _round in range(3):  # a race shows up in some rounds only
        threads = [threading.Thread(target=one) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for proc in results:
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(results) == 24
    assert snapshot(shared) == snapshot(reference)  # nothing extra, nothing missing, the same bytes


# -- things in the way, a full disk ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["file", "symlink"])
@pytest.mark.parametrize("name", ["tap2deb", "tap2pkg build"])
def test_something_at_the_source_tree_path_is_refused_and_left_alone(tmp_path: Path, kind: str,
                                                                     name: str) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    if kind == "file":
        (out / "echo-1.0").write_text("mine")
    else:
        (out / "echo-1.0").symlink_to(victim)
    before, victim_before = snapshot(out), snapshot(victim)
    extra = ["--format", "deb"] if name == "tap2pkg build" else []
    proc = command(name, *build_args(out, *extra))
    one_error(proc, 73, "echo-1.0")
    assert snapshot(out) == before and snapshot(victim) == victim_before


@needs_rpmbuild
def test_a_link_at_an_artifact_name_is_refused_and_not_followed(tmp_path: Path) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim.rpm"
    out.mkdir()
    victim.write_text("keep me")
    (out / "echo-1.0-1.noarch.rpm").symlink_to(victim)
    before = snapshot(out)
    one_error(command("tap2rpm", *build_args(out)), 73, "echo-1.0-1.noarch.rpm")
    assert snapshot(out) == before and victim.read_text() == "keep me"


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: too small for any package."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm", "tap2pkg build"])
def test_a_full_disk_gives_one_line_and_leaves_nothing(tiny_tmpfs: Path, name: str) -> None:
    (tiny_tmpfs / "keep.txt").write_text("not ours")
    before = snapshot(tiny_tmpfs)
    proc = command(name, *build_args(tiny_tmpfs))
    one_error(proc, 73, str(tiny_tmpfs), "No space left on device")
    assert snapshot(tiny_tmpfs) == before


@pytest.mark.parametrize("size", ["400k", "700k", "1m"])
@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm --builder rpmbuild"])
def test_a_disk_that_fills_while_a_build_tool_runs_is_a_full_disk_too(tmp_path: Path, size: str,
                                                                      name: str) -> None:
    """Big enough for the tree, too small for what dpkg-source or rpmbuild write next: exit 73, as for
    tap2pkg's own writes, not 84 (the tool did nothing wrong)."""
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    tool, *extra = name.split()
    try:
        env = {"TMPDIR": str(mount)} if "rpmbuild" in name else None
        built = command(tool, *build_args(mount, *extra), env=env)
        if built.returncode != 0:
            line = one_error(built, 73)
            assert "no space left" in line.lower(), line
        assert not [p for p in mount.iterdir() if p.name.startswith(".tap2pkg-")]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@needs_rpmbuild
def test_build_failing_on_the_second_format_leaves_the_output_directory_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = command("tap2pkg build", *build_args(out, "-e", "The first build"))
    assert first.returncode == 0, first.stderr
    (out / "keep.txt").write_text("not ours")
    before = snapshot(out)
    failing = tmp_path / "bin"
    failing.mkdir()
    (failing / "rpmbuild").write_text("#!/bin/sh\necho 'error: the disk is on fire' >&2\nexit 1\n")
    (failing / "rpmbuild").chmod(0o755)
    proc = command("tap2pkg build", *build_args(out, "-e", "A second build"),
                   env={"PATH": f"{failing}:{os.environ['PATH']}"})
    one_error(proc, 84, "rpmbuild")
    assert snapshot(out) == before  # the .deb and the tree of the second build never replaced the first's


def test_a_new_output_directory_is_removed_again_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    proc = command("tap2deb", *build_args(out, "--builder", "dpkg"), env={"PATH": "/nonexistent"})
    one_error(proc, 85, "dpkg-buildpackage")
    assert not (tmp_path / "new").exists()


# -- SOURCE_DATE_EPOCH ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1" + "0" * 20, "-5", "5e9", "5000000000", "4294967296", " 17", "1_000",
                                   "0x10", "١٢٣"])
@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm", "tap2pkg build"])
def test_a_bad_source_date_epoch_is_refused(tmp_path: Path, name: str, value: str) -> None:
    out = tmp_path / "out"
    proc = command(name, *build_args(out), env={"SOURCE_DATE_EPOCH": value})
    one_error(proc, 86, "SOURCE_DATE_EPOCH")
    assert not out.exists()


@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm"])
def test_the_largest_source_date_epoch_builds(tmp_path: Path, name: str) -> None:
    from tap2pkg.payload import MAX_SOURCE_DATE_EPOCH

    proc = command(name, *build_args(tmp_path, "--binary-only"),
                   env={"SOURCE_DATE_EPOCH": str(MAX_SOURCE_DATE_EPOCH)})
    assert proc.returncode == 0, proc.stderr


def test_build_time_is_the_parsed_value_then_the_app_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from tap2pkg.payload import build_time
    from tap2pkg.spec import PackageSpec

    spec = PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python", maintainer=MAINTAINER,
                       source_date_epoch=1234)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "99")
    assert build_time(spec) == 1234
    # the environment is read in one place, by the command line front ends: without it, the app file's time
    assert build_time(spec.replace(source_date_epoch=None)) == int((ECHO / "echo.tac").stat().st_mtime)


# -- config files -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "needle"), [
    (b"tool = 5\n", "[tool]"),
    (b"[tool]\ntap2pkg = [1]\n", "[tool.tap2pkg]"),
    (b'[tool.tap2pkg]\ndescription = "caf\xe9"\n', "UTF-8"),
    (b"\xff\xfe[tool.tap2pkg]\n", "UTF-8"),
])
@pytest.mark.parametrize("where", ["--config", "pyproject.toml"])
def test_a_bad_config_file_gives_one_line(tmp_path: Path, content: bytes, needle: str, where: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ECHO / "echo.tac", project / "echo.tac")
    config = project / ("pyproject.toml" if where == "pyproject.toml" else "settings.toml")
    config.write_bytes(content)
    extra = ["--config", str(config)] if where == "--config" else []
    proc = command("tap2deb", project / "echo.tac", "-m", MAINTAINER, "-o", tmp_path / "out", *extra)
    one_error(proc, 78, str(config), needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory", "huge"])
def test_config_must_be_a_regular_file_of_bounded_size(tmp_path: Path, special: str) -> None:
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "settings.toml"
        os.mkfifo(path)
    elif special == "directory":
        path = tmp_path / "settings.toml"
        path.mkdir()
    elif special == "huge":
        path = tmp_path / "settings.toml"
        with path.open("w") as fh:
            fh.write("[tool.tap2pkg]\n")
            fh.write("# padding\n" * 200_000)
    proc = command("tap2deb", ECHO / "echo.tac", "-m", MAINTAINER, "-o", tmp_path / "out", "--config", path,
                   timeout=30)
    one_error(proc, 78, str(path))
    assert not (tmp_path / "out").exists()


# -- usage errors and --version -----------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["tap2deb", "--bogus"], ["tap2rpm", "--bogus"], ["tap2deb", "--port"], ["tap2pkg", "--bogus"],
    ["tap2pkg", "nope"], ["tap2pkg"], ["tap2pkg", "build", "--bogus"], ["tap2pkg", "mktap", "--bogus"],
    ["tap2pkg", "verify"], ["tap2pkg", "images"], ["tap2pkg", "images", "build", "--bogus"],
    ["tapd", "--bogus"],
])
def test_usage_errors_exit_64_with_one_line(argv: list[str]) -> None:
    proc = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, check=False)
    line = one_error(proc, 64)
    assert line.startswith(f"{argv[0]}") and "error: " in line and "--help" in line


@pytest.mark.parametrize("name", ["tap2deb", "tap2rpm", "tap2pkg", "tapd"])
def test_every_command_answers_version(name: str) -> None:
    from tap2pkg import __version__

    proc = subprocess.run([str(BIN / name), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(name) and __version__ in proc.stdout


# -- signals ----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(shutil.which("dpkg-buildpackage") is None, reason="dpkg-buildpackage is not installed")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_a_build_cleans_up_like_ctrl_c(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    before = snapshot(out)
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    argv = [str(BIN / "tap2deb"), *map(str, build_args(out, "--builder", "dpkg"))]
    with running(argv, env) as proc:
        deadline = time.monotonic() + 60
        # wait until the tool runs: its build directory appears inside the staged tree
        while not list(out.glob(".*/echo-1.0/debian/.debhelper")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        assert list(out.glob(".*/echo-1.0/debian/.debhelper")), "dpkg-buildpackage never started"
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"tap2deb: interrupted ({signal.Signals(signum).name})", err
    time.sleep(0.5)  # a tool left running would still be writing
    assert snapshot(out) == before
    assert not subprocess.run(["pgrep", "-f", str(out)], capture_output=True, check=False).stdout
