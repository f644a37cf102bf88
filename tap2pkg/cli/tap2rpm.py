"""``tap2rpm``: an editable ``.spec``, a source RPM and a binary RPM from each app file.

Run ``tap2rpm --help`` for the options; ``docs/tap2rpm.md`` is the guide.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..spec import PackageSpec
from .build import builder_and_options, describe_builder_options
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
    parser._option_string_actions["-u"].help = "deprecated; accepted and ignored (tap2rpm signs only with --sign-key)"
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    if "--builder" not in parser._option_string_actions:
        parser.add_argument("--builder")
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
    """Build ``spec``'s RPMs into the output directory; return its JSON summary entry."""
    builder, options = builder_and_options(settings, "rpm", args)
    result = builder.build(spec, Path(str(settings.get("output_dir") or ".")), options)
    return result.summary()


def run(args: argparse.Namespace) -> int:
    """Build one RPM (and SRPM) per app file; print what was written (or the JSON summary)."""
    if args.unsigned:
        print(f"{PROG}: warning: -u/--unsigned is deprecated and does nothing", file=sys.stderr)
    summaries = []
    jobs = rpm_jobs(args)
    for spec, settings in jobs:
        summary = build_one(spec, settings, args)
        summaries.append(summary)
        if not args.json and not args.quiet:
            for artifact in summary["artifacts"]:
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
    return run_guarded(lambda: run(args), prog=PROG, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
