"""``tap2pkg mktap``: write an application file from a plugin and its options.

``tap2pkg mktap web --port 8080 --path /srv/www -o web.tap`` builds the
service the ``web`` plugin makes from those options, wraps it in an
application and saves it in the format the suffix names (``.tap`` pickle,
``.tas`` source, ``.tax`` XML; ``-y/--type`` forces one). mktap's own options
may come before the plugin name or after the plugin's options; everything
after a ``--`` belongs to the plugin. ``tap2pkg mktap --list`` lists the
plugins.

``tap2pkg mktap --twisted web --path /srv/www -o web.tac`` does the same for an
installed Twisted plugin (``twistd web ...``): the options are checked with the
plugin's own parser now, and the ``.tac`` written makes the service through the
plugin each time it starts (:mod:`tap2pkg.twisted_plugin`). mktap's options go
before the plugin name; after it only ``-o/--output`` is mktap's, and only when
no ``-o`` came before (Twisted plugins have ``-u`` and ``-g`` of their own).
``tap2pkg mktap --twisted --list`` lists the installed Twisted plugins.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from ..errors import UnknownAppTypeError
from ..runtime import persist
from ..runtime.errors import UsageError
from ..runtime.kinds import KINDS, SAVE_KINDS, kind_by_name, kind_by_suffix
from ..runtime.lazy import lazy_import
from ..runtime.plugins import get_plugin, get_plugins
from ..runtime.service import Application, walk

if TYPE_CHECKING:
    from .. import twisted_plugin
else:  # imported on first use: only mktap --twisted needs it
    twisted_plugin = lazy_import("tap2pkg.twisted_plugin")


def _add_own_options(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    default = None if defaults else argparse.SUPPRESS
    parser.add_argument("-o", "--output", metavar="FILE", default=default,
                        help="application file to write (default: APPNAME.tap)")
    parser.add_argument("-y", "--type", dest="kind", metavar="TYPE", default=default,
                        help="force the format: pickle (tap), source (tas) or xml (tax); "
                             "default: from the suffix of FILE")
    parser.add_argument("--appname", metavar="NAME", default=default,
                        help="the application's (and process's) name (default: the plugin's name)")
    parser.add_argument("-u", "--uid", metavar="USER", default=default,
                        help="user to run as, a name or a number (default: whoever starts tapd)")
    parser.add_argument("-g", "--gid", metavar="GROUP", default=default,
                        help="group to run as, a name or a number (default: the user's group)")
    parser.add_argument("--debug", action="store_true", default=False if defaults else argparse.SUPPRESS,
                        help="show a traceback on errors")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add mktap's options and the ``PLUGIN [plugin options]`` arguments to ``parser``."""
    parser.usage = "%(prog)s [options] PLUGIN [plugin options] [-o FILE]  |  %(prog)s --list"
    parser.add_argument("--list", action="store_true", help="list the available plugins and exit")
    parser.add_argument("--twisted", action="store_true",
                        help="PLUGIN is an installed Twisted plugin (twistd PLUGIN): write a .tac that makes "
                             "its service; after PLUGIN only -o/--output is mktap's")
    _add_own_options(parser)
    parser.add_argument("plugin", nargs="?", metavar="PLUGIN", help="the plugin making the service")
    parser.add_argument("plugin_args", nargs=argparse.REMAINDER, metavar="...",
                        help="the plugin's options (see: tap2pkg mktap PLUGIN --help)")


def _split_own_options(args: argparse.Namespace) -> list[str]:
    """Take mktap's own options out of what follows the plugin name; return the plugin's arguments."""
    rest = list(args.plugin_args)
    head, tail = (rest[: rest.index("--")], rest[rest.index("--"):]) if "--" in rest else (rest, [])
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    _add_own_options(own, defaults=False)
    try:
        found, plugin_args = own.parse_known_args(head)
    except argparse.ArgumentError as exc:  # e.g. "-o" with no file after it
        raise UsageError(f"{exc}; see 'tap2pkg mktap --help'") from None
    for name, value in vars(found).items():
        setattr(args, name, value)
    return plugin_args + tail


