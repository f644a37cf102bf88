"""verify --jobs N: the verdicts of one at a time, every run in the reports, one progress line per run."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.verify.report import FAIL, PASS, ParallelProgress, RunResult, StepResult

ECHO = Path(__file__).resolve().parents[1] / "examples" / "echo"
TAP2PKG = [sys.executable, "-m", "tap2pkg.cli.tap2pkg"]


def _two_runs(*, live: bool) -> tuple[io.StringIO, ParallelProgress, RunResult, RunResult]:
    """A progress display on a fresh stream, with the runs of packages one and two started."""
    stream = io.StringIO()
    progress = ParallelProgress(stream, live=live)
    one, two = (RunResult("debian:bookworm", "img", name, "1.0-1", f"{name}.deb", "systemd")
                for name in ("one", "two"))
    for run in (one, two):
        progress.run_started(run)
    return stream, progress, one, two


def test_plain_progress_prefixes_every_line_with_its_run() -> None:
    stream, progress, one, two = _two_runs(live=False)
    progress.step_finished(two, StepResult("install", "2 install", PASS, 1.25))
    progress.step_finished(one, StepResult("install", "2 install", FAIL, 0.5, "exit 100", "E: broken"))
    lines = stream.getvalue().splitlines()
    assert lines[2] == "ok   [two 1.0-1 on debian:bookworm, systemd] 2 install (1.2s)"
    assert lines[3] == "FAIL [one 1.0-1 on debian:bookworm, systemd] 2 install (0.5s): exit 100"
    assert lines[4] == "       | E: broken"
    assert "\x1b" not in stream.getvalue()


def test_live_progress_keeps_one_line_per_run() -> None:
    stream, progress, one, two = _two_runs(live=True)
    progress.step_started(one, StepResult("install", "2 install"))
    progress.step_finished(two, StepResult("diff", "9 nothing left behind", PASS, 0.3))
    last_frame = stream.getvalue().rsplit("\x1b[2F", 1)[1]
    assert [line.replace("\x1b[2K", "") for line in last_frame.splitlines()] == [
        "..   one 1.0-1 on debian:bookworm, systemd: 2 install",
        "ok   two 1.0-1 on debian:bookworm, systemd: 9 nothing left behind (0.3s)",
    ]


def test_jobs_must_be_positive(tmp_path: Path) -> None:
    deb = tmp_path / "x.deb"
    deb.write_bytes(b"!<arch>\ndebian-binary   ")
    proc = subprocess.run([*TAP2PKG, "verify", "--jobs", "0", str(deb)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 64
    assert "--jobs 0: run at least 1 at a time" in proc.stderr


@pytest.fixture(scope="module")
def four_packages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("four")
    for version in ("1.0", "1.1"):
        subprocess.run([*TAP2PKG, "build", "-m", "Me <me@example.org>", "-V", version, "--binary-only",
                        "-o", str(out), str(ECHO / "echo.tac"), "--include", str(ECHO / "echoproto.py")],
                       check=True, capture_output=True)
    return sorted(out.glob("*.deb")) + sorted(out.glob("*.rpm"))


def _verify(packages: list[Path], jobs: int, junit: Path) -> tuple[dict[str, Any], str]:
    proc = subprocess.run([*TAP2PKG, "verify", *map(str, packages), "--no-sysvinit", "--json",
                           "--jobs", str(jobs), "--junit-xml", str(junit)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout), proc.stderr


def _verdicts(document: dict[str, Any]) -> list[tuple[str, str, str, str, list[tuple[str, str]]]]:
    return [(r["package"], r["version"], r["distro"], r["init"],
             [(s["name"], s["status"]) for s in r["steps"]]) for r in document["runs"]]


@pytest.mark.container
def test_jobs_2_gives_the_verdicts_of_jobs_1_and_reports_every_run(four_packages: list[Path],
                                                                    tmp_path: Path) -> None:
    one, _ = _verify(four_packages, 1, tmp_path / "one.xml")
    two, progress = _verify(four_packages, 2, tmp_path / "two.xml")
    assert _verdicts(two) == _verdicts(one)
    assert len(two["runs"]) == 4 and two["passed"] is one["passed"] is True
    suites = ET.parse(tmp_path / "two.xml").getroot().findall("testsuite")
    assert sorted(s.get("name", "") for s in suites) == sorted(
        f"echo {v} on {d} (systemd)"
        for v in ("1.0-1", "1.1-1") for d in ("debian:bookworm", "rpm-on-debian"))
    # not a terminal: plain lines, each naming its run
    assert "ok   [echo 1.1-1 on rpm-on-debian, systemd] 9 nothing left behind" in progress
    assert "\x1b[" not in progress
