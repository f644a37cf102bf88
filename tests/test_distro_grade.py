"""The distributions' own audit, kept in the suite: lintian, rpmlint, shellcheck, systemd-analyze security,
and the packaging rules a Debian Developer or a Fedora packager would block on."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tap2pkg.builders import BuildResult, build
from tap2pkg.deb.policy import standards_version
from tap2pkg.deb.source import DebPayload
from tap2pkg.payload import Payload
from tap2pkg.rpm.source import rpm_sources
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"
DOCS = Path(__file__).resolve().parent.parent / "docs"
EPOCH = 1700000000
#: the most systemd-analyze security may score a generated unit (0 is best, 10 worst)
MAX_EXPOSURE = 1.5


def echo_spec(**changes: object) -> PackageSpec:
    spec = PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python",
                       maintainer="Jane Doe <jane@example.org>", ports=(8007,),
                       includes=(ECHO / "echoproto.py",),
                       homepage="https://example.org/echo", source_date_epoch=EPOCH)
    return spec.replace(**changes) if changes else spec


def twisted_spec(**changes: object) -> PackageSpec:
    spec = PackageSpec(name="simple", app_file=ECHO / "echo.tac", app_kind="python", runtime="twisted",
                       maintainer="Jane Doe <jane@example.org>", ports=(8080,), source_date_epoch=EPOCH)
    return spec.replace(**changes) if changes else spec


def unit(spec: PackageSpec, distro: str = "debian") -> str:
    files = Payload.for_spec(spec, distro).service_files()
    return next(f.data.decode() for f in files if f.role == "unit")


def needs(tool: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} is not installed")


# --- the unit -------------------------------------------------------------------------------------------

def exposure(unit_text: str, tmp_path: Path, name: str = "echo") -> float:
    path = tmp_path / f"{name}.service"
    path.write_text(unit_text)
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", f"./{path.name}"],
                          cwd=tmp_path, capture_output=True, text=True)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    return float(match[1])


@needs("systemd-analyze")
@pytest.mark.parametrize("case", ["tapd", "tapd below 1024", "twisted", "twisted below 1024", "fedora"])
def test_systemd_analyze_security_scores_the_unit_at_most_1_5(case: str, tmp_path: Path) -> None:
    spec = twisted_spec() if case.startswith("twisted") else echo_spec()
    if case.endswith("below 1024"):
        spec = spec.replace(ports=(80,))
    score = exposure(unit(spec, "fedora" if case == "fedora" else "debian"), tmp_path, spec.name)
    assert score <= MAX_EXPOSURE, f"{case}: exposure {score}"


@needs("systemd-analyze")
def test_the_documented_drop_in_relaxes_the_unit(tmp_path: Path) -> None:
    """The default file shows a drop-in; what it relaxes raises the score, so the hardening is real."""
    default = next(f.data.decode() for f in Payload.for_spec(echo_spec(), "debian").service_files()
                   if f.role == "default")
    assert "systemctl edit echo.service" in default
    relaxed = unit(echo_spec()).replace("SystemCallFilter=", "#").replace("PrivateUsers=yes", "#")
    assert exposure(relaxed, tmp_path) > exposure(unit(echo_spec()), tmp_path)


def test_unit_has_documentation_and_only_a_client_waits_for_the_network() -> None:
    server = unit(echo_spec(app_info={"services": (("TCPServer", "echo"),)}))
    assert "Documentation=https://example.org/echo\n" in server
    assert "Documentation=file:///etc/default/echo\n" in server
    assert "network-online.target" not in server and "After=network.target\n" in server
    client = unit(echo_spec(app_info={"services": (("TCPServer", None), ("ClientService", "feed"))}))
    assert "Wants=network-online.target" in client
    # unknown services (no inspection) and Twisted apps may connect out: they keep waiting
    assert "Wants=network-online.target" in unit(echo_spec())
    assert "Wants=network-online.target" in unit(twisted_spec())


def test_a_port_below_1024_keeps_only_cap_net_bind_service() -> None:
    low = unit(echo_spec(ports=(80,)))
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n" in low
    assert "PrivateUsers" not in low  # a user namespace's capability cannot bind a host port
    high = unit(echo_spec())
    assert "CapabilityBoundingSet=\n" in high and "PrivateUsers=yes" in high


def test_the_sysconfig_file_does_not_mention_an_init_script() -> None:
    fedora = next(f.data.decode() for f in Payload.for_spec(echo_spec(), "fedora").service_files()
                  if f.role == "default")
    debian = next(f.data.decode() for f in Payload.for_spec(echo_spec(), "debian").service_files()
                  if f.role == "default")
    assert "init script" not in fedora
    assert "init script" in debian


# --- Debian ---------------------------------------------------------------------------------------------

def test_standards_version_is_the_one_the_target_lintian_knows() -> None:
    assert standards_version("bookworm") == "4.6.2"
    assert standards_version("bookworm-backports") == "4.6.2"
    assert standards_version("unstable") == "4.6.2"
    assert standards_version("trixie") == "4.7.2"
    control = DebPayload.for_spec(echo_spec(distribution="bookworm")).text("control")
    assert "Standards-Version: 4.6.2\n" in control


def test_default_synopsis_has_no_article_and_no_override() -> None:
    payload = DebPayload.for_spec(echo_spec())
    assert payload.spec.summary == "Server for echo"
    overrides = payload.text("{pkg}.lintian-overrides") + payload.text("source/lintian-overrides")
    assert "description-synopsis-starts-with-article" not in overrides
    assert "newer-standards-version" not in overrides


def reasoned(path: Path, comment: str = "#") -> list[str]:
    """The override or filter lines of ``path`` not preceded by a comment giving a reason."""
    bare, reason = [], False
    for line in path.read_text().splitlines():
        if line.startswith(comment):
            reason = reason or len(line.strip()) > 20
        elif line.strip():
            if not reason:
                bare.append(line)
        else:
            reason = False
    return bare


@pytest.fixture(scope="module")
def deb_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    if shutil.which("dpkg-buildpackage") is None:
        pytest.skip("dpkg-buildpackage is not installed")
    return build(echo_spec(distribution="bookworm"), tmp_path_factory.mktemp("deb"), "deb", "dpkg")


@needs("lintian")
@pytest.mark.slow
def test_lintian_pedantic_finds_no_error_or_warning(deb_build: BuildResult) -> None:
    changes = next(p for p in deb_build.paths() if p.suffix == ".changes")
    deb = next(p for p in deb_build.paths() if p.suffix == ".deb")
    dsc = next(p for p in deb_build.paths() if p.suffix == ".dsc")
    proc = subprocess.run(["lintian", "-EvIL", "+pedantic", "--color", "never", "--show-overrides",
                           str(changes), str(deb), str(dsc)], capture_output=True, text=True)
    tags = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert not tags, proc.stdout
    tree = changes.parent / "echo-1.0" / "debian"
    for overrides in (tree / "echo.lintian-overrides", tree / "source" / "lintian-overrides"):
        assert not reasoned(overrides), f"{overrides.name}: an override without its reason"
    assert "unused-override" not in proc.stdout


@needs("shellcheck")
@pytest.mark.slow
def test_shellcheck_passes_the_init_script_and_maintainer_scripts(deb_build: BuildResult,
                                                                  tmp_path: Path) -> None:
    deb = next(p for p in deb_build.paths() if p.suffix == ".deb")
    subprocess.run(["dpkg-deb", "-e", str(deb), str(tmp_path / "control")], check=True)
    scripts = [tmp_path / "control" / name for name in ("preinst", "postinst", "prerm", "postrm")]
    low = DebPayload.for_spec(echo_spec(ports=(80,)))
    twisted = DebPayload.for_spec(twisted_spec(ports=(80,)))
    for name, payload in (("init-low", low), ("init-twisted", twisted)):
        (tmp_path / name).write_text(payload.text("{pkg}.init"))
        scripts.append(tmp_path / name)
    scripts.append(deb_build.paths()[0].parent / "echo-1.0" / "debian" / "echo.init")
    proc = subprocess.run(["shellcheck", "-s", "sh", *map(str, scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_postinst_byte_compiles_and_prerm_removes_the_byte_code() -> None:
    payload = DebPayload.for_spec(echo_spec())
    assert "py3compile -p echo /usr/lib/echo" in payload.text("{pkg}.postinst")
    assert "py3clean -p echo" in payload.text("{pkg}.prerm")
    assert "#DEBHELPER#" in payload.text("{pkg}.prerm")


# --- the init script, run against stubs ----------------------------------------------------------------

def run_init(tmp_path: Path, script: str, action: str, daemon_status: int) -> tuple[int, list[str]]:
    """Run the init script with ``start-stop-daemon`` exiting ``daemon_status``; its status and calls."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    for name, body in (("start-stop-daemon", f'echo "ssd $*" >> {log}; exit {daemon_status}'),
                       ("install", f'echo "install $*" >> {log}')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    functions = tmp_path / "init-functions"
    functions.write_text("log_daemon_msg() { :; }\nlog_end_msg() { return $1; }\n")
    text = (script.replace("/lib/lsb/init-functions", str(functions))
            .replace("PATH=/sbin:/usr/sbin:/bin:/usr/bin\n", "")
            .replace('[ -x "$DAEMON" ] || exit 0', ":"))
    assert str(functions) in text
    path = tmp_path / "init"
    path.write_text(text)
    log.unlink(missing_ok=True)
    proc = subprocess.run(["sh", str(path), action], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True)
    return proc.returncode, log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("make", [echo_spec, twisted_spec], ids=["tapd", "twisted"])
