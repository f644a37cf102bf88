"""``tap2pkg build``: Debian and RPM packages from the same app files in one call.

Each app file becomes one :class:`~tap2pkg.spec.PackageSpec`, and every format
asked for with ``--format`` is built from that one spec, so the ``.deb`` and
the ``.rpm`` carry the same name, version, files and service. Every app file
and setting is checked before anything is written. Every format is built aside
(in a staging directory inside the output directory) and published together at
the end: if one build fails, or the call is interrupted, the output directory is
left exactly as it was.

An app file beside a Python project (``--project``, docs/projects.md) also
gets its companion packages in every format built
(:func:`tap2pkg.companions.build_companions`: the project's own and each
requirement the distribution lacks), staged and published with the service;
``--json`` lists each with its ``role``, ``resolution``, ``builder`` and
``artifacts``, and the service's entry its ``requirements``.

``tap2deb`` and ``tap2rpm`` run through the same steps (:func:`run_builds`,
:func:`plan_format`, :func:`format_parser`), each saying only what its format
prints and adds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import batch, builders, regen, tree_state
from ..errors import MergeConflictError, UsageError
from ..output import Staging
from ..runtime.lazy import lazy_import
from ..spec import PackageSpec
from ..textpolicy import check_text
from .common import ArgumentParser, add_version_option
from .options import add_common_options, app_files, merged_settings, settings_from_args

if TYPE_CHECKING:
    from .. import companions as companions_module
    from .. import includes, signing
    from . import tap2rpm
else:  # imported on first use: each serves some builds only, and tap2rpm imports this module
    companions_module = lazy_import("tap2pkg.companions")  # for a project only: it imports packaging
    includes = lazy_import("tap2pkg.includes")
    signing = lazy_import("tap2pkg.signing")  # for --sign-key only
    tap2rpm = lazy_import("tap2pkg.cli.tap2rpm")

#: argparse dest -> settings key, for tap2pkg build's own options
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
    add_regen_options(parser)
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
        signing.find_key(sign_key)  # a missing key is one line before anything is built
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


def _plan(args: argparse.Namespace) -> list[Prepared]:
    jobs = []
    specs: list[PackageSpec] = []
    for app_file in app_files(args, single_options=("protocol", "name")):
        settings = merged_settings(args, app_file, DESTS)
        formats = formats_of(settings.get("format"))
        chosen = builders.choose(settings.get("builder"), formats)
        default_maintainer = None if "deb" in formats else tap2rpm.DEFAULT_MAINTAINER
        spec = PackageSpec.from_settings(app_file, settings, default_maintainer=default_maintainer)
        specs.append(_one_package_each(specs, spec))
        for fmt in formats:  # each format's tree keeps its hand edits (tap2pkg.regen)
            jobs.append(prepare(fmt, spec, settings, args, builder=chosen[fmt]))
    return jobs


def run(args: argparse.Namespace) -> int:
    """Build every format of every app file; print what was written (or the JSON summary)."""
    def show(job: Prepared, result: builders.BuildResult, made: Companions) -> list[str]:
        return [*(f"tap2pkg build: {result.format}: wrote {path}" for path in result.paths()),
                *(f"tap2pkg build: {e['format']}: wrote {a['path']}"
                  for e in made.entries for a in e["artifacts"])]

    together = build_batch(args, together=True)  # every format of every app published at once, at the end
    return run_builds("tap2pkg build", args, lambda: _plan(args), show, build=together)


def run_builds(prog: str, args: argparse.Namespace, plan: Callable[[], list[Prepared]],
               show: Callable[[Prepared, builders.BuildResult, Companions], list[str]], *,
               build: Callable[[Sequence[Prepared]], list[builders.BuildResult]] | None = None,
               fields: Callable[[PackageSpec], dict[str, Any]] = lambda spec: {},
               quiet: bool = False) -> int:
    """What tap2deb, tap2rpm and tap2pkg build share: ``plan`` every package, then print the trees' diffs
    (``--diff``) or build them (``build``, default one by one) with their companions, printing ``show``'s
    lines of each build (or one ``--json`` summary, the service's entry with ``fields``) and its notes on
    stderr; ``quiet`` prints neither. A merge conflict is one ``PROG: error:`` line per file."""
    try:
        prepared = plan()
        if getattr(args, "diff", False):
            return show_diffs(prepared)
        check_conflicts(prepared)
        results, companions = build_with_companions(prepared, build or build_batch(args))
    except MergeConflictError as exc:
        for line in exc.lines:
            print(f"{prog}: error: {line}", file=sys.stderr)
        return exc.exit_code
    summaries: list[dict[str, Any]] = []
    for job, result, made in zip(prepared, results, companions, strict=True):
        summary = result.summary(**fields(job.spec), role="service")
        result.notes.extend(made.notes)
        summary["notes"] = list(result.notes)
        if job.spec.project is not None:  # the app's project and the requirements the archive lacks
            summary["requirements"] = companions_module.requirement_entries(job.spec)
        summaries += [summary, *made.entries]
        for line in [] if args.json or quiet else show(job, result, made):
            print(line)
        for note in [] if quiet else result.notes:  # on stderr, with --json too: stdout holds only the JSON
            print(f"{prog}: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({"packages": summaries}, indent=2))
    return 0


@dataclass(slots=True)
class Companions:
    """The companions built for one service: their ``--json`` entries and the notes saying how each was
    built; the files wait in ``stage`` (a staging directory of the output directory) until published."""

    entries: list[dict[str, Any]]
    notes: list[str]
    stage: Staging | None = None


def build_with_companions(prepared: Sequence[Prepared],
                          build: Callable[[Sequence[Prepared]], list[builders.BuildResult]],
                          ) -> tuple[list[builders.BuildResult], list[Companions]]:
    """Build the companions of every job first, aside, then the services with ``build``, then publish the
    companions: a failed build leaves no companion in the output directory. One result and one
    :class:`Companions` per job, in order."""
    with contextlib.ExitStack() as stack:
        companions = build_companions_staged(prepared, stack)
        results = build(prepared)
        publish_companions(companions)
    return results, companions


def publish_companions(companions: Sequence[Companions]) -> None:
    """Move the companions' files into their output directories (one move per staging directory, all
    names checked first); their entries then name them there."""
    stages: dict[int, tuple[Staging, list[dict[str, Any]]]] = {}
    for made in companions:
        if made.stage is not None:
            stages.setdefault(id(made.stage), (made.stage, []))[1].extend(
                artifact for entry in made.entries for artifact in entry["artifacts"])
    for stage, artifacts in stages.values():
        paths = list(dict.fromkeys(Path(a["path"]) for a in artifacts))
        moved = dict(zip(paths, stage.publish(paths), strict=True))
        for artifact in artifacts:
            artifact["path"] = str(moved[Path(artifact["path"])])


def build_companions_staged(prepared: Sequence[Prepared], stack: contextlib.ExitStack) -> list[Companions]:
    """Build the companions of every job's spec in its format (:func:`tap2pkg.companions.build_companions`)
    into a staging directory of its output directory, removed with ``stack`` if anything fails. Two app
    files of one project share their companions: built once per format and output directory."""
    for job in prepared:  # a bad output directory is refused before the (slow) companion builds
        includes.check_output_dir(job.spec, job.output_dir)
    stages: dict[str, Staging] = {}
    done: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
    out: list[Companions] = []
    for job in prepared:
        wanted = tuple((c.package, c.version) for c in job.spec.companions) if job.spec.project else ()
        key = os.path.realpath(job.output_dir)
        if not wanted:
            out.append(Companions([], []))
        elif (job.fmt, key, wanted) in done:
            out.append(Companions([], [f"companions {', '.join(p for p, _v in wanted)} ({job.fmt}): the "
                                       f"ones built with {done[job.fmt, key, wanted]}"]))
        else:
            if key not in stages:
                stages[key] = stack.enter_context(Staging(Path(job.output_dir), option="-o/--output-dir"))
            entries, notes = companions_module.build_companions(job.spec, job.fmt, stages[key].path,
                                                                final_dir=Path(job.output_dir))
            done[job.fmt, key, wanted] = job.spec.name
            out.append(Companions(entries, notes, stages[key]))
    return out


# --- hand edits and releases: what tap2deb, tap2rpm and tap2pkg build share (tap2pkg.regen) -----------

def add_regen_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--from-tree``, ``--force-regenerate``, ``--changelog-message`` and ``--diff``."""
    parser.add_argument("--from-tree", metavar="DIR",
                        help="the edited source tree to start from; without an app file, build it as it is")
    parser.add_argument("--force-regenerate", action="store_true",
                        help="discard the hand edits of the source tree (each one is named)")
    parser.add_argument("--changelog-message", metavar="TEXT",
                        help="the text of the new changelog entry (default: 'New release VERSION...')")
    parser.add_argument("--diff", action="store_true",
                        help="print a unified diff from what would be generated to the tree, build nothing; "
                        "exit 0 when they are the same, 1 when not")


