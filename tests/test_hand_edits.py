"""Hand edits survive: rebuilding and releasing keep the packager's changes and the package's history.

Each test runs the front ends as a packager would (``tap2deb``/``tap2rpm`` into one output directory),
edits the tree by hand between runs and checks the result with the real tools: ``dpkg-deb``,
``dpkg-parsechangelog``, ``lintian``, ``rpm -qp``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tap2pkg.cli.tap2deb import main as tap2deb_main
from tap2pkg.cli.tap2pkg import main as tap2pkg_main
from tap2pkg.cli.tap2rpm import main as tap2rpm_main
from tap2pkg.debversion import compare_versions
from tap2pkg.regen import NEW_SUFFIX

ECHO = Path(__file__).parent / "data" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-buildpackage") is None or shutil.which("dh") is None,
                                reason="dpkg-dev and debhelper are not installed")
needs_rpmbuild = pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is not installed")


@pytest.fixture(autouse=True)
def _epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


def app(tmp_path: Path) -> Path:
    for f in ECHO.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "echo.tac"


def deb(tmp_path: Path, *args: str) -> int:
    return tap2deb_main([str(app(tmp_path)), "-m", MAINTAINER, "-o", str(tmp_path / "out"),
                         "--license", "MIT", "-u", *args])


def rpm(tmp_path: Path, *args: str) -> int:
    return tap2rpm_main([str(app(tmp_path)), "-m", MAINTAINER, "-o", str(tmp_path / "out"),
                         "--license", "MIT", "-q", *args])


def sub(path: Path, pattern: str, new: str) -> None:
    text = path.read_text()
    changed = re.sub(pattern, new, text, count=1, flags=re.MULTILINE)
    assert changed != text, (path, pattern)
    path.write_text(changed)


def field(deb_file: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb_file), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def member(deb_file: Path, path: str) -> str:
    listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb_file)], capture_output=True, check=True)
    return subprocess.run(["tar", "-xO", f".{path}"], input=listing.stdout, capture_output=True,
                          check=True).stdout.decode()


def control_member(deb_file: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-I", str(deb_file), name], capture_output=True, text=True,
                          check=True).stdout


def edit_deb_tree(tree: Path) -> None:
    """The edits of the issue: control Description and Depends, the unit's Environment=, a postinst step."""
    sub(tree / "debian/control", r"^Description: .*$", "Description: Hand-edited echo service")
    sub(tree / "debian/control", r"^(Depends: .*)$", r"\1, curl")
    sub(tree / "debian/echo.service", r"^\[Service\]$", "[Service]\nEnvironment=ECHO_MODE=edited")
    sub(tree / "debian/echo.postinst", r"^#DEBHELPER#$", "#DEBHELPER#\necho hand-added-step >/dev/null")


def assert_deb_carries_edits(deb_file: Path) -> None:
    assert field(deb_file, "Description").startswith("Hand-edited echo service")
    assert "curl" in field(deb_file, "Depends")
    assert "Environment=ECHO_MODE=edited" in member(deb_file, "/lib/systemd/system/echo.service")
    assert "hand-added-step" in control_member(deb_file, "postinst")


@needs_dpkg
def test_edits_survive_a_rebuild_with_both_builders_and_unedited_ones_are_regenerated(tmp_path: Path) -> None:
    out, tree = tmp_path / "out", tmp_path / "out/echo-1.0"
    assert deb(tmp_path) == 0
    edit_deb_tree(tree)
    # a new homepage changes control (merged with the edits) and copyright (not edited: regenerated)
    assert deb(tmp_path, "--homepage", "https://example.org/echo") == 0
    assert "Homepage: https://example.org/echo" in (tree / "debian/control").read_text()
    assert "https://example.org/echo" in (tree / "debian/copyright").read_text()
    assert_deb_carries_edits(out / "echo_1.0-1_all.deb")
    assert deb(tmp_path, "--homepage", "https://example.org/echo", "--builder", "dpkg") == 0
    assert_deb_carries_edits(out / "echo_1.0-1_all.deb")
    assert not list(tree.rglob(f"*{NEW_SUFFIX}"))


