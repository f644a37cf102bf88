"""Load and save an :class:`Application` in the four application-file formats.

========  ===============  ==================================================
kind      suffixes         what the file is
========  ===============  ==================================================
python    ``.tac .py``     Python that defines ``application``; *executed*
pickle    ``.tap``         a pickle, read by a restricted unpickler
source    ``.tas``         readable Python-syntax text, parsed with ``ast``
xml       ``.tax``         the same tree as XML, parsed without entities
========  ===============  ==================================================

The kind comes from the suffix unless the caller forces one (``-y/--type``);
the aliases ``tap``, ``tac``, ``py``, ``tas`` and ``tax`` are accepted too.

Only ``python`` files run code while loading -- that is their nature. The
other three never do: they may name only classes and callables registered
with :func:`~tap2pkg.runtime.service.persistable` (the runtime's own), and
reach the application's own code through :class:`~tap2pkg.runtime.service.Ref`,
which is imported only when the service runs. Anything else is refused with
:class:`~tap2pkg.runtime.errors.UnsafeAppFileError` before it can run.

:func:`save` writes a temporary file beside the target and renames it, so an
error never leaves a half-written file. Every problem is raised as an
:class:`~tap2pkg.runtime.errors.AppFileError` naming the file, the line where
known, and what was expected.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import sys
import traceback
import types
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .errors import (
    AppFileError,
    AppFileNotFoundError,
    OutputError,
    Tap2pkgError,
    UnsafeAppFileError,
    UsageError,
    brief,
    clip,
)
from .kinds import ALIASES, KINDS, SAVE_KINDS, TWISTD_OPTIONS
from .lazy import lazy_import
from .service import REGISTRY, Application, Persistable, Ref, qualified_name

if TYPE_CHECKING:
    import ast
    import pkgutil

    from . import persist_pickle, persist_source, persist_xml, reactors
else:  # imported on first use: a file loads only what its kind needs (the format modules import this one)
    ast = lazy_import("ast")
    pkgutil = lazy_import("pkgutil")
    persist_pickle = lazy_import("tap2pkg.runtime.persist_pickle")
    persist_source = lazy_import("tap2pkg.runtime.persist_source")
    persist_xml = lazy_import("tap2pkg.runtime.persist_xml")
    reactors = lazy_import("tap2pkg.runtime.reactors")

log = logging.getLogger("tap2pkg.persist")

PathLike = str | os.PathLike[str]

#: The module name the code of a ``python`` app file runs under.
PYTHON_APP_MODULE = "__tap2pkg_app__"

#: The pickle protocol of saved ``.tap`` files.
PICKLE_PROTOCOL = 4

#: The most values a ``.tap``/``.tas``/``.tax`` application may hold: objects, containers and
#: scalars, a value used in several places counted each time (as saving it again would write it).
MAX_VALUES = 100_000

#: The deepest nesting of objects and containers in a ``.tap``/``.tas``/``.tax`` application.
MAX_DEPTH = 100

#: The most characters (and bytes) of text a ``.tap``/``.tas``/``.tax`` application may hold, counted
#: the same way.
MAX_TEXT = 64 * 1024 * 1024

EXPECTED_APPLICATION = "a module-level variable named application"

_SUFFIXES = {suffix: kind for kind, suffixes in KINDS.items() for suffix in suffixes}
_registry_loaded = False


def ensure_registry() -> None:
    """Import the runtime modules that register classes (built-in services and plugins).

    Idempotent. A module that is missing or broken is skipped with a log line:
    the loaders then refuse files naming its classes, which is the safe outcome.
    """
    global _registry_loaded
    if _registry_loaded:
        return
    _registry_loaded = True
    names = ["tap2pkg.runtime.internet", "tap2pkg.runtime.client", "tap2pkg.runtime.process",
             "tap2pkg.runtime.timer"]
    try:
        plugins = importlib.import_module("tap2pkg.runtime.plugins")
    except ImportError:
        plugins = None
    if plugins is not None:
        prefix = "tap2pkg.runtime.plugins."
        names += [info.name for info in pkgutil.iter_modules(list(plugins.__path__), prefix)]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.debug("registry: %s not available (%s)", name, exc)
        except Exception as exc:  # noqa: BLE001 -- a broken plugin must not stop other files loading
            log.warning("registry: importing %s failed: %s", name, exc)


def normalize_kind(kind: str) -> str:
    """Return the canonical kind for ``kind`` or one of its aliases; :class:`UsageError` if unknown."""
    canonical = ALIASES.get(kind.lower())
    if canonical is None:
        raise UsageError(f"unknown application file type {kind!r}: use one of {describe_kinds()}")
    return canonical


def describe_kinds() -> str:
    """One line listing the kinds with their suffixes, for error messages and help texts."""
    return ", ".join(f"{kind} ({' '.join(suffixes)})" for kind, suffixes in KINDS.items())


def _suffix(path: PathLike) -> str:
    """The file name's last suffix, as ``pathlib.PurePath.suffix`` has it (without importing pathlib)."""
    name = os.path.basename(os.fspath(path).rstrip(os.sep))
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def detect_kind(path: PathLike, kind: str | None = None) -> str:
    """The kind of ``path``: ``kind`` (or its alias) when given, else taken from the suffix."""
    if kind:
        return normalize_kind(kind)
    suffix = _suffix(path).lower()
    found = _SUFFIXES.get(suffix)
    if found is None:
        raise AppFileError(path, f"cannot tell the app file type from the suffix {suffix or 'none'!r}",
                           expected=f"one of {describe_kinds()}; -y/--type forces a type")
    return found


