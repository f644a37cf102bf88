"""``timer``: run a command every N seconds, never two runs at once.

``tapd -n timer --interval 300 --command "/usr/bin/backup --quiet"`` runs the
command at start and then every 300 seconds. A run that takes longer than the
interval delays the next one instead of overlapping it. The command's output
and a non-zero exit status go to the daemon's log; a run longer than
``--timeout`` seconds is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex

from ..errors import UsageError
from ..internet import TimerService
from ..service import Service, persistable
from . import ServiceMaker

log = logging.getLogger("tap2pkg.timer")


@persistable
async def run_command(args: list[str], timeout: float | None = None) -> int:
    """Run ``args``, log its output and a failure; return its exit status (-N for signal N)."""
    name = args[0]
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
    except OSError as exc:
        log.error("timer: cannot run %s: %s", name, exc.strerror or exc)
        return 127
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        output, _ = await proc.communicate()
        log.warning("timer: %s ran longer than %gs; killed", name, timeout)
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    for line in output.decode(errors="replace").splitlines():
        log.info("%s: %s", name, line)
    code = proc.returncode if proc.returncode is not None else -1
    if code != 0:
        log.warning("timer: %s %s", name,
                    f"exited with status {code}" if code > 0 else f"was killed by signal {-code}")
    return code


class TimerMaker(ServiceMaker):
    """Builds a timer running one command periodically."""

    name = "timer"
    description = "periodic command: runs a command every N seconds, never overlapping"

    def options_parser(self) -> argparse.ArgumentParser:
        parser = super().options_parser()
        parser.add_argument("--interval", "-t", type=float, default=60.0,
                            help="seconds between the starts of two runs (default 60)")
        parser.add_argument("--command", "-c", default=None, metavar="'CMD ARGS'",
                            help="the command line to run, split like a shell does (required)")
        parser.add_argument("--timeout", type=float, default=None,
                            help="kill a run after this many seconds (default: never)")
        parser.add_argument("--no-now", dest="now", action="store_false",
                            help="wait one interval before the first run (default: run at start)")
        return parser

    def make_service(self, options: argparse.Namespace) -> Service:
        if not options.command:
            raise UsageError("timer: --command is required; e.g. --command '/usr/bin/date'")
        try:
            argv = shlex.split(options.command)
        except ValueError as exc:
            raise UsageError(f"timer: --command {options.command!r}: {exc}") from None
        if not argv:
            raise UsageError("timer: --command is empty; give a command line to run")
        if not options.interval > 0:
            raise UsageError(f"timer: --interval {options.interval:g}: give a positive number")
        kwargs = {} if options.timeout is None else {"timeout": options.timeout}
        return TimerService(options.interval, run_command, args=(argv,), kwargs=kwargs, now=options.now,
                            name="timer")


maker = TimerMaker()
