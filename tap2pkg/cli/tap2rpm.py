"""``tap2rpm``: an editable ``.spec``, a source RPM and a binary RPM from each app file.

Run ``tap2rpm --help`` for the options; ``docs/tap2rpm.md`` is the guide.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

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
from .options import add_common_options, app_files, merged_settings

PROG = "tap2rpm"
#: Twisted's tap2rpm default maintainer, made a valid address.
DEFAULT_MAINTAINER = "tap2rpm <tap2rpm@localhost.localdomain>"

_RPM_DESTS = {"rpmfile": "name", "release": "release", "compression": "compression"}


def add_rpm_options(parser: argparse.ArgumentParser, *, name_option: bool = True) -> None:
    """Add the RPM-only options (``-r/--rpmfile`` unless ``name_option`` is False)."""
    if name_option:
        parser.add_argument("-r", "--rpmfile", metavar="NAME", help="package name (default: the protocol)")
    parser.add_argument("--release", help="RPM release (default: 1)")
    parser.add_argument("--compression")


def build_parser() -> argparse.ArgumentParser:
    """The ``tap2rpm`` argument parser."""
    parser = ArgumentParser(prog=PROG, description=(__doc__ or "").splitlines()[0].replace("``", ""))
    add_version_option(parser, PROG)
    add_common_options(parser)
    add_rpm_options(parser)
    # Twisted's tap2rpm kept -u for compatibility only; say so in the help.
    parser._option_string_actions["-u"].help = ("deprecated; accepted and ignored (tap2rpm signs only with "
                                                "--sign-key)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    if "--builder" not in parser._option_string_actions:
        parser.add_argument("--builder")
    add_regen_options(parser)
    describe_builder_options(parser, "rpm")
    return parser


def rpm_jobs(args: argparse.Namespace, *, name_dest: str = "rpmfile",
             extra_dests: dict[str, str] | None = None) -> list[tuple[PackageSpec, dict[str, Any]]]:
    """One validated (spec, settings) per app file; nothing is written yet."""
    jobs = []
    for app_file in app_files(args, single_options=("protocol", name_dest)):
        settings = merged_settings(args, app_file, extra_dests or _RPM_DESTS)
        jobs.append((PackageSpec.from_settings(app_file, settings, default_maintainer=DEFAULT_MAINTAINER,
                                               package_format="rpm"), settings))
    return jobs


def build_one(spec: PackageSpec, settings: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Build ``spec``'s RPMs into the output directory, carrying hand edits; its JSON summary entry."""
    return build_prepared(prepare("rpm", spec, settings, args)).summary()


def _prepare(args: argparse.Namespace) -> list[Prepared]:
    """Every package to build, checked and planned before anything is written."""
    if args.from_tree and not args.appfiles and not args.tapfile:
        return [prepare_from_tree("rpm", args, _RPM_DESTS, default_maintainer=DEFAULT_MAINTAINER)]
    return [prepare("rpm", spec, settings, args) for spec, settings in rpm_jobs(args)]


def run(args: argparse.Namespace) -> int:
    """Build one RPM (and SRPM) per app file; print what was written (or the JSON summary)."""
    if args.unsigned:
        print(f"{PROG}: warning: -u/--unsigned is deprecated and does nothing", file=sys.stderr)
    prepared = _prepare(args)
    if args.diff:
        return show_diffs(prepared)
    check_conflicts(prepared)
    summaries = []
    results, companions = build_with_companions(prepared, lambda jobs: [build_prepared(j) for j in jobs])
    for job, result, made in zip(prepared, results, companions, strict=True):
        summary = result.summary(role="service")
        summary["notes"] = [*summary["notes"], *made.notes]
        summaries.append(summary)
        if job.spec.project is not None:  # the app's project and the requirements the archive lacks
            from ..companions import requirement_entries

            summary["requirements"] = requirement_entries(job.spec)
            summaries.extend(made.entries)
        if not args.json and not args.quiet:
            for artifact in [*summary["artifacts"], *(a for e in made.entries for a in e["artifacts"])]:
                print(f"{PROG}: wrote {artifact['path']}")
        if not args.quiet:
            for note in summary["notes"]:
                print(f"{PROG}: note: {note}", file=sys.stderr)
    if args.json:
        import json

        print(json.dumps({"packages": summaries}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tap2rpm`` console script."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    return run_guarded(lambda: run_with_conflicts(lambda: run(args), PROG), prog=PROG, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