def test_init_script_start_fails_when_the_daemon_fails(make: Callable[[], PackageSpec],
                                                       tmp_path: Path) -> None:
    script = DebPayload.for_spec(make()).text("{pkg}.init")
    status, _calls = run_init(tmp_path, script, "start", 1)
    assert status != 0  # so postinst's invoke-rc.d ... || exit 1 sees it
    status, calls = run_init(tmp_path, script, "start", 0)
    assert status == 0
    assert all("--oknodo" in c for c in calls if c.startswith("ssd"))
    status, calls = run_init(tmp_path, script, "stop", 0)
    assert status == 0 and "--oknodo" in calls[-1]


def test_init_script_starts_as_root_for_a_port_below_1024(tmp_path: Path) -> None:
    high = DebPayload.for_spec(echo_spec()).text("{pkg}.init")
    _status, calls = run_init(tmp_path, high, "start", 0)
    assert "--chuid echo:echo" in calls[-1]
    low = DebPayload.for_spec(echo_spec(ports=(80,))).text("{pkg}.init")
    _status, calls = run_init(tmp_path, low, "start", 0)
    assert "--chuid" not in calls[-1]
    assert "--uid echo --gid echo" in calls[-1]  # tapd binds, then drops to the user
    assert any("install -o echo -g echo -m 0640 /dev/null /var/log/echo/echo.log" in c for c in calls)