@needs_dpkg
def test_an_edited_rules_is_refused_by_native_and_lands_with_dpkg(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out, tree = tmp_path / "out", tmp_path / "out/echo-1.0"
    assert deb(tmp_path) == 0
    rules = tree / "debian/rules"
    rules.write_text(rules.read_text() + "\noverride_dh_installdocs:\n\tdh_installdocs\n"
                     "\techo by-hand > debian/echo/usr/share/doc/echo/HAND\n")
    capsys.readouterr()
    assert deb(tmp_path) == 91
    err = capsys.readouterr().err
    assert "debian/rules" in err and "--builder dpkg" in err
    assert "override_dh_installdocs" in rules.read_text()  # the refusal lost nothing
    assert deb(tmp_path, "--builder", "dpkg") == 0
    assert member(out / "echo_1.0-1_all.deb", "/usr/share/doc/echo/HAND") == "by-hand\n"


@needs_dpkg
def test_release_1_1_from_the_edited_tree_carries_edits_and_history(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert deb(tmp_path) == 0
    edit_deb_tree(out / "echo-1.0")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700100000")  # released a day later: the new entry's date
    assert deb(tmp_path, "-V", "1.1", "--changelog-message", "Second release.") == 0
    tree = out / "echo-1.1"
    assert_deb_carries_edits(out / "echo_1.1-1_all.deb")
    log = subprocess.run(["dpkg-parsechangelog", "--all", "-l", str(tree / "debian/changelog")],
                         capture_output=True, text=True, check=True).stdout
    entries = re.findall(r"^ echo \((\S+)\) unstable", log, re.MULTILINE)
    assert entries == ["1.1-1", "1.0-1"]
    assert "Second release." in log and "Package echo.tac" in log
    lint = subprocess.run(["lintian", "--fail-on", "error,warning", str(out / "echo_1.1-1_all.deb"),
                           str(out / "echo_1.1-1.dsc")], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # the tree built as it is, with the tool builder
    assert tap2deb_main(["--from-tree", str(tree), "--builder", "dpkg", "-u"]) == 0
    assert_deb_carries_edits(out / "echo_1.1-1_all.deb")


@needs_dpkg
@pytest.mark.skipif(shutil.which("lintian") is None, reason="lintian is not installed")
def test_a_release_of_an_unchanged_app_file_is_dated_after_the_last_and_lintian_clean(tmp_path: Path) -> None:
    """The app file and SOURCE_DATE_EPOCH unchanged since 1.0 (the common case): the 1.1 entry must still
    be newer than 1.0's, and the first upload's lintian override goes (it would be unused)."""
    out = tmp_path / "out"
    assert deb(tmp_path, "--builder", "dpkg") == 0
    assert deb(tmp_path, "--builder", "dpkg", "-V", "1.1") == 0
    log = subprocess.run(["dpkg-parsechangelog", "--all", "--format", "rfc822", "-l",
                          str(out / "echo-1.1/debian/changelog")], capture_output=True, text=True,
                         check=True).stdout
    stamps = [int(s) for s in re.findall(r"^Timestamp: (\d+)$", log, re.MULTILINE)]
    assert stamps == [1700000001, 1700000000]
    lint = subprocess.run(["lintian", "-EvIL", "+pedantic", "--color", "never",
                           str(out / "echo_1.1-1_amd64.changes")], capture_output=True, text=True)
    tags = [line for line in lint.stdout.splitlines()
            if line[:2] in ("E:", "W:") or "unused-override" in line]
    assert not tags, lint.stdout
    # rebuilding 1.1 adds no entry and keeps the tree in sync
    assert deb(tmp_path, "-V", "1.1", "--diff") == 0


@needs_rpmbuild
def test_a_release_is_never_dated_before_the_entry_below_it(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert rpm(tmp_path) == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")  # a clock or a tag older than the last release
    assert rpm(tmp_path, "--builder", "rpmbuild", "-V", "1.1") == 0
    log = rpm_q(out / "echo-1.1-1.noarch.rpm", "--changelog")
    assert re.findall(r"^\* (.*?) Jane", log, re.MULTILINE) == ["Tue Nov 14 2023", "Tue Nov 14 2023"]


def test_a_lower_version_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deb(tmp_path, "-V", "1.1", "--binary-only") == 0
    capsys.readouterr()
    assert deb(tmp_path, "-V", "1.0", "--binary-only") == 81
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "1.0-1 is lower than 1.1-1" in err
    assert not (tmp_path / "out/echo-1.0").exists()


def test_a_conflicting_edit_leaves_markers_builds_nothing_and_exits_94(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]
                                                                     ) -> None:
    out = tmp_path / "out"
    assert deb(tmp_path, "--binary-only") == 0
    edit_deb_tree(out / "echo-1.0")
    capsys.readouterr()
    # the release changes the summary, the very line the packager edited
    assert deb(tmp_path, "--binary-only", "-V", "1.1", "-e", "A new summary") == 94
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "debian/control" in err[0] and NEW_SUFFIX in err[0]
    control = (out / "echo-1.1/debian/control").read_text()
    assert "<<<<<<< edited" in control and "Description: Hand-edited echo service" in control
    assert "Description: A new summary" in (out / f"echo-1.1/debian/control{NEW_SUFFIX}").read_text()
    assert not (out / "echo_1.1-1_all.deb").exists()
    # run again unresolved: still refused; resolved (the packager's line kept): built, the edit kept
    assert deb(tmp_path, "--binary-only", "-V", "1.1", "-e", "A new summary") == 94
    (out / "echo-1.1/debian/control").write_text(re.sub(
        r"<<<<<<< edited\n(.*?)=======\n.*?>>>>>>> generated\n", r"\1", control, flags=re.S))
    assert deb(tmp_path, "--binary-only", "-V", "1.1", "-e", "A new summary") == 0
    assert field(out / "echo_1.1-1_all.deb", "Description").startswith("Hand-edited echo service")
    assert "Description=A new summary" in (out / "echo-1.1/debian/echo.service").read_text()
    assert not (out / f"echo-1.1/debian/control{NEW_SUFFIX}").exists()


def test_force_regenerate_discards_and_says_what(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert deb(tmp_path, "--binary-only") == 0
    edit_deb_tree(out / "echo-1.0")
    (out / "echo-1.0/debian/NOTES").write_text("mine\n")
    capsys.readouterr()
    assert deb(tmp_path, "--binary-only", "--force-regenerate") == 0
    err = capsys.readouterr().err
    for name in ("debian/control", "debian/echo.service", "debian/echo.postinst", "debian/NOTES"):
        assert f"discarded your edit of {name}" in err or f"discarded your added file {name}" in err
    assert "Hand-edited" not in (out / "echo-1.0/debian/control").read_text()


def test_an_added_file_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert deb(tmp_path, "--source-only") == 0
    (out / "echo-1.0/debian/watch").write_text("version=4\n")
    assert deb(tmp_path, "--source-only", "-V", "1.1") == 0
    assert (out / "echo-1.1/debian/watch").read_text() == "version=4\n"


def test_diff_is_empty_on_a_clean_tree_and_shows_an_edit(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert deb(tmp_path, "--diff") == 1  # nothing built yet: one line, not the whole tree as added lines
    assert capsys.readouterr().out == f"Only in generated: {out / 'echo-1.0'} (no source tree there yet: " \
        "a build writes it)\n"
    assert deb(tmp_path, "--binary-only") == 0
    capsys.readouterr()
    assert deb(tmp_path, "--diff") == 0
    assert capsys.readouterr().out == ""
    sub(out / "echo-1.0/debian/echo.service", r"^\[Service\]$", "[Service]\nEnvironment=ECHO_MODE=edited")
    assert deb(tmp_path, "--diff") == 1
    diff = capsys.readouterr().out
    assert "+++ echo-1.0/debian/echo.service" in diff and "+Environment=ECHO_MODE=edited" in diff


# --- RPM ---------------------------------------------------------------------------------------------

def rpm_q(path: Path, *query: str) -> str:
    return subprocess.run(["rpm", "-qp", *query, str(path)], capture_output=True, text=True,
                          check=True).stdout


def edit_spec_dir(out: Path) -> None:
    sub(out / "echo.spec", r"^Summary:.*$", "Summary:        Hand-edited echo service")
    sub(out / "echo.spec", r"^(Requires:\s+logrotate)$", r"\1\nRequires:       curl")
    sub(out / "echo.service", r"^\[Service\]$", "[Service]\nEnvironment=ECHO_MODE=edited")


@needs_rpmbuild
def test_rpm_edits_and_history_survive_a_release(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert rpm(tmp_path, "--builder", "rpmbuild") == 0
    edit_spec_dir(out)
    assert rpm(tmp_path, "--builder", "rpmbuild") == 0  # same version: kept
    assert rpm_q(out / "echo-1.0-1.noarch.rpm", "--qf", "%{SUMMARY}") == "Hand-edited echo service"
    assert rpm(tmp_path, "--builder", "rpmbuild", "-V", "1.1", "--changelog-message", "Second release.") == 0
    for built in (out / "echo-1.1-1.noarch.rpm", out / "echo-1.1-1.src.rpm"):
        assert rpm_q(built, "--qf", "%{SUMMARY}") == "Hand-edited echo service"
    binary = out / "echo-1.1-1.noarch.rpm"
    assert "curl" in rpm_q(binary, "--requires")
    log = rpm_q(binary, "--changelog")
    assert re.findall(r" - (\S+)\n", log) == ["1.1-1", "1.0-1"] and "- Second release." in log
    unit = subprocess.run(f"rpm2cpio {binary} | cpio -i --to-stdout ./usr/lib/systemd/system/echo.service",
                          shell=True, capture_output=True, text=True, check=True).stdout
    assert "Environment=ECHO_MODE=edited" in unit


@needs_rpmbuild
def test_rpm_conflict_lower_version_and_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert rpm(tmp_path, "--builder", "rpmbuild", "-V", "1.1") == 0
    capsys.readouterr()
    assert rpm(tmp_path, "--diff", "-V", "1.1") == 0
    edit_spec_dir(out)
    assert rpm(tmp_path, "--diff", "-V", "1.1") == 1
    assert "+Summary:        Hand-edited echo service" in capsys.readouterr().out
    assert rpm(tmp_path, "--builder", "rpmbuild", "-V", "1.0") == 81
    capsys.readouterr()
    assert rpm(tmp_path, "--builder", "rpmbuild", "-V", "1.2", "-e", "A new summary") == 94
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "echo.spec" in err[-1]
    spec = (out / "echo.spec").read_text()
    assert "<<<<<<< edited" in spec and "Hand-edited echo service" in spec
    assert (out / f"echo.spec{NEW_SUFFIX}").is_file()
    assert not (out / "echo-1.2-1.noarch.rpm").exists()


# --- versions ----------------------------------------------------------------------------------------

VERSIONS = ["1.0", "1.0-1", "1.0-2", "1.0~rc1-1", "1.0+b1", "1.0.1", "1:0.9", "1.0a", "1.0-1.1", "2",
            "10", "1.0~~", "1.0~", "0.9-10"]


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
def test_version_order_is_dpkgs() -> None:
    for a in VERSIONS:
        for b in VERSIONS:
            ours = compare_versions(a, b)
            lower = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0
            equal = subprocess.run(["dpkg", "--compare-versions", a, "eq", b], check=False).returncode == 0
            assert ours == (-1 if lower else 0 if equal else 1), (a, b)


# --- in a container ----------------------------------------------------------------------------------

@pytest.mark.container
@pytest.mark.slow
@needs_dpkg
def test_upgrade_1_0_to_edited_1_1_passes_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tap2pkg_main(["images", "build", "--offline", "debian:bookworm"]) == 0
    out, echo = tmp_path / "out", tmp_path / "echo.tap"
    assert tap2pkg_main(["mktap", "echo", "--port", "8007", "-o", str(echo)]) == 0

    def build(*args: str) -> int:
        return tap2deb_main([str(echo), "-m", MAINTAINER, "-o", str(out), "-u", "--binary-only", *args])

    assert build() == 0
    shutil.copy(out / "echo_1.0-1_all.deb", tmp_path / "old.deb")
    sub(out / "echo-1.0/debian/echo.service", r"^\[Service\]$", "[Service]\nEnvironment=ECHO_MODE=edited")
    assert build("-V", "1.1") == 0
    new = out / "echo_1.1-1_all.deb"
    assert "Environment=ECHO_MODE=edited" in member(new, "/lib/systemd/system/echo.service")
    capsys.readouterr()
    code = tap2pkg_main(["verify", str(new), "--upgrade-from", str(tmp_path / "old.deb"),
                         "--distro", "debian:bookworm", "--port", "8007", "--keep",
                         "--probe-send", "hello\\n", "--probe-expect", "hello", "--json"])
    report = capsys.readouterr().out
    kept = [run["container"] for run in json.loads(report)["runs"] if run.get("container")]
    try:
        assert code == 0, report
        # verify purged the package at its end: upgrade again in its systemd container and read the
        # running service's environment, so the unit that runs is the edited one
        systemd = next(run["container"] for run in json.loads(report)["runs"] if run["init"] == "systemd")
        for name, deb_file in (("old", tmp_path / "old.deb"), ("new", new)):
            subprocess.run(["docker", "cp", str(deb_file), f"{systemd}:/tmp/{name}.deb"], check=True)
        script = ("dpkg -i /tmp/old.deb >/dev/null && dpkg -i /tmp/new.deb >/dev/null && "
                  "systemctl is-active echo && "
                  "tr '\\0' '\\n' < /proc/$(systemctl show echo -p MainPID --value)/environ")
        proc = subprocess.run(["docker", "exec", systemd, "sh", "-c", script], capture_output=True,
                              text=True)
        assert proc.stdout.startswith("active\n"), proc.stdout + proc.stderr
        assert "ECHO_MODE=edited\n" in proc.stdout, proc.stdout
    finally:
        for container in kept:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def test_a_build_reads_only_its_own_packages_states_in_a_shared_output_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release directory holding many packages: each build reads its package's records, not all of
    them (a batch of 50 read 1,225 records of up to 250 KB each before)."""
    from tap2pkg import tree_state

    apps = []
    for name in ("echo", "echo2", "other", "zecho"):
        shutil.copy(ECHO / "echo.tac", tmp_path / f"{name}.tac")
        apps.append(str(tmp_path / f"{name}.tac"))
    common = ["--include", str(ECHO / "echoproto.py"), "-m", MAINTAINER, "-o", str(tmp_path / "out"),
              "--binary-only", "-u"]
    assert tap2pkg_main(["build", *apps, *common]) == 0
    assert len(list((tmp_path / "out" / tree_state.STATE_DIR).glob("*.json"))) == 8  # 4 packages, 2 formats
    loaded: list[str] = []
    real_load = tree_state.State.load

    def counting_load(path: Path) -> tree_state.State | None:
        loaded.append(path.name)
        return real_load(path)

    monkeypatch.setattr(tree_state.State, "load", staticmethod(counting_load))
    sub(tmp_path / "out" / "echo-1.0" / "debian" / "echo.default", r"\Z", "# a packager's note\n")
    assert tap2pkg_main(["build", apps[0], *common]) == 0
    # its own record per format, and at most a package whose name starts with its own (echo2)
    assert set(loaded) <= {"deb-echo-1.0.json", "deb-echo2-1.0.json", "rpm-echo.json", "rpm-echo2.json"}
    assert {"deb-echo-1.0.json", "rpm-echo.json"} <= set(loaded)
    assert "# a packager's note" in (tmp_path / "out" / "echo-1.0" / "debian" / "echo.default").read_text()
