"""The clean system, as it was before the install, and what the package left of it after purge.

:meth:`CleanSystem.record` notes three things before anything is installed:
every path with its type, mode and owner, each entry of the account databases
(:data:`ACCOUNT_FILES`), and the installed packages. After purge the same
three are read again:

- :meth:`CleanSystem.purged_accounts` -- the service's user and group: one the
  package made may stay (its uid may still own files), one that was there
  before must be untouched;
- :meth:`CleanSystem.purge_brought_in` -- the packages the install brought in
  with the service are purged too;
- :meth:`CleanSystem.left_behind` -- every path and account entry that differs
  from the clean system, but for the kept account.
"""

from __future__ import annotations

from dataclasses import replace

from . import probes
from .formats import PackageFormat
from .steps import _Runner

#: The account databases: compared entry by entry, so that a kept service account is not a leftover.
ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")


class CleanSystem:
    """What the container held before the install of ``pkg``, read and compared through ``runner``."""

    def __init__(self, runner: _Runner, fmt: PackageFormat, pkg: str, user: str) -> None:
        self.runner = runner
        #: the format's commands (installed packages, purge)
        self.fmt = fmt
        self.pkg = pkg
        self.user = user
        self.before: dict[str, probes.Entry] = {}
        self.accounts_before: dict[str, dict[str, str]] = {}
        #: the packages installed on the clean system
        self.packages_before: set[str] = set()
        #: the service account purge kept, as Debian and Fedora do ('' when none was)
        self.kept_account = ""

    def record(self) -> None:
        """Note the clean system's paths, account entries and packages."""
        self.before = self.snapshot()
        self.accounts_before = self.accounts()
        self.packages_before = self.installed_packages()

    def snapshot(self) -> dict[str, probes.Entry]:
        """Every path (but the bookkeeping in :data:`probes.SNAPSHOT_EXCLUDE`): type, mode, owner, size."""
        out = self.runner.must(["python3", "-c", probes.SNAPSHOT, *probes.SNAPSHOT_EXCLUDE],
                               "file list snapshot")
        return probes.parse_snapshot(out.output)

    def accounts(self) -> dict[str, dict[str, str]]:
        """Each account database (:data:`ACCOUNT_FILES`) as ``{name: entry}``."""
        listing = self.runner.must(
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
        listing = self.runner.must(self.fmt.installed_packages(), "listing the installed packages")
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
        self.runner.must(self.fmt.purge_packages(brought), " ".join(self.fmt.purge_packages(brought)),
                         env=self.fmt.env)
        how = " ".join(self.fmt.purge_packages_command)
        return f"; then {how} of what it brought in: {', '.join(brought)}"

    def made_by_package(self, path: str) -> bool:
        """Whether ``path`` was absent from the clean system (so the package, or its service, made it)."""
        return path not in self.before

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

    def left_behind(self) -> list[str]:
        """Each path, then each account entry, that differs from the clean system: one line each."""
        # the account databases are compared entry by entry (a kept account changes their size)
        def sizeless(snapshot: dict[str, probes.Entry]) -> dict[str, probes.Entry]:
            return {p: replace(e, extra="") if p in ACCOUNT_FILES else e for p, e in snapshot.items()}

        lines = probes.diff_snapshots(sizeless(self.before), sizeless(self.snapshot()))
        return lines + self.account_changes()
