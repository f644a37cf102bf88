"""``tap2pkg build``: Debian and RPM packages from the same app files in one call.

Each app file becomes one :class:`~tap2pkg.spec.PackageSpec`, and every format
asked for with ``--format`` is built from that one spec, so the ``.deb`` and
the ``.rpm`` carry the same name, version, files and service. Every app file
and setting is checked before anything is written; if a build fails, what
this call already wrote is removed again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..spec import PackageSpec
from .options import add_common_options, app_files, artifact_summary, merged_settings, spec_from_settings
from .tap2rpm import DEFAULT_MAINTAINER, add_builder_option, check_rpm_settings

FORMATS = ("deb", "rpm")
#: --builder value -> the builder each format uses ("tool" means each format's standard tool)
_BUILDER_CHOICES = {"native": {"deb": "native", "rpm": "native"}, "tool": {"deb": "dpkg", "rpm": "rpmbuild"},
                    "dpkg": {"deb": "dpkg"}, "rpmbuild": {"rpm": "rpmbuild"}}
_DEFAULT_COMPRESSION = {"deb": "xz", "rpm": "gzip"}
_DESTS = {"name": "name", "revision": "revision", "distribution": "distribution",
          "compression": "compression", "format": "format"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``tap2pkg build``'s options: the shared ones plus ``--format``."""
    add_common_options(parser)
    parser.add_argument("-n", "--name", help="package name (default: the protocol)")
    parser.add_argument("--revision", "--release", dest="revision",
                        help="Debian revision and RPM release (default: 1)")
    parser.add_argument("--distribution", help="Debian changelog distribution (default: unstable)")
    parser.add_argument("--compression", help="payload compression, xz or gzip (default: xz for .deb, "
                                              "gzip for .rpm)")
    parser.add_argument("--format", help="comma-separated package formats: deb, rpm (default: deb,rpm)")
    add_builder_option(parser, "native (default), tool (dpkg and rpmbuild), or dpkg / rpmbuild for "
                               "one format; comma-separated to combine")


def formats_of(value: Any) -> list[str]:
    """``--format`` (a comma-separated string or a TOML list) as a list of known formats."""
    items = value if isinstance(value, list) else str(value or "deb,rpm").split(",")
    formats = [str(f).strip() for f in items if str(f).strip()]
    for fmt in formats:
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt!r} is unknown; use deb, rpm or deb,rpm")
    if not formats:
        raise UsageError("--format names no format; use deb, rpm or deb,rpm")
    return list(dict.fromkeys(formats))


def builders_of(value: Any) -> dict[str, str]:
    """``--builder`` as {format: builder}; formats not named use the native writer."""
    chosen = {"deb": "native", "rpm": "native"}
    for item in str(value or "native").split(","):
        item = item.strip()
        if item not in _BUILDER_CHOICES:
            raise UsageError(f"--builder {item!r} is unknown; use native, tool, dpkg or rpmbuild")
        chosen.update(_BUILDER_CHOICES[item])
    return chosen


def _plan(args: argparse.Namespace) -> list[tuple[PackageSpec, dict[str, Any], list[str], dict[str, str]]]:
    plan = []
    for app_file in app_files(args, single_options=("protocol", "name")):
        settings = merged_settings(args, app_file, _DESTS)
        formats = formats_of(settings.get("format"))
        builders = builders_of(settings.get("builder"))
        if "rpm" in formats:
            check_rpm_settings({**settings, "builder": builders["rpm"],
                                "release": settings.get("revision"),
                                "compression": settings.get("compression") or "gzip"},
                               {"name": "-n/--name", "release": "--revision/--release"})
            if settings.get("depends"):
                from .tap2rpm import rpm_depends

                settings["depends"] = rpm_depends([str(d) for d in settings["depends"]])
        default_maintainer = None if "deb" in formats else DEFAULT_MAINTAINER
        spec = spec_from_settings(app_file, settings, default_maintainer=default_maintainer)
        plan.append((spec, settings, formats, builders))
    return plan


def _build(spec: PackageSpec, settings: dict[str, Any], fmt: str, builder: str,
           args: argparse.Namespace) -> tuple[dict[str, Any], list[Path]]:
    output_dir = Path(str(settings.get("output_dir") or "."))
    compression = str(settings.get("compression") or _DEFAULT_COMPRESSION[fmt])
    if fmt == "deb":
        from ..deb.build import build_deb

        deb = build_deb(spec, output_dir, builder=builder, source=not args.binary_only,
                        binary=not args.source_only, compression=compression, sign=not args.unsigned)
        summary = artifact_summary(spec.name, spec.full_version, deb.artifacts, format="deb",
                                   builder=builder, source_tree=str(deb.source_tree), notes=deb.notes)
        return summary, [*deb.artifacts, deb.source_tree]
    from ..rpm.build import build_rpms

    rpm = build_rpms(spec, output_dir, builder=builder, source_only=args.source_only,
                     binary_only=args.binary_only, compressor=compression)
    summary = artifact_summary(spec.name, spec.full_version, rpm.paths(), format="rpm", builder=builder,
                               notes=rpm.notes)
    return summary, rpm.paths()


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    """Build every format of every app file; print what was written (or the JSON summary)."""
    if args.source_only and args.binary_only:
        raise UsageError("--source-only and --binary-only exclude each other; give at most one")
    plan = _plan(args)
    summaries: list[dict[str, Any]] = []
    written: list[Path] = []
    try:
        for spec, settings, formats, builders in plan:
            for fmt in formats:
                outdir = Path(str(settings.get("output_dir") or "."))
                before = set(outdir.iterdir()) if outdir.is_dir() else set()
                summary, paths = _build(spec, settings, fmt, builders[fmt], args)
                written += [p for p in paths if p not in before]
                summaries.append(summary)
    except BaseException:
        _remove(written)  # all or nothing: a release job should not publish half a set
        raise
    if args.json:
        print(json.dumps({"packages": summaries}, indent=2))
    else:
        for summary in summaries:
            for artifact in summary["artifacts"]:
                print(f"tap2pkg build: {summary['format']}: wrote {artifact['path']}")
    for summary in summaries:
        for note in summary["notes"]:
            print(f"tap2pkg build: note: {note}", file=sys.stderr)
    return 0
