"""``tap2rpm``: an editable ``.spec``, a source RPM and a binary RPM from each app file.

Run ``tap2rpm --help`` for the options; ``docs/tap2rpm.md`` is the guide.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import builders
from .build import Companions, Prepared, format_parser, plan_format, run_builds
from .common import run_guarded

PROG = "tap2rpm"
#: Twisted's tap2rpm default maintainer, made a valid address.
DEFAULT_MAINTAINER = "tap2rpm <tap2rpm@localhost.localdomain>"

_RPM_DESTS = {"rpmfile": "name", "release": "release", "compression": "compression"}


def add_rpm_options(parser: argparse.ArgumentParser) -> None:
    """Add the RPM-only options, ``-q/--quiet`` and ``--builder``; ``-u`` is said to be deprecated."""
    parser.add_argument("-r", "--rpmfile", metavar="NAME", help="package name (default: the protocol)")
    parser.add_argument("--release", help="RPM release (default: 1)")
    parser.add_argument("--compression")
    # Twisted's tap2rpm kept -u for compatibility only; say so in the help.
    parser._option_string_actions["-u"].help = ("deprecated; accepted and ignored (tap2rpm signs only with "
                                                "--sign-key)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--builder")


def build_parser() -> argparse.ArgumentParser:
    """The ``tap2rpm`` argument parser."""
    return format_parser(PROG, (__doc__ or "").splitlines()[0], "rpm", add_rpm_options)


def _show(job: Prepared, result: builders.BuildResult, made: Companions) -> list[str]:
    """What one build wrote: its own files, then its companions'."""
    return [f"{PROG}: wrote {path}"
            for path in [*result.paths(), *(a["path"] for e in made.entries for a in e["artifacts"])]]


def run(args: argparse.Namespace) -> int:
    """Build one RPM (and SRPM) per app file; print what was written (or the JSON summary)."""
    if args.unsigned:
        print(f"{PROG}: warning: -u/--unsigned is deprecated and does nothing", file=sys.stderr)
    return run_builds(PROG, args, lambda: plan_format("rpm", args, _RPM_DESTS, single_options=(
        "protocol", "rpmfile"), default_maintainer=DEFAULT_MAINTAINER), _show, quiet=args.quiet)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tap2rpm`` console script."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    return run_guarded(lambda: run(args), prog=PROG, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
