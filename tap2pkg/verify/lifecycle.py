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
that was there before the install must come out of it unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from . import probes
from .artifact import Artifact
from .container import ExecResult, VerifyContainer
from .images import Distro
from .report import FAIL, PASS, RunResult, StepResult

INBOX = "/var/tap2pkg-verify"
EDIT_MARK = "edited by tap2pkg verify"
#: The account databases: compared entry by entry, so that a kept service account is not a leftover.
ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")


class StepFailed(Exception):
    """Raised inside a step: ``detail`` is the one-line reason, ``log`` the evidence."""

    def __init__(self, detail: str, log: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.log = log


class StepSkipped(Exception):
    """Raised inside a step that does not apply; the message says why."""


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


class ProgressSink(Protocol):
    """Receives step events (see :class:`tap2pkg.verify.report.Progress`)."""

    def run_started(self, run: RunResult) -> None: ...
    def step_started(self, run: RunResult, step: StepResult) -> None: ...
    def step_finished(self, run: RunResult, step: StepResult) -> None: ...


class _Runner:
    """Shared machinery: run steps in order, time them, stop at the first failure."""

    def __init__(self, box: VerifyContainer, run: RunResult, progress: ProgressSink | None) -> None:
        self.box = box
        self.run = run
        self.progress = progress
        self.failed = False

    def step(self, name: str, title: str, action: Callable[[], str]) -> None:
        result = StepResult(name, title)
        self.run.steps.append(result)
        if self.progress:
            self.progress.step_started(self.run, result)
        started = time.monotonic()
        if self.failed:
            result.detail = "not run: an earlier step failed"
        else:
            try:
                result.detail = action()
                result.status = PASS
            except StepSkipped as skip:
                result.detail = str(skip)
            except StepFailed as failure:
                result.status, result.detail, result.log = FAIL, failure.detail, failure.log
                self.failed = True
        result.seconds = time.monotonic() - started
        if self.progress:
            self.progress.step_finished(self.run, result)

    def sh(self, command: str | list[str], *, env: dict[str, str] | None = None) -> ExecResult:
        return self.box.run(command, env=env)

    def must(self, command: str | list[str], what: str, *, env: dict[str, str] | None = None) -> ExecResult:
        result = self.sh(command, env=env)
        if not result.ok:
            raise StepFailed(f"{what} failed (exit {result.exit_code})", result.tail(25))
        return result

    def snapshot(self) -> dict[str, probes.Entry]:
        out = self.must(["python3", "-c", probes.SNAPSHOT, *probes.SNAPSHOT_EXCLUDE], "file list snapshot")
        return probes.parse_snapshot(out.output)


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
        self.before: dict[str, probes.Entry] = {}
        self.accounts_before: dict[str, dict[str, str]] = {}
        self.kept_account = ""
        self.had_data_dir = False
        self.install_log = ""
        #: the packages installed on the clean system
        self.packages_before: set[str] = set()

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
            from .repo import install_from_repo, pinned

            what = pinned(artifact.family, artifact.name, artifact.version)
            result = install_from_repo(self.box, artifact.family, self.options.repository, [what],
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

    def accounts(self) -> dict[str, dict[str, str]]:
        """Each account database (:data:`ACCOUNT_FILES`) as ``{name: entry}``."""
        listing = self.must(
            "for f in " + " ".join(ACCOUNT_FILES) + "; do sed \"s|^|$f:|\" \"$f\" 2>/dev/null; done; true",
            "reading the account databases",
        ).output
        out: dict[str, dict[str, str]] = {path: {} for path in ACCOUNT_FILES}
        for line in listing.splitlines():
            path, _, entry = line.partition(":")
            if path in out and entry:
                out[path][entry.split(":", 1)[0]] = entry
        return out

    def installed_packages(self) -> set[str]:
        """The installed packages' names; rpm's ``gpg-pubkey`` entries (the keys dnf imports) are keys,
        not packages an install brought in."""
        listing = self.must(self.fmt.installed_packages(), "listing the installed packages")
        return {name for name in self.fmt.parse_packages(listing.output) if name != "gpg-pubkey"}

    def brought_in(self) -> list[str]:
        """The packages installed since the clean system's snapshot, but the service's own (its companions,
        from the repository it was installed from)."""
        return sorted(self.installed_packages() - self.packages_before - {self.pkg})

    def purge_brought_in(self) -> str:
        """Remove and purge the packages the install brought in with the service: a user who removes the
        set leaves nothing behind either."""
        brought = self.brought_in()
        if not brought:
            return ""
        self.must(self.fmt.purge_packages(brought), " ".join(self.fmt.purge_packages(brought)),
                  env=self.fmt.env)
        how = " ".join(self.fmt.purge_packages_command)
        return f"; then {how} of what it brought in: {', '.join(brought)}"

    def made_by_package(self, path: str) -> bool:
        """Whether ``path`` was absent from the clean system (so the package, or its service, made it)."""
        return path not in self.before

    # -- the steps -------------------------------------------------------------------------
    def step_snapshot(self) -> str:
        configured = ""
        if self.fmt.base_dirs:  # part of the clean system the format's packages expect
            self.must(["mkdir", "-p", *self.fmt.base_dirs], "making the base directories")
        if self.options.repository is not None:  # part of the clean system: a user adds it first
            from .repo import add_repository

            configured = "; " + add_repository(self.box, self.new.family, self.options.repository,
                                               self.options.repository_key)
        self.before = self.snapshot()
        self.accounts_before = self.accounts()
        self.packages_before = self.installed_packages()
        return f"{len(self.before)} paths{configured}"

    def step_install(self) -> str:
        self.install(self.first, upgrade=False)
        version = self.installed_version()
        if not version:
            raise StepFailed(
                f"{self.pkg} is not installed after the install command", self.install_log[-3000:]
            )
        self.had_data_dir = self.sh(["test", "-d", f"/var/lib/{self.pkg}"]).ok
        source = " from the signed repository" if self.options.repository is not None else ""
        brought = self.brought_in()
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
        dirs = [d for d in (f"/var/lib/{self.pkg}", f"/var/log/{self.pkg}") if self.made_by_package(d)]
        how = self.fmt.purge_how
        self.must(self.fmt.purge(self.pkg, dirs), how, env=self.fmt.env)
        problems = []
        for path in (*dirs, f"/etc/{self.pkg}", f"/etc/default/{self.pkg}"):
            if self.made_by_package(path) and self.sh(["test", "-e", path]).ok:
                problems.append(f"{path} still there")
        accounts, touched = self.purged_accounts()
        problems += touched
        if problems:
            raise StepFailed("; ".join(problems))
        brought = self.purge_brought_in()
        return f"{how}: data, logs and conffiles gone; {accounts}{brought}"

    def purged_accounts(self) -> tuple[str, list[str]]:
        """What purge did to the service's user and group: a note, and problems (an older account touched)."""
        after = self.accounts()
        notes, problems, kept = [], [], []
        for path, kind in (("/etc/passwd", "user"), ("/etc/group", "group")):
            before, now = self.accounts_before[path].get(self.user), after[path].get(self.user)
            if before is not None:
                if now != before:
                    done = "deleted" if now is None else f"changed ({before} -> {now})"
                    problems.append(f"{kind} {self.user} was there before the install and purge {done} it")
                else:
                    notes.append(f"existing {kind} {self.user} untouched")
            elif now is not None:
                kept.append(kind)
            else:
                notes.append(f"{kind} {self.user} deleted (Debian and Fedora keep the accounts their "
                             "packages made: the uid may still own files)")
        if kept:
            uid = after["/etc/passwd"].get(self.user, "").split(":")[2:3]
            self.kept_account = self.user
            notes.insert(0, f"{' and '.join(kept)} {self.user}{f' (uid {uid[0]})' if uid else ''} kept, "
                            "as Debian and Fedora keep the accounts their packages made")
        return "; ".join(notes), problems

    def account_changes(self) -> list[str]:
        """Account database entries added, removed or changed since the snapshot, but for the kept account."""
        after = self.accounts()
        lines = []
        for path in ACCOUNT_FILES:
            old, new = self.accounts_before.get(path, {}), after[path]
            for name in sorted(old.keys() | new.keys()):
                if name == self.kept_account and name not in old:
                    continue
                if name not in old:
                    lines.append(f"left behind: {path} entry {name}")
                elif name not in new:
                    lines.append(f"removed from the base system: {path} entry {name}")
                elif old[name] != new[name]:
                    lines.append(f"changed: {path} entry {name}")
        return lines

    def step_diff(self) -> str:
        # the account databases are compared entry by entry (a kept account changes their size)
        def sizeless(snapshot: dict[str, probes.Entry]) -> dict[str, probes.Entry]:
            return {p: replace(e, extra="") if p in ACCOUNT_FILES else e for p, e in snapshot.items()}

        lines = probes.diff_snapshots(sizeless(self.before), sizeless(self.snapshot()))
        lines += self.account_changes()
        if lines:
            raise StepFailed(
                f"{len(lines)} path(s) differ from the clean system: "
                + ", ".join(line.split(": ", 1)[1] for line in lines[:5]),
                "\n".join(lines[:40]),
            )
        if self.kept_account:
            return f"nothing left behind but the account {self.kept_account}, base system unchanged"
        return "nothing left behind, base system unchanged"


def verify_lifecycle(box: VerifyContainer, distro: Distro, artifact: Artifact, options: VerifyOptions,
                     progress: ProgressSink | None = None) -> RunResult:
    """Run the nine lifecycle steps for ``artifact`` in the systemd container ``box``."""
    return _Lifecycle.verify(box, distro, artifact, options, progress)
