"""``tap2pkg verify``: install, run, upgrade, remove and purge packages in containers, step by step."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..runtime.errors import OutputError, UsageError
from ..runtime.lazy import lazy_import
from ..verify import (
    Artifact,
    Distro,
    VerifyContainer,
    VerifyOptions,
    connect,
    find_image,
    get_distro,
    read_artifact,
    summary_table,
    to_json,
    to_junit_xml,
    verify_lifecycle,
    verify_sysvinit,
)
from ..verify.appbuild import build_versions, is_app_file
from ..verify.derived import VerifyImage, derive_image
from ..verify.images import available_distros
from ..verify.localrepo import publish_set, repository_packages
from ..verify.report import ParallelProgress, Progress, RunResult

if TYPE_CHECKING:
    from concurrent import futures

    from ..verify import repo
    from . import build
    from . import options as cli_options
else:  # imported on first use: each for some runs only (an app file, --jobs, --from-repo)
    futures = lazy_import("concurrent.futures")
    repo = lazy_import("tap2pkg.verify.repo")
    build = lazy_import("tap2pkg.cli.build")
    cli_options = lazy_import("tap2pkg.cli.options")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tap2pkg verify``."""
    parser.add_argument(
        "artifacts",
        nargs="+",
        metavar="ARTIFACT",
        type=Path,
        help="a .deb or .rpm to verify, or an app file (.tac .py .tap .tas .tax): then verify builds it "
        "with `tap2pkg build` at its version and version+1 and tests the upgrade between them",
    )
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="OPTION",
        help="an option for `tap2pkg build` when ARTIFACT is an app file (repeatable), "
        "e.g. --build-arg=--include=echoproto.py --build-arg=-V2.0",
    )
    parser.add_argument(
        "--distro",
        action="append",
        default=[],
        metavar="NAME",
        help="where to verify (repeatable): debian:bookworm, debian:trixie, rpm-on-debian, "
        "fedora:40, fedora:41; default from the artifact (.deb: debian:bookworm, "
        ".rpm: the RPM image available)",
    )
    parser.add_argument(
        "--upgrade-from",
        type=Path,
        metavar="OLD_ARTIFACT",
        help="install this older build first, then upgrade to ARTIFACT",
    )
    parser.add_argument(
        "--port",
        action="append",
        type=int,
        default=[],
        metavar="N",
        help="a TCP port the service listens on (repeatable; default: the ports found listening)",
    )
    parser.add_argument(
        "--probe-send",
        default="",
        metavar="TEXT",
        help="send TEXT to each port (backslash escapes such as \\n work)",
    )
    parser.add_argument("--probe-expect", default="", metavar="TEXT", help="expect TEXT in the answer")
    parser.add_argument("--user", metavar="NAME", help="the service's user (default: the package name)")
    parser.add_argument(
        "--no-sysvinit",
        dest="sysvinit",
        action="store_false",
        help="skip the run without systemd that a .deb otherwise gets",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the containers running for inspection (docker exec -it ID bash)",
    )
    parser.add_argument(
        "--from-repo",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="install through apt-get/dnf (or rpm -K, then rpm -U) from this repository `tap2pkg publish` "
        "wrote, proving its signatures (repeatable: one apt and one yum directory)",
    )
    parser.add_argument(
        "--repo-key",
        type=Path,
        metavar="FILE",
        help="the public key the repository must be signed with (default: the key it publishes)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        metavar="N",
        help="run N lifecycles at once (default 1); reports list every run in plan order",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--junit-xml", type=Path, metavar="FILE", help="also write the results as JUnit XML")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


class _BuildArgParser(argparse.ArgumentParser):
    """``tap2pkg build``'s options, for ``--build-arg``: a mistake is a :class:`UsageError` naming it."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing and exiting: ``run_guarded`` gives the one line."""
        raise UsageError(f"--build-arg: {message}; give options of `tap2pkg build` "
                         "(see 'tap2pkg build --help')")


#: ``tap2pkg build`` options verify sets itself: dest -> (the option, why a --build-arg may not give it).
_FIXED_BY_VERIFY = {
    "appfiles": ("APPFILE", "give app files as ARTIFACT"),
    "tapfile": ("-t/--tapfile", "give app files as ARTIFACT"),
    "output_dir": ("-o/--output-dir", "verify builds into a temporary directory"),
    "format": ("--format", "--distro picks the formats"),
    "source_only": ("--source-only", "verify needs the binary package"),
}


def build_settings(build_args: Sequence[str]) -> tuple[dict[str, Any], Path | None]:
    """The ``--build-arg`` options, parsed by ``tap2pkg build``'s parser: (settings, ``--config`` file)."""
    parser = _BuildArgParser(prog="tap2pkg build", add_help=False, allow_abbrev=False)
    build.add_arguments(parser)
    parsed = parser.parse_args(list(build_args))
    for dest, (flag, reason) in _FIXED_BY_VERIFY.items():
        if getattr(parsed, dest, None):
            raise UsageError(f"--build-arg: {flag} is not for verify ({reason}); drop it")
    settings = cli_options.settings_from_args(parsed, build.DESTS)
    return settings, Path(parsed.config) if parsed.config else None


def _packages(args: argparse.Namespace, workdir: Path) -> list[tuple[Artifact, Artifact | None,
                                                                    tuple[Artifact, ...]]]:
    """(package, older build or None, its companions) for every ARTIFACT; app files are built at version
    and version+1, with their companion packages."""
    families = {get_distro(name).family for name in args.distro} or {"deb", "rpm"}
    packages: list[tuple[Artifact, Artifact | None, tuple[Artifact, ...]]] = []
    settings: dict[str, Any] = {}
    config_file = None
    if any(is_app_file(path) for path in args.artifacts):
        settings, config_file = build_settings(args.build_arg)
    for index, path in enumerate(args.artifacts):
        if is_app_file(path):
            if args.upgrade_from:
                raise UsageError(
                    f"--upgrade-from: not with an app file ({path}); verify builds the upgrade itself"
                )
            built = build_versions(path, settings, families, workdir / str(index), config_file=config_file)
            packages += [(b.new, b.old, b.companions) for b in built]
        else:
            packages.append((read_artifact(path), None, ()))
    if args.upgrade_from:
        old = read_artifact(args.upgrade_from)
        new = packages[0][0]
        if len(packages) != 1 or old.name != new.name or old.family != new.family:
            raise UsageError(
                f"--upgrade-from {args.upgrade_from}: must be an older build of the one ARTIFACT "
                f"({new.name} .{new.family})"
            )
        packages = [(new, old, ())]
    return packages


def _with_companions(packages: list[tuple[Artifact, Artifact | None, tuple[Artifact, ...]]],
                     args: argparse.Namespace, workdir: Path) -> dict[str, Path]:
    """The repositories the packages install from: ``--from-repo``, else, when a package has companions,
    a signed repository of the services and their companions made for this run (one per format)."""
    given = _repositories(args)
    if given or not any(companions for _a, _o, companions in packages):
        return given
    wanted: dict[Path, Artifact] = {}
    for artifact, old, companions in packages:
        for item in (artifact, old, *companions):
            if item is not None:
                wanted[item.path] = item
    made = publish_set(list(wanted.values()), workdir / "repository")
    for family, directory in made.items():
        names = sorted({c.name for _a, _o, cs in packages for c in cs if c.family == family})
        print(f"repository {directory} (signed with a key made for this run): the services and their "
              f"companions {', '.join(names)}", file=sys.stderr)
    return made


def run(args: argparse.Namespace) -> int:
    """Verify every artifact on every chosen distro; 0 only when every step of every run passed."""
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: run at least 1 at a time")
    if args.probe_send and not args.probe_expect:
        raise UsageError("--probe-send needs --probe-expect (the text the answer must contain)")
    with tempfile.TemporaryDirectory(prefix="tap2pkg-verify-") as tmp:
        packages = _packages(args, Path(tmp))
        repositories = _with_companions(packages, args, Path(tmp))
        provided = {family: repository_packages(directory) for family, directory in repositories.items()}
        client = connect()
        plan = []
        for artifact, old, _companions in packages:
            names = args.distro or available_distros(client, artifact.family)
            for name in names:
                distro = get_distro(name)
                if distro.family != artifact.family:
                    if args.distro and len(packages) == 1:
                        raise UsageError(
                            f"--distro {name} installs .{distro.family} packages, not {artifact.path.name}"
                        )
                    continue
                image = _image(client, distro, artifact, old, provided.get(artifact.family, ()))
                plan.append((artifact, old, distro, image))
        runs = _verify(client, plan, args, repositories)
    if args.junit_xml:
        try:
            args.junit_xml.write_text(to_junit_xml(runs))
        except OSError as exc:
            raise OutputError(f"--junit-xml {args.junit_xml}: cannot write it ({exc.strerror})") from exc
    if args.json:
        sys.stdout.write(to_json(runs))
    else:
        sys.stdout.write("\n" + summary_table(runs))
    return 0 if runs and all(r.passed for r in runs) else 1


def _image(client: Any, distro: Distro, artifact: Artifact, old: Artifact | None,
           provided: Sequence[Artifact] = ()) -> VerifyImage:
    """The distro's image, or one derived from it with what the package (and its older build) needs
    from the archive: not what the repository it installs from ``provided``, but what those need."""
    base = find_image(client, distro)
    # the package's own builds in the repository are not "provided": they are what is verified
    others = [p for p in provided if p.name != artifact.name]
    image = derive_image(client, distro, base, [a for a in (old, artifact) if a is not None],
                         provided=others, log=lambda line: print(f"   {line}", file=sys.stderr))
    if image.tag != base:
        state = "reused" if image.reused else f"built in {image.seconds:.0f} s"
        print(f"image {image.tag} ({image.note}): {state}", file=sys.stderr)
    return image


def _verify(
    client: Any, plan: list[tuple[Artifact, Artifact | None, Distro, VerifyImage]], args: argparse.Namespace,
    repositories: dict[str, Path],
) -> list[RunResult]:
    """Every planned run (systemd, then sysvinit for a .deb), ``--jobs`` at a time; results in plan order."""
    live = sys.stderr.isatty()
    progress: Any = (Progress(sys.stderr, live=live) if args.jobs == 1
                     else ParallelProgress(sys.stderr, live=live))
    tasks = []
    for artifact, old, distro, image in plan:
        options = VerifyOptions(tuple(args.port), args.probe_send, args.probe_expect, args.user, old,
                                repositories.get(artifact.family), args.repo_key)
        tasks.append((artifact, distro, image, options, True))
        if artifact.family == "deb" and args.sysvinit:
            tasks.append((artifact, distro, image, options, False))
    boxes: set[VerifyContainer] = set()

    def one(task: tuple[Artifact, Distro, VerifyImage, VerifyOptions, bool]) -> RunResult:
        artifact, distro, image, options, systemd = task
        box = VerifyContainer(client, image.tag, systemd=systemd, keep=args.keep, image_note=image.note)
        boxes.add(box)
        try:
            with box:
                if systemd:
                    return verify_lifecycle(box, distro, artifact, options, progress)
                return verify_sysvinit(box, distro, artifact, options, progress)
        finally:
            boxes.discard(box)

    # SIGTERM and SIGHUP unwind like Ctrl-C (run_guarded): every container is removed on the way out
    if args.jobs == 1:
        runs = [one(task) for task in tasks]
    else:
        pool = futures.ThreadPoolExecutor(max_workers=args.jobs, thread_name_prefix="verify")
        try:
            runs = list(pool.map(one, tasks))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            for box in list(boxes):  # the workers' next exec fails; their containers go now
                box.remove()
            raise
        pool.shutdown()
    if args.keep:
        for result in runs:
            print(f"kept container {result.container} ({result.distro}, {result.init})", file=sys.stderr)
    return runs


def _repositories(args: argparse.Namespace) -> dict[str, Path]:
    """``--from-repo`` directories by the package format they hold."""
    found: dict[str, Path] = {}
    for directory in args.from_repo:
        fmt = repo.repository_format(directory)
        if fmt in found:
            raise UsageError(f"--from-repo {directory}: a second .{fmt} repository ({found[fmt]} is one); "
                             "give one apt and one yum directory at most")
        found[fmt] = directory
    if args.repo_key is not None and not args.from_repo:
        raise UsageError("--repo-key needs --from-repo DIR")
    return found
