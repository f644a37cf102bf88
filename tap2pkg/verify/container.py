"""A verification container: systemd as PID 1 (or no init at all), no network, always cleaned up.

What works on a cgroup v1 host with ``--privileged`` refused (found on the
project's CI machine, docker 20.10, systemd 252): ``network_mode="none"``,
``cap_add=["SYS_ADMIN"]``, ``security_opt=["seccomp=unconfined"]``, tmpfs on
``/run`` and ``/run/lock``, the host's ``/sys/fs/cgroup`` bind-mounted
read-only, and ``container=docker`` in the environment. systemd then reaches
``running`` in about a second. Without the cgroup bind mount systemd exits.
``net.ipv4.ip_unprivileged_port_start`` is set back to 1024, as on a real
host (docker sets it to 0, so any user could bind port 53 and a unit that
forgot ``CAP_NET_BIND_SERVICE`` would pass). ``SYS_PTRACE`` is added too, so
that root in the container may look at other users' processes as root on a
real machine does (``start-stop-daemon --exec`` in init scripts fails without
it).
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..runtime.lazy import lazy_import
from .errors import ImageBuildError

if TYPE_CHECKING:
    from docker import errors as docker_errors
else:  # imported on first use: only verify/ imports docker, and only when a container is used
    docker_errors = lazy_import("docker.errors")

LABEL_CONTAINER = "tap2pkg.verify"
#: Daily timers of the images' userland, masked in every container before it boots: at midnight
#: they write /var/backups and /var/lib/logrotate, which the purge step would count as left behind.
MASKED_TIMERS = ("dpkg-db-backup.timer", "logrotate.timer", "man-db.timer")

# PID 1 of a container without systemd, doing the two things of sysvinit's
# init that init scripts rely on: it records runlevel 2 in /run/utmp (so
# `runlevel` answers and invoke-rc.d acts on the rc2.d links) and reaps the
# daemons an init script stops (``sleep`` would leave them as zombies).
REAPER = """
import os, signal, struct, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
record = struct.pack("<hxxi32s4s32s256shhiii4i20s", 1, ord("2") + 256 * ord("N"), b"~", b"~~",
                     b"runlevel", b"", 0, 0, 0, int(time.time()), 0, 0, 0, 0, 0, b"")
with open("/run/utmp", "wb") as utmp:
    utmp.write(record)
