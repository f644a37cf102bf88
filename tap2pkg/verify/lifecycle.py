"""The piuparts-like lifecycle: snapshot, install, run, probe, restart, upgrade, remove, purge, diff.

:func:`verify_lifecycle` runs the nine steps in a container with systemd as
PID 1 (the run without systemd is in :mod:`tap2pkg.verify.sysvinit`). Each step is timed;
the first failing step ends the run and the remaining steps are reported as
skipped. The package is expected to follow tap2pkg's layout: unit
``<pkg>.service``, user ``<pkg>`` (or ``--user``), data ``/var/lib/<pkg>``,
logs ``/var/log/<pkg>``, conffiles under ``/etc/<pkg>/``.

Purge must delete the data, logs and conffiles the package made and nothing
that was on the clean system. The service account is the one thing allowed to
stay: Debian and Fedora packages keep the accounts they made (files elsewhere
may still belong to the uid, which must not go to a new account); an account
that was there before the install must come out of it unchanged. What the clean
system held, and the comparisons with it, are in :mod:`tap2pkg.verify.leftovers`;
running the steps in order is :mod:`tap2pkg.verify.steps`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..runtime.lazy import lazy_import
from . import probes
from .artifact import Artifact
from .container import ExecResult, VerifyContainer
from .images import Distro
from .leftovers import CleanSystem
from .report import RunResult
from .steps import ProgressSink, StepFailed, StepSkipped, _Runner

if TYPE_CHECKING:
    from . import repo
else:  # imported on first use: only an install from a repository (--from-repo, or made for companions)
    repo = lazy_import("tap2pkg.verify.repo")

__all__ = ["ProgressSink", "StepFailed", "VerifyOptions", "verify_lifecycle"]

INBOX = "/var/tap2pkg-verify"
EDIT_MARK = "edited by tap2pkg verify"


@dataclass(frozen=True)
class VerifyOptions:
    """What the user told ``tap2pkg verify`` beyond the artifacts."""

    ports: tuple[int, ...] = ()
    probe_send: str = ""
    probe_expect: str = ""
    user: str | None = None
    upgrade_from: Artifact | None = None
    #: install from this published repository through the package manager (``--from-repo``)
    repository: Path | None = None
    #: the key the repository must be signed with (default: the one it publishes)
    repository_key: Path | None = None


class _Lifecycle(_Runner):
    """The nine steps for one artifact on a systemd container."""

    #: what runs the service, as the report names it
    init = "systemd"

    def __init__(
        self,
        box: VerifyContainer,
        run: RunResult,
        distro: Distro,
        artifact: Artifact,
        options: VerifyOptions,
        progress: ProgressSink | None,
    ) -> None:
        super().__init__(box, run, progress)
        self.distro = distro
        self.new = artifact
        #: the format's commands (install, version, conffiles, remove, purge)
        self.fmt = artifact.package_format
        self.options = options
        self.first = options.upgrade_from or artifact
        self.pkg = artifact.name
        self.user = options.user or artifact.name
        self.unit = f"{artifact.name}.service"
        self.uid = -1
        #: the system before the install, to compare with after purge
        self.clean = CleanSystem(self, self.fmt, self.pkg, self.user)
        self.had_data_dir = False
        self.install_log = ""

    @classmethod
    def verify(cls, box: VerifyContainer, distro: Distro, artifact: Artifact, options: VerifyOptions,
               progress: ProgressSink | None) -> RunResult:
        """A fresh result for one run under :attr:`init`, announced to ``progress``, through every step."""
        run = RunResult(distro.name, box.image, artifact.name, artifact.version, str(artifact.path),
                        cls.init, distro.stand_in, box.short_id, image_note=box.image_note)
        if progress:
            progress.run_started(run)
        started = time.monotonic()
        life = cls(box, run, distro, artifact, options, progress)
        for name, title, action in life.steps():
            life.step(name, title, action)
        run.seconds = time.monotonic() - started
        return run

    def steps(self) -> list[tuple[str, str, Callable[[], str]]]:
        """The steps in order: name, title, action."""
        return [
            ("snapshot", "1 snapshot the clean system", self.step_snapshot),
            ("install", "2 install", self.step_install),
            ("running", "3 unit active as its user", self.step_running),
            ("probe", "4 probe ports", self.step_probe),
            ("restart", "5 restart and SIGKILL recovery", self.step_restart),
            ("upgrade", "6 upgrade keeps the edited conffile", self.step_upgrade),
            ("remove", "7 remove", self.step_remove),
            ("purge", "8 purge", self.step_purge),
            ("diff", "9 nothing left behind", self.step_diff),
        ]

    # -- helpers ---------------------------------------------------------------------------
    def journal(self) -> str:
        """The evidence for a failing step: the unit's journal and the maintainer scripts' output."""
        journal = self.sh(f"journalctl -u {self.unit} -n 15 --no-pager -o short-monotonic").output.rstrip()
        scripts = "\n".join(
            line for line in self.install_log.splitlines()[-200:] if not line.startswith("(Reading database")
        )
        scripts = "\n".join(scripts.splitlines()[-10:])
        return (
            f"journal of {self.unit}:\n{journal}\n"
            f"last lines of the package manager and its scripts:\n{scripts}"
        )

    def install(self, artifact: Artifact, *, upgrade: bool) -> ExecResult:
        """Install ``artifact`` (from the published repository with ``--from-repo``) or fail the step."""
        if self.options.repository is not None:
            what = repo.pinned(artifact.family, artifact.name, artifact.version)
            result = repo.install_from_repo(self.box, artifact.family, self.options.repository, [what],
                                            self.options.repository_key)
            what += " from the repository"
            said = result.output.strip().splitlines()
            why = f": {said[0]}" if said else ""  # the package manager's first line says what went wrong
        else:
            path = self.box.put_file(artifact.path, INBOX, f"{artifact.name}.{artifact.family}")
            result = self.sh(self.fmt.install(path, upgrade=upgrade), env=self.fmt.env)
            what, why = artifact.path.name, ": a maintainer script or a dependency failed"
        self.install_log += result.output
        failure = self.fmt.script_failure
        if not result.ok or (failure is not None and failure in result.output):
            action = "upgrade" if upgrade else "install"
            raise StepFailed(f"{action} of {what} failed (exit {result.exit_code}){why}", result.tail(25))
        return result

    def installed_version(self) -> str:
        return self.fmt.parse_version(self.sh(self.fmt.version_query(self.pkg)).output)

    def main_pid(self) -> int:
        out = self.sh(["systemctl", "show", "-p", "MainPID", "--value", self.unit]).output.strip()
        return int(out) if out.isdigit() else 0

    def wait_active(self, *, old_pid: int = 0, timeout: float = 15.0) -> int:
        """Wait until the unit is active with a main process (other than ``old_pid``) that stays up."""
        started = time.monotonic()
        state = ""
        while time.monotonic() < started + timeout:
            state = self.sh(["systemctl", "is-active", self.unit]).output.strip()
            if state in ("inactive", "failed") and time.monotonic() > started + 3:
                break  # not restarting: waiting longer will not help
            pid = self.main_pid()
            if state == "active" and pid and pid != old_pid:
                time.sleep(0.6)  # a unit that exits at once looks active for a moment
                if (
                    self.sh(["systemctl", "is-active", self.unit]).output.strip() == "active"
                    and self.main_pid() == pid
                ):
                    return pid
            time.sleep(0.3)
        raise StepFailed(
            f"{self.unit} is not running steadily (state {state or 'unknown'} after "
            f"{time.monotonic() - started:.0f} s)",
            self.journal(),
        )

    def processes(self) -> tuple[list[tuple[int, str]], list[int]]:
        if self.uid < 0:
            return [], []
        return probes.parse_processes(self.sh(["python3", "-c", probes.PROCESSES, str(self.uid)]).output)

    def probe(self) -> str:
        ports = list(self.options.ports)
        found = ""
        if not ports:
            ports = self.processes()[1]
            found = " (found listening)"
        if not ports:
            raise StepSkipped("no ports declared (--port) and none found listening")
        env = {"PROBE_SEND": self.options.probe_send, "PROBE_EXPECT": self.options.probe_expect}
        lines = []
        for port in ports:
            result = self.sh(["python3", "-c", probes.PROBE, str(port)], env=env)
            if not result.ok:
                raise StepFailed(
                    result.output.strip().splitlines()[-1]
                    if result.output.strip()
                    else f"port {port}: probe failed",
                    self.journal(),
                )
            lines.append(result.output.strip().splitlines()[-1])
        return "; ".join(lines) + found

    # -- the steps -------------------------------------------------------------------------
    def step_snapshot(self) -> str:
        configured = ""
        if self.fmt.base_dirs:  # part of the clean system the format's packages expect
            self.must(["mkdir", "-p", *self.fmt.base_dirs], "making the base directories")
        if self.options.repository is not None:  # part of the clean system: a user adds it first
            configured = "; " + repo.add_repository(self.box, self.new.family, self.options.repository,
                                                    self.options.repository_key)
        self.clean.record()
        return f"{len(self.clean.before)} paths{configured}"

    def step_install(self) -> str:
        self.install(self.first, upgrade=False)
        version = self.installed_version()
        if not version:
            raise StepFailed(
                f"{self.pkg} is not installed after the install command", self.install_log[-3000:]
            )
        self.had_data_dir = self.sh(["test", "-d", f"/var/lib/{self.pkg}"]).ok
        source = " from the signed repository" if self.options.repository is not None else ""
        brought = self.clean.brought_in()
        if brought:
            source += f" with {', '.join(brought)}"
        start = self.fmt.start(self.pkg)  # an RPM leaves enabling and starting to the admin
        if start and self.sh(["test", "-d", "/run/systemd/system"]).ok:
            self.must(start, " ".join(start))
            source += f", then {' '.join(start)}"
        return f"{self.pkg} {version} installed{source}"

    def step_running(self) -> str:
        pid = self.wait_active()
        status = self.sh(["cat", f"/proc/{pid}/status"]).output
        uid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:")), -1)
        name = self.sh(["getent", "passwd", str(uid)]).output.split(":", 1)[0]
        if uid == 0:
            unit = self.sh(["systemctl", "show", "-p", "User", "-p", "Group", "-p", "ExecStart", self.unit])
            raise StepFailed(f"main process {pid} runs as root, not as {self.user}", unit.output.strip())
        if name != self.user:
            raise StepFailed(f"main process {pid} runs as {name or uid}, not as {self.user}")
        self.uid = uid
        return f"active, main process {pid} runs as {name} (uid {uid})"

    def step_probe(self) -> str:
        return self.probe()

    def step_restart(self) -> str:
        pid = self.main_pid()
        self.must(["systemctl", "restart", self.unit], "systemctl restart")
        pid2 = self.wait_active(old_pid=pid)
        self.probe_if_ports()
        self.must(["kill", "-9", str(pid2)], "kill -9 of the main process")
        pid3 = self.wait_active(old_pid=pid2, timeout=20)
        self.probe_if_ports()
        return f"restart {pid}->{pid2}; SIGKILL {pid2}, systemd restarted it as {pid3}"

    def probe_if_ports(self) -> None:
        try:
            self.probe()
        except StepSkipped:
            pass

    def step_upgrade(self) -> str:
        if self.options.upgrade_from is None:
            raise StepSkipped("no older build given; pass --upgrade-from OLD to test upgrades")
        conffile = self.pick_conffile()
        if conffile:
            self.must(f"printf '\\n{self.comment(conffile)}\\n' >> '{conffile}'", f"editing {conffile}")
        pid = self.main_pid()
        self.install(self.new, upgrade=True)
        version = self.installed_version()
        if version != self.new.version:
            raise StepFailed(
                f"after the upgrade {self.pkg} is at {version or 'nothing'}, not {self.new.version}",
                self.install_log[-3000:],
            )
        if conffile and EDIT_MARK not in self.sh(["cat", conffile]).output:
            raise StepFailed(f"the edit of the conffile {conffile} did not survive the upgrade")
        pid2 = self.wait_active(old_pid=pid)
        self.probe_if_ports()
        kept = f", edit of {conffile} kept" if conffile else ", no conffile to edit"
        return f"{self.first.version} -> {version}, restarted ({pid}->{pid2}){kept}"

    def pick_conffile(self) -> str:
        names = self.fmt.parse_conffiles(self.sh(self.fmt.conffiles_query(self.pkg)).output)
        text_first = sorted(
            names, key=lambda n: (not n.startswith(f"/etc/{self.pkg}/"), n.endswith(".tap"), n)
        )
        return text_first[0] if text_first else ""

    @staticmethod
    def comment(path: str) -> str:
        if path.endswith((".tax", ".xml")):
            return f"<!-- {EDIT_MARK} -->"
        return f"# {EDIT_MARK}"

    def step_remove(self) -> str:
        data = f"/var/lib/{self.pkg}/data-written-by-tap2pkg-verify"
        if self.had_data_dir:  # the service's data: remove must keep it, purge must not
            self.must(f"echo data > {data} && chown {self.user}: {data}", f"writing {data}")
        command = self.fmt.remove(self.pkg)
        self.must(command, " ".join(command[:-1]), env=self.fmt.env)
        problems = []
        for folder in ("/lib/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/system"):
            if self.sh(["test", "-e", f"{folder}/{self.unit}"]).ok:
                problems.append(f"unit file {folder}/{self.unit} still there")
        state = self.sh(["systemctl", "is-active", self.unit]).output.strip()
        if state in ("active", "activating", "reloading"):
            problems.append(f"{self.unit} still {state}")
        time.sleep(0.2)
        left = self.processes()[0]
        if left:
            problems.append(
                "processes of " + self.user + " still running: " + ", ".join(f"{p} {c}" for p, c in left)
            )
        if self.had_data_dir and not self.sh(["test", "-f", data]).ok:
            problems.append(f"remove deleted the data in /var/lib/{self.pkg} (it must be kept until purge)")
        if problems:
            raise StepFailed("; ".join(problems), self.journal())
        kept = f", /var/lib/{self.pkg} kept" if self.had_data_dir else ""
        return f"unit gone, no process left{kept}"

    def step_purge(self) -> str:
        dirs = [d for d in (f"/var/lib/{self.pkg}", f"/var/log/{self.pkg}") if self.clean.made_by_package(d)]
        how = self.fmt.purge_how
        self.must(self.fmt.purge(self.pkg, dirs), how, env=self.fmt.env)
        problems = []
        for path in (*dirs, f"/etc/{self.pkg}", f"/etc/default/{self.pkg}"):
            if self.clean.made_by_package(path) and self.sh(["test", "-e", path]).ok:
                problems.append(f"{path} still there")
        accounts, touched = self.clean.purged_accounts()
        problems += touched
        if problems:
            raise StepFailed("; ".join(problems))
        brought = self.clean.purge_brought_in()
        return f"{how}: data, logs and conffiles gone; {accounts}{brought}"

    def step_diff(self) -> str:
        lines = self.clean.left_behind()
        if lines:
            raise StepFailed(
                f"{len(lines)} path(s) differ from the clean system: "
                + ", ".join(line.split(": ", 1)[1] for line in lines[:5]),
                "\n".join(lines[:40]),
            )
        if self.clean.kept_account:
            return f"nothing left behind but the account {self.clean.kept_account}, base system unchanged"
        return "nothing left behind, base system unchanged"


def verify_lifecycle(box: VerifyContainer, distro: Distro, artifact: Artifact, options: VerifyOptions,
                     progress: ProgressSink | None = None) -> RunResult:
    """Run the nine lifecycle steps for ``artifact`` in the systemd container ``box``."""
    return _Lifecycle.verify(box, distro, artifact, options, progress)
