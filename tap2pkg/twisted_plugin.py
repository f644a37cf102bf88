"""Twisted plugins as application files: the library side of ``tap2pkg mktap --twisted``.

Many Twisted services are run as ``twistd PLUGIN ARGS`` (``twistd web --path
/srv/www``): the plugin is an ``IServiceMaker`` found by
``twisted.plugin.getPlugins`` and named by its ``tapname``. :func:`render_tac`
writes a ``.tac`` that makes the same service when Twisted loads it
(``twistd -ny web.tac``), so tap2deb and tap2rpm can package it like any
Twisted application file::

    check_options(find_plugin("web"), ["--path", "/srv/www"])   # the plugin's own UsageError
    text = render_tac("web", ["--path", "/srv/www"])

The arguments are checked now with the plugin's own options class, and again
each time the ``.tac`` starts (a plugin may read files then). They are written
as a Python literal (``repr`` of a list of str), never spliced into code, so
quotes, backslashes, newlines or ``${`` in them stay data. Where the parsed
options say the service listens, defaults included (``twistd dns`` takes port
53 unless told otherwise), is written the same way as ``LISTENS_ON``: there
:mod:`tap2pkg.twisted_detect` finds the ports the arguments do not show. The text is the same
for the same inputs (no date, no host name) and runs under Twisted 22.4
(Debian bookworm) and later.

Twisted is imported only here, only when asked; without it each function
raises :class:`~tap2pkg.errors.MissingToolError` saying how to install it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import MissingToolError, Tap2pkgError, UsageError
from .runtime.lazy import lazy_import

if TYPE_CHECKING:
    from twisted.python import usage
else:  # imported on first use: Twisted only when asked (installed_plugins probes for it first)
    usage = lazy_import("twisted.python.usage")

__all__ = ["check_options", "find_plugin", "installed_plugins", "listen_descriptions", "render_tac"]

INSTALL_HINT = "install Twisted (pip install twisted, or apt-get install python3-twisted)"


def installed_plugins() -> dict[str, Any]:
    """The installed Twisted plugins by ``tapname`` (for a name given twice, the last, as in twistd)."""
    try:  # a probe, kept here: Twisted is optional, and its ImportError is the answer
        from twisted.application.service import IServiceMaker
        from twisted.plugin import getPlugins
    except ImportError as exc:
        raise MissingToolError(f"Twisted is not importable ({exc}); {INSTALL_HINT}") from None
    return {maker.tapname: maker for maker in getPlugins(IServiceMaker)}


def find_plugin(name: str) -> Any:
    """The installed Twisted plugin (``IServiceMaker``) called ``name``; a :class:`UsageError` naming the
    installed ones otherwise."""
    plugins = installed_plugins()
    if name not in plugins:
        installed = ", ".join(sorted(plugins)) or "none"
        raise UsageError(f"no Twisted plugin {name!r} is installed; installed Twisted plugins: {installed} "
                         "(tap2pkg mktap --twisted --list describes them)")
    return plugins[name]


def describe_plugins() -> list[tuple[str, str]]:
    """``(tapname, description)`` of each installed Twisted plugin, sorted by name."""
    return [(name, one_line(str(getattr(maker, "description", ""))))
            for name, maker in sorted(installed_plugins().items())]


def check_options(maker: Any, arguments: Sequence[str]) -> Any:
    """Parse ``arguments`` with the plugin's own options class, as twistd does before making the service;
    return the parsed options (a ``usage.Options``, its defaults filled in).

    A usage error is the plugin's own message on one line (:class:`UsageError`, exit 64); any other
    failure of the plugin's parser is a :class:`Tap2pkgError` naming the plugin.
    """
    name = maker.tapname
    try:
        options = maker.options()
        options.parseOptions(list(arguments))
    except usage.UsageError as exc:
        raise UsageError(f"plugin {name!r}: {one_line(str(exc))}; see 'twistd {name} --help'") from exc
    except Exception as exc:  # the plugin's own code failed: its message, the traceback with --debug
        raise Tap2pkgError(f"plugin {name!r} failed reading its options: {type(exc).__name__}: "
                           f"{one_line(str(exc))}") from exc
    return options


#: Keys of a plugin's parsed options that say where it listens: ``port`` (dns, ftp, conch, socks...),
#: ``ports`` (web's ``--listen``), and ``...-port`` / ``...Port`` (words' ``irc-port``, manhole's
#: ``telnetPort``); ``dest_port`` and the like name where a client connects, not a port.
_LISTEN_KEY = re.compile(r"(ports?|.+-port|.+[a-z]Port)")
#: Twisted's server endpoints a parsed option may hold (mail's ``--smtp``), by class name and type.
_ENDPOINT_TYPES = {"TCP4ServerEndpoint": "tcp", "TCP6ServerEndpoint": "tcp6", "SSL4ServerEndpoint": "ssl"}


def listen_descriptions(options: Any) -> list[str]:
    """Where a plugin listens according to its parsed ``options``, defaults included, as server
    descriptions (``tcp:53``, ``tcp:8080``, ``ssl:port=443:...``); what cannot be told is left out."""
    found: list[str] = []
    for key, value in sorted(options.items()):
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            kind = _ENDPOINT_TYPES.get(type(item).__name__)
            port = getattr(item, "_port", None)
            if kind and type(port) is int:  # a server endpoint the plugin already made
                found.append(f"{kind}:{port}")
            elif not _LISTEN_KEY.fullmatch(str(key)) or isinstance(item, bool):
                continue
            elif isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
                found.append(f"tcp:{item}")
            elif isinstance(item, str) and item:
                found.append(item)
    return list(dict.fromkeys(found))


def one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped, so a message stays one line."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


_HEADER = '''\
# A Twisted application made by `tap2pkg mktap --twisted` (tap2pkg {version}).
# It makes the service of the installed Twisted plugin PLUGIN from the options in
# ARGUMENTS, as `twistd PLUGIN ARGUMENTS...` would; the plugin checks them again each
# time this file starts. Run it with `twistd -ny FILE` (`twistd3` on Debian), or
# package it with tap2deb / tap2rpm.
'''

_BODY = '''
{imports}from twisted.application import service
from twisted.plugin import getPlugins

PLUGIN = {plugin}
ARGUMENTS = {arguments}
# Where the service listens with these arguments, the plugin's defaults included, as the plugin's
# options said when this file was written; tap2deb and tap2rpm take its ports from here.
LISTENS_ON = {listens}


def make_service(plugin, arguments):
    """The service the plugin makes from these arguments."""
    makers = {{maker.tapname: maker for maker in getPlugins(service.IServiceMaker)}}
    if plugin not in makers:
        raise RuntimeError(f"no Twisted plugin {{plugin!r}} is installed; installed: {{sorted(makers)}}")
    options = makers[plugin].options()
    options.parseOptions(arguments)
    return makers[plugin].makeService(options)


application = service.Application({application})
'''

_NAMES = '''

def user_or_group(name, lookup):
    """A user or group name as its number here (twistd switches to numbers); only root can switch,
    so for anyone else a name unknown here is dropped."""
    try:
        return lookup(name)[2]
    except KeyError:
        if os.geteuid() == 0:
            raise RuntimeError(f"no user or group {name!r} on this host: create it, or make the "
                               "application again without -u/-g") from None
        return None


_process = service.IProcess(application)
if isinstance(_process.uid, str):
    _process.uid = user_or_group(_process.uid, pwd.getpwnam)
if isinstance(_process.gid, str):
    _process.gid = user_or_group(_process.gid, grp.getgrnam)
'''

_TAIL = '''
make_service(PLUGIN, ARGUMENTS).setServiceParent(application)
'''


def render_tac(plugin: str, arguments: Sequence[str], *, appname: str | None = None,
               uid: int | str | None = None, gid: int | str | None = None,
               listens: Sequence[str] | None = None) -> str:
    """The text of a ``.tac`` making ``plugin``'s service from ``arguments``.

    ``appname`` (default: the plugin's name), ``uid`` and ``gid`` are the ``Application``'s; a user or
    group given by name is looked up when the file runs, on the host that runs it. ``listens`` (the
    :func:`listen_descriptions` of the parsed options) is recorded in ``LISTENS_ON``; when not given,
    the installed plugin parses ``arguments`` again to tell it.
    """
    if listens is None:
        listens = listen_descriptions(check_options(find_plugin(plugin), arguments))
    values = [plugin, *arguments, *listens, *(v for v in (appname, uid, gid) if isinstance(v, str))]
    if not all(isinstance(value, str) for value in values):
        raise TypeError("the plugin, its arguments and the names must be str")
    call = [repr(appname if appname is not None else plugin)]
    call += [f"{field}={value!r}" for field, value in (("uid", uid), ("gid", gid)) if value is not None]
    names = any(isinstance(value, str) for value in (uid, gid))
    imports = "import grp\nimport os\nimport pwd\n\n" if names else ""
    body = _BODY.format(imports=imports, plugin=repr(plugin), arguments=repr(list(arguments)),
                        listens=repr(list(listens)), application=", ".join(call))
    return _HEADER.format(version=__version__) + body + (_NAMES if names else "") + _TAIL
