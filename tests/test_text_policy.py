"""Hostile text never becomes code: every field x every line-breaking character x every builder,
and every free-text field x rpm macro payloads x both rpm builders.

A value can come from the command line, from ``[tool.tap2pkg]`` of someone
else's ``pyproject.toml`` or from ``DEBFULLNAME``/``DEBEMAIL``. Control and
line-separator characters are refused by ``PackageSpec`` (exit 86) before
anything is written; everything else is escaped for the file it reaches, so
the built package carries the text literally and nothing runs, as marker
files prove.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb, tap2rpm

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"
EPOCH = "1700000000"

BUILDERS: list[tuple[str, str]] = [("deb", "native"), ("deb", "dpkg"), ("rpm", "native"), ("rpm", "rpmbuild")]
#: the characters that end a line somewhere: systemd (CR, NUL), shells and rpm (LF), terminals (ESC)...
CHARS = {"cr": "\r", "nul": "\x00", "lf": "\n", "vt": "\x0b", "esc": "\x1b", "nel": "\x85", "ls": "\u2028"}
#: what gets injected after the character: a unit section that would run a root command
TAIL = '[Service]\rExecStartPre=+/bin/sh -c "id > /tmp/PWNED"'


def _mains() -> dict[str, Callable[[list[str]], int]]:
    return {"deb": tap2deb.main, "rpm": tap2rpm.main}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DEBFULLNAME", "DEBEMAIL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string: every character escaped, so NUL and CR survive the file."""
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in value) + '"'


def _skip_missing(fmt: str, builder: str) -> None:
    tool = {"dpkg": "dpkg-buildpackage", "rpmbuild": "rpmbuild"}.get(builder)
    if tool and shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    if fmt == "rpm" and shutil.which("rpmbuild") is None:
        pytest.skip("rpmbuild is not installed (the native builder's SRPM needs it)")


def _app(tmp_path: Path) -> Path:
    """A copy of the echo example in its own directory (so no pyproject.toml of ours is read)."""
    work = tmp_path / "app"
    work.mkdir()
    shutil.copy(EXAMPLE / "echo.tac", work)
    shutil.copy(EXAMPLE / "echoproto.py", work)
    return work


# field -> (config key, option, value around the hostile character; {c} marks where it goes)
ONE_LINE_FIELDS: dict[str, tuple[str, str, str]] = {
    "description": ("description", "-e", "Echo{c}" + TAIL),
    "protocol": ("protocol", "-p", "echo{c}x"),
    "maintainer": ("maintainer", "-m", "Jane{c}Essential: yes <jane@example.org>"),
    "maintainer address": ("maintainer", "-m", "Jane <jane{c}x@example.org>"),
    "homepage": ("homepage", "--homepage", "https://example.org/{c}x"),
    "license": ("license", "--license", "MIT{c}X"),
    "depends": ("depends", "--depends", "python3-yaml{c}Essential: yes"),
    "user": ("user", "--user", "echo{c}root"),
    "distribution": ("distribution", "--distribution", "unstable{c}x"),
    "long description": ("long-description", "-l", "Line one.{c}" + TAIL),
}
#: the field name PackageSpec's message uses
MESSAGE_FIELD = {"maintainer address": "maintainer"}


def _case_ids() -> Iterator[object]:
    for source in ("config", "option"):
        for field in ONE_LINE_FIELDS:
            for char_name, char in CHARS.items():
                if source == "option" and char == "\x00":
                    continue  # an argument cannot hold NUL
                if field == "long description" and char == "\n":
                    continue  # the one field that may span lines
                for fmt, builder in BUILDERS:
                    if field == "distribution" and fmt == "rpm":
                        continue  # a Debian changelog setting only
                    yield pytest.param(source, field, char, fmt, builder,
                                       id=f"{source}-{field}-{char_name}-{fmt}-{builder}")


def _argv(work: Path, out: Path, *options: str) -> list[str]:
    """The echo app's command line with ``options``, and the default maintainer unless they give -m."""
    argv = [str(work / "echo.tac"), "--include", str(work / "echoproto.py"), "-o", str(out), *options]
    return argv if "-m" in options else [*argv, "-m", MAINTAINER]


def _assert_refused(rc: int, err: str, out_dir: Path, field: str, char: str) -> None:
    lines = err.strip().splitlines()
    assert rc == 86, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert MESSAGE_FIELD.get(field, field) in lines[0], lines[0]
    assert f"U+{ord(char):04X}" in lines[0], lines[0]
    assert not out_dir.exists() or not any(out_dir.iterdir()), sorted(out_dir.iterdir())
    assert not Path("/tmp/PWNED").exists()