# --- RPM ------------------------------------------------------------------------------------------------

def test_spec_follows_the_fedora_rules() -> None:
    text = rpm_sources(echo_spec()).spec_text
    assert "URL:            https://example.org/echo\n" in text
    assert "Requires(pre):  shadow-utils\n" in text
    assert re.search(r"^Provides:       bundled\(tap2pkg-runtime\) = \S+$", text, re.MULTILINE)
    assert "%license %{_defaultlicensedir}/%{name}/LICENSE.tap2pkg\n" in text
    assert "enable --now" not in text and "systemctl --no-reload preset echo.service" in text
    assert "exit 0" not in text.split("%pre\n", 1)[1].split("%post\n", 1)[0]
    twisted = rpm_sources(twisted_spec()).spec_text
    assert "bundled(" not in twisted  # the distribution's Twisted runs it: nothing bundled but the launcher


def test_license_text_fits_the_runtime() -> None:
    def text(spec: PackageSpec) -> str:
        return next(s.data.decode() for s in rpm_sources(spec).sources if s.name.endswith(".license"))

    assert "/usr/lib/echo/tap2pkg" in text(echo_spec()) and "MIT License" in text(echo_spec())
    twisted = text(twisted_spec())
    assert "/usr/lib/simple/twisted-launcher" in twisted and "tap2pkg runtime" not in twisted


