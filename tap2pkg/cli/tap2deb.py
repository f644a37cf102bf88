"""``tap2deb``: an editable Debian source package and a binary ``.deb`` from each app file.

Run ``tap2deb --help`` for the options; ``docs/tap2deb.md`` is the guide.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import UsageError
from ..spec import PackageSpec
from .build import (
    Prepared,
    add_regen_options,
    build_prepared,
    build_with_companions,
    check_conflicts,
    describe_builder_options,
    prepare,
    prepare_from_tree,
    run_with_conflicts,
    show_diffs,
)
from .common import ArgumentParser, add_version_option, run_guarded
from .options import (
    add_common_options,
    add_deb_options,
    app_files,
    merged_settings,
)

PROG = "tap2deb"

_DEB_DESTS = {"debfile": "name", "revision": "revision", "distribution": "distribution",
              "compression": "compression"}


def build_parser() -> argparse.ArgumentParser:
    """The ``tap2deb`` argument parser."""
    parser = ArgumentParser(prog=PROG, description=(__doc__ or "").splitlines()[0])
    add_version_option(parser, PROG)
    add_common_options(parser)
    add_deb_options(parser)
    add_regen_options(parser)
    describe_builder_options(parser, "deb")
    return parser


def _prepare(args: argparse.Namespace) -> list[Prepared]:
    """Every package to build, checked and planned before anything is written."""
    if args.from_tree and not args.appfiles and not args.tapfile:
        return [prepare_from_tree("deb", args, _DEB_DESTS)]
    jobs: list[tuple[PackageSpec, dict[str, object]]] = []
    # Check every app file and setting first, so a bad one fails before anything is written.
    for app_file in app_files(args, single_options=("protocol", "debfile", "from_tree")):
        settings = merged_settings(args, app_file, _DEB_DESTS)
        spec = PackageSpec.from_settings(app_file, settings, package_format="deb")
        for other, _settings in jobs:
            if other.name == spec.name:
                raise UsageError(f"{other.app_file} and {app_file} would both make package {spec.name!r}; "
                                 "rename one or build them one at a time with -d")
        jobs.append((spec, settings))
    # every builder and compression is checked, every tree planned, before the first build writes anything
    return [prepare("deb", spec, settings, args) for spec, settings in jobs]


def run(args: argparse.Namespace) -> int:
    """Build one package per app file; print what was written (or the JSON summary)."""
    prepared = _prepare(args)
    if args.diff:
        return show_diffs(prepared)
    check_conflicts(prepared)
    summaries = []
    results, companions = build_with_companions(prepared, lambda jobs: [build_prepared(j) for j in jobs])
    for job, result, made in zip(prepared, results, companions, strict=True):
        spec = job.spec
        summaries.append(result.summary(user=spec.user, ports=list(spec.ports), role="service"))
        if spec.project is not None:  # the app's project and the requirements the archive lacks
            from ..companions import requirement_entries

            summaries[-1]["requirements"] = requirement_entries(spec)
            summaries.extend(made.entries)
            result.notes.extend(made.notes)
            if not args.json:
                for entry in made.entries:
                    for artifact in entry["artifacts"]:
                        print(f"{PROG}: wrote {artifact['path']}")
        if not args.json:
            print(f"{PROG}: {spec.name} {spec.full_version}: source tree {result.source_tree}")
            for path in result.paths():
                print(f"{PROG}: wrote {path}")
        for note in result.notes:  # on stderr, with --json too: stdout holds only the JSON
            print(f"{PROG}: note: {note}", file=sys.stderr)
    if args.json:
        import json

        print(json.dumps({"packages": summaries}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tap2deb`` console script."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    return run_guarded(lambda: run_with_conflicts(lambda: run(args), PROG), prog=PROG, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
