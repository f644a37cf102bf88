"""Small Python programs run inside the container (python3 is in every image), and their parsing.

They run inside so that nothing depends on the host seeing the container's
network or file system: the container has no network at all.
"""

from __future__ import annotations

from dataclasses import dataclass

# Paths whose churn is the package manager's or the init system's own
# bookkeeping, not something a package leaves behind.
SNAPSHOT_EXCLUDE = (
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/tmp",
    "/var/tmp",
    "/var/tap2pkg-verify",
    "/var/cache/apt",
    "/var/cache/debconf",
    "/var/cache/ldconfig",
    "/var/cache/dnf",
    "/var/cache/man",
    "/var/lib/apt",
    "/var/lib/dpkg",
    "/var/lib/rpm",
    "/var/lib/dnf",
    "/var/lib/systemd/random-seed",
    "/var/lib/systemd/timers",
    "/var/lib/systemd/catalog",
    "/var/log/journal",
    "/var/log/apt",
    "/var/log/dpkg.log",
    "/var/log/alternatives.log",
    "/var/log/dnf",
    "/var/log/btmp",
    "/var/log/wtmp",
    "/var/log/lastlog",
    "/etc/ld.so.cache",
    "/etc/passwd-",
    "/etc/group-",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/subuid-",
    "/etc/subgid-",
    "/etc/machine-id",
    "/etc/mtab",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/root/.rpmdb",
    "/root/.cache",
    "/var/lib/sss",
    "/usr/lib/sysimage/rpm",
)
#: files whose size may change as their content is rewritten, e.g. /etc/shadow with new dates
SIZE_MAY_CHANGE = ("/etc/shadow", "/etc/gshadow", "/etc/.pwd.lock")

SNAPSHOT = r"""
import os, stat, sys
exclude = tuple(sys.argv[1:])
def emit(path, st):
    kind = stat.S_IFMT(st.st_mode)
    extra = st.st_size if stat.S_ISREG(st.st_mode) else ""
    if stat.S_ISLNK(st.st_mode):
        extra = os.readlink(path)
    print(f"{path}\t{kind:o}\t{stat.S_IMODE(st.st_mode):o}\t{st.st_uid}\t{st.st_gid}\t{extra}")
for top, dirs, files in os.walk("/"):
    dirs[:] = sorted(d for d in dirs if os.path.join(top, d) not in exclude)
    for name in dirs + sorted(files):
        path = os.path.join(top, name)
        if path in exclude:
            continue
        try:
            emit(path, os.lstat(path))
        except OSError:
            pass
"""

PROBE = r"""
import os, socket, sys, time
port = int(sys.argv[1])
send = os.environ.get("PROBE_SEND", "").encode().decode("unicode_escape").encode("latin-1")
expect = os.environ.get("PROBE_EXPECT", "").encode().decode("unicode_escape").encode("latin-1")
deadline = time.monotonic() + float(os.environ.get("PROBE_WAIT", "10"))
while True:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=3)
        break
    except OSError as exc:
        if time.monotonic() > deadline:
            print(f"port {port}: connect failed: {exc}"); sys.exit(1)
        time.sleep(0.2)
print(f"port {port}: connected")
if send or expect:
    sock.sendall(send)
    got = b""
    sock.settimeout(1)
    limit = time.monotonic() + 5
    while expect not in got and time.monotonic() < limit:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        got += chunk
    if expect not in got:
        print(f"port {port}: sent {send!r}, expected {expect!r}, got {got[:200]!r}"); sys.exit(1)
    print(f"port {port}: sent {send!r}, got {expect!r}")
"""

# Processes of one uid, and the TCP ports they listen on.
PROCESSES = r"""
import os, sys
uid = int(sys.argv[1])
inodes = {}
for name in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(name).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        fields = line.split()
        if fields[3] == "0A":
            inodes["socket:[%s]" % fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
ports = set()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if os.stat("/proc/" + pid).st_uid != uid:
            continue
        stat = open("/proc/%s/stat" % pid).read()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue  # a zombie has already exited
        comm = open("/proc/%s/comm" % pid).read().strip()
        print("pid", pid, comm)
        for fd in os.listdir("/proc/%s/fd" % pid):
            target = os.readlink("/proc/%s/fd/%s" % (pid, fd))
            if target in inodes:
                ports.add(inodes[target])
    except OSError:
        pass
for port in sorted(ports):
    print("port", port)
"""


@dataclass(frozen=True)
class Entry:
    """One path of a snapshot: type, mode, owner, and size (files) or target (links)."""

    kind: str
    mode: str
    uid: str
    gid: str
    extra: str


def parse_snapshot(text: str) -> dict[str, Entry]:
    """Parse the output of :data:`SNAPSHOT`."""
    entries = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 6:
            entries[parts[0]] = Entry(*parts[1:])
    return entries


def diff_snapshots(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    """Human lines for every path added, removed or changed between two snapshots."""
    lines = [f"left behind: {path}" for path in sorted(after.keys() - before.keys())]
    lines += [f"removed from the base system: {path}" for path in sorted(before.keys() - after.keys())]
    for path in sorted(before.keys() & after.keys()):
        old, new = before[path], after[path]
        if path in SIZE_MAY_CHANGE:
            old = Entry(old.kind, old.mode, old.uid, old.gid, "")
            new = Entry(new.kind, new.mode, new.uid, new.gid, "")
        if old != new:
            changes = [
                f"{name} {getattr(old, name)}->{getattr(new, name)}"
                for name in ("kind", "mode", "uid", "gid", "extra")
                if getattr(old, name) != getattr(new, name)
            ]
            lines.append(f"changed: {path} ({', '.join(changes)})")
    return lines


def parse_processes(text: str) -> tuple[list[tuple[int, str]], list[int]]:
    """Parse the output of :data:`PROCESSES` into (pid, command) pairs and listening ports."""
    processes, ports = [], []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "pid":
            processes.append((int(parts[1]), parts[2]))
        elif len(parts) == 2 and parts[0] == "port":
            ports.append(int(parts[1]))
    return processes, ports
