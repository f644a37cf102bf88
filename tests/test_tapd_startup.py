"""``tapd`` start-up: what it loads, the direct option parser, and ``--no-tls``.

tapd starts as a package runs it (the runtime next to a stub ``tap2pkg``,
``python -I -S``, no site-packages), so only the runtime's own imports count.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_daemon import ECHO_TAC, TAPD, echo, free_port, port_open, stop, wait_until

from tap2pkg.runtime import persist
from tap2pkg.runtime.errors import UsageError
from tap2pkg.runtime.options import _parse_direct, _parse_with_argparse, parse_options

DATA = Path(__file__).parent / "data" / "startup"

#: modules that only an option needs, or that the runtime avoids: a plain start must not load them
OPTIONAL_MODULES = ("argparse", "json", "syslog", "cProfile", "pathlib", "shutil", "pkgutil",
                    "ipaddress", "random", "dataclasses", "encodings.idna", "grp", "pwd")


@pytest.fixture
def packaged(tmp_path: Path) -> list[str]:
    """The command running tapd as installed by a package, standard library only."""
    lib = tmp_path / "lib"
    shutil.copytree(Path(persist.__file__).parent, lib / "tap2pkg" / "runtime",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (lib / "tap2pkg" / "__init__.py").write_text('__version__ = "9.9"\n')
    (lib / "tapd").write_text(f"import sys\nsys.path.insert(0, {str(lib)!r})\n"
                              "from tap2pkg.runtime.daemon import main\nsys.exit(main())\n")
    return [sys.executable, "-I", "-S", str(lib / "tapd")]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TAPD_NO_TLS", "NOTIFY_SOCKET")}
    env.update(extra)
    return env


def _serve_and_inspect(command: list[str], args: list[str], cwd: Path,
                       env: dict[str, str]) -> tuple[str, str]:
    """Start tapd on the echo app, check it answers, and return its memory map and log."""
    port = free_port()
    process = subprocess.Popen([*command, "-n", "--pidfile=", *args, "-y", str(ECHO_TAC)], cwd=cwd,
                               env={**env, "ECHO_PORT": str(port)}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
        assert echo(port) == b"hello tapd\n"
        maps = Path(f"/proc/{process.pid}/maps").read_text()
    finally:
        code, out, err = stop(process)
    assert code == -signal.SIGTERM, err
    return maps, out


# --------------------------------------------------------------------------- what a start loads

def test_loading_tapd_loads_neither_asyncio_nor_optional_modules(packaged: list[str]) -> None:
    # asyncio must come after the options are read, or --no-tls could not keep ssl out
    lib = Path(packaged[-1]).parent
    probe = (f"import sys; sys.path.insert(0, {str(lib)!r})\n"
             "from tap2pkg.runtime.daemon import parse_options\n"
             "parse_options(['-n', '--pidfile=', '-l', '-', '-y', 'app.tac'], 'x')\n"
             f"print(sorted(m for m in ('asyncio', 'ssl', *{OPTIONAL_MODULES!r}) if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"


def test_serving_loads_no_optional_module(packaged: list[str], tmp_path: Path) -> None:
    # the echo app imports asyncio itself; what the runtime adds on top must stay lean
    probe = DATA.parent / "daemon" / "echo.tac"
    port = free_port()
    traced = [*packaged[:-1], "-X", "importtime", packaged[-1]]
    process = subprocess.Popen([*traced, "-n", "--pidfile=", "-y", str(probe)], cwd=tmp_path,
                               env=_env(ECHO_PORT=str(port)), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: port_open(port) or process.poll() is not None, what="the echo port")
    code, _, err = stop(process)
    assert code == -signal.SIGTERM, err
    imported = {line.rsplit("|", 1)[1].strip() for line in err.splitlines()
                if line.startswith("import time:")}
    assert "asyncio" in imported
    assert sorted(imported & set(OPTIONAL_MODULES)) == []


# --------------------------------------------------------------------------- the direct option parser

@pytest.mark.parametrize("argv", [
    [],
    ["-n", "--pidfile=", "-y", "bench/app.tac"],
    ["-n", "--pidfile", "", "-l", "-", "--python", "app.tac", "--no-tls"],
    ["--pidfile=/run/x/x.pid", "--logfile=/var/log/x/x.log", "--uid", "x", "-g", "x", "-f", "/etc/x/app.tap",
     "--umask", "027", "-r", "poll", "--log-format", "json", "--log-max-bytes", "1000", "--log-backups=3"],
    ["-s", "a.tas", "-s", "b.tas", "--chroot", "/srv", "-d", "/", "-p", "prof.out", "--syslog",
     "--prefix", "me", "--debug", "--shutdown-timeout", "2.5", "-o"],
    ["-n", "web", "--port", "8080", "-n"],
    ["--nodaemon", "echo", "--port", "7", "-y"],
    ["-x", "app.tax", "--rundir", "-"],
])
def test_direct_parser_agrees_with_argparse(argv: list[str]) -> None:
    direct = _parse_direct(argv)
    assert direct is not None, "a command line of full option names is read directly"
    assert direct == _parse_with_argparse(argv, "x")


@pytest.mark.parametrize("argv", [
    ["-noy", "app.tac"], ["--pid=", "-y", "a.tac"], ["-yapp.tac"], ["-y", "a.tac", "-f", "b.tap"],
    ["--umask", "8"], ["-r", "twisted"], ["--log-max-bytes", "-1"], ["--no_save=1"], ["--", "web"],
    ["-y"], ["--log-format", "xml"], ["--shutdown-timeout", "0"], [""],
    ["--nodaemon", "echo", "--", "-y"], ["web", "--", "x"],
])
def test_other_command_lines_go_to_argparse(argv: list[str]) -> None:
    assert _parse_direct(argv) is None
    try:
        expected: object = _parse_with_argparse(argv, "x")
    except UsageError as exc:
        expected = str(exc)
    try:
        got: object = parse_options(argv, "x", {})
    except UsageError as exc:
        got = str(exc)
    if isinstance(expected, str):
        assert got == expected


def test_no_tls_from_the_option_or_the_environment() -> None:
    assert not parse_options(["-n"], "x", {}).no_tls
    assert parse_options(["-n", "--no-tls"], "x", {}).no_tls
    assert parse_options(["-n"], "x", {"TAPD_NO_TLS": "1"}).no_tls
    assert not parse_options(["-n"], "x", {"TAPD_NO_TLS": "0"}).no_tls
    with pytest.raises(UsageError, match="TAPD_NO_TLS='maybe' is neither 1 nor 0"):
        parse_options(["-n"], "x", {"TAPD_NO_TLS": "maybe"})


# --------------------------------------------------------------------------- --no-tls end to end

def test_tls_is_loaded_by_default(packaged: list[str], tmp_path: Path) -> None:
    maps, log = _serve_and_inspect(packaged, [], tmp_path, _env())
    assert "_ssl" in maps  # asyncio loads it whenever it can: what --no-tls saves
    assert "TLS: off" not in log


@pytest.mark.parametrize("how", ["option", "environment"])
def test_no_tls_keeps_ssl_out_and_serves(packaged: list[str], tmp_path: Path, how: str) -> None:
    args, env = (["--no-tls"], _env()) if how == "option" else ([], _env(TAPD_NO_TLS="1"))
    maps, log = _serve_and_inspect(packaged, args, tmp_path, env)
    assert "_ssl" not in maps and "libssl" not in maps
    assert "TLS: off (--no-tls); the ssl module is not loaded" in log


def test_an_app_needing_tls_under_no_tls_fails_with_one_line(packaged: list[str], tmp_path: Path) -> None:
    result = subprocess.run([*packaged, "-n", "--pidfile=", "--no-tls", "-y", str(DATA / "uses_tls.tac")],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, check=False)
    assert result.returncode == 65, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tapd: error: {DATA / 'uses_tls.tac'}:3: "
                               "running it raised TLSDisabledError: ")
    assert "the ssl module is disabled by tapd --no-tls (or TAPD_NO_TLS=1" in lines[0]
    assert "search path" not in lines[0]  # not the hint for a missing module of the app's own


def test_bad_tapd_no_tls_value_is_a_usage_error(packaged: list[str], tmp_path: Path) -> None:
    result = subprocess.run([*packaged, "-n", "-y", "app.tac"], cwd=tmp_path, env=_env(TAPD_NO_TLS="maybe"),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 64
    assert result.stderr == ("tapd: error: TAPD_NO_TLS='maybe' is neither 1 nor 0 "
                             "(set it to 1 to run without TLS, or unset it)\n")


def test_uvloop_under_no_tls_is_refused_with_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    result = subprocess.run([*TAPD, "-n", "--pidfile=", "--no-tls", "-r", "uvloop", "-y", str(ECHO_TAC)],
                            cwd=tmp_path, env=_env(ECHO_PORT="1"), capture_output=True, text=True,
                            check=False)
    assert result.returncode == 64
    assert result.stderr == ("tapd: error: the uvloop event loop imports the ssl module, so it cannot run "
                             "with --no-tls (TAPD_NO_TLS=1); drop one of the two\n")
