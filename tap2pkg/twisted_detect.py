"""Tell a Twisted application file from a bundled-runtime (tapd) one, without running it.

tap2deb and tap2rpm package an application for one of two runtimes: tapd,
the runtime bundled with tap2pkg, or the distribution's Twisted (``twistd``).
:func:`detect` reads the file and says which, with the evidence, and pulls out
what packaging needs -- the application's name, user and group, the ports it
listens on and the absolute paths it names -- as far as the file shows them
without being run:

* ``.tac``/``.py`` -- parsed with :mod:`ast`: an import of ``twisted`` makes it a
  Twisted application (an import of ``tap2pkg`` keeps it a tapd one). Ports come
  from literal (or module-level constant) arguments of server calls:
  ``TCPServer(8080, f)``, ``reactor.listenTCP(8080, f)``,
  ``TCP4ServerEndpoint(reactor, 8750)``, and server descriptions such as
  ``strports.service("tcp:79", f)`` or ``serverFromString(reactor, "tcp:port=80")``,
  also as the values of a literal dict (``{"telnetPort": "tcp:6023"}``), and a
  module-level ``LISTENS_ON = ["tcp:53"]`` (``mktap --twisted`` writes one).
  Clients (``TCPClient``, ``connectTCP``) listen on nothing and are left out.
* ``.tap`` -- a pickle, read opcode by opcode with :mod:`pickletools` and never
  unpickled: the objects it would build are mirrored as inert records (class
  name, arguments, state), so ``twisted.`` classes, the ``TCPServer`` ports and
  the ``Application``'s name, uid and gid can be read off them.
* ``.tas`` -- Twisted's AOT source form (``app = Ref(1, Instance('twisted...', ...))``),
  parsed with :mod:`ast` and mirrored the same way; never executed.
* ``.tax`` -- Twisted's old XML form ("marmalade": ``<instance class="twisted...">``,
  ``<dictionary>`` with ``role="key"`` children, ``<int value="8080"/>``, ...),
  parsed with expat with any DOCTYPE or entity refused.

Only the standard library is used, and Twisted is never imported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .runtime.lazy import lazy_import

if TYPE_CHECKING:
    from . import twisted_saved
    from .twisted_saved import SavedObject
else:  # imported on first use: the mirrors of saved files; inspecting a .tac (the common case) skips them
    twisted_saved = lazy_import("tap2pkg.twisted_saved")

__all__ = ["Detection", "detect", "detect_python", "looks_like_path"]

#: Server calls whose first argument is the port: ``internet.TCPServer(8080, f)``, ``reactor.listenTCP(...)``.
PORT_FIRST = frozenset({"TCPServer", "SSLServer", "UDPServer", "listenTCP", "listenSSL", "listenUDP"})
#: Server endpoints whose second argument (after the reactor) is the port.
ENDPOINT_PORT_SECOND = frozenset({"TCP4ServerEndpoint", "TCP6ServerEndpoint", "SSL4ServerEndpoint"})
#: Server description types that carry a port (``unix:`` and the rest carry none).
_PORT_TYPES = frozenset({"tcp", "tcp6", "ssl"})

#: The adapters of a Twisted Application (a Componentized): its service tree and its process (uid, gid).
_IFACE = {key: f"twisted.application.service.{name}" for key, name in (
    ("service", "IService"), ("collection", "IServiceCollection"), ("process", "IProcess"))}
_SERVER_CLASSES = frozenset(f"twisted.application.internet.{name}" for name in ("TCPServer", "SSLServer",
                                                                               "UDPServer"))
_ENDPOINT_CLASSES = frozenset(f"twisted.internet.endpoints.{name}" for name in ENDPOINT_PORT_SECOND)
_OLD_APPLICATION = "twisted.internet.app.Application"  # Twisted 1.x, in old .tap/.tax files
#: Modules whose globals a pickle names for its own mechanics, not the application's code.
_PLUMBING = frozenset({"twisted", "builtins", "__builtin__", "copyreg", "copy_reg", "_codecs", "zope",
                       "collections", "datetime", "decimal"})


@dataclass(frozen=True)
class Detection:
    """Which runtime an application file needs, why, and what it shows without running."""

    #: "twisted" (run with the distribution's twistd) or "tapd" (the bundled runtime)
    runtime: str
    #: one short phrase saying why, e.g. "imports twisted.application.service (line 3)"
    evidence: str
    app_name: str | None = None
    uid: int | str | None = None
    gid: int | str | None = None
    #: ports the application's servers listen on, as far as the file shows them literally
    ports: tuple[int, ...] = ()
    #: absolute filesystem paths the file names (they may not exist on the target)
    paths: tuple[str, ...] = ()
    #: "module:name" of code outside Twisted that a saved file names (the application's own)
    refs: tuple[str, ...] = ()


def looks_like_path(text: str) -> bool:
    """Whether a string from an app file looks like an absolute filesystem path (``/srv/www``)."""
    return (len(text) > 1 and text.startswith("/") and not text.startswith("//") and "://" not in text
            and text.isprintable() and not any(c.isspace() for c in text) and len(text) < 4096)


def _unique(items: Iterator[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


def _valid_port(value: object) -> int | None:
    return value if type(value) is int and 0 < value < 65536 else None


def detect(data: bytes, kind: str) -> Detection:
    """The :class:`Detection` for an app file's bytes of ``kind`` (python, pickle, source or xml).

    A file that cannot be read as its kind is reported as ``tapd``: the bundled
    runtime's loader then says precisely what is wrong with it.
    """
    if kind == "python":
        try:
            module = ast.parse(data)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return Detection("tapd", "not parseable as Python")
        return detect_python(module)
    if kind == "pickle":
        return _detect_saved(*twisted_saved.mirror_pickle(data), "pickle")
    if kind == "source":
        return _detect_saved(*twisted_saved.mirror_source(data), "AOT source")
    if kind == "xml":
        return _detect_saved(*twisted_saved.mirror_xml(data), "XML")
    raise ValueError(f"unknown application file kind {kind!r}")


# ---------------------------------------------------------------------------
# .tac / .py

def detect_python(module: ast.Module) -> Detection:
    """The :class:`Detection` of a parsed ``.tac``/``.py`` (name, uid and gid are left to the caller)."""
    twisted = tapd = None
    for node in ast.walk(module):
        names: list[str] = []
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.partition(".")[0]
            if top == "twisted" and twisted is None:
                twisted = f"imports {name} (line {line})"
            elif top == "tap2pkg" and tapd is None:
                tapd = f"imports {name} (line {line})"
    paths = _unique(_python_paths(module))
    if tapd is not None or twisted is None:
        return Detection("tapd", tapd or "imports nothing from twisted", paths=paths)
    constants = _module_constants(module)
    ports = sorted({*(port for node in ast.walk(module) if isinstance(node, ast.Call)
                      for port in _call_ports(node, constants)),
                    *(port for node in ast.walk(module) if isinstance(node, (ast.List, ast.Tuple))
                      for port in _option_ports(node)),
                    *(port for node in ast.walk(module) for port in _mapping_ports(node)),
                    *_stated_ports(module)})
    return Detection("twisted", twisted, ports=tuple(ports), paths=paths)


#: Options of Twisted plugins whose value is where the service listens (``twistd web --listen tcp:8080``).
LISTEN_OPTIONS = ("--listen", "--port", "-p")


def _option_ports(node: ast.List | ast.Tuple) -> Iterator[int]:
    """Ports in a literal command line of a Twisted plugin, e.g. the ``ARGUMENTS`` of a ``.tac`` that
    ``tap2pkg mktap --twisted`` wrote: ``["--listen", "tcp:8080"]`` or ``["--port=tcp:80"]``."""
    items = [n.value if isinstance(n, ast.Constant) and isinstance(n.value, str) else None for n in node.elts]
    for index, item in enumerate(items):
        if item is None:
            continue
        option, equals, value = item.partition("=")
        if option in LISTEN_OPTIONS and not equals:
            value = (items[index + 1] or "") if index + 1 < len(items) else ""
        elif not (option in LISTEN_OPTIONS and equals):
            continue
        port = description_port(value, old_style=True)
        if port is not None:
            yield port


#: The module-level name under which a ``.tac`` states where it listens, as server descriptions:
#: ``LISTENS_ON = ["tcp:53"]`` (``mktap --twisted`` writes it with the plugin's defaults).
STATED_LISTENS = "LISTENS_ON"


def _stated_ports(module: ast.Module) -> Iterator[int]:
    """Ports of a module-level ``LISTENS_ON = ["tcp:53", "ssl:port=443:..."]``."""
    for statement in module.body:
        if (isinstance(statement, ast.Assign) and isinstance(statement.value, (ast.List, ast.Tuple))
                and any(isinstance(t, ast.Name) and t.id == STATED_LISTENS for t in statement.targets)):
            for item in statement.value.elts:
                value = item.value if isinstance(item, ast.Constant) else None
                port = description_port(value, old_style=True)
                if port is not None:
                    yield port


def _mapping_ports(node: ast.AST) -> Iterator[int]:
    """Ports of server descriptions given as values of a literal dict or ``dict(...)`` call:
    ``manhole_tap.makeService({"telnetPort": "tcp:6023", ...})``.

    Only a description with its type and no ``host`` counts (``tcp:6023``, ``ssl:port=443:...``):
    a client's always names the host it connects to.
    """
    if isinstance(node, ast.Dict):
        values: list[ast.expr] = [v for k, v in zip(node.keys, node.values, strict=True) if k is not None]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        values = [item.value for item in node.keywords if item.arg is not None]
    else:
        return
    for value in values:
        text = value.value if isinstance(value, ast.Constant) else None
        if not isinstance(text, str) or any(part.strip().lower().startswith("host=")
                                            for part in re.split(r"(?<!\\):", text)):
            continue
        port = description_port(text, old_style=False)
        if port is not None:
            yield port


def _python_paths(module: ast.Module) -> Iterator[str]:
    skip = {id(part) for node in ast.walk(module) if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in ast.walk(module):  # docstrings are prose, not paths the application uses
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))
    found = [node for node in ast.walk(module) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and id(node) not in skip and looks_like_path(node.value)]
    for node in sorted(found, key=lambda n: (n.lineno, n.col_offset)):  # in the order the file has them
        yield str(node.value)


def _module_constants(module: ast.Module) -> dict[str, int | str]:
    """Module-level names bound once to an int or str literal (``PORT = 8080``)."""
    found: dict[str, int | str | None] = {}
    for statement in module.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                literal = value.value if isinstance(value, ast.Constant) else None
                usable = type(literal) in (int, str) and target.id not in found
                found[target.id] = literal if usable else None  # type: ignore[assignment]  # int or str here
    return {name: value for name, value in found.items() if value is not None}


def _value(node: ast.expr | None, constants: dict[str, int | str]) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    if len(call.args) > position and not any(isinstance(a, ast.Starred) for a in call.args[:position + 1]):
        return call.args[position]
    return None


def _call_ports(call: ast.Call, constants: dict[str, int | str]) -> Iterator[int]:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
    port: int | None = None
    if name in PORT_FIRST:
        port = _valid_port(_value(_argument(call, 0, "port"), constants))
    elif name in ENDPOINT_PORT_SECOND:
        port = _valid_port(_value(_argument(call, 1, "port"), constants))
    elif name == "serverFromString":
        port = description_port(_value(_argument(call, 1, "description"), constants), old_style=False)
    elif owner == "strports" and name in ("service", "listen"):
        port = description_port(_value(_argument(call, 0, "description"), constants), old_style=True)
    if port is not None:
        yield port


def description_port(description: object, *, old_style: bool) -> int | None:
    """The port a server description (``tcp:79``, ``tcp:port=8080:interface=::1``, ``ssl:443``) listens on.

    ``old_style`` accepts strports' deprecated bare ``"79"``; ``unix:`` and other types give None.
    """
    if not isinstance(description, str):
        return None
    parts = re.split(r"(?<!\\):", description)
    if old_style and len(parts) == 1 and parts[0].isdigit():
        return _valid_port(int(parts[0]))
    if len(parts) < 2 or parts[0].lower() not in _PORT_TYPES:
        return None
    positional = [p for p in parts[1:] if "=" not in p]
    keywords = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    text = keywords.get("port", positional[0] if positional else "")
    return _valid_port(int(text)) if text.isdigit() else None


# ---------------------------------------------------------------------------
# saved files: read off their inert mirror

def _detect_saved(root: Any, names: list[str], form: str) -> Detection:
    twisted = next((n for n in names if n.startswith("twisted.")), None)
    if twisted is None:
        return Detection("tapd", f"its {form} names no twisted class")
    values = list(twisted_saved.walk(root))
    name, uid, gid = _application_fields(twisted_saved.resolve(root), values)
    ports: set[int] = set()
    for value in values:
        if isinstance(value, twisted_saved.SavedObject):
            ports.update(_object_ports(value))
    paths = _unique(v for v in values if isinstance(v, str) and looks_like_path(v))
    refs = _unique(n.rpartition(".")[0] + ":" + n.rpartition(".")[2] for n in names
                   if n.partition(".")[0] not in _PLUMBING and "." in n)
    return Detection("twisted", f"its {form} names {twisted}", name, uid, gid, tuple(sorted(ports)), paths,
                     tuple(sorted(refs)))


_User = int | str | None


def _user(value: Any) -> _User:
    return value if type(value) in (int, str) else None


def _application_fields(root: Any, values: list[Any]) -> tuple[str | None, _User, _User]:
    state = twisted_saved.state_of(root)
    if isinstance(root, twisted_saved.SavedObject) and root.cls == _OLD_APPLICATION:
        name = state.get("name")
        return name if isinstance(name, str) else None, _user(state.get("uid")), _user(state.get("gid"))
    # Application() is a Componentized with adapters
    cache = twisted_saved.resolve(state.get("_adapterCache"))
    cache = cache if isinstance(cache, dict) else {}
    service = twisted_saved.state_of(twisted_saved.resolve(cache.get(_IFACE["service"])
                                                           or cache.get(_IFACE["collection"])))
    process = twisted_saved.state_of(twisted_saved.resolve(cache.get(_IFACE["process"])))
    name = service.get("name")
    if not isinstance(name, str):  # sob.Persistent keeps the name too
        name = next((twisted_saved.state_of(v).get("name") for v in values
                     if isinstance(v, twisted_saved.SavedObject)
                     and v.cls == "twisted.persisted.sob.Persistent"), None)
    return name if isinstance(name, str) else None, _user(process.get("uid")), _user(process.get("gid"))


def _object_ports(value: SavedObject) -> Iterator[int]:
    state = twisted_saved.state_of(value)
    if value.cls in _SERVER_CLASSES:
        args = twisted_saved.resolve(state.get("args"))
        if isinstance(args, (tuple, list)) and args:
            port = _valid_port(twisted_saved.resolve(args[0]))
            if port is not None:
                yield port
    elif value.cls in _ENDPOINT_CLASSES:
        port = _valid_port(state.get("_port"))
        if port is not None:
            yield port
    elif value.cls == _OLD_APPLICATION:
        for key in ("tcpPorts", "sslPorts", "udpPorts"):
            entries = twisted_saved.resolve(state.get(key))
            for entry in entries if isinstance(entries, list) else ():
                entry = twisted_saved.resolve(entry)
                if isinstance(entry, tuple) and entry:
                    port = _valid_port(twisted_saved.resolve(entry[0]))
                    if port is not None:
                        yield port
