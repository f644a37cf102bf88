"""``tap2pkg verify`` and ``tap2pkg images`` without containers: artifacts, errors, reports, recipe hashes."""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.cli.tap2pkg import main
from tap2pkg.errors import UsageError
from tap2pkg.verify import read_artifact
from tap2pkg.verify.errors import AppBuildError, EngineUnavailableError, ImageMissingError, NotAPackageError
from tap2pkg.verify.images import DISTROS, containers_dir, find_image
from tap2pkg.verify.report import (
    FAIL,
    PASS,
    SKIP,
    RunResult,
    StepResult,
    summary_table,
    to_json,
    to_junit_xml,
)

DATA = Path(__file__).parent / "data" / "verify"
sys.path.insert(0, str(DATA))
import tinypkg  # noqa: E402 - the fixture builder lives with the fixture data


@pytest.fixture(scope="module")
def tiny_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed")
    return tinypkg.build_deb(tmp_path_factory.mktemp("deb"))


def test_reads_name_version_and_conffiles_of_a_deb(tiny_deb: Path) -> None:
    artifact = read_artifact(tiny_deb)
    assert (artifact.family, artifact.name, artifact.version) == ("deb", "tinyweb", "1.0-1")
    assert "/etc/tinyweb/tinyweb.conf" in artifact.conffiles


@pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild not installed")
def test_reads_name_and_version_of_an_rpm(tmp_path: Path) -> None:
    artifact = read_artifact(tinypkg.build_rpm(tmp_path, version="2.5"))
    assert (artifact.family, artifact.name, artifact.version) == ("rpm", "tinyweb", "2.5-1")


def test_a_file_that_is_not_a_package_is_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "app.deb"
    bogus.write_text("print('hello')\n")
    with pytest.raises(NotAPackageError, match=r"not a \.deb or \.rpm"):
        read_artifact(bogus)
    assert main(["verify", str(bogus)]) == NotAPackageError.exit_code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "app.deb: not a .deb or .rpm package" in err


def test_a_missing_artifact_is_refused_before_any_engine_is_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "/nonexistent/pkg.deb"]) == NotAPackageError.exit_code
    assert "/nonexistent/pkg.deb: cannot read it" in capsys.readouterr().err


