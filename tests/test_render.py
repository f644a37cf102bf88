"""The shared Jinja2 environment and its filters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tap2pkg.payload import Layout, Payload
from tap2pkg.render import (
    environment,
    fold_description,
    rfc2822,
    rpm_date,
    shell_quote,
    tapd_arguments,
    wrap_lines,
)
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"


def spec(**kw: object) -> PackageSpec:
    base: dict[str, Any] = dict(name="echo", app_file=ECHO / "echo.tac", app_kind="python",
                                   maintainer="Jane Doe <jane@example.org>", ports=(8007,))
    base.update(kw)
    return PackageSpec(**base)


def render_service_files(s: PackageSpec, distro: str = "debian") -> dict[str, str]:
    """The rendered service files of ``s``'s payload, by role."""
    return {f.role: f.data.decode() for f in Payload.for_spec(s, distro).service_files()}


def test_fold_description_indents_and_marks_blank_lines() -> None:
    text = fold_description("An echo server", "First paragraph.\n\nSecond one.")
    assert text == "An echo server\n First paragraph.\n .\n Second one."


def test_fold_description_wraps_long_lines() -> None:
    text = fold_description("S", "word " * 40)
    lines = text.splitlines()[1:]
    assert len(lines) > 1
    assert all(line.startswith(" ") and len(line) <= 79 for line in lines)


def test_fold_description_without_long_text_is_the_summary() -> None:
    assert fold_description("Only a summary") == "Only a summary"


def test_dates_use_utc() -> None:
    assert rfc2822(1700000000) == "Tue, 14 Nov 2023 22:13:20 -0000"
    assert rpm_date(1700000000) == "Tue Nov 14 2023"


def test_shell_quote_and_wrap() -> None:
    assert shell_quote("a b") == "'a b'"
    assert wrap_lines("a " * 50, 20).count("\n") >= 4


def test_undefined_variables_are_errors() -> None:
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("{{ nope }}").render()


def test_templates_keep_the_trailing_newline() -> None:
    assert environment().from_string("x\n").render() == "x\n"


def test_no_autoescape() -> None:
    assert environment().from_string("{{ v }}").render(v="<a & b>") == "<a & b>"


def test_service_files_differ_by_distro_only_where_needed() -> None:
    deb = render_service_files(spec(), "debian")
    rpm = render_service_files(spec(), "fedora")
    assert set(deb) == {"unit", "init", "default", "logrotate", "sysusers", "tmpfiles"}
    assert "init" not in rpm
    assert "EnvironmentFile=-/etc/default/echo" in deb["unit"]
    assert "EnvironmentFile=-/etc/sysconfig/echo" in rpm["unit"]
    assert deb["sysusers"] == rpm["sysusers"]


def test_unit_runs_tapd_in_the_foreground_as_the_user() -> None:
    unit = render_service_files(spec(user="echod"), "debian")["unit"]
    assert "Type=notify" in unit
    assert "User=echod" in unit
    assert "ExecStart=/usr/lib/echo/tapd --nodaemon --pidfile= " in unit
    assert "--python /etc/echo/echo.tac" in unit
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes"):
        assert hardening in unit
    assert "CAP_NET_BIND_SERVICE" not in unit


def test_low_port_gets_the_bind_capability() -> None:
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in render_service_files(spec(ports=(80,)))["unit"]


@pytest.mark.parametrize(("kind", "option"), [("python", "--python"), ("pickle", "--file"),
                                              ("source", "--source"), ("xml", "--xml")])
def test_tapd_loads_each_kind_with_its_option(kind: str, option: str) -> None:
    s = spec(app_kind=kind)
    layout = Layout.for_spec(s, "debian")
    args = tapd_arguments(s, layout, daemon=True)
    assert args[-2:] == [option, "/etc/echo/echo.tac"]
    assert "--pidfile" in args and "/run/echo/echo.pid" in args


def test_init_script_uses_start_stop_daemon_with_chuid() -> None:
    init = render_service_files(spec())["init"]
    assert init.startswith("#!/bin/sh\n### BEGIN INIT INFO")
    assert '--chuid "$USER:$USER"' in init
    for action in ("start)", "stop)", "restart|force-reload)", "status)"):
        assert action in init


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``XDG_CACHE_HOME`` for a new environment (as a new process gets), and none left behind after."""
    import tap2pkg.render as render_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    render_module.environment.cache_clear()
    yield tmp_path
    render_module.environment.cache_clear()


def _new_process() -> None:
    """What a new tap2deb process starts with: a new environment, no template compiled in memory."""
    import tap2pkg.render as render_module

    render_module.environment.cache_clear()


def _entries(cache_home: Path) -> list[Path]:
    return [p for p in (cache_home / "tap2pkg" / "jinja2").rglob("*") if p.is_file()]


def test_a_rebuild_loads_the_compiled_templates_instead_of_compiling_them(
        cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = render_service_files(spec(source_date_epoch=1700000000))
    assert _entries(cache_home)

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again instead of loaded from the bytecode cache")

    _new_process()
    monkeypatch.setattr(jinja2.Environment, "compile", no_compiling)
    # the cache holds templates, not texts: another context renders from the same bytecode
    assert render_service_files(spec(source_date_epoch=1700000000)) == first
    assert render_service_files(spec(source_date_epoch=1700000000, user="other")) != first


def test_an_unwritable_cache_only_costs_time(cache_home: Path) -> None:
    (cache_home / "tap2pkg").write_text("not a directory")
    assert render_service_files(spec(source_date_epoch=1700000000))["unit"].startswith("[Unit]")


@pytest.mark.parametrize("damage", [b"not bytecode", b"", None, b"\x80garbled"],
                         ids=["garbage", "empty", "cut after the header", "garbled after the header"])
def test_a_damaged_cache_entry_is_compiled_again(cache_home: Path, damage: bytes | None) -> None:
    from jinja2.bccache import bc_magic

    first = render_service_files(spec(source_date_epoch=1700000000))
    for entry in _entries(cache_home):  # None: Jinja2's header and nothing after it
        entry.write_bytes(bc_magic if damage is None else damage if not damage.startswith(b"\x80")
                          else bc_magic + damage)
    _new_process()
    assert render_service_files(spec(source_date_epoch=1700000000)) == first


def test_a_cache_deleted_while_a_build_runs_only_costs_time(cache_home: Path) -> None:
    import shutil

    import tap2pkg.render as render_module

    render_module.environment()  # the process has its cache; nothing is compiled yet
    shutil.rmtree(cache_home / "tap2pkg")
    assert render_service_files(spec(source_date_epoch=1700000000))["unit"].startswith("[Unit]")


def test_a_cache_others_may_write_is_not_used(cache_home: Path) -> None:
    """The cache holds code that runs: a directory that is not private is left alone."""
    import tap2pkg.render as render_module

    render_module.environment()
    (folder,) = (cache_home / "tap2pkg" / "jinja2").iterdir()
    folder.chmod(0o777)
    _new_process()
    render_service_files(spec(source_date_epoch=1700000000))
    assert _entries(cache_home) == []
