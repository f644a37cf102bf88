"""The lifecycle in real containers: a good hand-made package passes, each broken one fails at its step.

Needs a docker engine (``bash ci/start-dockerd.sh``) and root for the offline
image builds; the images are built once (or reused by recipe hash) per session.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.cli.tap2pkg import main
from tap2pkg.verify import DISTROS, VerifyContainer, VerifyOptions, read_artifact, verify_lifecycle
from tap2pkg.verify.report import FAIL, PASS, RunResult

DATA = Path(__file__).parent / "data" / "verify"
sys.path.insert(0, str(DATA))
import tinypkg  # noqa: E402 - the fixture builder lives with the fixture data

pytestmark = pytest.mark.container
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tinypkgs")
    for variant in tinypkg.VARIANTS:
        tinypkg.build_deb(out, variant)
    tinypkg.build_deb(out, "good", "1.1-1")
    for variant in ("good", "postinst-fails", "leftover"):
        tinypkg.build_rpm(out, variant)
    tinypkg.build_rpm(out, "good", "1.1")
    return out


def _lifecycle(client: Any, images: dict[str, str], distro: str, path: Path, **options: Any) -> RunResult:
    """The systemd run of ``path`` on ``distro``, probing tinyweb's port."""
    with VerifyContainer(client, images[distro]) as box:
        return verify_lifecycle(box, DISTROS[distro], read_artifact(path),
                                VerifyOptions(ports=(tinypkg.PORT,), **options))


def _status(run: RunResult) -> dict[str, str]:
    return {step.name: step.status for step in run.steps}


def _no_containers_left(client: Any) -> bool:
    return not client.containers.list(all=True, filters={"label": "tap2pkg.keep=0"})


