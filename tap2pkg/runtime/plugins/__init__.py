"""Service makers: named recipes that turn command-line options into a service.

A :class:`ServiceMaker` is what ``tapd PLUGIN [options]`` runs directly and what
``tap2pkg mktap PLUGIN [options] -o FILE`` saves into an application file, the
way twistd's plugins work. Five come built in (``web``, ``echo``,
``portforward``, ``procmon``, ``timer``); others are found through the
entry-point group ``tap2pkg.plugins``. In a distribution's ``pyproject.toml``::

    [project.entry-points."tap2pkg.plugins"]
    chat = "mychat.plugin:maker"

The entry point may name a :class:`ServiceMaker` instance or a subclass (it is
instantiated without arguments). The plugin's name is its ``name`` attribute.
A plugin that fails to load is skipped with a warning; a plugin that reuses a
built-in name is ignored with a warning (the built-in wins).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
from collections.abc import Sequence
from typing import Any, NoReturn

from ..errors import UsageError
from ..service import Service

log = logging.getLogger("tap2pkg.plugins")

#: The entry-point group third-party plugins register under.
ENTRY_POINT_GROUP = "tap2pkg.plugins"

#: Built-in plugin name -> module under tap2pkg.runtime.plugins defining ``maker``.
BUILTIN_MODULES: dict[str, str] = {
    "web": "web",
    "echo": "echo",
    "portforward": "portforward",
    "procmon": "procmon",
    "timer": "timer",
}


class ServiceMaker:
    """A plugin: a name, a one-line description, an options parser and a service recipe."""

    #: The plugin's name on the command line (``tapd NAME``, ``tap2pkg mktap NAME``).
    name: str = ""
    #: One line shown by ``tap2pkg mktap --list`` and ``tapd --help``.
    description: str = ""

    def options_parser(self) -> argparse.ArgumentParser:
        """A parser for this plugin's options; its ``prog`` reads like ``tapd NAME``."""
        return OptionsParser(prog=f"tapd {self.name}", description=self.description)

    def make_service(self, options: argparse.Namespace) -> Service:
        """Build the service (usually a tree) from parsed options."""
        raise NotImplementedError

    def parse_options(self, argv: Sequence[str], prog: str | None = None) -> argparse.Namespace:
        """Parse ``argv`` with :meth:`options_parser`.

        A bad option raises :class:`UsageError` (when the parser is an
        :class:`OptionsParser`); ``--help`` prints the help and exits 0.
        """
        parser = self.options_parser()
        if prog is not None:
            parser.prog = prog
        return parser.parse_args(list(argv))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class OptionsParser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of exiting on a bad option."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; see '{self.prog} --help'")


def builtin_plugins() -> dict[str, ServiceMaker]:
    """The plugins that ship with the runtime, by name."""
    plugins: dict[str, ServiceMaker] = {}
    for name, module_name in BUILTIN_MODULES.items():
        module = importlib.import_module(f"{__name__}.{module_name}")
        plugins[name] = module.maker
    return plugins


def _maker_from(obj: Any) -> ServiceMaker:
    if isinstance(obj, type) and issubclass(obj, ServiceMaker):
        obj = obj()
    if not isinstance(obj, ServiceMaker):
        raise TypeError(f"{obj!r} is not a ServiceMaker instance or subclass")
    if not obj.name or not isinstance(obj.name, str):
        raise TypeError(f"{obj!r} has no name")
    return obj


def get_plugins() -> dict[str, ServiceMaker]:
    """Every available plugin by name: the built-ins, then entry points in ``tap2pkg.plugins``."""
    plugins = builtin_plugins()
    try:
        entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # noqa: BLE001 - broken metadata on sys.path must not stop the daemon
        log.warning("cannot read %s entry points: %s", ENTRY_POINT_GROUP, exc)
        return plugins
    seen: set[str] = set()
    for entry_point in entry_points:
        key = f"{entry_point.name} = {entry_point.value}"
        if key in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add(key)
        try:
            maker = _maker_from(entry_point.load())
        except Exception as exc:  # noqa: BLE001 - a broken third-party plugin is skipped, never fatal
            log.warning("skipping plugin %r (%s): %s: %s", entry_point.name, entry_point.value,
                        type(exc).__name__, exc)
            continue
        if maker.name in BUILTIN_MODULES:
            log.warning("ignoring plugin %r from %s: the built-in plugin of that name is kept",
                        maker.name, entry_point.value)
            continue
        if maker.name in plugins:
            log.warning("ignoring plugin %r from %s: another plugin already has that name",
                        maker.name, entry_point.value)
            continue
        plugins[maker.name] = maker
    return plugins


def get_plugin(name: str) -> ServiceMaker:
    """The plugin called ``name``; :class:`UsageError` listing the available ones otherwise."""
    plugins = get_plugins()
    try:
        return plugins[name]
    except KeyError:
        available = ", ".join(sorted(plugins))
        raise UsageError(f"unknown plugin {name!r}; available plugins: {available}") from None


__all__ = ["ENTRY_POINT_GROUP", "OptionsParser", "ServiceMaker", "builtin_plugins", "get_plugin",
           "get_plugins"]