def _id(value: str | None) -> int | str | None:
    """A user or group as given: a number stays a number, a name is resolved when tapd starts."""
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def output_kind(output: str, type_option: str | None, writable: tuple[str, ...]) -> str:
    """The kind of app file to write to ``output``: ``-y`` when given, else its suffix.

    A type no one knows is :class:`UnknownAppTypeError` (exit 79, as for tap2deb and tap2rpm); the fix
    it names is one of the ``writable`` kinds.
    """
    fix = f"name it FILE{'/'.join(KINDS[kind][0] for kind in writable)} or give -y {'|'.join(writable)}"
    if type_option:
        kind = kind_by_name(type_option.lower())
        if kind is None:
            raise UnknownAppTypeError(f"-y/--type {type_option!r} is not a known app file type; "
                                      f"give -y {'|'.join(writable)}")
        return kind
    suffix = os.path.splitext(output)[1]
    kind = kind_by_suffix(suffix.lower())
    if kind is None:
        raise UnknownAppTypeError(f"{output}: cannot tell the app file type from the suffix "
                                  f"{suffix or 'none'!r}; {fix}")
    return kind


def list_plugins() -> str:
    """The plugins, one per line with its description."""
    plugins = get_plugins()
    width = max(len(name) for name in plugins)
    return "\n".join(f"  {name:<{width}}  {plugins[name].description}" for name in sorted(plugins))


def run(args: argparse.Namespace) -> int:
    """Write the application file; return the exit status."""
    if args.twisted:
        return run_twisted(args)
    if args.list:
        print("Available plugins (tap2pkg mktap PLUGIN --help for a plugin's options):")
        print(list_plugins())
        return 0
    if not args.plugin:
        raise UsageError("name a plugin; available plugins: "
                         f"{', '.join(sorted(get_plugins()))} (tap2pkg mktap --list describes them)")
    maker = get_plugin(args.plugin)
    plugin_args = _split_own_options(args)
    options = maker.parse_options(plugin_args, prog=f"tap2pkg mktap {maker.name}")
    service = maker.make_service(options)
    appname = args.appname or maker.name
    if not service.name:
        service.set_name(maker.name)
    app = Application(appname, uid=_id(args.uid), gid=_id(args.gid), services=[service])
    output = args.output or f"{appname}.tap"
    kind = output_kind(output, args.kind, SAVE_KINDS)
    if kind not in SAVE_KINDS:
        raise UsageError(f"{output}: mktap writes pickle, source or xml app files, not {kind}; name it "
                         "FILE.tap/.tas/.tax or give -y pickle|source|xml (a .tac is written by hand)")
    persist.save(app, output, kind)
    count = sum(1 for _ in walk(app)) - 1
    print(f"wrote {os.fspath(output)} ({kind}): application {appname!r} from plugin {maker.name!r}, "
          f"{count} service{'s' if count != 1 else ''}", file=sys.stdout)
    return 0


def _split_output(args: argparse.Namespace) -> list[str]:
    """Take ``-o/--output FILE`` out of what follows a Twisted plugin's name (unless it came before it);
    return the plugin's arguments."""
    rest = list(args.plugin_args)
    if args.output is not None:
        return rest
    head, tail = (rest[: rest.index("--")], rest[rest.index("--"):]) if "--" in rest else (rest, [])
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    own.add_argument("-o", "--output", default=None)
    try:
        found, plugin_args = own.parse_known_args(head)
    except argparse.ArgumentError as exc:  # "-o" with no file after it
        raise UsageError(f"{exc}; see 'tap2pkg mktap --help'") from None
    args.output = found.output
    return plugin_args + tail


def run_twisted(args: argparse.Namespace) -> int:
    """``mktap --twisted``: list the Twisted plugins, or write a .tac making a plugin's service."""
    if args.list:
        plugins = twisted_plugin.describe_plugins()
        print("Installed Twisted plugins (tap2pkg mktap --twisted PLUGIN --help for a plugin's options):")
        width = max((len(name) for name, _ in plugins), default=0)
        for name, description in plugins:
            print(f"  {name:<{width}}  {description}")
        return 0
    if not args.plugin:
        installed = ", ".join(sorted(twisted_plugin.installed_plugins())) or "none"
        raise UsageError(f"name a Twisted plugin; installed: {installed} "
                         "(tap2pkg mktap --twisted --list describes them)")
    maker = twisted_plugin.find_plugin(args.plugin)
    plugin_args = _split_output(args)
    appname = args.appname or maker.tapname
    output = args.output or f"{appname}.tac"
    if output_kind(output, args.kind, ("python",)) != "python":
        raise UsageError(f"--twisted writes a Python application file, not {output!r}; "
                         "name it FILE.tac (or give -y python)")
    twisted_plugin.check_options(maker, plugin_args)
    text = twisted_plugin.render_tac(maker.tapname, plugin_args, appname=args.appname,
                                     uid=_id(args.uid), gid=_id(args.gid))
    persist.write_atomically(output, text.encode())
    print(f"wrote {os.fspath(output)} (python): application {appname!r} from the Twisted plugin "
          f"{maker.tapname!r}; run it with twistd -ny {os.fspath(output)}")
    return 0
