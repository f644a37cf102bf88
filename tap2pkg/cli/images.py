"""``tap2pkg images``: list, build (offline with debootstrap, or from a Dockerfile) and remove images.

``list`` and ``remove`` also cover the images ``verify`` derives with a package's dependencies.
"""

from __future__ import annotations

import argparse
import sys

from ..verify import build_image, connect, get_distro, list_images, remove_images
from ..verify.images import DEFAULT_MIRROR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Subcommands of ``tap2pkg images``."""
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="the tap2pkg images, and whether each matches its current recipe")
    build = sub.add_parser("build", help="build images (skipped when one with the current recipe exists)")
    build.add_argument(
        "distros",
        nargs="*",
        metavar="DISTRO",
        help="debian:bookworm, debian:trixie, rpm-on-debian, fedora:40, fedora:41 "
        "(default: debian:bookworm and rpm-on-debian)",
    )
    build.add_argument(
        "--offline",
        action="store_true",
        help="debootstrap from a Debian mirror and docker import (no registry needed)",
    )
    build.add_argument("--mirror", default=DEFAULT_MIRROR, help=f"Debian mirror (default {DEFAULT_MIRROR})")
    build.add_argument("--force", action="store_true", help="rebuild even when a current image exists")
    remove = sub.add_parser("remove", help="remove tap2pkg images (and those verify derived from them)")
    remove.add_argument("distros", nargs="*", metavar="DISTRO", help="only these distros (default: all)")
    remove.add_argument("--stale", action="store_true",
                        help="only images whose recipe has changed since (or, derived ones, whose base did)")


def run(args: argparse.Namespace) -> int:
    """Carry out ``list``, ``build`` or ``remove``."""
    client = connect()
    if args.action == "list":
        rows = list_images(client)
        if not rows:
            print(
                "no tap2pkg images; build them with "
                "`tap2pkg images build --offline debian:bookworm rpm-on-debian`"
            )
            return 0
        table = [("distro", "image", "method", "recipe", "MB", "created", "dependencies")]
        table += [
            (r.distro, r.tag, r.method, "current" if r.current else "stale", f"{r.size_mb:.0f}", r.created,
             r.dependencies)
            for r in rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        return 0
    if args.action == "build":
        for name in args.distros or ["debian:bookworm", "rpm-on-debian"]:
            distro = get_distro(name)
            result = build_image(
                client,
                distro,
                offline=args.offline,
                mirror=args.mirror,
                force=args.force,
                log=lambda line: print(f"  {line}", file=sys.stderr),
            )
            state = "reused (recipe unchanged)" if result.reused else f"built in {result.seconds:.0f} s"
            print(f"{distro.name}: {result.tag} {state}")
        return 0
    for name in args.distros:
        get_distro(name)
    removed = remove_images(client, distros=args.distros, stale_only=args.stale)
    for tag in removed:
        print(f"removed {tag}")
    if not removed:
        print("nothing to remove")
    return 0