@pytest.mark.parametrize(("source", "field", "char", "fmt", "builder"), list(_case_ids()))
def test_control_characters_are_refused(source: str, field: str, char: str, fmt: str, builder: str,
                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the options, and (NUL too) through ``[tool.tap2pkg]`` of a pyproject.toml beside the app."""
    _skip_missing(fmt, builder)
    work = _app(tmp_path)
    key, option, template = ONE_LINE_FIELDS[field]
    value = template.replace("{c}", char)
    out_dir = tmp_path / "out"
    if source == "option":
        argv = _argv(work, out_dir, "--builder", builder, option, value)
    else:
        settings = {} if key == "maintainer" else {"maintainer": _toml_string(MAINTAINER)}
        settings[key] = f"[{_toml_string(value)}]" if key == "depends" else _toml_string(value)
        settings["include"] = '["echoproto.py"]'
        (work / "pyproject.toml").write_text(
            "[tool.tap2pkg]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()), encoding="utf-8")
        argv = [str(work / "echo.tac"), "--builder", builder, "-o", str(out_dir)]
    _assert_refused(_mains()[fmt](argv), capsys.readouterr().err, out_dir, field, char)


@pytest.mark.parametrize("char", [c for c in CHARS.values() if c != "\x00"],
                         ids=[k for k in CHARS if k != "nul"])
@pytest.mark.parametrize("variable", ["DEBFULLNAME", "DEBEMAIL"])
def test_control_characters_in_the_maintainer_environment_are_refused(
        variable: str, char: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = _app(tmp_path)
    if variable == "DEBFULLNAME":
        monkeypatch.setenv("DEBFULLNAME", f"Jane{char}Essential: yes")
        monkeypatch.setenv("DEBEMAIL", "jane@example.org")
    else:
        monkeypatch.setenv("DEBEMAIL", f"jane{char}x@example.org")
        monkeypatch.setenv("DEBFULLNAME", "Jane")
    for fmt in ("deb", "rpm"):
        rc = _mains()[fmt]([str(work / "echo.tac"), "--include", str(work / "echoproto.py"),
                            "-o", str(tmp_path / "out")])
        _assert_refused(rc, capsys.readouterr().err, tmp_path / "out", "maintainer", char)


@pytest.mark.parametrize("char", [c for c in CHARS.values() if c not in ("\x00", "/")],
                         ids=[k for k in CHARS if k != "nul"])
@pytest.mark.parametrize(("fmt", "builder"), BUILDERS, ids=[f"{f}-{b}" for f, b in BUILDERS])
def test_control_characters_in_an_include_name_are_refused(
        char: str, fmt: str, builder: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _skip_missing(fmt, builder)
    work = _app(tmp_path)
    hostile = work / f"echo{char}proto.py"
    shutil.copy(work / "echoproto.py", hostile)
    rc = _mains()[fmt]([str(work / "echo.tac"), "--include", str(hostile), "--builder", builder,
                        "-m", MAINTAINER, "-o", str(tmp_path / "out")])
    _assert_refused(rc, capsys.readouterr().err, tmp_path / "out", "include", char)


def test_dpkg_substitution_variables_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dpkg-gencontrol would turn ``${Newline}`` into a line break in DEBIAN/control; it has no escape."""
    work = _app(tmp_path)
    for option, value in (("-e", "Echo ${Newline}Essential: yes"), ("-m", "Jane ${Newline}X <j@example.org>"),
                          ("-l", "Text ${Newline}Protected: yes")):
        assert tap2deb.main(_argv(work, tmp_path / "out", option, value)) == 86
        err = capsys.readouterr().err
        assert "'${'" in err and "dpkg" in err, err
        assert not (tmp_path / "out").exists()


def test_a_trailing_backslash_in_the_description_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """systemd (and sh) would join the next line of the unit to it."""
    work = _app(tmp_path)
    rc = tap2deb.main(_argv(work, tmp_path / "out", "-e", "Echo \\"))
    assert rc == 86
    assert "backslash" in capsys.readouterr().err


# ---- rpm macros: accepted text, escaped, never expanded -------------------------------------------------

#: payloads that would run a command if rpm expanded them; {m} is the marker file. Only characters the
#: one-line policy allows: no spaces where the field forbids them ($IFS and lua's \32 stand in).
MACRO_PAYLOADS = {
    "shell": "%(touch$IFS{m})",
    "lua": "%{lua:os.execute('touch\\32{m}')}",
    "expand": "%{expand:%%(touch$IFS{m})}",
    "global": "%{global:x%(touch$IFS{m})}",
}
# field -> (option, how the payload sits in the value, the rpm query tag that shows it)
MACRO_FIELDS: dict[str, tuple[str, str, str]] = {
    "description": ("-e", "Echo {p}", "%{SUMMARY}"),
    "long description": ("-l", "First {p} line.", "%{DESCRIPTION}"),
    "maintainer name": ("-m", "Jane {p} <jane@example.org>", "%{PACKAGER}"),
    "maintainer address": ("-m", "Jane <x{p}@example.org>", "%{PACKAGER}"),
    "homepage": ("--homepage", "https://example.org/{p}", "%{URL}"),
    "protocol": ("-p", "echo {p}", "%{SUMMARY}"),
}


def _rpm_query(path: Path, tags: str) -> str:
    return subprocess.run(["rpm", "-qp", "--qf", tags, str(path)], capture_output=True, text=True,
                          check=True).stdout


def _macro_cases() -> Iterator[object]:
    for field in MACRO_FIELDS:
        for payload in MACRO_PAYLOADS:
            yield pytest.param(field, payload, id=f"{field}-{payload}")


@pytest.mark.slow
@pytest.mark.parametrize(("field", "payload"), list(_macro_cases()))
def test_rpm_macros_in_free_text_never_expand(field: str, payload: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Both rpm builders: the marker never appears and the header holds the text literally, the same bytes."""
    _skip_missing("rpm", "rpmbuild")
    work = _app(tmp_path)
    marker = tmp_path / "PWNED"
    option, template, tag = MACRO_FIELDS[field]
    value = template.replace("{p}", MACRO_PAYLOADS[payload].replace("{m}", str(marker)))
    headers = {}
    for builder in ("native", "rpmbuild"):
        out_dir = tmp_path / builder
        rc = tap2rpm.main(_argv(work, out_dir, "--builder", builder, "-r", "echo", option, value, "--json"))
        captured = capsys.readouterr()
        assert not marker.exists(), f"{builder}: a macro ran"
        if field == "homepage" and "{" in value:
            # braces are not URL characters: refused before anything is written
            assert rc == 86 and "homepage" in captured.err, captured.err
            assert not out_dir.exists() or not any(out_dir.iterdir())
            return
        assert rc == 0, captured.err
        artifacts = [Path(a["path"]) for a in json.loads(captured.out)["packages"][0]["artifacts"]]
        tags = "%{SUMMARY}\\n%{URL}\\n%{PACKAGER}\\n[%{CHANGELOGNAME}\\n]%{DESCRIPTION}"
        binary = next(p for p in artifacts if p.name.endswith(".noarch.rpm"))
        source = next(p for p in artifacts if p.name.endswith(".src.rpm"))
        literal = value if tag != "%{SUMMARY}" or option == "-e" else f"Server for {value}"
        for path in (binary, source):
            shown = _rpm_query(path, tag)
            if tag == "%{DESCRIPTION}":  # wrapped at 79 columns
                shown = " ".join(shown.split())
            assert literal in shown, f"{builder} {path.name}: {shown!r}"
        if option == "-m":
            assert value in _rpm_query(binary, "[%{CHANGELOGNAME}\\n]")
        headers[builder] = (_rpm_query(binary, tags), _rpm_query(source, tags))
        spec_text = (out_dir / "echo.spec").read_text()
        assert value.replace("%", "%%") in " ".join(spec_text.split()), "the spec lacks the escaped text"
    assert headers["native"] == headers["rpmbuild"]
    assert not marker.exists()


@pytest.mark.slow
def test_a_hand_rebuilt_spec_does_not_expand_the_text_either(tmp_path: Path) -> None:
    """The emitted spec is for packagers to rebuild with ``rpmbuild -ba``: still nothing runs."""
    _skip_missing("rpm", "rpmbuild")
    work = _app(tmp_path)
    marker = tmp_path / "PWNED"
    hostile = f"%(touch$IFS{marker})"
    rc = tap2rpm.main([str(work / "echo.tac"), "--include", str(work / "echoproto.py"), "-o",
                       str(tmp_path / "out"), "-m", f"Jane {hostile} <x{hostile}@example.org>",
                       "-e", f"Echo {hostile}", "--homepage", f"https://example.org/{hostile}",
                       "-l", f"Long {hostile} text.\n\n%{{lua:os.execute('touch\\32{marker}')}}",
                       "--source-only"])
    assert rc == 0
    out = tmp_path / "out"
    proc = subprocess.run(["rpmbuild", "-ba", "--define", f"_sourcedir {out}", "--define",
                           f"_topdir {tmp_path / 'top'}", str(out / "echo.spec")],
                          capture_output=True, text=True, env=dict(os.environ, SOURCE_DATE_EPOCH=EPOCH))
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    [binary] = (tmp_path / "top" / "RPMS" / "noarch").glob("*.rpm")
    assert _rpm_query(binary, "%{PACKAGER}") == f"Jane {hostile} <x{hostile}@example.org>"


# ---- accepted hostile text on the Debian side: literal in every file, the same from both builders --------

#: shell, systemd and dpkg metacharacters that the text policy allows: escaped, never interpreted
SHELL_HOSTILE = "Echo $(touch /tmp/PWNED) `touch /tmp/PWNED` '\"; touch /tmp/PWNED; #%n %i \\ [Service]"


def _deb_build(tmp_path: Path, builder: str, capsys: pytest.CaptureFixture[str]) -> Path:
    work = _app(tmp_path) if not (tmp_path / "app").exists() else tmp_path / "app"
    out = tmp_path / builder
    rc = tap2deb.main([str(work / "echo.tac"), "--include", str(work / "echoproto.py"), "--builder", builder,
                       "-o", str(out), "-e", SHELL_HOSTILE, "-l", f"Long: {SHELL_HOSTILE}\n\n-- x <y@z>",
                       "-m", "Jane $(touch /tmp/PWNED) `x` %n <jane$x@example.org>",
                       "--homepage", "https://example.org/$(touch$IFS/tmp/PWNED)?a=%25"])
    assert rc == 0, capsys.readouterr().err
    [deb] = out.glob("*.deb")
    return deb


@pytest.mark.slow
def test_both_deb_builders_carry_hostile_text_literally(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _skip_missing("deb", "dpkg")
    debs = {builder: _deb_build(tmp_path, builder, capsys) for builder in ("native", "dpkg")}
    fields = {}
    for builder, deb in debs.items():
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                                 check=True).stdout
        # Installed-Size may differ by a KiB or two (the scripts differ in text, not behaviour)
        fields[builder] = [line for line in control.splitlines() if not line.startswith("Installed-Size:")]
        assert f"Description: {SHELL_HOSTILE}\n" in control
        assert "Maintainer: Jane $(touch /tmp/PWNED) `x` %n <jane$x@example.org>\n" in control
        # the unit: one Description= line, % doubled, no second [Service] section or ExecStartPre
        extract = tmp_path / f"x-{builder}"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(extract)], check=True)
        unit = (extract / "lib/systemd/system/echo.service").read_text()
        assert unit.splitlines().count("[Service]") == 1 and "ExecStartPre" not in unit
        assert f"Description={SHELL_HOSTILE.replace('%', '%%')}\n" in unit
        # the init script's DESC, read by sh, is the text itself and runs nothing
        init = (extract / "etc/init.d/echo").read_text()
        [desc_line] = [line for line in init.splitlines() if line.startswith("DESC=")]
        shown = subprocess.run(["sh", "-c", f'{desc_line}\nprintf %s "$DESC"'], capture_output=True,
                               text=True, check=True).stdout
        assert shown == SHELL_HOSTILE
    assert fields["native"] == fields["dpkg"]
    assert not Path("/tmp/PWNED").exists()


@pytest.mark.container
@pytest.mark.slow
def test_installed_unit_has_no_injected_directive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reproducer's package, as far as the policy lets it through, installed under systemd as PID 1."""
    pytest.importorskip("docker")
    from tap2pkg.verify import DISTROS, VerifyContainer, build_image, connect

    try:
        client = connect()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means: no engine here
        pytest.skip(f"no docker engine: {exc}")
    deb = _deb_build(tmp_path, "native", capsys)
    tag = build_image(client, DISTROS["debian:bookworm"], offline=True).tag
    with VerifyContainer(client, tag) as box:
        path = box.put_file(deb, "/tmp")
        installed = box.run(["dpkg", "-i", path])
        assert installed.ok, installed.tail()
        cat = box.run(["systemctl", "cat", "echo.service"])
        assert cat.ok, cat.tail()
        assert "ExecStartPre" not in cat.output and cat.output.splitlines().count("[Service]") == 1
        shown = box.run(["systemctl", "show", "-p", "Description", "--value", "echo.service"])
        assert shown.output.strip() == SHELL_HOSTILE
        assert box.run(["systemctl", "is-active", "echo.service"]).output.strip() == "active"
        assert not box.run(["test", "-e", "/tmp/PWNED"]).ok
        assert not box.run(["test", "-e", "/root/PWNED"]).ok


# ---- the reviewers' reproducers, verbatim, through the installed commands -------------------------------

REPRODUCERS = {
    "unit-cr": ("tap2deb", ["-m", "J <j@x.org>", "-e",
                            'Echo\r[Service]\rExecStartPre=+/bin/sh -c "id > /root/PWNED"\r[Unit]\rX=1'], 86),
    "rpm-homepage-shell": ("tap2rpm", ["-m", "J <j@x.org>", "--homepage",
                                       "https://x.org/%(touch${IFS}{m})"], 86),
    "rpm-homepage-shell-rpmbuild": ("tap2rpm", ["-m", "J <j@x.org>", "--builder", "rpmbuild", "--homepage",
                                                "https://x.org/%(touch$IFS{m})"], 0),
    "rpm-maintainer": ("tap2rpm", ["-m", "Jane %(touch {m}) <jane@example.org>"], 0),
    "rpm-maintainer-rpmbuild": ("tap2rpm", ["--builder", "rpmbuild", "-m",
                                            "Jane %(touch {m}) <jane@example.org>"], 0),
    "deb-fields": ("tap2deb", ["-m", "Jane\nEssential: yes\nProtected: yes\nX: x <j@e.org>"], 86),
    "rpm-fields": ("tap2rpm", ["--builder", "rpmbuild", "-m",
                               "Jane\nObsoletes: openssh-server\nProvides: bash\n# <j@e.org>"], 86),
    "depends-newline": ("tap2deb", ["-m", "J <j@x.org>", "--depends", "python3-yaml\nEssential: yes"], 86),
}


def _script(command: str) -> str:
    """The installed console script beside this Python."""
    return str(Path(sys.executable).parent / command)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(REPRODUCERS))
def test_reproducers_do_not_reproduce(case: str, tmp_path: Path) -> None:
    _skip_missing("rpm", "rpmbuild")
    command, args, expected = REPRODUCERS[case]
    work = _app(tmp_path)
    marker = tmp_path / "PWNED"
    proc = subprocess.run([_script(command), "echo.tac", "--include", "echoproto.py",
                           "-o", str(tmp_path / "out"), *(a.replace("{m}", str(marker)) for a in args)],
                          cwd=work, capture_output=True, text=True)
    assert proc.returncode == expected, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()
    if expected:
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("description", "expected"), [("Echo\\r[Service]\\rX=1", 86), ("a\\u0000b", 86)])
def test_pyproject_beside_the_app_cannot_inject(description: str, expected: int, tmp_path: Path) -> None:
    """No flags at all: the values come from a third party's pyproject.toml."""
    work = _app(tmp_path)
    marker = tmp_path / "PWNED"
    (work / "pyproject.toml").write_text(
        '[tool.tap2pkg]\nmaintainer = "J <j@x.org>"\ninclude = ["echoproto.py"]\n'
        f'description = "{description}"\n'
        f'homepage = "https://x.org/%{{lua:os.execute(\'touch\\\\32{marker}\')}}"\n')
    for command in ("tap2deb", "tap2rpm"):
        proc = subprocess.run([_script(command), "echo.tac", "-o", str(tmp_path / "out")],
                              cwd=work, capture_output=True, text=True)
        assert proc.returncode == expected, proc.stderr
        assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("field", [f for f in ONE_LINE_FIELDS if f != "maintainer address"])
