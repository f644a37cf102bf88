"""What the RPM scriptlets do, run with sh against stub useradd/systemctl that log their calls.

rpm passes the number of instances left after the operation as ``$1``:
install 1, upgrade 2 (new package's %pre/%post) and 1 (old package's
%preun/%postun), erase 0. Each case below runs one scriptlet as rpm would.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tap2pkg.rpm.build import build_rpms
from tap2pkg.spec import PackageSpec

DATA = Path(__file__).parent / "data" / "rpm"
pytestmark = pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed")

STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""
GETENT = """#!/bin/sh
echo "getent $*" >> "{log}"
test -e "{db}/$1-$2"
"""
ADD = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
for last; do :; done
touch "{db}/{kind}-$last"
"""


@pytest.fixture(scope="module")
def scriptlets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    spec = PackageSpec(name="echo", app_file=DATA / "echo.tac", app_kind="python",
                       maintainer="Jane Doe <jane@example.org>", includes=(DATA / "echoproto.py",),
                       source_date_epoch=1700000000)
    result = build_rpms(spec, tmp_path_factory.mktemp("out"), binary_only=True)
    rpm_file = result.artifacts["rpm"][0]
    return {key: subprocess.run(["rpm", "-qp", "--qf", f"%{{{tag}}}", str(rpm_file)], capture_output=True,
                                text=True, check=True).stdout
            for key, tag in (("pre", "PREIN"), ("post", "POSTIN"), ("preun", "PREUN"), ("postun", "POSTUN"))}


class Host:
    """A fake host: stub commands on PATH, a user database, and a 'booted with systemd' switch."""

    def __init__(self, root: Path, booted: bool = True) -> None:
        self.root, self.log, self.db = root, root / "calls.log", root / "db"
        self.bin, self.systemd = root / "bin", root / "run-systemd-system"
        self.bin.mkdir()
        self.db.mkdir()
        if booted:
            self.systemd.mkdir()
        for name in ("systemctl", "systemd-tmpfiles"):
            self._stub(name, STUB.format(log=self.log))
        self._stub("getent", GETENT.format(log=self.log, db=self.db))
        self._stub("groupadd", ADD.format(log=self.log, db=self.db, kind="group"))
        self._stub("useradd", ADD.format(log=self.log, db=self.db, kind="passwd"))

    def _stub(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)

    def run(self, script: str, arg: int) -> list[str]:
        """Run ``script`` with ``$1 = arg`` under ``sh -e``; return the commands it called."""
        self.log.unlink(missing_ok=True)
        script = script.replace("/run/systemd/system", str(self.systemd))
        subprocess.run(["sh", "-e", "-c", script, "scriptlet", str(arg)], check=True,
                       env={"PATH": f"{self.bin}:/usr/bin:/bin"})
        return self.log.read_text().splitlines() if self.log.exists() else []


def test_pre_creates_the_user_once(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    calls = host.run(scriptlets["pre"], 1)
    assert "groupadd -r echo" in calls
    assert 'useradd -r -g echo -d /var/lib/echo -s /sbin/nologin -c echo service echo' in calls
    calls = host.run(scriptlets["pre"], 2)  # upgrade: the user is there already
    assert not [c for c in calls if c.startswith(("useradd", "groupadd"))]


def test_post_enables_and_starts_on_install_only(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    assert host.run(scriptlets["post"], 1) == [
        "systemctl daemon-reload", "systemd-tmpfiles --create echo.conf",
        "systemctl enable --now echo.service"]
    assert host.run(scriptlets["post"], 2) == ["systemctl daemon-reload"]


def test_preun_stops_on_erase_not_on_upgrade(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    assert host.run(scriptlets["preun"], 0) == ["systemctl --no-reload disable --now echo.service"]
    assert host.run(scriptlets["preun"], 1) == []


def test_postun_restarts_after_upgrade(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    assert host.run(scriptlets["postun"], 1) == [
        "systemctl daemon-reload", "systemctl try-restart echo.service"]
    assert host.run(scriptlets["postun"], 0) == ["systemctl daemon-reload"]


def test_without_systemd_only_the_user_is_made(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path, booted=False)
    assert [c for c in host.run(scriptlets["pre"], 1) if not c.startswith("getent")] == [
        "groupadd -r echo", "useradd -r -g echo -d /var/lib/echo -s /sbin/nologin -c echo service echo"]
    for key, arg in (("post", 1), ("preun", 0), ("postun", 0), ("postun", 1)):
        assert host.run(scriptlets[key], arg) == [], key


def test_erase_keeps_the_user_and_data(scriptlets: dict[str, str]) -> None:
    text = "\n".join(scriptlets.values())
    for word in ("userdel", "groupdel", "rm ", "/var/log/echo"):
        assert word not in text