@dataclass(slots=True)
class Prepared:
    """One package to build, its tree's edits decided (:func:`tap2pkg.regen.plan`) before any build."""

    fmt: str
    spec: PackageSpec
    output_dir: Path
    builder: builders.Builder
    options: builders.BuildOptions
    #: None for a build ``--from-tree`` with no app file: the tree as it is, no state written
    plan: regen.Plan | None


def _default_output_dir(settings: Mapping[str, Any], args: argparse.Namespace) -> Path:
    if settings.get("output_dir"):
        return Path(str(settings["output_dir"]))
    tree = getattr(args, "from_tree", None)
    if tree:  # beside the tree it starts from: its state is there
        return Path(tree) if (Path(tree) / tree_state.STATE_DIR).is_dir() else Path(tree).parent
    return Path(".")


def prepare(fmt: str, spec: PackageSpec, settings: Mapping[str, Any], args: argparse.Namespace,
            builder: builders.Builder | None = None) -> Prepared:
    """Plan ``spec``'s build of format ``fmt``: its builder, its options and its tree's edits."""
    chosen, options = builder_and_options(settings, fmt, args, builder=builder)
    message = getattr(args, "changelog_message", None)
    if message is not None:
        check_text("changelog message", message, option="--changelog-message")
    output_dir = _default_output_dir(settings, args)
    plan = regen.plan(fmt, spec, output_dir, settings, from_tree=getattr(args, "from_tree", None),
                      force=bool(getattr(args, "force_regenerate", False)), message=message)
    return Prepared(fmt, spec, output_dir, chosen, replace(options, edits=plan.edits, payload=plan.payload),
                    plan)