def test_pre_fails_the_install_when_the_user_cannot_be_made(tmp_path: Path) -> None:
    pre = rpm_sources(echo_spec()).scriptlets["pre"].replace("/var/", f"{tmp_path}/var/")
    for sub in ("lib", "log"):
        (tmp_path / "var" / sub).mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "getent").write_text("#!/bin/sh\nexit 2\n")  # no account, and no useradd/groupadd on PATH
    (bin_dir / "getent").chmod(0o755)
    proc = subprocess.run(["/bin/sh", "-c", pre, "pre", "1"], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "could not be created" in proc.stderr


@needs("rpmlint")
def test_rpmlint_filters_carry_reasons_and_remaining_warnings_are_documented(tmp_path: Path) -> None:
    lintrc = tmp_path / "echo.rpmlintrc"
    lintrc.write_text(rpm_sources(echo_spec()).rpmlintrc)
    assert not reasoned(lintrc)
    from test_rpm_build import DOCUMENTED_WARNINGS

    docs = (DOCS / "tap2rpm.md").read_text()
    for tag in DOCUMENTED_WARNINGS:
        assert f"`{tag}" in docs, f"docs/tap2rpm.md does not say why {tag} stays"


@needs("lintian")
@needs("rpmlint")
@pytest.mark.slow
def test_an_app_file_and_a_module_with_a_python_shebang_stay_lint_clean(tmp_path: Path) -> None:
    """Twisted's own examples start with ``#!/usr/bin/env python`` and some are executable: the app file is
    read by the launcher and a module imported, neither run, so both are installed 0644 and say why."""
    app, module = tmp_path / "src" / "echo.tac", tmp_path / "src" / "echoproto.py"
    app.parent.mkdir()
    app.write_text("#!/usr/bin/env python\n" + (ECHO / "echo.tac").read_text())
    module.write_text("#!/usr/bin/env python\n" + (ECHO / "echoproto.py").read_text())
    module.chmod(0o755)
    spec = echo_spec(app_file=app, includes=(module,), distribution="bookworm")
    deb = build(spec, tmp_path / "deb", "deb", "native")
    rpm = build(spec, tmp_path / "rpm", "rpm", "native")
    for result, listing in ((deb, ["dpkg-deb", "-c"]), (rpm, ["rpm", "-qlvp"])):
        package = result.paths("package")[0]
        lines = subprocess.run([*listing, str(package)], capture_output=True, text=True, check=True).stdout
        assert re.search(r"^-rw-r--r-- .*/usr/lib/echo/echoproto\.py$", lines, re.MULTILINE), lines
    proc = subprocess.run(["lintian", "-EvIL", "+pedantic", "--color", "never", "--show-overrides",
                           *map(str, deb.paths("package") + deb.paths("source-package"))],
                          capture_output=True, text=True)
    assert not [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")], proc.stdout
    assert "unused-override" not in proc.stdout and "O: echo: script-not-executable" in proc.stdout
    lintrc = tmp_path / "rpm" / "echo.rpmlintrc"
    proc = subprocess.run(["rpmlint", "-r", str(lintrc), *map(str, rpm.paths("package"))],
                          capture_output=True, text=True)
    assert " 0 errors" in proc.stdout, proc.stdout
    assert not reasoned(lintrc), "an rpmlint filter without its reason"