if os.path.realpath("/sbin/runlevel").endswith("/systemctl"):
    # systemd-sysv's runlevel asks systemd; sysvinit-core's reads utmp: stand in for the latter
    os.remove("/sbin/runlevel")
    with open("/sbin/runlevel", "w") as shim:
        shim.write("#!/bin/sh\\necho N 2\\n")
    os.chmod("/sbin/runlevel", 0o755)
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.5)
"""


@dataclass(frozen=True)
class ExecResult:
    """The exit code and the merged stdout+stderr of a command run in the container."""

    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the output."""
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def _masks(units: tuple[str, ...]) -> bytes:
    """A tar of ``/etc/systemd/system/<unit> -> /dev/null`` links, which mask ``units``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for unit in units:
            info = tarfile.TarInfo(f"etc/systemd/system/{unit}")
            info.type, info.linkname = tarfile.SYMTYPE, "/dev/null"
            tar.addfile(info)
    return buffer.getvalue()


class VerifyContainer:
    """One running container; use it as a context manager so it is removed on any exit, Ctrl-C included."""

    def __init__(
        self,
        client: Any,
        image: str,
        *,
        systemd: bool = True,
        keep: bool = False,
        name: str | None = None,
        image_note: str = "",
    ) -> None:
        self.client = client
        self.image = image
        #: what a derived image added to the distro's image, said in every report
        self.image_note = image_note
        self.systemd = systemd
        self.keep = keep
        # a unique name finds the container again if Ctrl-C lands while it is being created
        self.name = name or f"tap2pkg-verify-{os.getpid()}-{secrets.token_hex(4)}"
        self.container: Any = None

    def __enter__(self) -> VerifyContainer:
        try:
            self.start()
        except BaseException:  # Ctrl-C or an error while starting: still remove what exists
            self.remove()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    @property
    def short_id(self) -> str:
        """The container's short id ('' before start)."""
        return str(self.container.short_id) if self.container is not None else ""

    def start(self) -> None:
        """Create and start the container (systemd as PID 1, or a reaper without systemd)."""
        options: dict[str, Any] = {
            "detach": True,
            "network_mode": "none",
            # SYS_PTRACE: root on a real machine may read /proc/<pid>/exe and fd of other users'
            # processes; start-stop-daemon --exec and the port finder need that.
            "cap_add": ["SYS_ADMIN", "SYS_PTRACE"],
            "security_opt": ["seccomp=unconfined"],
            # docker lets anyone bind any port (ip_unprivileged_port_start=0); a real host keeps ports
            # below 1024 for root and CAP_NET_BIND_SERVICE, which a unit must then grant
            "sysctls": {"net.ipv4.ip_unprivileged_port_start": "1024"},
            "tmpfs": {"/run": "rw,exec,mode=755", "/run/lock": "rw,mode=1777"},
            "environment": {"container": "docker"},
            "labels": {LABEL_CONTAINER: "1", "tap2pkg.keep": "1" if self.keep else "0"},
            "name": self.name,
        }
        if self.systemd:
            options["volumes"] = {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}}
            options["stop_signal"] = "SIGRTMIN+3"
            command = ["/sbin/init"]
        else:
            command = ["python3", "-c", REAPER]
        options.pop("detach")
        self.container = self.client.containers.create(self.image, command, **options)
        self.container.put_archive("/", _masks(MASKED_TIMERS))
        self.container.start()
        if self.systemd:
            self.wait_for_systemd()
        else:
            self.wait_for_reaper()

    def wait_for_reaper(self, timeout: float = 30.0) -> None:
        """Wait until PID 1 of an init-less container has recorded the runlevel (or say why not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status not in ("created", "running"):
                logs = self.container.logs(tail=20).decode(errors="replace")
                raise ImageBuildError(f"the init-less container of {self.image} stopped; its output:\n{logs}")
            if self.run(["test", "-s", "/run/utmp"]).ok:
                return
            time.sleep(0.1)
        raise ImageBuildError(
            f"the init-less container of {self.image} did not come up within {timeout:.0f} s"
        )

    def wait_for_systemd(self, timeout: float = 90.0) -> str:
        """Wait until ``systemctl is-system-running`` says running or degraded; return what it said."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status not in ("created", "running"):
                logs = self.container.logs(tail=20).decode(errors="replace")
                raise ImageBuildError(
                    f"systemd did not start in {self.image} (container {self.container.status}); "
                    f"its last output:\n{logs}"
                )
            state = self.run(["systemctl", "is-system-running"]).output.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.2)
        raise ImageBuildError(
            f"systemd in {self.image} did not reach running within {timeout:.0f} s (last state {state!r})"
        )

    def run(
        self, command: list[str] | str, *, env: dict[str, str] | None = None, user: str = ""
    ) -> ExecResult:
        """Run ``command`` (a list, or a string for ``sh -c``) and return its exit code and output."""
        argv = ["sh", "-c", command] if isinstance(command, str) else command
        exit_code, output = self.container.exec_run(argv, environment=env or {}, user=user, demux=False)
        text = output.decode(errors="replace") if isinstance(output, bytes) else ""
        return ExecResult(int(exit_code if exit_code is not None else -1), text)

    def put_file(self, source: Path, directory: str, name: str | None = None) -> str:
        """Copy the host file ``source`` into ``directory`` in the container; return its path there."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tar.gettarinfo(str(source), arcname=name or source.name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o644
            with source.open("rb") as handle:
                tar.addfile(info, handle)
        self.run(["mkdir", "-p", directory])
        self.container.put_archive(directory, buffer.getvalue())
        return f"{directory.rstrip('/')}/{name or source.name}"

    def remove(self) -> None:
        """Remove the container (kept, stopped or not, with ``keep``)."""
        if self.keep:
            return
        try:
            container = self.container or self.client.containers.get(self.name)
            container.remove(force=True, v=True)
        except docker_errors.NotFound:
            pass
        self.container = None
