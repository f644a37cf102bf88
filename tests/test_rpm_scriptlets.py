"""What the RPM scriptlets do, run with sh against stub useradd/systemctl that log their calls.

rpm passes the number of instances left after the operation as ``$1``:
install 1, upgrade 2 (new package's %pre/%post) and 1 (old package's
%preun/%postun), erase 0. Each case below runs one scriptlet as rpm would.
``/var/lib/echo`` and ``/var/log/echo`` are directories under the test's own
root.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tap2pkg.builders import BuildOptions, build
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"
pytestmark = pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed")

STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""
GETENT = """#!/bin/sh
echo "getent $*" >> "{log}"
test -e "{db}/$1-$2"
"""
CHOWN = """#!/bin/sh
echo "chown $*" >> "{log}"
"""
MARKER = ".tap2pkg-owned"
ADD = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
for last; do :; done
touch "{db}/{kind}-$last"
"""


@pytest.fixture(scope="module")
def scriptlets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    spec = PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python",
                       maintainer="Jane Doe <jane@example.org>", includes=(ECHO / "echoproto.py",),
                       source_date_epoch=1700000000)
    result = build(spec, tmp_path_factory.mktemp("out"), "rpm", options=BuildOptions(source=False))
    rpm_file = result.paths("package")[0]
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
        self._stub("chown", CHOWN.format(log=self.log))
        self.var = root / "var"
        for sub in ("lib", "log"):
            (self.var / sub).mkdir(parents=True)
        self.statedir, self.logdir = self.var / "lib" / "echo", self.var / "log" / "echo"

    def _stub(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)

    def add_user(self, name: str) -> None:
        """An account (and its group) that is there before the package."""
        (self.db / f"passwd-{name}").touch()
        (self.db / f"group-{name}").touch()

    def run(self, script: str, arg: int, *, check: bool = True) -> list[str]:
        """Run ``script`` with ``$1 = arg`` under ``sh -e``; return the commands it called."""
        self.log.unlink(missing_ok=True)
        script = script.replace("/run/systemd/system", str(self.systemd)).replace("/var/", f"{self.var}/")
        self.proc = subprocess.run(["sh", "-e", "-c", script, "scriptlet", str(arg)], check=check,
                                   capture_output=True, text=True, env={"PATH": f"{self.bin}:/usr/bin:/bin"})
        calls = self.log.read_text().splitlines() if self.log.exists() else []
        return [c.replace(f"{self.var}/", "/var/") for c in calls]


def test_pre_creates_the_user_once(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    calls = host.run(scriptlets["pre"], 1)
    assert "groupadd -r echo" in calls
    assert 'useradd -r -g echo -d /var/lib/echo -s /sbin/nologin -c echo service echo' in calls
    calls = host.run(scriptlets["pre"], 2)  # upgrade: the user is there already
    assert not [c for c in calls if c.startswith(("useradd", "groupadd"))]


def test_pre_uses_an_existing_account_as_it_is(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.add_user("echo")
    calls = host.run(scriptlets["pre"], 1)
    assert not [c for c in calls if c.startswith(("useradd", "groupadd", "usermod", "groupmod"))]


def test_pre_makes_the_directories_with_the_marker_before_giving_them_away(
        scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    calls = host.run(scriptlets["pre"], 1)
    for path in (host.statedir, host.logdir):
        assert path.is_dir() and (path.stat().st_mode & 0o777) == 0o750
        assert "belongs to the package echo" in (path / MARKER).read_text()
        assert path.stat().st_uid == 0 and (path / MARKER).stat().st_uid == 0  # rpm gives it away later
    assert not [c for c in calls if c.startswith("chown")]


def test_pre_refuses_a_directory_the_package_did_not_make(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.statedir.mkdir(mode=0o755)
    (host.statedir / "someone-elses").write_text("keep me\n")
    calls = host.run(scriptlets["pre"], 1, check=False)
    assert host.proc.returncode == 1
    message = host.proc.stderr.strip().replace(f"{host.var}/", "/var/")
    assert message.startswith("echo: /var/lib/echo already exists and this package did not make it")
    assert "touch /var/lib/echo/.tap2pkg-owned" in message and "\n" not in message
    assert [c for c in calls if not c.startswith("getent")] == []  # no user, no chown
    assert sorted(p.name for p in host.statedir.iterdir()) == ["someone-elses"]
    assert (host.statedir.stat().st_mode & 0o777) == 0o755
    assert not host.logdir.exists()  # refused before anything was made


def test_pre_takes_back_an_earlier_installs_data(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.run(scriptlets["pre"], 1)
    (host.statedir / "data").write_text("kept\n")  # erased, not cleaned up: installed again
    host.run(scriptlets["pre"], 1)
    assert (host.statedir / "data").read_text() == "kept\n"


def test_upgrade_leaves_the_directories_as_they_are(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.add_user("echo")
    host.statedir.mkdir(mode=0o750)  # made by an older build, without the marker
    (host.statedir / "data").write_text("kept\n")
    calls = host.run(scriptlets["pre"], 2)
    assert sorted(p.name for p in host.statedir.iterdir()) == ["data"]
    assert not [c for c in calls if not c.startswith("getent")]
    assert (host.logdir / MARKER).is_file()  # a missing one is made, marked


def test_post_leaves_enabling_to_the_presets_and_starts_nothing(scriptlets: dict[str, str],
                                                                 tmp_path: Path) -> None:
    host = Host(tmp_path)
    calls = host.run(scriptlets["post"], 1)
    assert calls == ["systemctl --no-reload preset echo.service", "systemctl daemon-reload",
                     "systemd-tmpfiles --create echo.conf"]
    assert not [c for c in calls if "enable" in c or "start" in c]
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
    # the presets are applied as systemd_post does, booted or not (an image being built)
    assert host.run(scriptlets["post"], 1) == ["systemctl --no-reload preset echo.service"]
    for key, arg in (("preun", 0), ("postun", 0), ("postun", 1)):
        assert host.run(scriptlets[key], arg) == [], key


def test_erase_keeps_the_user_and_data(scriptlets: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.run(scriptlets["pre"], 1)
    (host.statedir / "data").write_text("kept\n")
    for key in ("preun", "postun"):
        calls = host.run(scriptlets[key], 0)
        assert not [c for c in calls if c.startswith(("userdel", "groupdel", "rm"))], key
    assert (host.statedir / "data").read_text() == "kept\n" and (host.logdir / MARKER).is_file()
