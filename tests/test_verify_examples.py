"""The example apps, packaged by tap2deb and tap2rpm with each builder, pass the whole lifecycle.

echo (a .tac with its own protocol module) and web (a .tap made by mktap) are
built at versions 1.0 and 1.1; 1.0 is installed, upgraded to 1.1 with an
edited conffile, then removed and purged, on debian:bookworm (systemd and
sysvinit) and on rpm-on-debian.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.verify import (
    DISTROS,
    VerifyContainer,
    VerifyOptions,
    read_artifact,
    verify_lifecycle,
    verify_sysvinit,
)
from tap2pkg.verify.report import PASS, RunResult

pytestmark = [pytest.mark.container, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

APPS = {
    "echo": (
        [str(EXAMPLES / "echo" / "echo.tac"), "--include", str(EXAMPLES / "echo" / "echoproto.py")],
        VerifyOptions(ports=(8007,), probe_send="hello tap2pkg\\n", probe_expect="hello tap2pkg"),
    ),
    "web": (
        [str(EXAMPLES / "web.tap")],
        VerifyOptions(ports=(8080,), probe_send="GET / HTTP/1.0\\r\\n\\r\\n", probe_expect=" 200 "),
    ),
}
BUILDS = [("tap2deb", "native"), ("tap2deb", "dpkg"), ("tap2rpm", "native"), ("tap2rpm", "rpmbuild")]


def _build(tool: str, builder: str, app: str, version: str, out: Path) -> Path:
    argv = [
        sys.executable,
        "-m",
        f"tap2pkg.cli.{tool}",
        "--binary-only",
        "--builder",
        builder,
        "-V",
        version,
        "-o",
        str(out),
        *APPS[app][0],
    ]
    if tool == "tap2deb":
        argv += ["-u", "-m", "tap2pkg tests <tests@example.org>"]
    subprocess.run(argv, check=True, capture_output=True)
    pattern = f"{app}_{version}-1_all.deb" if tool == "tap2deb" else f"{app}-{version}-1.noarch.rpm"
    return out / pattern


def _assert_passed(run: RunResult) -> None:
    assert all(step.status == PASS for step in run.steps), "\n".join(
        f"{s.name} {s.status} {s.detail}\n{s.log}" for s in run.steps)


@pytest.mark.parametrize(("tool", "builder"), BUILDS)
@pytest.mark.parametrize("app", sorted(APPS))
def test_example_passes_the_whole_lifecycle(
    client: Any, images: dict[str, str], tmp_path: Path, app: str, tool: str, builder: str
) -> None:
    old = read_artifact(_build(tool, builder, app, "1.0", tmp_path / "old"))
    new = read_artifact(_build(tool, builder, app, "1.1", tmp_path / "new"))
    distro = DISTROS["debian:bookworm" if tool == "tap2deb" else "rpm-on-debian"]
    base = APPS[app][1]
    options = VerifyOptions(base.ports, base.probe_send, base.probe_expect, upgrade_from=old)
    with VerifyContainer(client, images[distro.name]) as box:
        run = verify_lifecycle(box, distro, new, options)
    _assert_passed(run)
    assert f"runs as {app}" in run.steps[2].detail
    assert "kept" in run.steps[5].detail
    if tool == "tap2deb":
        with VerifyContainer(client, images[distro.name], systemd=False) as box:
            sysv = verify_sysvinit(box, distro, new, options)
        _assert_passed(sysv)


def test_verify_builds_an_app_file_at_two_versions_and_tests_the_upgrade(
    images: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from tap2pkg.cli.tap2pkg import main

    code = main(
        [
            "verify",
            str(EXAMPLES / "web.tap"),
            "--distro",
            "debian:bookworm",
            "--no-sysvinit",
            "--json",
            "--probe-send",
            "GET / HTTP/1.0\\r\\n\\r\\n",
            "--probe-expect",
            " 200 ",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    (run,) = json.loads(out)["runs"]
    assert (run["package"], run["version"]) == ("web", "1.1-1")
    upgrade = next(step for step in run["steps"] if step["name"] == "upgrade")
    assert upgrade["status"] == "pass" and upgrade["detail"].startswith("1.0-1 -> 1.1-1")
