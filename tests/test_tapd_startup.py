"""``tapd`` start-up: what it loads, its one option parser and its exit codes, and TLS only with ``--tls``.

tapd starts as a package runs it (the runtime next to a stub ``tap2pkg``,
``python -I -S``, no site-packages), so only the runtime's own imports count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_daemon import ECHO_TAC, TAPD, echo, free_port, port_open, stop, wait_until

from tap2pkg.runtime import persist
from tap2pkg.runtime.daemon import main
from tap2pkg.runtime.errors import UsageError
from tap2pkg.runtime.options import build_parser, parse_options

DATA = Path(__file__).parent / "data" / "startup"

#: modules that only an option needs, or that the runtime avoids: a plain start must not load them
OPTIONAL_MODULES = ("json", "syslog", "cProfile", "pathlib", "pkgutil", "ipaddress", "random",
                    "encodings.idna", "grp", "pwd", "shutil", "bz2", "lzma", "dataclasses")


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
    env = {k: v for k, v in os.environ.items() if k not in ("TAPD_TLS", "TAPD_NO_TLS", "NOTIFY_SOCKET")}
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
    # asyncio must come after the options are read, or tapd could not keep ssl out
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


# --------------------------------------------------------------------------- the option parser

@pytest.mark.parametrize(("short", "full"), [
    (["-noy", "app.tac"], ["-n", "-o", "-y", "app.tac"]),
    (["--pid=", "--noda", "-yapp.tac"], ["--pidfile=", "--nodaemon", "--python", "app.tac"]),
    (["--umask=027", "--log-f", "json", "-fapp.tap"],
     ["--umask", "027", "--log-format", "json", "-f", "app.tap"]),
    (["-n", "--", "web", "--port", "8080"], ["-n", "web", "--port", "8080"]),
])
def test_twistd_style_spellings_mean_the_same(short: list[str], full: list[str]) -> None:
    assert parse_options(short, "x", {}) == parse_options(full, "x", {})


@pytest.mark.parametrize(("argv", "message"), [
    (["-y", "a.tac", "-f", "b.tap"], "argument -f/--file: not allowed with argument -y/--python"),
    (["--umask", "8"], "argument --umask: '8' is not an octal umask such as 022 or 0077"),
    (["-r", "twisted"], "argument -r/--reactor: invalid choice: 'twisted'"),
    (["--log-max-bytes", "-1"], "argument --log-max-bytes: '-1' must not be negative"),
    (["--shutdown-timeout", "0"], "argument --shutdown-timeout: '0' must be more than 0 and less than a day"),
    (["--no_save=1"], "argument -o/--no_save: ignored explicit argument '1'"),
    (["-y"], "argument -y/--python: expected one argument"),
    (["--log-format", "xml"], "argument --log-format: invalid choice: 'xml'"),
    (["--no", "-y", "a.tac"], "ambiguous option: --no could match"),
    (["-y", "a.tac", "echo"], "give either an application file or the plugin 'echo', not both"),
])
def test_usage_errors_exit_64_with_one_line(argv: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 64
    err = capsys.readouterr().err
    assert err.startswith(f"tapd: error: {message}")
    assert len(err.splitlines()) == 1


def test_a_usage_error_with_debug_still_exits_64(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", "--no-such-option"]) == 64
    err = capsys.readouterr().err
    assert err.startswith("tapd: error: unrecognized arguments: --no-such-option")
    assert "Traceback" in err


def test_version_and_help_exit_0(packaged: list[str]) -> None:
    for option, text in (("--version", "tapd (tap2pkg) 9.9\n"), ("--help", "usage: tapd [options]")):
        result = subprocess.run([*packaged, option], capture_output=True, text=True, check=False)
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.startswith(text)


@pytest.mark.parametrize("columns", [50, 80, 160])
def test_help_wraps_to_the_terminal_as_argparse_does(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    stock = build_parser("x")
    stock.formatter_class = argparse.HelpFormatter
    text = build_parser("x").format_help()
    assert text == stock.format_help()
    options_part = text.split("\nplugins (")[0]  # the plugin list after it is tapd's own, one line each
    assert max(len(line) for line in options_part.splitlines()) <= columns


def test_tls_is_off_by_default_and_on_with_the_option_or_the_environment() -> None:
    assert not parse_options(["-n"], "x", {}).tls
    assert parse_options(["-n", "--tls"], "x", {}).tls
    assert parse_options(["-n"], "x", {"TAPD_TLS": "1"}).tls
    assert not parse_options(["-n"], "x", {"TAPD_TLS": "0"}).tls
    # --no-tls and TAPD_NO_TLS=1 are the default said explicitly
    assert not parse_options(["-n", "--no-tls"], "x", {}).tls
    assert not parse_options(["-n"], "x", {"TAPD_NO_TLS": "1"}).tls
    # the command line wins over the environment
    assert parse_options(["-n", "--tls"], "x", {"TAPD_NO_TLS": "1"}).tls
    assert not parse_options(["-n", "--no-tls"], "x", {"TAPD_TLS": "1"}).tls


def test_uvloop_implies_tls() -> None:
    assert parse_options(["-n", "-r", "uvloop"], "x", {}).tls
    assert parse_options(["-n", "-r", "uvloop"], "x", {"TAPD_TLS": "0"}).tls
    with pytest.raises(UsageError, match="-r uvloop loads the ssl module itself, so it cannot run with --no"):
        parse_options(["-n", "-r", "uvloop", "--no-tls"], "x", {})
    with pytest.raises(UsageError, match="cannot run with TAPD_NO_TLS=1"):
        parse_options(["-n", "-r", "uvloop"], "x", {"TAPD_NO_TLS": "1"})


@pytest.mark.parametrize(("argv", "environ", "message"), [
    (["--tls", "--no-tls"], {}, "--tls and --no-tls contradict each other; give one of them"),
    ([], {"TAPD_TLS": "maybe"},
     "TAPD_TLS='maybe' is neither 1 nor 0 (set it to 1 to let the application use TLS, or unset it)"),
    ([], {"TAPD_NO_TLS": "maybe"}, "TAPD_NO_TLS='maybe' is neither 1 nor 0"),
    ([], {"TAPD_TLS": "1", "TAPD_NO_TLS": "1"}, "TAPD_TLS=1 and TAPD_NO_TLS=1 contradict each other"),
])
def test_contradictory_or_bad_tls_settings_are_usage_errors(argv: list[str], environ: dict[str, str],
                                                            message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_options(["-n", *argv], "x", environ)
    assert str(caught.value).startswith(message)


# --------------------------------------------------------------------------- TLS end to end

def test_default_tapd_keeps_ssl_out_and_serves(packaged: list[str], tmp_path: Path) -> None:
    maps, log = _serve_and_inspect(packaged, [], tmp_path, _env())
    assert "_ssl" not in maps and "libssl" not in maps
    assert "TLS: off; the ssl module is not loaded (start tapd with --tls for TLS)" in log


def test_explicit_no_tls_is_the_default(packaged: list[str], tmp_path: Path) -> None:
    maps, log = _serve_and_inspect(packaged, ["--no-tls"], tmp_path, _env(TAPD_NO_TLS="1"))
    assert "_ssl" not in maps
    assert "TLS: off;" in log


@pytest.mark.parametrize("how", ["option", "environment"])
def test_tls_loads_ssl(packaged: list[str], tmp_path: Path, how: str) -> None:
    args, env = (["--tls"], _env()) if how == "option" else ([], _env(TAPD_TLS="1"))
    maps, log = _serve_and_inspect(packaged, args, tmp_path, env)
    assert "_ssl" in maps  # asyncio loads it whenever it can
    assert "TLS: available (--tls)" in log


def test_uvloop_runs_with_tls(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    maps, log = _serve_and_inspect(TAPD, ["-r", "uvloop"], tmp_path, _env())
    assert "_ssl" in maps
    assert "event loop: uvloop" in log and "TLS: available" in log


def test_an_app_importing_ssl_without_tls_fails_with_one_line(packaged: list[str], tmp_path: Path) -> None:
    result = subprocess.run([*packaged, "-n", "--pidfile=", "-y", str(DATA / "uses_tls.tac")],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, check=False)
    assert result.returncode == 65, result.stderr
    assert result.stderr == (f"tapd: error: {DATA / 'uses_tls.tac'}:3: the application imports ssl, which "
                             "tapd loads only with --tls (or TAPD_TLS=1 in /etc/default/<pkg> or "
                             "/etc/sysconfig/<pkg>)\n")


def test_an_app_importing_ssl_when_its_services_start_fails_with_one_line(packaged: list[str],
                                                                         tmp_path: Path) -> None:
    result = subprocess.run([*packaged, "-n", "--pidfile=", "-y", str(DATA / "tls_at_start.tac")],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, check=False)
    assert result.returncode == 65, result.stderr
    assert result.stderr.endswith("tapd: error: the application imports ssl, which tapd loads only with "
                                  "--tls (or TAPD_TLS=1 in /etc/default/<pkg> or /etc/sysconfig/<pkg>)\n")
    assert "Traceback" not in result.stderr


def test_an_app_importing_ssl_runs_with_tls(packaged: list[str], tmp_path: Path) -> None:
    # the app stops itself once loaded: a clean exit shows that ssl was there
    result = subprocess.run([*packaged, "-n", "--pidfile=", "--tls", "-y", str(DATA / "tls_at_start.tac")],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, check=False, timeout=60)
    assert "the application imports ssl" not in result.stderr
    assert "tls context ready" in result.stdout


def test_stdlib_modules_quietly_lose_https_without_tls(packaged: list[str]) -> None:
    # what docs/tapd.md warns about: they import ssl inside try/except ImportError
    lib = Path(packaged[-1]).parent
    probe = (f"import sys; sys.path.insert(0, {str(lib)!r})\n"
             "from tap2pkg.runtime.reactors import block_tls; block_tls()\n"
             "import http.client, urllib.request, smtplib\n"
             "print(hasattr(http.client, 'HTTPSConnection'), hasattr(urllib.request, 'HTTPSHandler'),"
             " hasattr(smtplib, 'SMTP_SSL'))\n")
    result = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True,
                            check=False)
    assert result.stdout == "False False False\n", result.stderr
