"""A ``.deb`` in a container without systemd: its init script through ``service`` and ``invoke-rc.d``.

The container's PID 1 records runlevel 2 and reaps daemons (see
:data:`tap2pkg.verify.container.REAPER`), which is what init scripts need of
sysvinit. Steps: snapshot, install (the init script must start the service),
``service`` stop/start/status/stop, ``invoke-rc.d`` start/stop, purge, diff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from .artifact import Artifact
from .container import VerifyContainer
from .images import Distro
from .lifecycle import VerifyOptions, _Lifecycle
from .report import RunResult
from .steps import ProgressSink, StepFailed


class _SysvInit(_Lifecycle):
    """A .deb in a container without systemd: the init script through service and invoke-rc.d."""

    init = "sysvinit"

    def steps(self) -> list[tuple[str, str, Callable[[], str]]]:
        return [
            ("snapshot", "1 snapshot the clean system", self.step_snapshot),
            ("install", "2 install (init script starts it)", self.step_install),
            ("service", "3 service start|status|stop", self.step_service),
            ("invoke-rc.d", "4 invoke-rc.d start|stop", self.step_invoke),
            ("purge", "5 purge", self.step_purge),
            ("diff", "6 nothing left behind", self.step_diff),
        ]

    def running_processes(self) -> list[tuple[int, str]]:
        if self.uid < 0:
            uid = self.sh(["id", "-u", self.user]).output.strip()
            self.uid = int(uid) if uid.isdigit() else -1
        return self.processes()[0]

    def wait_processes(self, *, present: bool, timeout: float = 10.0) -> list[tuple[int, str]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.running_processes()
            if bool(found) == present or time.monotonic() > deadline:
                return found
            time.sleep(0.3)

    def step_install(self) -> str:
        detail = super().step_install()
        if not self.wait_processes(present=True):
            raise StepFailed(
                f"installing did not start {self.pkg} through its init script", self.install_log[-3000:]
            )
        return detail + ", started by its init script"

    def init_log(self) -> str:
        return self.sh(f"tail -n 20 /var/log/{self.pkg}/*.log 2>/dev/null").output

    def start_with(self, tool: list[str]) -> str:
        self.must([*tool, "start"], " ".join(tool) + " start")
        found = self.wait_processes(present=True)
        if not found:
            raise StepFailed(f"no process of {self.user} after {' '.join(tool)} start", self.init_log())
        status = self.sh([*tool, "status"] if tool[0] == "service" else ["service", self.pkg, "status"])
        if not status.ok:
            raise StepFailed(
                f"service {self.pkg} status says not running (exit {status.exit_code})", status.tail()
            )
        if self.uid == 0:
            raise StepFailed(f"{self.pkg} runs as root, not as {self.user}")
        self.probe_if_ports()
        return f"running as {self.user}: " + ", ".join(f"{p} {c}" for p, c in found)

    def stop_with(self, tool: list[str]) -> None:
        self.must([*tool, "stop"], " ".join(tool) + " stop")
        left = self.wait_processes(present=False)
        if left:
            raise StepFailed(f"processes of {self.user} still running after {' '.join(tool)} stop: {left}")
        status = self.sh(["service", self.pkg, "status"])
        if status.ok:
            raise StepFailed(f"service {self.pkg} status says running after stop", status.tail())

    def step_service(self) -> str:
        self.stop_with(["service", self.pkg])
        detail = self.start_with(["service", self.pkg])
        self.stop_with(["service", self.pkg])
        return "service start|status|stop: " + detail

    def step_invoke(self) -> str:
        detail = self.start_with(["invoke-rc.d", self.pkg])
        self.stop_with(["invoke-rc.d", self.pkg])
        return "invoke-rc.d start|stop: " + detail


def verify_sysvinit(box: VerifyContainer, distro: Distro, artifact: Artifact, options: VerifyOptions,
                    progress: ProgressSink | None = None) -> RunResult:
    """Run a .deb through its init script in the container ``box`` that has no systemd."""
    # no upgrade step; a repository still serves the install
    return _SysvInit.verify(box, distro, artifact, replace(options, upgrade_from=None), progress)
