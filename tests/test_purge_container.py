"""Purge touches only what the package made: real packages, real maintainer scripts, systemd as PID 1.

For each builder of each format, in the offline images (``tap2pkg images build
--offline debian:bookworm rpm-on-debian``; skipped without docker or them):

* a package named ``misc`` run as the existing ``systemd-network``: its data
  directory would be base-files' ``/var/lib/misc``, so the install is refused with
  one line, and the directory and the account come out of install and purge as
  they were (owner, mode, content);
* ``echo`` run as the existing ``systemd-network``: installs and runs as it;
  purge deletes its data and logs and leaves the account as it was;
* ``echo`` with its own account, upgraded (for .deb from directories made as
  an older build made them, without the marker): the data stays, and purge (on
  RPM, ``rpm -e`` and the documented cleanup) deletes the data and logs and
  keeps the account.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap2pkg import builders
from tap2pkg.builders import BuildOptions
from tap2pkg.spec import PackageSpec

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "echo"
BUILDS = [("deb", "native"), ("deb", "dpkg"), ("rpm", "native"), ("rpm", "rpmbuild")]
IMAGES = {"deb": "tap2pkg/debian", "rpm": "tap2pkg/rpm-on-debian"}
MARKER = ".tap2pkg-owned"
#: The documented cleanup after ``rpm -e`` (docs/tap2rpm.md): the directories the package marked.
RPM_CLEANUP = ('for d in /var/lib/{pkg} /var/log/{pkg}; do [ -e "$d/.tap2pkg-owned" ] && rm -rf "$d"; done; '
               "true")

pytestmark = [pytest.mark.container, pytest.mark.slow]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=180)


def image(fmt: str) -> str:
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    proc = docker("images", IMAGES[fmt], "--format", "{{.Repository}}:{{.Tag}}", check=False)
    tags = sorted(line for line in proc.stdout.split() if ":bookworm" in line)
    if proc.returncode != 0 or not tags:
        pytest.skip(f"no {IMAGES[fmt]} image; run `tap2pkg images build --offline debian:bookworm "
                    "rpm-on-debian`")
    return tags[-1]


class Box:
    """One container with systemd as PID 1, and the package manager of one format."""

    def __init__(self, name: str, fmt: str) -> None:
        self.name, self.fmt = name, fmt

    def sh(self, command: str) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.name, "sh", "-c", command, check=False)

    def must(self, command: str) -> str:
        proc = self.sh(command)
        assert proc.returncode == 0, f"{command}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def put(self, package: Path) -> str:
        docker("cp", str(package), f"{self.name}:/tmp/{package.name}")
        return f"/tmp/{package.name}"

    def install(self, package: Path, *, upgrade: bool = False) -> subprocess.CompletedProcess[str]:
        path = self.put(package)
        if self.fmt == "deb":
            return self.sh(f"dpkg -i {path}")
        # rpm only warns when a scriptlet after the files fails: count that as a failure too
        quiet = "grep -v 'use Alien\\|know what you are'"  # rpm-on-debian's rpm warns on every call
        proc = self.sh(f"rpm {'-U' if upgrade else '-i'} {path} 2>&1 | {quiet}")
        failed = "scriptlet failed" in proc.stdout or "install failed" in proc.stdout
        return subprocess.CompletedProcess(proc.args, 1 if failed else 0, proc.stdout, proc.stderr)

    def purge(self, pkg: str) -> None:
        if self.fmt == "deb":
            self.sh(f"dpkg --purge {pkg}")
        else:
            self.sh(f"rpm -e {pkg}")
            self.must(RPM_CLEANUP.format(pkg=pkg))

    def state(self, *paths: str) -> str:
        """Owner, mode and content of ``paths``; the account entries of systemd-network."""
        listing = self.sh("for p in " + " ".join(paths) + "; do find \"$p\" -printf '%p %u:%g %m %s\\n' "
                          "2>&1 | sort; done").stdout
        accounts = self.must("grep '^systemd-network:' /etc/passwd /etc/group /etc/shadow /etc/gshadow; true")
        return listing + accounts


@pytest.fixture
def box(request: pytest.FixtureRequest) -> Iterator[Box]:
    fmt = request.node.callspec.params["fmt"]
    name = f"tap2pkg-test-purge-{secrets.token_hex(4)}"
    docker("run", "-d", "--name", name, "--network", "none", "--cap-add", "SYS_ADMIN",
           "--cap-add", "SYS_PTRACE", "--security-opt", "seccomp=unconfined",
           "--tmpfs", "/run:rw,exec,mode=755", "--tmpfs", "/run/lock:rw,mode=1777", "-e", "container=docker",
           "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "--stop-signal", "SIGRTMIN+3", image(fmt), "/sbin/init")
    try:
        deadline = time.monotonic() + 60
        while docker("exec", name, "systemctl", "is-system-running", check=False).stdout.strip() not in (
                "running", "degraded"):
            assert time.monotonic() < deadline, "systemd did not come up"
            time.sleep(0.5)
        yield Box(name, fmt)
    finally:
        docker("rm", "-f", name, check=False)


def build(tmp_path: Path, fmt: str, builder: str, name: str, version: str = "1.0", user: str = "") -> Path:
    tool = {"dpkg": "dpkg-buildpackage", "rpmbuild": "rpmbuild"}.get(builder)
    if tool and shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    spec = PackageSpec(name=name, app_file=EXAMPLE / "echo.tac", app_kind="python", user=user,
                       version=version, maintainer="Jane Doe <jane@example.org>",
                       includes=(EXAMPLE / "echoproto.py",), ports=(8007,), source_date_epoch=1700000000)
    out = tmp_path / f"{name}-{version}"
    [package] = builders.build(spec, out, fmt, builder, BuildOptions(source=False)).paths("package")
    return package


def runs_as(box: Box, unit: str) -> str:
    if box.fmt == "rpm":  # an RPM leaves enabling to the presets: started as an administrator does
        box.sh(f"systemctl enable --now {unit}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pid = box.sh(f"systemctl show -p MainPID --value {unit}").stdout.strip()
        if pid not in ("", "0") and box.sh(f"systemctl is-active {unit}").stdout.strip() == "active":
            return box.sh(f"ps -o user= -p {pid}").stdout.strip()
        time.sleep(0.3)
    raise AssertionError(box.sh(f"journalctl -u {unit} -n 20 --no-pager").stdout)


@pytest.mark.parametrize(("fmt", "builder"), BUILDS)
def test_purge_leaves_what_the_package_did_not_make(box: Box, tmp_path: Path, fmt: str, builder: str) -> None:
    # a directory and an account that were there before: refused, then untouched by install and purge
    box.must("echo 'not the package s' > /var/lib/misc/someone-elses && chmod 0710 /var/lib/misc")
    before = box.state("/var/lib/misc")
    refused = box.install(build(tmp_path, fmt, builder, "misc", user="systemd-network"))
    assert refused.returncode != 0
    assert ("misc: /var/lib/misc already exists and this package did not make it, so it will not take it over"
            in refused.stdout + refused.stderr)
    box.purge("misc")
    assert box.state("/var/lib/misc") == before
    assert box.sh("test -e /var/log/misc").returncode != 0

    # an existing account: used as it is, and left as it was by purge
    assert box.install(build(tmp_path, fmt, builder, "echo", user="systemd-network")).returncode == 0
    assert runs_as(box, "echo") == "systemd-network"
    box.purge("echo")
    assert box.state("/var/lib/misc") == before
    assert box.sh("test -e /var/lib/echo || test -e /var/log/echo || test -e /etc/echo").returncode != 0

    # its own account, an upgrade (a .deb's from directories an older build made, unmarked), then purge
    assert box.install(build(tmp_path, fmt, builder, "echo")).returncode == 0
    assert runs_as(box, "echo") == "echo"
    box.must("echo data > /var/lib/echo/data")
    if fmt == "deb":
        box.must(f"rm /var/lib/echo/{MARKER} /var/log/echo/{MARKER}")
    upgraded = box.install(build(tmp_path, fmt, builder, "echo", version="1.1"), upgrade=True)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert box.must("cat /var/lib/echo/data") == "data\n"
    assert box.must(f"stat -c '%U %a' /var/lib/echo/{MARKER} /var/log/echo/{MARKER}") == "root 644\n" * 2
    assert box.must("stat -c '%U:%G %a' /var/lib/echo /var/log/echo") == "echo:echo 750\n" * 2
    uid = box.must("id -u echo")
    box.purge("echo")
    assert box.sh("test -e /var/lib/echo || test -e /var/log/echo").returncode != 0
    assert box.must("id -u echo") == uid  # the account stays
    assert box.state("/var/lib/misc") == before
