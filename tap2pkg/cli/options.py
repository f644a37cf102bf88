"""The options ``tap2deb``, ``tap2rpm`` and ``tap2pkg build`` share, and mapping them to settings.

Twisted's ``tap2deb``/``tap2rpm`` options keep their names and meaning; the
new ones are long options only. The command line only maps its options to a
settings mapping; the library merges it over ``[tool.tap2pkg]`` (``--config``
or a ``pyproject.toml`` beside the app file; :func:`tap2pkg.config.merge_settings`)
and builds the spec (:meth:`tap2pkg.spec.PackageSpec.from_settings`), checking
every value and naming the one that is wrong.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import merge_settings
from ..errors import UsageError

#: argparse dest -> settings key, for the options every format shares.
_COMMON_DESTS = {
    "type": "type", "maintainer": "maintainer", "protocol": "protocol", "description": "description",
    "long_description": "long_description", "set_version": "version", "output_dir": "output_dir",
    "depends": "depends", "include": "include", "user": "user", "port": "port", "license": "license",
    "homepage": "homepage", "builder": "builder", "runtime": "runtime", "project": "project",
    "skip_requirement": "skip_requirement", "extra": "extra",
}


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every packaging front end takes (all default to None: "not given")."""
    parser.add_argument("appfiles", nargs="*", metavar="APPFILE",
                        help="application files (.tac/.py, .tap, .tas, .tax); one package each")
    parser.add_argument("-t", "--tapfile", metavar="FILE",
                        help="the app file when no APPFILE is given (default: twistd.tap)")
    parser.add_argument("-y", "--type", metavar="TYPE",
                        help="app file type: tap, python, source or xml (default: from the suffix)")
    parser.add_argument("-m", "--maintainer", metavar="'NAME <EMAIL>'", help="package maintainer")
    parser.add_argument("-p", "--protocol", help="the service's name (default: the app file's base name)")
    parser.add_argument("-e", "--description", help='one-line summary (default: "Server for <protocol>")')
    parser.add_argument("-l", "--long_description", "--long-description", dest="long_description",
                        metavar="TEXT", help="long description")
    parser.add_argument("-V", "--set-version", dest="set_version", metavar="VERSION",
                        help="upstream version (default: 1.0)")
    parser.add_argument("-u", "--unsigned", action="store_true", help="do not sign")
    parser.add_argument("--sign-key", metavar="KEYID", help="sign with this OpenPGP key from $GNUPGHOME: "
                        "debsign for .changes/.dsc, rpmsign --addsign for .rpm/.src.rpm")
    parser.add_argument("-o", "--output-dir", dest="output_dir", metavar="DIR",
                        help="where to write everything (default: the current directory)")
    parser.add_argument("--depends", action="append", metavar="PKG", help="extra dependency (repeatable)")
    parser.add_argument("--include", action="append", metavar="PATH",
                        help="the app's own module or package, installed where tapd imports it (repeatable)")
    parser.add_argument("--user", help="system user the service runs as (default: the package name)")
    parser.add_argument("--port", action="append", metavar="PORT",
                        help="a port the service listens on (repeatable; default: found in the app file)")
    parser.add_argument("--runtime", choices=("auto", "tapd", "twisted"),
                        help="what runs the service: the distribution's Twisted (twisted) or the bundled "
                        "tapd; default auto: twisted when the app file uses Twisted")
    parser.add_argument("--license", metavar="SPDX",
                        help="the app's SPDX license (default: the project's, else stated as not given)")
    parser.add_argument("--project", metavar="DIR",
                        help="the app's Python project (pyproject.toml or setup.py): its metadata and "
                        "dependencies, packaged as python3-<project> (default: one beside the app file)")
    parser.add_argument("--skip-requirement", action="append", metavar="NAME",
                        help="a requirement of the project to leave out (repeatable; give --depends instead)")
    parser.add_argument("--extra", action="append", metavar="NAME",
                        help="an extra of the project whose requirements the package needs (repeatable)")
    parser.add_argument("--homepage", metavar="URL", help="project home page")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--source-only", action="store_true", help="only the source package")
    only.add_argument("--binary-only", action="store_true", help="only the binary package")
    parser.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    parser.add_argument("-j", "--jobs", type=_job_count, metavar="N",
                        help="build N packages at a time, on threads (default: one per processor); "
                        "the packages and what is printed do not change")
    parser.add_argument("--config", metavar="FILE.toml", help="read [tool.tap2pkg] settings from this file")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _job_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: build at least 1 package at a time")
    return value


def add_deb_options(parser: argparse.ArgumentParser) -> None:
    """Add the Debian-only options."""
    parser.add_argument("-d", "--debfile", metavar="NAME", help="package name (default: the protocol)")
    parser.add_argument("--builder", help="native (default: the .deb written in Python) or dpkg "
                        "(dpkg-buildpackage)")
    parser.add_argument("--revision", help="Debian revision (default: 1)")
    parser.add_argument("--distribution", help="changelog distribution (default: unstable)")
    parser.add_argument("--compression", help="native .deb member compression: xz (default) or gzip")


def app_files(args: argparse.Namespace, *, single_options: tuple[str, ...] = ("protocol",)) -> list[Path]:
    """The app files to package; refuses options naming one package when there are several."""
    files = [Path(p) for p in args.appfiles] or [Path(args.tapfile or "twistd.tap")]
    if len(files) > 1:
        for dest in single_options:
            if getattr(args, dest, None):
                flag = {"protocol": "-p/--protocol", "debfile": "-d/--debfile",
                        "rpmfile": "-r/--rpmfile"}.get(dest, dest)
                raise UsageError(f"{flag} names one package but {len(files)} app files were given; "
                                 "drop it or build them one at a time")
    return files


def settings_from_args(args: argparse.Namespace, extra_dests: Mapping[str, str]) -> dict[str, Any]:
    """The settings the command line gives: every option given, under its settings key."""
    dests = {**_COMMON_DESTS, **extra_dests}
    return {key: getattr(args, dest) for dest, key in dests.items() if getattr(args, dest, None) is not None}


def merged_settings(args: argparse.Namespace, app_file: Path,
                    extra_dests: Mapping[str, str]) -> dict[str, Any]:
    """Config-file settings for ``app_file`` overlaid with every option given on the command line."""
    config = Path(args.config) if getattr(args, "config", None) else None
    return merge_settings(app_file, settings_from_args(args, extra_dests), config)