def prepare_from_tree(fmt: str, args: argparse.Namespace, dests: Mapping[str, str], *,
                      default_maintainer: str | None = None) -> Prepared:
    """``--from-tree DIR`` with no app file: the spec DIR was generated with, and DIR as it is."""
    tree = Path(args.from_tree)
    name = getattr(args, "debfile" if fmt == "deb" else "rpmfile", None)  # -d/-r pick one of several
    state, state_dir = regen.from_tree_settings(fmt, tree, name)
    settings = {k: v for k, v in state.settings.items() if k not in ("app_file", "app_file_name")}
    settings.update(settings_from_args(args, dests))
    app_file = Path(str(state.settings.get("app_file", "")))
    copy = tree / str(state.settings.get("app_file_name", app_file.name))
    if copy.is_file():  # a Debian tree holds the app file and the included code: build from them
        app_file = copy
        settings["include"] = [str(tree / "lib" / Path(p).name) if (tree / "lib" / Path(p).name).exists()
                               else p for p in settings.get("include") or []]
    spec = PackageSpec.from_settings(app_file, settings, default_maintainer=default_maintainer,
                                     package_format=fmt)
    chosen, options = builder_and_options(settings, fmt, args)
    output_dir = Path(str(settings["output_dir"])) if settings.get("output_dir") else state_dir
    edits, payload = regen.whole_tree(fmt, spec, tree)
    return Prepared(fmt, spec, output_dir, chosen, replace(options, edits=edits, payload=payload), None)


