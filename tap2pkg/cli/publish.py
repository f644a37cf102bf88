"""``tap2pkg publish``: add packages to signed apt and yum repositories that any web server serves."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import UsageError
from ..publish import DEFAULT_KEEP, PublishOptions, is_source_rpm, publish
from ..signing import find_key
from ..verify.artifact import read_artifact  # tap2pkg.publish imports it too: nothing to defer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tap2pkg publish``."""
    parser.add_argument("artifacts", nargs="+", metavar="ARTIFACT", type=Path,
                        help="the .deb and .rpm files to publish (source RPMs are skipped with a note)")
    parser.add_argument("--apt", type=Path, metavar="DIR", help="the apt repository to create or update")
    parser.add_argument("--rpm", type=Path, metavar="DIR", help="the yum/dnf repository to create or update")
    parser.add_argument("--sign-key", required=True, metavar="KEYID",
                        help="the OpenPGP key (from $GNUPGHOME) that signs the packages and the metadata")
    parser.add_argument("--name", metavar="NAME",
                        help="the repository's name: NAME.asc, NAME.gpg, NAME.sources, NAME.repo, the yum "
                        "repo id (default: the first package's name)")
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP, metavar="N",
                        help=f"versions kept per package and architecture (default: {DEFAULT_KEEP})")
    parser.add_argument("--suite", default="stable", help="apt suite (default: stable)")
    parser.add_argument("--component", default="main", help="apt component (default: main)")
    parser.add_argument("--apt-url", metavar="URL",
                        help="where users will reach the apt directory, for the .sources snippet "
                        "(default: its file: URL)")
    parser.add_argument("--rpm-url", metavar="URL",
                        help="where users will reach the yum directory, for the .repo snippet "
                        "(default: its file: URL)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _default_name(paths: list[Path]) -> str:
    return read_artifact(next((p for p in paths if not is_source_rpm(p)), paths[0])).name


def run(args: argparse.Namespace) -> int:
    """Publish every ARTIFACT; print what each repository now holds and the snippet to give users."""
    if args.apt is None and args.rpm is None:
        raise UsageError("name a repository to publish to: --apt DIR and/or --rpm DIR")
    key = find_key(args.sign_key)
    options = PublishOptions(name=args.name or _default_name(args.artifacts), suite=args.suite,
                             component=args.component, keep=args.keep, apt_url=args.apt_url,
                             rpm_url=args.rpm_url)
    results = publish(args.artifacts, key, options, apt_dir=args.apt, rpm_dir=args.rpm)
    if args.json:
        summary = [{"kind": r.kind, "path": str(r.path), "packages": r.packages, "added": r.added,
                    "removed": r.removed, "public_key": str(r.public_key), "snippet": str(r.snippet),
                    "keyring": str(r.keyring) if r.keyring else None, "notes": r.notes} for r in results]
        print(json.dumps({"repositories": summary}, indent=2))
    else:
        for r in results:
            print(f"{r.kind} repository {r.path}: {len(r.packages)} package(s), signed by {key.fingerprint}")
            for name in r.added:
                print(f"  added   {name}")
            for name in r.removed:
                print(f"  removed {name} (older than the {options.keep} kept)")
            print(f"  users copy {r.snippet.name} (and {r.keyring.name if r.keyring else r.public_key.name})")
    for r in results:
        for note in r.notes:
            print(f"tap2pkg publish: note: {note}", file=sys.stderr)
    return 0