def test_no_engine_says_how_to_start_one_and_which_host_was_tried(
    tiny_deb: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main(["verify", str(tiny_deb)]) == EngineUnavailableError.exit_code == 88
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "unix:///nonexistent/docker.sock" in err and "ci/start-dockerd.sh" in err


class _NoImages:
    """A docker client stand-in that has no image at all."""

    class images:
        @staticmethod
        def get(ref: str) -> None:
            import docker.errors

            raise docker.errors.ImageNotFound(ref)


def test_a_missing_image_names_the_exact_build_command() -> None:
    with pytest.raises(ImageMissingError, match=r"`tap2pkg images build --offline debian:trixie`"):
        find_image(_NoImages(), DISTROS["debian:trixie"])
    with pytest.raises(ImageMissingError, match=r"`tap2pkg images build fedora:41`"):
        find_image(_NoImages(), DISTROS["fedora:41"])


def test_image_tags_follow_the_recipe_and_change_only_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bookworm = DISTROS["debian:bookworm"]
    tag = bookworm.tag("offline")
    assert tag.startswith("tap2pkg/debian:bookworm-") and len(tag.rsplit("-", 1)[1]) == 12
    assert bookworm.tag("offline") == tag
    assert DISTROS["debian:trixie"].tag("offline") != tag
    assert DISTROS["rpm-on-debian"].tag("offline").startswith("tap2pkg/rpm-on-debian:bookworm-")
    copy = tmp_path / "containers"
    shutil.copytree(containers_dir(), copy)
    monkeypatch.setenv("TAP2PKG_CONTAINERS", str(copy))
    assert bookworm.tag("offline") == tag
    with (copy / "offline" / "rootfs.sh").open("a") as recipe:
        recipe.write("# a change\n")
    assert bookworm.tag("offline") != tag
    assert bookworm.tag("dockerfile") == DISTROS["debian:bookworm"].tag("dockerfile")


def _runs() -> list[RunResult]:
    good = RunResult(
        "debian:bookworm",
        "tap2pkg/debian:bookworm-0123456789ab",
        "echo",
        "1.0-1",
        "echo.deb",
        "systemd",
        steps=[
            StepResult("install", "2 install", PASS, 1.25, "echo 1.0-1 installed"),
            StepResult("upgrade", "6 upgrade", SKIP, 0.0, "no older build given"),
        ],
        seconds=3.5,
    )
    bad = RunResult(
        "rpm-on-debian",
        "tap2pkg/rpm-on-debian:bookworm-ba9876543210",
        "echo",
        "1.0-1",
        "echo.rpm",
        "systemd",
        stand_in=DISTROS["rpm-on-debian"].stand_in,
        steps=[
            StepResult(
                "running",
                "3 unit active",
                FAIL,
                4.0,
                "main process 42 runs as root",
                "journal line 1\njournal line 2",
            )
        ],
        seconds=4.0,
    )
    return [good, bad]


def test_summary_table_names_distro_image_step_result_seconds_and_the_stand_in() -> None:
    table = summary_table(_runs())
    assert table.splitlines()[0].split() == ["distro", "image", "init", "step", "result", "seconds"]
    assert "tap2pkg/debian:bookworm-0123456789ab" in table
    assert any(line.split()[-2:] == ["FAIL", "4.0"] for line in table.splitlines())
    assert "rpm-on-debian is Debian bookworm with rpm: a stand-in for Fedora, not Fedora" in table


def test_json_report_carries_every_step_and_the_overall_result() -> None:
    document = json.loads(to_json(_runs()))
    assert document["passed"] is False
    assert [run["passed"] for run in document["runs"]] == [True, False]
    assert document["runs"][1]["stand_in"].endswith("not Fedora")
    assert document["runs"][1]["steps"][0]["log"].startswith("journal line 1")


def test_junit_report_has_a_case_per_step_with_failures_and_skips() -> None:
    root = ET.fromstring(to_junit_xml(_runs()))
    suites = root.findall("testsuite")
    assert [s.get("failures") for s in suites] == ["0", "1"]
    failure = suites[1].find("testcase/failure")
    assert failure is not None and failure.get("message") == "main process 42 runs as root"
    assert suites[0].find("testcase[@name='upgrade']/skipped") is not None
    images = [p.get("value") for p in root.iter("property") if p.get("name") == "image"]
    assert images == ["tap2pkg/debian:bookworm-0123456789ab", "tap2pkg/rpm-on-debian:bookworm-ba9876543210"]


def test_unknown_distro_is_a_usage_error(tiny_deb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["images", "build", "--offline", "gentoo:latest"])
    err = capsys.readouterr().err
    if "no docker engine" in err:
        pytest.skip("no docker engine to reach the distro check")
    assert code == 64 and "unknown distro gentoo:latest" in err


@pytest.mark.parametrize(
    ("version", "expected"), [("1.0", "1.1"), ("2", "3"), ("1.2.9", "1.2.10"), ("0.9~rc1", "0.9~rc2")]
)
def test_the_upgrade_built_from_an_app_file_raises_the_last_number(version: str, expected: str) -> None:
    from tap2pkg.verify.appbuild import next_version

    assert next_version(version) == expected


def test_an_app_file_that_does_not_build_is_one_line_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "broken.tac"
    app.write_text("this is not python (\n")
    assert main(["verify", str(app), "--distro", "debian:bookworm"]) == AppBuildError.exit_code == 90
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "broken.tac: `tap2pkg build` at version 1.0 failed" in err


@pytest.mark.parametrize("live", [True, False])
def test_progress_spins_on_a_terminal_and_prints_plain_lines_otherwise(live: bool) -> None:
    import io
    import time

    from tap2pkg.verify.report import Progress

    stream = io.StringIO()
    progress = Progress(stream, live=live)
    run, step = _runs()[1], StepResult("running", "3 unit active as its user")
    progress.run_started(run)
    progress.step_started(run, step)
    time.sleep(0.35)
    step.status, step.seconds, step.detail, step.log = FAIL, 0.35, "runs as root", "journal tail"
    progress.step_finished(run, step)
    text = stream.getvalue()
    assert text.startswith("== echo 1.0-1 on rpm-on-debian (tap2pkg/rpm-on-debian:bookworm-ba9876543210)")
    assert "FAIL 3 unit active as its user (0.3s): runs as root\n       | journal tail\n" in text
    assert ("\r" in text and "3 unit active as its user ..." in text) is live


class _FakeBox:
    """A container stand-in for the purge and diff steps: account databases, paths, and what purge does."""

    PASSWD = ["root:x:0:0:root:/root:/bin/bash", "systemd-network:x:998:998::/:/usr/sbin/nologin"]
    GROUP = ["root:x:0:", "systemd-network:x:998:"]

    def __init__(self, purge: Any) -> None:
        self.files = {"/etc/passwd": list(self.PASSWD), "/etc/group": list(self.GROUP),
                      "/etc/shadow": [], "/etc/gshadow": []}
        self.paths: set[str] = set()
        self.purge = purge
        self.packages = {"base-files", "python3"}
        self.purged: list[list[str]] = []

    def install(self, user: str, *, brings: tuple[str, ...] = ()) -> None:
        """What installing the package does: its account (unless there), its directories, and the
        packages it pulled in (``brings``)."""
        self.packages |= {"echo", *brings}
        self.paths |= {f"/usr/lib/python3/dist-packages/{name}" for name in brings if name != "gpg-pubkey"}
        if not any(line.startswith(user + ":") for line in self.files["/etc/passwd"]):
            self.files["/etc/passwd"].append(f"{user}:x:997:997::/var/lib/echo:/usr/sbin/nologin")
            self.files["/etc/group"].append(f"{user}:x:997:")
        self.paths |= {"/var/lib/echo", "/var/log/echo", "/etc/echo"}

    def run(self, command: str | list[str], env: dict[str, str] | None = None) -> Any:
        from tap2pkg.verify.container import ExecResult

        if isinstance(command, str) and command.startswith("for f in"):
            out = "".join(f"{path}:{line}\n" for path, lines in self.files.items() for line in lines)
            return ExecResult(0, out)
        assert isinstance(command, list), command
        if command[:2] == ["dpkg", "--purge"]:
            self.purged.append(command[2:])
            self.packages -= set(command[2:])
            if command[2:] == ["echo"]:
                self.purge(self)
            else:  # what came with it
                self.paths -= {f"/usr/lib/python3/dist-packages/{name}" for name in command[2:]}
            return ExecResult(0, "")
        if command[0] == "dpkg-query":
            return ExecResult(0, "".join(f"ii  {name}\n" for name in sorted(self.packages))
                              + "rc  removed-long-ago\n")
        if command[0] == "test":
            return ExecResult(0 if command[2] in self.paths else 1, "")
        if command[0] == "python3":  # the file list snapshot
            return ExecResult(0, "".join(f"{p}\t40000\t755\t0\t0\t\n" for p in sorted(self.paths)))
        raise AssertionError(f"unexpected command {command!r}")


def _purge_run(user: str, purge: Any, brings: tuple[str, ...] = ()) -> tuple[list[StepResult], _FakeBox]:
    from tap2pkg.verify import VerifyOptions
    from tap2pkg.verify.artifact import Artifact
    from tap2pkg.verify.lifecycle import _Lifecycle

    box = _FakeBox(purge)
    run = RunResult("debian:bookworm", "image", "echo", "1.0-1", "echo.deb", "systemd")
    life = _Lifecycle(box, run, DISTROS["debian:bookworm"],  # type: ignore[arg-type]  # _FakeBox stands in for the container
                      Artifact(Path("echo.deb"), "deb", "echo", "1.0-1"), VerifyOptions(user=user), None)
    life.step("snapshot", "1 snapshot", life.step_snapshot)
    box.install(user, brings=brings)
    life.step("purge", "8 purge", life.step_purge)
    life.step("diff", "9 nothing left behind", life.step_diff)
    return run.steps, box


def _purge_keeping_the_account(box: _FakeBox) -> None:
    box.paths -= {"/var/lib/echo", "/var/log/echo", "/etc/echo"}


def test_purge_keeping_the_account_it_made_passes_and_says_so() -> None:
    steps, _box = _purge_run("echo", _purge_keeping_the_account)
    assert [s.status for s in steps] == [PASS, PASS, PASS], steps
    assert "user and group echo (uid 997) kept, as Debian and Fedora keep" in steps[1].detail
    assert steps[2].detail == "nothing left behind but the account echo, base system unchanged"


def test_purge_removes_the_packages_the_install_brought_in_with_it() -> None:
    # dnf lists the repository key it imported as the package gpg-pubkey: a key, not a brought-in package
    steps, box = _purge_run("echo", _purge_keeping_the_account,
                            brings=("python3-klein", "python3-kleinapp", "gpg-pubkey"))
    assert [s.status for s in steps] == [PASS, PASS, PASS], steps
    assert box.purged == [["echo"], ["python3-klein", "python3-kleinapp"]]  # the service first, then its set
    assert steps[1].detail.endswith("then dpkg --purge of what it brought in: "
                                    "python3-klein, python3-kleinapp")
    assert box.packages == {"base-files", "python3", "gpg-pubkey"}


def test_purge_must_not_delete_an_account_that_was_there_before() -> None:
    def purge_everything(box: _FakeBox) -> None:
        _purge_keeping_the_account(box)
        for path in ("/etc/passwd", "/etc/group"):
            box.files[path] = [line for line in box.files[path] if not line.startswith("systemd-network:")]

    steps, _box = _purge_run("systemd-network", purge_everything)
    assert steps[1].status == FAIL
    assert "user systemd-network was there before the install and purge deleted it" in steps[1].detail


def test_purge_must_delete_the_data_and_logs_it_made() -> None:
    steps, _box = _purge_run("echo", lambda box: box.paths.discard("/etc/echo"))
    assert steps[1].status == FAIL
    assert steps[1].detail == "/var/lib/echo still there; /var/log/echo still there"


def test_an_account_entry_changed_by_the_package_is_left_behind() -> None:
    def purge_adding_a_member(box: _FakeBox) -> None:
        _purge_keeping_the_account(box)
        box.files["/etc/group"] = [line + "echo" if line.startswith("systemd-network:") else line
                                   for line in box.files["/etc/group"]]

    steps, _box = _purge_run("echo", purge_adding_a_member)
    assert steps[1].status == PASS and steps[2].status == FAIL
    assert "changed: /etc/group entry systemd-network" in steps[2].log


def test_an_app_file_is_built_through_the_library_at_its_version_and_the_next(tmp_path: Path) -> None:
    from tap2pkg.verify.appbuild import build_versions

    app = tmp_path / "echo.tas"
    app.write_bytes((Path(__file__).parent / "data" / "appfiles" / "echo.tas").read_bytes())
    (tmp_path / "pyproject.toml").write_text('[tool.tap2pkg]\nversion = "2.4"\nlicense = "GPL-2.0"\n')
    pairs = build_versions(app, {"builder": "native", "release": None}, {"deb", "rpm"}, tmp_path / "out")
    assert [(b.old.family, b.old.version, b.new.version, b.companions) for b in pairs] == [
        ("deb", "2.4-1", "2.5-1", ()), ("rpm", "2.4-1", "2.5-1", ())]
    assert all(p.path.is_relative_to(tmp_path / "out") for b in pairs for p in (b.old, b.new))


def test_build_args_are_read_by_the_build_parser_and_mistakes_name_the_option() -> None:
    from tap2pkg.cli.verify import build_settings

    settings, config = build_settings(["--include=echoproto.py", "-V2.0", "--builder", "tool", "-u"])
    assert settings == {"include": ["echoproto.py"], "version": "2.0", "builder": "tool"} and config is None
    with pytest.raises(UsageError, match="--build-arg: unrecognized arguments: --frobnicate"):
        build_settings(["--frobnicate"])
    with pytest.raises(UsageError, match=r"--build-arg: -o/--output-dir is not for verify"):
        build_settings(["-o", "dist"])


def test_a_bad_build_arg_is_one_line_and_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "echo.tac"
    app.write_text("")
    assert main(["verify", str(app), "--build-arg=--set-versoin=2"]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--build-arg: unrecognized arguments: --set-versoin=2" in err


def test_a_docker_context_is_found_without_a_config_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         ) -> None:
    """``docker context create`` writes contexts/meta/<sha256 of name>/meta.json; config.json is optional."""
    import hashlib
    import json

    from tap2pkg.verify.engine import _context, docker_host
    from tap2pkg.verify.errors import EngineUnavailableError

    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"builders").hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    endpoint = {"Host": "ssh://ci@build-2", "SkipTLSVerify": False}
    meta.write_text(json.dumps({"Name": "builders", "Metadata": {}, "Endpoints": {"docker": endpoint}}))
    monkeypatch.chdir(tmp_path / "contexts")  # nothing is read relative to the current directory
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("DOCKER_CONTEXT", "builders")
    assert _context().Host == "ssh://ci@build-2"
    assert docker_host() == "ssh://ci@build-2 (docker context builders)"
    monkeypatch.setenv("DOCKER_CONTEXT", "nightly")
    with pytest.raises(EngineUnavailableError, match="DOCKER_CONTEXT=nightly: no such docker context"):
        _context()
