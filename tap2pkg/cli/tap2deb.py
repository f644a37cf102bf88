"""``tap2deb``: an editable Debian source package and a binary ``.deb`` from each app file.

Run ``tap2deb --help`` for the options; ``docs/tap2deb.md`` is the guide.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import builders
from .build import Companions, Prepared, format_parser, plan_format, run_builds
from .common import run_guarded
from .options import add_deb_options

PROG = "tap2deb"

_DEB_DESTS = {"debfile": "name", "revision": "revision", "distribution": "distribution",
              "compression": "compression"}


def build_parser() -> argparse.ArgumentParser:
    """The ``tap2deb`` argument parser."""
    return format_parser(PROG, (__doc__ or "").splitlines()[0], "deb", add_deb_options)


def _show(job: Prepared, result: builders.BuildResult, made: Companions) -> list[str]:
    """What one build wrote: its companions, its source tree, then its own files."""
    return [*(f"{PROG}: wrote {a['path']}" for e in made.entries for a in e["artifacts"]),
            f"{PROG}: {job.spec.name} {result.full_version}: source tree {result.source_tree}",
            *(f"{PROG}: wrote {path}" for path in result.paths())]


def run(args: argparse.Namespace) -> int:
    """Build one package per app file; print what was written (or the JSON summary)."""
    return run_builds(PROG, args, lambda: plan_format("deb", args, _DEB_DESTS,
                                                      single_options=("protocol", "debfile", "from_tree")),
                      _show, fields=lambda spec: {"user": spec.user, "ports": list(spec.ports)})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tap2deb`` console script."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    return run_guarded(lambda: run(args), prog=PROG, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
