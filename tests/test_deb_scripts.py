"""What the .deb maintainer scripts do to accounts and directories, run with sh against stubs.

The scripts are the native builder's (the dpkg builder's run the same own part:
``tests/test_deb_builders.py`` holds the two to it). ``/var/lib/echo`` and
``/var/log/echo`` are directories under the test's own root; ``getent`` answers
from a small account list, ``chown`` records the owner beside the directory,
``find -user`` reads it, and ``dpkg-query -S`` knows the paths other packages ship.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tap2pkg.deb.native import maintainer_scripts
from tap2pkg.deb.source import DebPayload
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"
MARKER = ".tap2pkg-owned"
LOGGED = ("systemd-sysusers", "adduser", "addgroup", "deluser", "delgroup", "userdel", "groupdel", "usermod",
          "deb-systemd-helper", "deb-systemd-invoke", "systemctl", "update-rc.d", "invoke-rc.d",
          "systemd-tmpfiles", "py3compile", "py3clean")


def scripts_for(user: str = "") -> dict[str, str]:
    spec = PackageSpec(name="echo", app_file=ECHO / "echo.tac", app_kind="python", user=user,
                       maintainer="Jane Doe <jane@example.org>", source_date_epoch=1700000000)
    return maintainer_scripts(DebPayload.for_spec(spec))


class Host:
    """A fake Debian host: stub commands, an account list, directories under ``root/var``."""

    def __init__(self, root: Path, accounts: tuple[str, ...] = ()) -> None:
        self.root, self.log, self.db, self.bin = root, root / "calls.log", root / "db", root / "bin"
        for path in (self.bin, self.db, root / "var" / "lib", root / "var" / "log", root / "etc" / "init.d"):
            path.mkdir(parents=True)
        self.statedir, self.logdir = root / "var" / "lib" / "echo", root / "var" / "log" / "echo"
        for name in accounts:
            self.add_account(name)
        for name in LOGGED:
            self.stub(name, f'echo "{name} $*" >> "{self.log}"')
        self.stub("getent", f'test -e "{self.db}/$1-$2"')
        self.stub("chown", f'echo "chown $*" >> "{self.log}"\nprintf "%s" "${{1%%:*}}" > "$2.owner"')
        self.stub("find", '[ "$(cat "$1.owner" 2>/dev/null)" = "$5" ] && echo "$1" || true')
        self.stub("dpkg-query", f'test -e "{self.db}/shipped-$(echo "$2" | tr / _)"')

    def stub(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    def add_account(self, name: str) -> None:
        (self.db / f"passwd-{name}").touch()
        (self.db / f"group-{name}").touch()

    def shipped_by_another_package(self, path: Path) -> None:
        (self.db / ("shipped-" + str(path).replace("/", "_"))).touch()

    def run(self, text: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a maintainer script with ``args``; the calls it made are in :meth:`calls`."""
        self.log.write_text("")
        for path in ("/var/lib/echo", "/var/log/echo", "/etc/init.d/", "/run/systemd/system"):
            text = text.replace(path, f"{self.root}{path}")
        script = self.root / "script"
        script.write_text(text)
        return subprocess.run(["/bin/sh", str(script), *args], capture_output=True, text=True, check=False,
                              env={"PATH": f"{self.bin}:/usr/bin:/bin"})

    def calls(self) -> list[str]:
        return self.log.read_text().replace(str(self.root), "").splitlines()


@pytest.fixture(scope="module")
def scripts() -> dict[str, str]:
    return scripts_for()


