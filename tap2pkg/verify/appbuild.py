"""Verify straight from an app file: build it twice (its version and version+1) to test the upgrade.

``tap2pkg verify app.tac`` runs ``tap2pkg build --binary-only`` at the
version given with ``--build-arg=-V...`` (default 1.0) and at that version
plus one, then verifies the newer package with an upgrade from the older.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from .artifact import Artifact, read_artifact
from .errors import AppBuildError

APP_SUFFIXES = (".tac", ".py", ".tap", ".tas", ".tax")
DEFAULT_MAINTAINER = "Tap2pkg Verify <verify@example.org>"


def is_app_file(path: Path) -> bool:
    """True for an application file (by suffix), which verify builds itself."""
    return path.suffix in APP_SUFFIXES


def next_version(version: str) -> str:
    """``version`` with its last number raised by one: 1.0 -> 1.1, 2 -> 3, 1.2.9 -> 1.2.10."""
    match = re.search(r"(\d+)(?!.*\d)", version)
    if match is None:
        return version + ".1"
    return version[: match.start()] + str(int(match.group(1)) + 1) + version[match.end() :]


def _split_version(args: list[str]) -> tuple[str, list[str]]:
    version, rest, skip = "1.0", [], False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg in ("-V", "--set-version") and index + 1 < len(args):
            version, skip = args[index + 1], True
        elif arg.startswith("--set-version="):
            version = arg.split("=", 1)[1]
        elif arg.startswith("-V") and len(arg) > 2:
            version = arg[2:]
        else:
            rest.append(arg)
    return version, rest


def build_versions(
    app: Path, build_args: list[str], families: set[str], workdir: Path
) -> list[tuple[Artifact, Artifact]]:
    """Build ``app`` at its version and the next into ``workdir``; (old, new) per package format."""
    version, rest = _split_version(build_args)
    if not any(a in ("-m", "--maintainer") or a.startswith(("--maintainer=", "-m")) for a in rest):
        rest += ["-m", DEFAULT_MAINTAINER]
    built: dict[str, dict[str, Artifact]] = {}
    for label, number in (("old", version), ("new", next_version(version))):
        out = workdir / label
        command = [
            sys.executable,
            "-m",
            "tap2pkg.cli.tap2pkg",
            "build",
            "--binary-only",
            "-u",
            "--json",
            "--format",
            ",".join(sorted(families)),
            "-o",
            str(out),
            *rest,
            "-V",
            number,
            str(app),
        ]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise AppBuildError(
                f"{app}: `tap2pkg build` at version {number} failed: {last}; "
                "pass build options with --build-arg=OPTION"
            )
        for package in json.loads(proc.stdout)["packages"]:
            for item in package["artifacts"]:
                path = Path(item["path"])
                if not path.is_absolute():
                    path = Path.cwd() / path
                if path.name.endswith((".deb", ".noarch.rpm")):
                    artifact = read_artifact(path)
                    built.setdefault(artifact.family, {})[label] = artifact
    return [(pair["old"], pair["new"]) for _family, pair in sorted(built.items()) if len(pair) == 2]
