"""``tap2pkg``: the umbrella command (``mktap``, ``build``, ``verify``, ``images``, ``publish``).

Each subcommand lives in its own module under ``tap2pkg.cli`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this module only wires
them together and turns :class:`Tap2pkgError` into one line and an exit code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from .common import ArgumentParser, run_guarded

#: subcommand -> (module under tap2pkg.cli, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "mktap": ("mktap", "write an application file from a plugin (.tap/.tas/.tax; a .tac with --twisted)"),
    "build": ("build", "build Debian and/or RPM packages from app files"),
    "verify": ("verify", "install, run, upgrade and purge packages in containers"),
    "images": ("images", "list, build or remove the verification images"),
    "publish": ("publish", "add packages to signed apt and yum repositories"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tap2pkg`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = ArgumentParser(prog="tap2pkg", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"tap2pkg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(f"tap2pkg.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tap2pkg.cli.{module_name}":
                raise
            continue  # subcommand not part of this build yet
        modules[name] = module
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(subparser)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error(f"name a command: {', '.join(modules)}")
    return run_guarded(lambda: modules[args.command].run(args), prog=f"tap2pkg {args.command}",
                       debug=getattr(args, "debug", False))


if __name__ == "__main__":
    sys.exit(main())