def test_bytes_that_are_not_utf8_are_refused_in_one_line(field: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """An argument in Latin-1 reaches Python as a lone surrogate (``surrogateescape``)."""
    work = _app(tmp_path)
    _key, option, template = ONE_LINE_FIELDS[field]
    value = template.split("{c}")[0] + os.fsdecode(b"\xe9")
    rc = tap2deb.main(_argv(work, tmp_path / "out", option, value))
    err = capsys.readouterr().err
    assert rc == 86 and len(err.strip().splitlines()) == 1, err
    assert f"{MESSAGE_FIELD.get(field, field)} " in err and "a byte that is not UTF-8" in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_latin1_maintainer_environment_is_refused_by_the_installed_command(tmp_path: Path) -> None:
    work = _app(tmp_path)
    env = {**os.environ, "DEBFULLNAME": "Jos\udce9", "DEBEMAIL": "jose@example.org"}
    proc = subprocess.run([sys.executable, "-m", "tap2pkg.cli.tap2rpm", str(work / "echo.tac"),
                           "--include", str(work / "echoproto.py"), "-o", str(tmp_path / "out")],
                          env={k: os.fsencode(v) for k, v in env.items()},
                          capture_output=True, check=False)
    assert proc.returncode == 86, proc.stderr
    assert proc.stderr.count(b"\n") == 1 and b"maintainer" in proc.stderr and b"not UTF-8" in proc.stderr
