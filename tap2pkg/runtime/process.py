"""``ProcessService``: keep child processes running, as a process monitor does.

Each child runs in its own process group with its output captured: every
line it writes goes to the log as ``<name>: <line>`` (stdout) or
``<name> (stderr): <line>``. When a child exits while the service runs it is
started again: at once if it had run for at least ``threshold`` seconds,
otherwise after a delay that starts at ``min_restart_delay`` and doubles with
each quick death up to ``max_restart_delay``. On stop every child's group gets
SIGTERM, then SIGKILL after ``kill_time`` seconds, and is reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

from . import privileges
from .errors import Tap2pkgError
from .service import Service, ServiceError, persistable

log = logging.getLogger("tap2pkg.process")

_PROCESS_KEYS = ("args", "env", "cwd", "uid", "gid")


class _Child:
    """One supervised command and the state of its current run."""

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None, cwd: str | None,
                 uid: int | str | None, gid: int | str | None, delay: float) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.cwd = cwd
        self.uid = uid
        self.gid = gid
        self.delay = delay
        self.proc: asyncio.subprocess.Process | None = None
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.removed = False
        self.restart_now = False

    def config(self) -> dict[str, Any]:
        return {"args": list(self.args), "env": self.env, "cwd": self.cwd, "uid": self.uid, "gid": self.gid}


def _check_args(name: str, args: Any) -> list[str]:
    if isinstance(args, str) or not isinstance(args, (list, tuple)) or not args \
            or not all(isinstance(a, str) for a in args):
        raise ServiceError(f"process {name!r}: args must be a non-empty list of strings, "
                           f"e.g. ['/usr/bin/sleep', '60'] (got {args!r})")
    return list(args)


@persistable
class ProcessService(Service):
    """Keep named child processes running; restart them with backoff; stop them on shutdown."""

    persist_fields = ("processes", "threshold", "kill_time", "min_restart_delay", "max_restart_delay", "name")

    def __init__(self, processes: dict[str, dict[str, Any]] | None = None, threshold: float = 1.0,
                 kill_time: float = 5.0, min_restart_delay: float = 1.0, max_restart_delay: float = 3600.0,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.threshold = threshold
        self.kill_time = kill_time
        self.min_restart_delay = min_restart_delay
        self.max_restart_delay = max_restart_delay
        self._children: dict[str, _Child] = {}
        for proc_name, config in (processes or {}).items():
            unknown = set(config) - set(_PROCESS_KEYS)
            if unknown or "args" not in config:
                raise ServiceError(f"process {proc_name!r}: needs 'args' and only the keys "
                                   f"{', '.join(_PROCESS_KEYS)} (got {sorted(config)})")
            self.add_process(proc_name, **config)

    @property
    def processes(self) -> dict[str, dict[str, Any]]:
        """Every supervised command: name -> dict(args, env, cwd, uid, gid)."""
        return {name: child.config() for name, child in self._children.items()}

    @property
    def pids(self) -> dict[str, int]:
        """The pid of each child currently running."""
        return {name: c.proc.pid for name, c in self._children.items()
                if c.proc is not None and c.proc.returncode is None}

    @property
    def label(self) -> str:
        """How log lines name this service."""
        return self.name or "process monitor"

    def add_process(self, name: str, args: list[str], env: dict[str, str] | None = None,
                    cwd: str | None = None, uid: int | str | None = None,
                    gid: int | str | None = None) -> None:
        """Supervise a new command; started at once when the service runs.

        ``env`` ``None`` inherits the daemon's environment, a dict replaces it.
        """
        if name in self._children:
            raise ServiceError(f"process {name!r} is already supervised by {self.label} (remove it first)")
        child = _Child(name, _check_args(name, args), None if env is None else dict(env), cwd, uid, gid,
                       self.min_restart_delay)
        self._children[name] = child
        if self.running:
            child.task = asyncio.create_task(self._supervise(child))

    def remove_process(self, name: str) -> asyncio.Task[None] | None:
        """Stop supervising ``name``; returns the task stopping its process when one runs."""
        child = self._children.pop(name, None)
        if child is None:
            raise ServiceError(f"no process named {name!r} in {self.label}")
        child.removed = True
        child.wake.set()
        if child.task is not None:
            return asyncio.create_task(self._finish(child))
        return None

    def restart_all(self) -> asyncio.Future[list[None]]:
        """Stop every running child (SIGTERM, then SIGKILL); each is started again at once."""
        stops = []
        for child in self._children.values():
            if child.proc is not None and child.proc.returncode is None:
                child.restart_now = True
                stops.append(self._terminate(child))
        return asyncio.gather(*stops)

    async def start(self) -> None:
        await super().start()
        for child in self._children.values():
            if child.task is None:
                child.task = asyncio.create_task(self._supervise(child))

    async def stop(self) -> None:
        await super().stop()
        children = list(self._children.values())
        for child in children:
            child.wake.set()
        await asyncio.gather(*(self._finish(child) for child in children))

    async def _finish(self, child: _Child) -> None:
        await self._terminate(child)
        if child.task is not None:
            await asyncio.wait({child.task}, timeout=self.kill_time + 1.0)
            if not child.task.done():
                child.task.cancel()
            child.task = None
        child.wake = asyncio.Event()

    def _signal(self, child: _Child, signum: int) -> None:
        proc = child.proc
        if proc is None or proc.returncode is not None:
            return
        # The whole group, so that the child's own children go too (no orphans).
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

    async def _terminate(self, child: _Child) -> None:
        proc = child.proc
        if proc is None or proc.returncode is not None:
            return
        self._signal(child, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), self.kill_time)
        except TimeoutError:
            log.warning("%s: %s did not exit %.1fs after SIGTERM; sending SIGKILL",
                        self.label, child.name, self.kill_time)
            self._signal(child, signal.SIGKILL)
            await proc.wait()

    async def _spawn(self, child: _Child) -> asyncio.subprocess.Process:
        options: dict[str, Any] = {}
        if child.uid is not None or child.gid is not None:
            # the daemon's own rules: the user's groups (none when unknown), never root's left over
            identity = privileges.resolve(child.uid, child.gid)
            if privileges.needs_switch(identity):
                if identity.uid is not None:
                    options["user"] = identity.uid
                if identity.gid is not None:
                    options["group"] = identity.gid
                options["extra_groups"] = list(identity.groups or ())
        return await asyncio.create_subprocess_exec(
            *child.args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=child.env, cwd=child.cwd, start_new_session=True,
            **options)

    async def _pump(self, child: _Child, stream: asyncio.StreamReader | None, suffix: str) -> None:
        if stream is None:
            return
        pending = b""
        while chunk := await stream.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > 65536:  # a child that never ends its line must not fill our memory
                lines.append(pending)
                pending = b""
            for line in lines:
                log.info("%s%s: %s", child.name, suffix, line.decode(errors="replace").rstrip("\r"))
        if pending:
            log.info("%s%s: %s", child.name, suffix, pending.decode(errors="replace"))

    def _running(self, child: _Child) -> bool:
        return self.running and not child.removed and not child.wake.is_set()

    async def _supervise(self, child: _Child) -> None:
        loop = asyncio.get_running_loop()
        while self._running(child):
            started = loop.time()
            try:
                child.proc = await self._spawn(child)
            except (OSError, ValueError, KeyError, Tap2pkgError) as exc:
                log.error("%s: cannot start %s (%s): %s", self.label, child.name, child.args[0], exc)
                status = "not started"
            else:
                log.info("%s: started %s (pid %d)", self.label, child.name, child.proc.pid)
                if not self._running(child):  # stopped while it was being spawned
                    self._signal(child, signal.SIGKILL)
                pumps = asyncio.gather(self._pump(child, child.proc.stdout, ""),
                                       self._pump(child, child.proc.stderr, " (stderr)"))
                code = await child.proc.wait()
                # A grandchild in another session may hold the pipes open; don't wait for it forever.
                await asyncio.wait({pumps}, timeout=1.0)
                if not pumps.done():
                    pumps.cancel()
                status = f"exited with status {code}" if code >= 0 else f"was killed by signal {-code}"
            if not self._running(child):
                log.info("%s: %s %s", self.label, child.name, status)
                return
            ran = loop.time() - started
            if child.restart_now or ran >= self.threshold:
                child.restart_now = False
                child.delay = self.min_restart_delay
                log.info("%s: %s %s after %.1fs; restarting", self.label, child.name, status, ran)
                continue
            wait, child.delay = child.delay, min(child.delay * 2, self.max_restart_delay)
            log.warning("%s: %s %s after %.1fs; restarting in %gs",
                        self.label, child.name, status, ran, wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wake.wait(), wait)