# ---------------------------------------------------------------------------
# load

def load(path: PathLike, kind: str | None = None, *, search_path: Iterable[PathLike] = ()) -> Application:
    """Load the :class:`Application` saved in ``path``.

    For a ``python`` file only, the ``search_path`` directories are put in
    front of ``sys.path`` (made absolute, and left there so that the
    application's own code can be imported while it runs) just before the
    file runs. The other kinds never import anything, so they never touch
    ``sys.path``: ``search_path`` is ignored for them.
    """
    kind = detect_kind(path, kind)
    data = _read(path)
    if kind == "python":
        for directory in reversed([os.path.abspath(d) for d in search_path]):
            if directory not in sys.path:
                sys.path.insert(0, directory)
        value = _load_python(path, data)
    else:
        ensure_registry()
        if kind == "pickle":
            value = persist_pickle.loads_pickle(data, path)
        elif kind == "source":
            value = persist_source.loads_source(data, path)
        else:
            value = persist_xml.loads_xml(data, path)
        check_tree(value, path)
    return check_application(value, path)


def check_tree(value: Any, path: object) -> None:
    """Refuse a loaded value that is not a tree of bounded size: every later walk (saving, logging,
    inspecting) can then go through it in bounded time, without running out of stack.

    A pickle can share one list in many places, or put a list inside itself; a
    hand-written file can nest very deeply. The walk here is a loop, with
    bounds: :data:`MAX_VALUES` values (a shared one counted at every use),
    :data:`MAX_DEPTH` levels and :data:`MAX_TEXT` characters of text. Anything
    beyond them, or a value containing itself, is an :class:`AppFileError`.
    """
    values = text = 0
    inside: set[int] = set()  # ids of the containers between the root and the current value
    pending: list[tuple[Any, int, bool]] = [(value, 1, False)]
    while pending:
        item, depth, leaving = pending.pop()
        if leaving:
            inside.discard(id(item))
            continue
        values += 1
        if isinstance(item, (str, bytes)):
            text += len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            text += item.bit_length() // 8
        if values > MAX_VALUES or text > MAX_TEXT:
            size = f"{MAX_VALUES} values" if values > MAX_VALUES else f"{MAX_TEXT >> 20} MiB of text"
            raise AppFileError(path, f"too large: more than {size}, counting each use of a shared value",
                               expected="large data in a file of its own, which the application reads")
        if depth > MAX_DEPTH:
            raise AppFileError(path, f"nested too deeply: more than {MAX_DEPTH} levels")
        children = _children(item, path)
        if not children:
            continue
        if id(item) in inside:
            raise AppFileError(path, f"{brief(item)} contains itself",
                               expected="a tree of values: a saved application never refers back to itself")
        inside.add(id(item))
        pending.append((item, depth, True))
        pending.extend((child, depth + 1, False) for child in children)


def _children(item: Any, path: object) -> list[Any] | None:
    """The values directly inside ``item`` (``None`` for a scalar)."""
    if isinstance(item, Ref):
        return None
    if isinstance(item, Persistable):
        try:
            return list(item.persist_state().values())
        except Exception:  # noqa: BLE001 -- an object the file left half-built
            raise AppFileError(path, f"{brief(item)} object is incomplete",
                               expected="an application file written by tap2pkg or tapd") from None
    if isinstance(item, (list, tuple, set, frozenset)):
        return list(item)
    if isinstance(item, dict):
        return [part for pair in item.items() for part in pair]
    return None


def _read(path: PathLike) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as exc:
        raise AppFileNotFoundError(path, f"cannot read the application file: {exc.strerror or exc}",
                                   expected="an existing, readable file; check the path") from None