def _one_package_each(specs: Sequence[PackageSpec], spec: PackageSpec) -> PackageSpec:
    """``spec``, refused when an earlier app file of the call makes the same package (the second build
    would replace the first one's files)."""
    for other in specs:
        if other.name == spec.name:
            raise UsageError(f"{other.app_file} and {spec.app_file} would both make package {spec.name!r}; "
                             "rename one or build them one at a time with -d")
    return spec


def plan_format(fmt: str, args: argparse.Namespace, dests: Mapping[str, str], *,
                single_options: tuple[str, ...], default_maintainer: str | None = None) -> list[Prepared]:
    """tap2deb's and tap2rpm's packages: ``--from-tree`` alone, that tree as it is; else one ``fmt`` package
    per app file, every app file and setting checked (two app files making one package refused) and every
    tree planned before anything is written."""
    if args.from_tree and not args.appfiles and not args.tapfile:
        return [prepare_from_tree(fmt, args, dests, default_maintainer=default_maintainer)]
    jobs: list[tuple[PackageSpec, dict[str, Any]]] = []
    for app_file in app_files(args, single_options=single_options):
        settings = merged_settings(args, app_file, dests)
        spec = PackageSpec.from_settings(app_file, settings, default_maintainer=default_maintainer,
                                         package_format=fmt)
        jobs.append((_one_package_each([s for s, _ in jobs], spec), settings))
    return [prepare(fmt, spec, settings, args) for spec, settings in jobs]


def format_parser(prog: str, description: str, fmt: str,
                  add_format_options: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """tap2deb's or tap2rpm's parser: ``--version``, the shared options, ``fmt``'s own, the hand-edit ones."""
    parser = ArgumentParser(prog=prog, description=description.replace("``", ""))  # reST marks off
    add_version_option(parser, prog)
    add_common_options(parser)
    add_format_options(parser)
    add_regen_options(parser)
    describe_builder_options(parser, fmt)
    return parser


def show_diffs(prepared: Sequence[Prepared]) -> int:
    """Print each tree's diff from what would be generated; 0 when every tree is in sync, else 1."""
    differs = False
    for job in prepared:
        text = job.plan.diff() if job.plan is not None else ""
        sys.stdout.write(text)
        differs = differs or bool(text)
    return 1 if differs else 0


def check_conflicts(prepared: Sequence[Prepared]) -> None:
    """Leave every merge with conflicts in its tree and raise one :class:`MergeConflictError` naming each
    conflicting file, before anything is built."""
    lines = [line for job in prepared if job.plan is not None and job.plan.conflicts
             for line in job.plan.write_merge(job.output_dir)]
    if lines:
        raise MergeConflictError(lines)


def _finish(job: Prepared, result: builders.BuildResult) -> builders.BuildResult:
    """Record what ``job`` generated, for the next run; its plan's notes first."""
    if job.plan is not None:
        job.plan.finish(job.output_dir)
        result.notes[:0] = job.plan.notes
    return result


def build_batch(args: argparse.Namespace, *, together: bool = False,
                ) -> Callable[[Sequence[Prepared]], list[builders.BuildResult]]:
    """Build the prepared packages ``--jobs`` at a time (:mod:`tap2pkg.batch`), each published in order
    as it is built or, ``together``, all at the end."""
    workers = batch.job_count(getattr(args, "jobs", None))

    def build(prepared: Sequence[Prepared]) -> list[builders.BuildResult]:
        jobs = [batch.BuildJob(p.spec, p.output_dir, p.builder, p.options) for p in prepared]
        if together:
            built = batch.build_together(jobs, workers=workers)
            return [_finish(job, result) for job, result in zip(prepared, built, strict=True)]
        return batch.build_in_order(jobs, workers=workers, finish=lambda i, done: _finish(prepared[i], done))
    return build
