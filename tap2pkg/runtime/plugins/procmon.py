"""``procmon``: keep commands running, restarting them when they exit.

``tapd -n procmon -- /usr/bin/myworker --queue jobs`` supervises one command
(twistd's form: the command and its arguments after the options);
``--command "CMD ARGS"`` (repeatable, split like a shell line) adds more.
Each command is named after its program (``myworker``, ``myworker-2``...);
its output goes to the daemon's log. The restart delays follow twistd's
``procmon`` options.
"""

from __future__ import annotations

import argparse
import os
import shlex

from ..errors import UsageError
from ..process import ProcessService
from ..service import Service
from . import ServiceMaker


class ProcmonMaker(ServiceMaker):
    """Builds a process monitor for the commands given."""

    name = "procmon"
    description = "process monitor: keeps commands running, restarting them with backoff"

    def options_parser(self) -> argparse.ArgumentParser:
        parser = super().options_parser()
        parser.usage = "%(prog)s [options] [--command 'CMD ARGS']... [-- COMMAND [ARG...]]"
        parser.add_argument("--command", "-c", action="append", default=[], metavar="'CMD ARGS'",
                            help="a command line to supervise, split like a shell does (repeatable)")
        parser.add_argument("--threshold", type=float, default=1.0,
                            help="seconds a command must run to be restarted at once (default 1)")
        parser.add_argument("--killtime", type=float, default=5.0,
                            help="seconds between SIGTERM and SIGKILL on stop (default 5)")
        parser.add_argument("--minrestartdelay", type=float, default=1.0,
                            help="first delay after a quick exit, doubled each time (default 1)")
        parser.add_argument("--maxrestartdelay", type=float, default=3600.0,
                            help="longest delay between restarts (default 3600)")
        parser.add_argument("args", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]",
                            help="one more command to supervise, with its arguments")
        return parser

    def make_service(self, options: argparse.Namespace) -> Service:
        commands: list[list[str]] = []
        for line in options.command:
            try:
                argv = shlex.split(line)
            except ValueError as exc:
                raise UsageError(f"procmon: --command {line!r}: {exc}; fix its quoting") from None
            if not argv:
                raise UsageError("procmon: --command is empty; give a command line to supervise")
            commands.append(argv)
        rest = list(options.args)
        if rest and rest[0] == "--":
            rest = rest[1:]
        if rest:
            commands.append(rest)
        if not commands:
            raise UsageError("procmon: no command to supervise; give --command 'CMD ARGS' "
                             "or a command after the options")
        service = ProcessService(threshold=options.threshold, kill_time=options.killtime,
                                 min_restart_delay=options.minrestartdelay,
                                 max_restart_delay=options.maxrestartdelay, name="procmon")
        taken: set[str] = set()
        for argv in commands:
            base = os.path.basename(argv[0]) or "command"
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            taken.add(name)
            service.add_process(name, argv)
        return service


maker = ProcmonMaker()
