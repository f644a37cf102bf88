"""Install, upgrade and erase the RPMs with the real rpm into a scratch root, scriptlets included.

The scratch root holds just enough to run the scriptlets: ``/bin/sh`` (dash
and its libraries) and stand-ins for ``getent``, ``groupadd``, ``useradd``,
``systemctl`` and ``systemd-tmpfiles`` that log their calls; ``useradd``
really adds the user to the root's ``/etc/passwd``, so rpm gives the data
directory to that user. ``/run/systemd/system`` exists, as on a host booted
with systemd. ``--nodeps``: the scratch root's rpm database is empty, so
python3, logrotate and /bin/sh look missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tap2pkg.builders import BuildOptions, build
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"
pytestmark = [
    pytest.mark.skipif(shutil.which("rpm") is None or shutil.which("rpmbuild") is None,
                       reason="rpm and rpmbuild are needed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="rpm runs scriptlets in a chroot, which needs root"),
    pytest.mark.skipif(shutil.which("dash") is None, reason="dash is the scratch root's /bin/sh"),
]

LOG = 'echo "${0##*/} $*" >> /calls.log\n'
STUBS = {
    "usr/bin/getent": LOG + 'while IFS=: read -r n rest; do [ "$n" = "$2" ] && exit 0; done < "/etc/$1"\n'
                            'exit 2\n',
    "usr/sbin/groupadd": LOG + 'for last; do :; done\necho "$last:x:990:" >> /etc/group\n',
    "usr/sbin/useradd": LOG + 'for last; do :; done\necho "$last:x:990:990::/var/lib/$last:/sbin/nologin" '
                              '>> /etc/passwd\n',
    "usr/bin/systemctl": LOG,
    "usr/bin/systemd-tmpfiles": LOG,
}


def make_root(root: Path) -> Path:
    dash = Path(shutil.which("dash") or "/bin/dash")
    libs = subprocess.run(["ldd", str(dash)], capture_output=True, text=True, check=True).stdout
    for word in libs.split():
        if word.startswith("/") and Path(word).exists():
            target = root / word.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(word, target)
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(dash, root / "bin/sh")
    for rel, body in STUBS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "run/systemd/system").mkdir(parents=True)
    (root / "dev").mkdir()
    return root


def rpm(root: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", *map(str, args)],
                          capture_output=True, text=True, check=True)


def calls(root: Path) -> list[str]:
    log = root / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return [line for line in lines if not line.startswith("getent")]


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    out = {}
    for builder in ("native", "rpmbuild"):
        for version in ("1.0", "1.1"):
            spec = PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python",
                               maintainer="Jane Doe <jane@example.org>", version=version,
                               includes=(ECHO / "echoproto.py",), source_date_epoch=1700000000)
            result = build(spec, tmp_path_factory.mktemp(f"{builder}-{version}"), "rpm", builder,
                           BuildOptions(source=False))
            out[builder, version] = result.paths("package")[0]
    return out


@pytest.mark.parametrize("builder", ["native", "rpmbuild"])
def test_install_upgrade_erase(builder: str, packages: dict[tuple[str, str], Path], tmp_path: Path) -> None:
    root = make_root(tmp_path / "root")

    rpm(root, "-i", "--nodeps", packages[builder, "1.0"])
    assert calls(root) == [
        "groupadd -r echo", "useradd -r -g echo -d /var/lib/echo -s /sbin/nologin -c echo service echo",
        "systemctl --no-reload preset echo.service", "systemctl daemon-reload",
        "systemd-tmpfiles --create echo.conf"]  # the presets decide; nothing is started
    assert (root / "var/lib/echo").stat().st_uid == 990  # the user existed before the files landed
    assert (root / "usr/lib/echo/tapd").stat().st_mode & 0o777 == 0o755
    assert (root / "usr/lib/systemd/system/echo.service").is_file()
    assert (root / "etc/sysconfig/echo").is_file()

    (root / "etc/echo/echo.tac").write_text("# edited by the administrator\n")
    (root / "var/lib/echo/state").write_text("data")
    rpm(root, "-U", "--nodeps", packages[builder, "1.1"])
    # new %pre (user there), new %post ($1=2), old %preun ($1=1), old %postun ($1=1): a restart
    assert calls(root) == ["systemctl daemon-reload", "systemctl daemon-reload",
                           "systemctl try-restart echo.service"]
    assert (root / "etc/echo/echo.tac").read_text() == "# edited by the administrator\n"
    # the packaged app file did not change between versions, so rpm keeps the edit without a .rpmnew
    assert rpm(root, "-q", "echo").stdout.strip() == "echo-1.1-1.noarch"

    rpm(root, "-e", "--nodeps", "echo")
    assert calls(root) == ["systemctl --no-reload disable --now echo.service", "systemctl daemon-reload"]
    assert not (root / "usr/lib/echo").exists()
    assert not (root / "usr/lib/systemd/system/echo.service").exists()
    # as on Fedora, the user and its data stay
    assert (root / "var/lib/echo/state").read_text() == "data"
    assert "echo:x:990" in (root / "etc/passwd").read_text()
