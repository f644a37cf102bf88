"""Both RPM builders from one PackageSpec: same package, reproducible, lint-clean, hand-editable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tap2pkg.builders import BuildOptions, BuildResult, build
from tap2pkg.dependency import Dependency
from tap2pkg.errors import MissingToolError
from tap2pkg.rpm.source import rpm_sources
from tap2pkg.runtime.errors import OutputError
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"
EPOCH = 1700000000
pytestmark = pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is not installed")

#: rpmlint warnings that remain, each explained in docs/tap2rpm.md
DOCUMENTED_WARNINGS = {
    "invalid-license", "name-repeated-in-summary", "no-documentation", "non-standard-uid",
    "non-standard-gid", "only-non-binary-in-usr-lib", "invalid-url", "no-buildroot-tag",
}
QUERY = ("%{NAME}|%{VERSION}|%{RELEASE}|%{SUMMARY}|%{LICENSE}|%{URL}|%{GROUP}|%{PACKAGER}|%{ARCH}|"
         "%{BUILDTIME}|%{BUILDHOST}|%{SOURCERPM}\n%{DESCRIPTION}\n"
         "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILESIZES} "
         "%{FILEDIGESTS} %{FILEMTIMES} %{FILENAMES}\n]"
         "[%{CHANGELOGTIME} %{CHANGELOGNAME} %{CHANGELOGTEXT}\n]")


def echo_spec(**changes: object) -> PackageSpec:
    spec = PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python",
                       maintainer="Jane Doe <jane@example.org>", version="1.2", revision="3",
                       ports=(8007,), includes=(ECHO / "echoproto.py",), homepage="https://example.org/echo",
                       depends=(Dependency.parse("python3-yaml (>= 5.0)"),), source_date_epoch=EPOCH)
    return spec.replace(**changes) if changes else spec


def systemd_macros() -> bool:
    """True where rpm defines the systemd scriptlet macros (Fedora), false on Debian."""
    return subprocess.run(["rpm", "--eval", "%{?systemd_post:1}"], capture_output=True, text=True,
                          check=True).stdout.strip() == "1"


def query(rpm_file: Path, *args: str) -> str:
    return subprocess.run(["rpm", "-qp", *args, str(rpm_file)], capture_output=True, text=True,
                          check=True).stdout


def describe(rpm_file: Path) -> dict[str, str]:
    """Everything the two builders must agree on."""
    return {"meta": query(rpm_file, "--qf", QUERY), "requires": query(rpm_file, "--requires"),
            "provides": query(rpm_file, "--provides"), "scripts": query(rpm_file, "--scripts"),
            "config": query(rpm_file, "-c"), "dump": query(rpm_file, "--dump")}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuildResult]:
    out = {}
    for builder in ("native", "rpmbuild"):
        out[builder] = build(echo_spec(), tmp_path_factory.mktemp(builder), "rpm", builder)
    return out


def test_output_directory_holds_spec_sources_srpm_and_rpm(builds: dict[str, BuildResult]) -> None:
    for result in builds.values():
        names = sorted(p.name for p in result.paths())
        assert names == sorted(["echo.spec", "echo-1.2.tar.gz", "echo.service", "echo.sysusers",
                                "echo.tmpfiles", "echo.logrotate", "echo.sysconfig", "echo.rpmlintrc",
                                "echo.license",
                                "echo-1.2-3.src.rpm", "echo-1.2-3.noarch.rpm"])
        directory = result.paths()[0].parent
        assert sorted(p.name for p in directory.iterdir()) == names  # no staging left behind


def test_both_builders_make_the_same_package(builds: dict[str, BuildResult]) -> None:
    native, rpmbuild = (describe(builds[b].paths("package")[0]) for b in ("native", "rpmbuild"))
    if systemd_macros():  # rpmbuild then uses %systemd_post & co., the native writer their fallbacks
        del native["scripts"], rpmbuild["scripts"]
    for key in native:
        assert native[key] == rpmbuild[key], key
    meta = native["meta"]
    assert meta.startswith("echo|1.2|3|Server for echo|MIT|https://example.org/echo|")
    assert f"|{EPOCH}|" in meta
    for line in ("-rw-r--r-- root root cn ", "drwxr-x--- echo echo  0 ", "-rwxr-xr-x root root  "):
        assert line in meta
    for path in ("/etc/echo/echo.tac", "/etc/sysconfig/echo", "/usr/lib/echo/echoproto.py",
                 "/usr/lib/echo/tap2pkg/runtime/service.py", "/usr/lib/systemd/system/echo.service",
                 "/usr/lib/sysusers.d/echo.conf", "/usr/lib/tmpfiles.d/echo.conf", "/var/lib/echo",
                 "/var/log/echo", "/etc/logrotate.d/echo"):
        assert f" {path}\n" in meta, path
    assert native["config"].split() == ["/etc/echo/echo.tac", "/etc/logrotate.d/echo", "/etc/sysconfig/echo"]
    requires = native["requires"].splitlines()
    assert {"python3 >= 3.11", "python3-yaml >= 5.0", "logrotate", "/usr/bin/python3"} <= set(requires)


def test_rpms_pass_rpm_k(builds: dict[str, BuildResult]) -> None:
    for result in builds.values():
        for kind in ("package", "source-package"):
            out = subprocess.run(["rpm", "-K", str(result.paths(kind)[0])], capture_output=True,
                                 text=True, check=True).stdout
            assert out.rstrip().endswith("digests OK")


@pytest.mark.parametrize("builder", ["native", "rpmbuild"])
def test_two_runs_are_byte_identical(builder: str, builds: dict[str, BuildResult], tmp_path: Path) -> None:
    again = build(echo_spec(), tmp_path, "rpm", builder)
    first = builds[builder]
    for kind in ("package", "source-package", "spec", "sources"):
        for a, b in zip(first.paths(kind), again.paths(kind), strict=True):
            assert a.read_bytes() == b.read_bytes(), a.name


def test_rpmlint_finds_no_errors(builds: dict[str, BuildResult]) -> None:
    if shutil.which("rpmlint") is None:
        pytest.skip("rpmlint is not installed")
    result = builds["native"]
    outdir = result.paths()[0].parent
    files = [str(p) for p in (*builds["rpmbuild"].paths("package"), *result.paths("package"),
                              *result.paths("source-package"), *result.paths("spec"))]
    proc = subprocess.run(["rpmlint", "-r", str(outdir / "echo.rpmlintrc"), *files], capture_output=True,
                          text=True)
    assert " 0 errors," in proc.stdout, proc.stdout
    warnings = {line.split(": W: ")[1].split()[0] for line in proc.stdout.splitlines() if ": W: " in line}
    assert warnings <= DOCUMENTED_WARNINGS, proc.stdout


def test_hand_edited_spec_and_unit_rebuild(builds: dict[str, BuildResult], tmp_path: Path) -> None:
    work = tmp_path / "edit"
    shutil.copytree(builds["native"].paths()[0].parent, work)
    spec_file = work / "echo.spec"
    spec_file.write_text(spec_file.read_text().replace("Summary:        Server for echo",
                                                       "Summary:        Echo, edited by hand"))
    unit = work / "echo.service"
    unit.write_text(unit.read_text().replace("RestartSec=2", "RestartSec=7"))
    subprocess.run(["rpmbuild", "-ba", "--quiet", "--define", f"_topdir {tmp_path / 'top'}",
                    "--define", f"_sourcedir {work}", str(spec_file)], check=True, capture_output=True)
    rpm_file = tmp_path / "top/RPMS/noarch/echo-1.2-3.noarch.rpm"
    assert query(rpm_file, "--qf", "%{SUMMARY}") == "Echo, edited by hand"
    extract = tmp_path / "x"
    extract.mkdir()
    subprocess.run(f"rpm2cpio {rpm_file} | cpio -id --quiet", shell=True, cwd=extract, check=True)
    assert "RestartSec=7" in (extract / "usr/lib/systemd/system/echo.service").read_text()


def test_srpm_rebuilds(builds: dict[str, BuildResult], tmp_path: Path) -> None:
    srpm = builds["native"].paths("source-package")[0]
    subprocess.run(["rpmbuild", "--rebuild", "--quiet", "--define", f"_topdir {tmp_path}", str(srpm)],
                   check=True, capture_output=True)
    rebuilt = tmp_path / "RPMS/noarch/echo-1.2-3.noarch.rpm"
    assert describe(rebuilt)["requires"] == describe(builds["rpmbuild"].paths("package")[0])["requires"]


def test_without_rpmbuild_native_still_builds_the_rpm(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = build(echo_spec(), tmp_path / "out", "rpm")
    assert [p.name for p in result.paths("package")] == ["echo-1.2-3.noarch.rpm"]
    assert not result.paths("source-package") and "no source RPM" in result.notes[0]
    with pytest.raises(MissingToolError, match="rpmbuild"):
        build(echo_spec(), tmp_path / "out2", "rpm", "rpmbuild")
    assert not (tmp_path / "out2").exists()


def test_unwritable_output_dir_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="output-dir"):
        build(echo_spec(), blocker / "out", "rpm")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(OutputError):
            build(echo_spec(), ro, "rpm")
        assert list(ro.iterdir()) == []


def test_spec_names_every_source_it_installs() -> None:
    sources = rpm_sources(echo_spec())
    text = sources.spec_text
    assert "Source0:        %{name}-%{version}.tar.gz" in text
    for i, source in enumerate(sources.sources, start=1):
        assert f"Source{i}:        {source.name}" in text
    assert "Requires:       python3 >= 3.11" in text and "Requires:       python3-yaml >= 5.0" in text
    assert "%config(noreplace) %{_sysconfdir}/echo/echo.tac" in text
    assert "%dir %attr(0750,echo,echo) %{_localstatedir}/lib/echo" in text
    assert "%sysusers_create_compat %{SOURCE" in text and "%systemd_postun_with_restart" in text


def test_percent_signs_section_names_and_utf8_stay_literal(tmp_path: Path) -> None:
    spec = echo_spec(description="Écho ☃ at 100% %{name}", maintainer="Jane 100% <jane@example.org>",
                     long_description="%files and %{_bindir} stay literal")
    got = {}
    for builder in ("native", "rpmbuild"):
        result = build(spec, tmp_path / builder, "rpm", builder, BuildOptions(source=False))
        got[builder] = query(result.paths("package")[0], "--qf", "%{SUMMARY}|%{PACKAGER}|%{DESCRIPTION}")
    assert got["native"] == got["rpmbuild"] == (
        "Écho ☃ at 100% %{name}|Jane 100% <jane@example.org>| %files and %{_bindir} stay literal")