def test_install_makes_the_account_and_marked_directories(scripts: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    assert host.run(scripts["preinst"], "install").returncode == 0
    proc = host.run(scripts["postinst"], "configure", "")
    assert proc.returncode == 0, proc.stderr
    assert "adduser --system --group --home /var/lib/echo --no-create-home --quiet echo" in host.calls()
    for path in (host.statedir, host.logdir):
        assert path.is_dir() and (path.stat().st_mode & 0o777) == 0o750
        assert "belongs to the package echo" in (path / MARKER).read_text()
        assert (path / MARKER).stat().st_uid == 0
        assert (path.parent / "echo.owner").read_text() == "echo"
    # the marker is written before the directory is given to the user
    chowns = [c for c in host.calls() if c.startswith("chown")]
    assert chowns == ["chown echo:echo /var/lib/echo", "chown echo:echo /var/log/echo"]


def test_an_existing_account_is_used_as_it_is_and_kept(tmp_path: Path) -> None:
    scripts = scripts_for(user="systemd-network")
    host = Host(tmp_path, accounts=("systemd-network",))
    for name, args in (("preinst", ["install"]), ("postinst", ["configure", ""]), ("postrm", ["remove"]),
                       ("postrm", ["purge"])):
        assert host.run(scripts[name], *args).returncode == 0, name
        # (debhelper's snippet still runs systemd-sysusers, which leaves an existing account alone)
        touched = [c for c in host.calls() if c.split()[0] in (
            "adduser", "addgroup", "usermod", "deluser", "delgroup", "userdel", "groupdel")]
        assert touched == [], (name, args)
    assert not host.statedir.exists() and not host.logdir.exists()  # its own directories are purged


def test_a_missing_group_is_made_for_an_existing_account(scripts: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    (host.db / "passwd-echo").touch()  # an account without a group of its name, like nobody
    assert host.run(scripts["postinst"], "configure", "").returncode == 0
    made = [c for c in host.calls() if c.split()[0] in ("systemd-sysusers", "adduser", "addgroup")]
    assert made[:2] == ["systemd-sysusers /usr/lib/sysusers.d/echo.conf", "addgroup --system --quiet echo"]


@pytest.mark.parametrize("kind", ["directory", "file", "link"])
def test_install_refuses_a_directory_it_did_not_make(scripts: dict[str, str], tmp_path: Path,
                                                     kind: str) -> None:
    host = Host(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    (elsewhere / "keep").write_text("someone else's\n")
    if kind == "directory":
        host.statedir.mkdir(mode=0o755)
        (host.statedir / "keep").write_text("someone else's\n")
    elif kind == "file":
        host.statedir.write_text("someone else's\n")
    else:
        (elsewhere / MARKER).touch()  # a marker behind a link does not make the link the package's
        host.statedir.symlink_to(elsewhere)
    proc = host.run(scripts["preinst"], "install")
    assert proc.returncode == 1
    line = proc.stderr.replace(str(tmp_path), "")
    assert line.count("\n") == 1
    assert line.startswith("echo: /var/lib/echo already exists and this package did not make it, "
                           "so it will not take it over")
    assert "touch /var/lib/echo/.tap2pkg-owned" in line
    assert (elsewhere / "keep").read_text() == "someone else's\n"
    assert not host.logdir.exists()


def test_purge_deletes_only_marked_directories(scripts: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.run(scripts["postinst"], "configure", "")
    (host.statedir / "data").write_text("the service's\n")
    (host.logdir / MARKER).unlink()  # e.g. an administrator keeps the logs
    host.run(scripts["postrm"], "remove")
    assert (host.statedir / "data").is_file()  # remove keeps the data
    assert host.run(scripts["postrm"], "purge").returncode == 0
    assert not host.statedir.exists()
    assert host.logdir.is_dir()
    assert not [c for c in host.calls() if c.split()[0] in ("deluser", "delgroup", "userdel", "groupdel")]


def test_reinstall_after_remove_keeps_the_data(scripts: dict[str, str], tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.run(scripts["postinst"], "configure", "")
    (host.statedir / "data").write_text("the service's\n")
    host.run(scripts["postrm"], "remove")
    assert host.run(scripts["preinst"], "install", "1.0-1").returncode == 0
    assert host.run(scripts["postinst"], "configure", "1.0-1").returncode == 0
    assert (host.statedir / "data").read_text() == "the service's\n"


def test_upgrade_marks_what_an_older_version_made_and_nothing_else(scripts: dict[str, str],
                                                                   tmp_path: Path) -> None:
    host = Host(tmp_path, accounts=("echo",))
    for path in (host.statedir, host.logdir):
        path.mkdir(mode=0o750)
        (path.parent / "echo.owner").write_text("echo")  # made and given to the user by the older version
    (host.statedir / "data").write_text("kept\n")
    host.shipped_by_another_package(host.logdir)
    assert host.run(scripts["preinst"], "upgrade", "0.9-1").returncode == 0
    assert host.run(scripts["postinst"], "configure", "0.9-1").returncode == 0
    assert (host.statedir / MARKER).is_file() and (host.statedir / "data").read_text() == "kept\n"
    assert not (host.logdir / MARKER).exists()
    assert [c for c in host.calls() if c.startswith("chown")] == [
        "chown root:root /var/lib/echo", "chown echo:echo /var/lib/echo"]