def test_good_deb_passes_every_step_with_systemd_and_sysvinit(
    client: Any, images: dict[str, str], packages: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "verify.xml"
    code = main(
        [
            "verify",
            str(packages / "tinyweb_1.1-1_good_all.deb"),
            "--upgrade-from",
            str(packages / "tinyweb_1.0-1_good_all.deb"),
            "--port",
            str(tinypkg.PORT),
            "--probe-send",
            "GET / HTTP/1.0\\r\\n\\r\\n",
            "--probe-expect",
            "tinyweb 1.",
            "--json",
            "--junit-xml",
            str(junit),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    assert document["passed"] is True
    systemd, sysvinit = document["runs"]
    assert systemd["image"] == images["debian:bookworm"] and systemd["init"] == "systemd"
    assert all(step["status"] == PASS for step in systemd["steps"]), systemd["steps"]
    assert [s["name"] for s in systemd["steps"]] == [
        "snapshot",
        "install",
        "running",
        "probe",
        "restart",
        "upgrade",
        "remove",
        "purge",
        "diff",
    ]
    assert "runs as tinyweb" in systemd["steps"][2]["detail"]
    assert "edit of /etc/tinyweb/tinyweb.conf kept" in systemd["steps"][5]["detail"]
    assert sysvinit["init"] == "sysvinit" and all(step["status"] == PASS for step in sysvinit["steps"])
    assert "ok   9 nothing left behind" in err
    assert ET.parse(junit).getroot().get("name") == "tap2pkg verify"
    assert _no_containers_left(client)


@pytest.mark.parametrize(
    ("variant", "caught_by", "reason"),
    [
        ("postinst-fails", "install", "maintainer script"),
        ("exits-at-once", "running", "not running steadily"),
        ("runs-as-root", "running", "runs as root"),
        ("leftover", "diff", "/var/cache/tinyweb"),
    ],
)
def test_broken_deb_is_caught_by_the_step_that_should_catch_it(
    client: Any, images: dict[str, str], packages: Path, variant: str, caught_by: str, reason: str
) -> None:
    run = _lifecycle(client, images, "debian:bookworm", packages / f"tinyweb_1.0-1_{variant}_all.deb")
    status = _status(run)
    assert status[caught_by] == FAIL, run.steps
    failed = next(step for step in run.steps if step.status == FAIL)
    assert failed.name == caught_by and reason in failed.detail + failed.log
    assert not run.passed


def test_good_rpm_passes_every_step_on_rpm_on_debian_and_says_it_is_a_stand_in(
    client: Any, images: dict[str, str], packages: Path
) -> None:
    run = _lifecycle(client, images, "rpm-on-debian", packages / "tinyweb-1.1-1.good.noarch.rpm",
                     upgrade_from=read_artifact(packages / "tinyweb-1.0-1.good.noarch.rpm"))
    assert all(step.status == PASS for step in run.steps), run.steps
    assert run.stand_in and "stand-in for Fedora, not Fedora" in run.heading
    assert run.image == images["rpm-on-debian"]


@pytest.mark.parametrize(("variant", "caught_by"), [("postinst-fails", "install"), ("leftover", "diff")])
def test_broken_rpm_is_caught_by_the_step_that_should_catch_it(
    client: Any, images: dict[str, str], packages: Path, variant: str, caught_by: str
) -> None:
    run = _lifecycle(client, images, "rpm-on-debian", packages / f"tinyweb-1.0-1.{variant}.noarch.rpm")
    failed = next(step for step in run.steps if step.status == FAIL)
    assert failed.name == caught_by, run.steps


def test_rpm_dependencies_are_checked_for_real(client: Any, images: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "needy.spec"
    spec.write_text(
        "Name: needy\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\nBuildArch: noarch\n"
        "Requires: no-such-package-anywhere\n%description\nd\n%files\n"
    )
    subprocess.run(
        ["rpmbuild", "--quiet", "--define", f"_topdir {tmp_path}", "-bb", str(spec)],
        check=True,
        capture_output=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    rpm = tmp_path / "RPMS" / "noarch" / "needy-1-1.noarch.rpm"
    with VerifyContainer(client, images["rpm-on-debian"], systemd=False) as box:
        path = box.put_file(rpm, "/var/tap2pkg-verify")
        result = box.run(["rpm", "-i", path])
        assert not result.ok and "no-such-package-anywhere is needed" in result.output
        assert box.run(["rpm", "-q", "--whatprovides", "/usr/sbin/useradd", "python3", "systemd"]).ok


#: binds a port as the user it runs as: "bound" or the error
BIND = "import socket, sys; s = socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); print('bound')"


@pytest.mark.parametrize("systemd", [True, False], ids=["systemd", "sysvinit"])
def test_ports_below_1024_are_root_s_as_on_a_real_host(client: Any, images: dict[str, str],
                                                       systemd: bool) -> None:
    """Docker lets any user bind port 53; verify's containers do not, so a unit that forgets
    CAP_NET_BIND_SERVICE fails there as it would on a real host."""
    with VerifyContainer(client, images["debian:bookworm"], systemd=systemd) as box:
        assert box.run(["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]).output.strip() == "1024"
        denied = box.run(["python3", "-c", BIND, "53"], user="nobody")
        assert not denied.ok and "Permission denied" in denied.output, denied.output
        assert box.run(["python3", "-c", BIND, "1024"], user="nobody").output.strip() == "bound"
        assert box.run(["python3", "-c", BIND, "53"]).output.strip() == "bound"


def test_ctrl_c_leaves_no_container_running(client: Any, images: dict[str, str], packages: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap2pkg.cli.tap2pkg",
            "verify",
            "--no-sysvinit",
            str(packages / "tinyweb_1.0-1_good_all.deb"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _no_containers_left(client) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _no_containers_left(client), "no container was started"
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert _no_containers_left(client)


def test_images_build_reuses_the_current_image_and_list_shows_it(
    images: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["images", "build", "--offline", "debian:bookworm"]) == 0
    assert f"{images['debian:bookworm']} reused (recipe unchanged)" in capsys.readouterr().out
    assert main(["images", "list"]) == 0
    listing = capsys.readouterr().out
    assert any(images["rpm-on-debian"] in line and "current" in line for line in listing.splitlines())


def test_verify_without_an_image_of_the_current_recipe_names_the_build_command(
    client: Any,
    packages: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tap2pkg.verify.images import containers_dir

    changed = tmp_path / "containers"
    shutil.copytree(containers_dir(), changed)
    with (changed / "offline" / "rootfs.sh").open("a") as recipe:
        recipe.write("# a recipe change no image has been built from\n")
    monkeypatch.setenv("TAP2PKG_CONTAINERS", str(changed))
    code = main(["verify", "--distro", "debian:bookworm", str(packages / "tinyweb_1.0-1_good_all.deb")])
    assert code == 72
    err = capsys.readouterr().err
    assert "`tap2pkg images build --offline debian:bookworm`" in err and err.count("\n") == 1
    assert _no_containers_left(client)
