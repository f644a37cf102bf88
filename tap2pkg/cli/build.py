"""``tap2pkg build``: Debian and RPM packages from the same app files in one call.

Each app file becomes one :class:`~tap2pkg.spec.PackageSpec`, and every format
asked for with ``--format`` is built from that one spec, so the ``.deb`` and
the ``.rpm`` carry the same name, version, files and service. Every app file
and setting is checked before anything is written. Every format is built aside
(in a staging directory inside the output directory) and published together at
the end: if one build fails, or the call is interrupted, the output directory is
left exactly as it was.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import builders
from ..errors import UsageError
from ..spec import PackageSpec
from .options import add_common_options, app_files, merged_settings

#: the --builder value that picks each format's standard tool (dpkg, rpmbuild)
DESTS = {"name": "name", "revision": "revision", "distribution": "distribution",
          "compression": "compression", "format": "format"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``tap2pkg build``'s options: the shared ones plus ``--format``."""
    formats = builders.formats()
    add_common_options(parser)
    parser.add_argument("-n", "--name", help="package name (default: the protocol)")
    parser.add_argument("--revision", "--release", dest="revision",
                        help="Debian revision and RPM release (default: 1)")
    parser.add_argument("--distribution", help="Debian changelog distribution (default: unstable)")
    parser.add_argument("--compression", help="; ".join(builders.compression_help(f) for f in formats))
    parser.add_argument("--format", help=f"comma-separated package formats: {', '.join(formats)} "
                                         f"(default: {','.join(formats)})")
    tools = " and ".join(b.name for b in builders.tool_builders(formats))
    names = " / ".join(b.name for b in builders.enumerate() if b.name != builders.DEFAULT_BUILDER)
    text = (f"native (default), {builders.TOOL} ({tools}), or {names} for one format; "
            "comma-separated to combine")
    try:
        parser.add_argument("--builder", help=text)
    except argparse.ArgumentError:  # the shared options define it: only its help changes
        parser._option_string_actions["--builder"].help = text


def describe_builder_options(parser: argparse.ArgumentParser, fmt: str) -> None:
    """Give ``--builder`` and ``--compression`` the choices and help of ``fmt``'s registered builders."""
    actions = parser._option_string_actions  # the shared options made them; only their help changes
    actions["--builder"].help = builders.builder_help(fmt)
    actions["--builder"].metavar = "{" + ",".join(b.name for b in builders.enumerate(fmt)) + "}"
    actions["--compression"].help = builders.compression_help(fmt)
    actions["--compression"].metavar = "{" + ",".join(builders.format_compressions(fmt)) + "}"


def builder_and_options(settings: Mapping[str, object], fmt: str, args: argparse.Namespace, *,
                        builder: builders.Builder | None = None,
                        ) -> tuple[builders.Builder, builders.BuildOptions]:
    """The registered builder and checked options the settings ask for (a :class:`UsageError` if bad)."""
    if builder is None:
        builder = builders.get(fmt, str(settings.get("builder") or builders.DEFAULT_BUILDER))
    compression = settings.get("compression")
    sign_key = getattr(args, "sign_key", None)
    if sign_key is not None:
        if getattr(args, "unsigned", False):
            raise UsageError("--sign-key and -u/--unsigned contradict each other; give one")
        from ..signing import find_key

        find_key(sign_key)  # a missing key is one line before anything is built
    options = builders.BuildOptions(source=not args.binary_only, binary=not args.source_only,
                                    compression=None if compression is None else str(compression),
                                    sign=not getattr(args, "unsigned", False), sign_key=sign_key)
    return builder, builders.check_options(builder, options)



def formats_of(value: Any) -> list[str]:
    """``--format`` (a comma-separated string or a TOML list) as a list of known formats."""
    known = builders.formats()
    items = value if isinstance(value, list) else str(value or ",".join(known)).split(",")
    formats = [str(f).strip() for f in items if str(f).strip()]
    for fmt in formats:
        if fmt not in known:
            raise UsageError(f"--format {fmt!r} is unknown; use {', '.join(known)} or {','.join(known)}")
    if not formats:
        raise UsageError(f"--format names no format; use {', '.join(known)} or {','.join(known)}")
    return list(dict.fromkeys(formats))


def _plan(args: argparse.Namespace) -> list[builders.BuildJob]:
    from .tap2rpm import DEFAULT_MAINTAINER

    jobs = []
    for app_file in app_files(args, single_options=("protocol", "name")):
        settings = merged_settings(args, app_file, DESTS)
        formats = formats_of(settings.get("format"))
        chosen = builders.choose(settings.get("builder"), formats)
        default_maintainer = None if "deb" in formats else DEFAULT_MAINTAINER
        spec = PackageSpec.from_settings(app_file, settings, default_maintainer=default_maintainer)
        output_dir = Path(str(settings.get("output_dir") or "."))
        for fmt in formats:
            builder, options = builder_and_options(settings, fmt, args, builder=chosen[fmt])
            jobs.append(builders.BuildJob(spec, output_dir, builder, options))
    return jobs


def run(args: argparse.Namespace) -> int:
    """Build every format of every app file; print what was written (or the JSON summary)."""
    results = builders.build_together(_plan(args))
    summaries = [result.summary() for result in results]
    if args.json:
        print(json.dumps({"packages": summaries}, indent=2))
    else:
        for result in results:
            for path in result.paths():
                print(f"tap2pkg build: {result.format}: wrote {path}")
    for result in results:
        for note in result.notes:
            print(f"tap2pkg build: note: {note}", file=sys.stderr)
    return 0