def twisted_application(path: object, kind: str, line: int | None = None) -> AppFileError:
    """The error for a Twisted application given to tapd, naming Twisted's runner and the packaging tools."""
    option = TWISTD_OPTIONS.get(kind)
    if option is None:  # a .tax: Twisted itself no longer reads XML
        how = "Twisted no longer reads its old XML form: save it as .tap or .tas with the Twisted of its time"
    else:
        how = f"run it with twistd (twistd3 on Debian) -n{option[1:]} {path}"
    return AppFileError(path, f"this is a Twisted application, which tapd cannot run; {how}, or package it "
                        "with tap2deb/tap2rpm, which run it under the distribution's Twisted", line=line)


def check_application(value: Any, path: object, line: int | None = None) -> Application:
    """Return ``value`` if it is an :class:`Application`; else an :class:`AppFileError` naming its type."""
    if not isinstance(value, Application):
        cls = type(value)
        if cls.__module__.partition(".")[0] == "twisted":  # twisted.application.service.Application()
            raise twisted_application(path, "python", line)
        name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
        found = "None" if value is None else f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"
        raise AppFileError(path, f"application is {found}, not an Application", line=line,
                           expected="application = Application(name=...)")
    return value


def _load_python(path: PathLike, data: bytes) -> Application:
    filename = os.fspath(path)
    try:
        code = compile(data, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise AppFileError(path, f"syntax error: {exc.msg}", line=exc.lineno) from None
    except ValueError as exc:  # null bytes, undecodable source
        raise AppFileError(path, f"not a Python file: {exc}") from None
    except (RecursionError, MemoryError):  # the compiler's own stack: an expression nested very deeply
        raise AppFileError(path, "nested too deeply to compile",
                           expected="a Python file as people write them") from None
    module = types.ModuleType(PYTHON_APP_MODULE)
    module.__file__ = filename
    sys.modules[PYTHON_APP_MODULE] = module
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 -- any failure of user code becomes one clear line
        line = None
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            if frame.f_code.co_filename == filename:
                line = lineno
        if reactors.tls_refusal(exc) is not None:  # ssl without tapd --tls: the message says what to do
            raise AppFileError(path, str(reactors.tls_refusal(exc)), line=line) from None
        if isinstance(exc, ImportError) and (exc.name or "").partition(".")[0] == "twisted":
            raise twisted_application(path, "python", line) from None
        hint = ""
        if isinstance(exc, ImportError):
            hint = "; put the directory of the application's own modules on the search path"
        raise AppFileError(path, f"running it raised {type(exc).__name__}: {exc}{hint}", line=line) from None
    if "application" not in module.__dict__:
        raise AppFileError(path, "no application defined", expected=EXPECTED_APPLICATION)
    value = module.__dict__["application"]
    return check_application(value, path, None if isinstance(value, Application) else _assigned_at(data))


def _assigned_at(data: bytes) -> int | None:
    """The line of the last module-level ``application = ...`` in Python source, if any."""
    line = None
    try:
        body = ast.parse(data).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for statement in body:
        targets = statement.targets if isinstance(statement, ast.Assign) else \
            [statement.target] if isinstance(statement, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "application" for t in targets):
            line = statement.lineno
    return line


# ---------------------------------------------------------------------------
# building objects from the safe formats (shared by pickle, source and xml)

def registered_class(key: str, path: object, line: int | None = None) -> type[Persistable]:
    """The registered persistable class named ``key`` ("module:qualname"); refuse anything else."""
    cls = REGISTRY.get(key)
    if not (isinstance(cls, type) and issubclass(cls, Persistable)):
        raise UnsafeAppFileError(
            path,
            f"refusing to build {clip(key)}: an application file may only build tap2pkg runtime classes",
            line=line, expected="a registered class, with your own code referenced as Ref('module:name')")
    return cls


def build_object(cls: type[Persistable], args: list[Any], kwargs: dict[str, Any], path: object,
                 line: int | None = None) -> Any:
    """``cls(*args, **kwargs)`` with any failure reported as an :class:`AppFileError` at ``line``."""
    try:
        return cls(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 -- a constructor may reject bad values any way it likes
        message = clip(exc.message if isinstance(exc, Tap2pkgError) else str(exc), 200)
        raise AppFileError(path, f"cannot build {cls.__name__}: {message}", line=line) from None


def ref_value(target: str, path: object, line: int | None = None) -> Any:
    """What ``Ref(target)`` loads as: the registered runtime object itself, else a :class:`Ref`."""
    if target in REGISTRY:
        return REGISTRY[target]
    try:
        return Ref(target)
    except ValueError as exc:
        raise AppFileError(path, str(exc), line=line) from None


# ---------------------------------------------------------------------------
# save

class SavedObject:
    """A persistable object reduced to its registered class name and constructor keywords."""

    __slots__ = ("cls_key", "fields")

    def __init__(self, cls_key: str, fields: tuple[tuple[str, Any], ...]) -> None:
        self.cls_key = cls_key
        self.fields = fields

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SavedObject):
            return NotImplemented
        return (self.cls_key, self.fields) == (other.cls_key, other.fields)

    def __hash__(self) -> int:
        return hash((self.cls_key, self.fields))

    def __repr__(self) -> str:
        return f"SavedObject(cls_key={self.cls_key!r}, fields={self.fields!r})"


SAVEABLE = ("None, bool, int, float, str, bytes, list, tuple, dict with str keys, "
            "tap2pkg runtime objects or Ref('module:name')")


def to_tree(value: Any, path: PathLike, where: str = "application") -> Any:
    """Check that ``value`` can be saved and reduce it to literals, :class:`SavedObject` and :class:`Ref`.

    Callables that are not registered become ``Ref("module:qualname")``.
    """
    # subclasses (enums, str subclasses) are saved as the plain value: loading may not name their class
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise AppFileError(path, f"cannot save {where}: NaN has no saved form", expected="a number")
        return float(value)
    if isinstance(value, Ref):
        return value
    if isinstance(value, Persistable):
        key = qualified_name(type(value))
        if REGISTRY.get(key) is not type(value):
            raise AppFileError(path, f"cannot save {where}: class {key} is not registered",
                               expected="a class decorated with @persistable")
        return SavedObject(key, tuple((field, to_tree(v, path, f"{where}.{field}"))
                                      for field, v in value.persist_state().items()))
    if isinstance(value, list):
        return [to_tree(v, path, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(to_tree(v, path, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise AppFileError(path, f"cannot save {where}: dict key {key!r} is not a str",
                                   expected="dicts with str keys")
        return {str(k): to_tree(v, path, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return Ref(callable_target(value, path, where))
    raise AppFileError(path, f"cannot save {where}: a {type(value).__qualname__} is not a saveable value",
                       expected=SAVEABLE)


def from_tree(tree: Any, path: object) -> Any:
    """Build objects back from a :func:`to_tree` tree (the inverse, as the safe loaders do it)."""
    if isinstance(tree, SavedObject):
        cls = registered_class(tree.cls_key, path)
        return build_object(cls, [], {field: from_tree(v, path) for field, v in tree.fields}, path)
    if isinstance(tree, Ref):
        return ref_value(tree.target, path)
    if isinstance(tree, list):
        return [from_tree(v, path) for v in tree]
    if isinstance(tree, tuple):
        return tuple(from_tree(v, path) for v in tree)
    if isinstance(tree, dict):
        return {k: from_tree(v, path) for k, v in tree.items()}
    return tree


def callable_target(obj: Any, path: object, where: str) -> str:
    """The ``"module:qualname"`` a saved file uses for a class or function; refuse ones nobody can import."""
    target = qualified_name(obj)
    module, _, qualname = target.partition(":")
    if "<" in qualname:
        raise AppFileError(path, f"cannot save {where}: {target} is a lambda or a nested definition",
                           expected="a class or function defined at the top level of a module")
    if module in (PYTHON_APP_MODULE, "__main__"):
        raise AppFileError(path, f"cannot save {where}: {qualname} is defined in the application file itself",
                           expected="it moved to a module of its own, included with the application")
    return target


def save(app: Application, path: PathLike, kind: str | None = None) -> None:
    """Save ``app`` to ``path`` as ``kind`` (default: from the suffix), atomically."""
    kind = detect_kind(path, kind)
    if kind not in SAVE_KINDS:
        raise AppFileError(path, f"cannot save an application as {kind}",
                           expected="a .tap, .tas or .tax file (-y pickle, source or xml)")
    check_application(app, path)
    ensure_registry()
    tree = to_tree(app, path)
    if kind == "pickle":
        # pickle a rebuilt copy: plain values only, so the file holds what .tas/.tax would
        data = persist_pickle.dumps_pickle(check_application(from_tree(tree, path), path), path)
    elif kind == "source":
        data = persist_source.dumps_source(tree)
    else:
        data = persist_xml.dumps_xml(tree)
    write_atomically(path, data)


def write_atomically(path: PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    target = os.fspath(path)
    temp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with open(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            if os.path.exists(target):
                os.chmod(temp, os.stat(target).st_mode & 0o7777)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose a writable file or directory",
                          ) from None
