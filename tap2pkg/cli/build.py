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
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..bundle import check_output_dir
from ..errors import UsageError
from ..output import Staging
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


def _build(spec: PackageSpec, settings: dict[str, Any], fmt: str, builder: str, args: argparse.Namespace,
           stage: Path) -> dict[str, Any]:
    """Build one format into ``stage``; the summary's values, with staged paths."""
    compression = str(settings.get("compression") or _DEFAULT_COMPRESSION[fmt])
    if fmt == "deb":
        from ..deb.build import build_deb

        deb = build_deb(spec, stage, builder=builder, source=not args.binary_only,
                        binary=not args.source_only, compression=compression, sign=not args.unsigned)
        return {"spec": spec, "format": "deb", "builder": builder, "artifacts": deb.artifacts,
                "staged": [deb.source_tree, *deb.artifacts], "source_tree": deb.source_tree,
                "notes": deb.notes}
    from ..rpm.build import build_rpms

    rpm = build_rpms(spec, stage, builder=builder, source_only=args.source_only,
                     binary_only=args.binary_only, compressor=compression)
    return {"spec": spec, "format": "rpm", "builder": builder, "artifacts": rpm.paths(),
            "staged": rpm.paths(), "source_tree": None, "notes": rpm.notes}


def run(args: argparse.Namespace) -> int:
    """Build every format of every app file; print what was written (or the JSON summary)."""
    if args.source_only and args.binary_only:
        raise UsageError("--source-only and --binary-only exclude each other; give at most one")
    plan = _plan(args)
    built: list[tuple[Staging, dict[str, Any]]] = []
    final: dict[Path, Path] = {}
    with contextlib.ExitStack() as stack:
        stages: dict[str, Staging] = {}
        for spec, settings, formats, builders in plan:
            output_dir = Path(str(settings.get("output_dir") or "."))
            check_output_dir(spec, output_dir)
            key = os.path.realpath(output_dir)
            if key not in stages:
                stages[key] = stack.enter_context(Staging(output_dir))
            stage = stages[key]
            for fmt in formats:
                built.append((stage, _build(spec, settings, fmt, builders[fmt], args, stage.path)))
        # Everything is built: publish, every name in every directory checked before the first move.
        staged = {key: [p for owner, b in built if owner is stage for p in b["staged"]]
                  for key, stage in stages.items()}
        for key, stage in stages.items():
            for path in staged[key]:
                stage.check_free(path.name, directory=path.is_dir())
        for key, stage in stages.items():
            final.update(zip(staged[key], stage.publish(staged[key]), strict=True))
    summaries = []
    for _stage, b in built:
        spec = b["spec"]
        extra = {"source_tree": str(final[b["source_tree"]])} if b["source_tree"] else {}
        artifacts = [final[p] for p in b["artifacts"]]
        summaries.append(artifact_summary(spec.name, spec.full_version, artifacts, format=b["format"],
                                          builder=b["builder"], **extra, notes=b["notes"]))
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
