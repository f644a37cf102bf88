"""Inspect an application file safely: its runtime, type, name, user, services, ports and the code it needs.

``tap2deb`` and ``tap2rpm`` call :func:`inspect` before they package a file.
It first tells which runtime the file needs (:mod:`tap2pkg.twisted_detect`):
a Twisted application (``runtime="twisted"``, run by the distribution's
``twistd``) is only read, in every format, and reported with what its file
shows -- a Twisted ``.tap`` is never unpickled. For the bundled runtime
(``runtime="tapd"``), ``.tap``, ``.tas`` and ``.tax`` files go through the
runtime's safe loaders, so nothing in the file runs and none of the
application's own code is imported. A ``.tac``/``.py`` file is Python, which
can only be known by running it; by default it is only parsed (its syntax and
its ``application = ...`` assignment are checked), and with
``execute_python=True`` a tapd one is run in a separate interpreter whose
findings come back as JSON (a Twisted one is still only parsed: tapd cannot
run it).

Parsing a Python file needs nothing from the runtime, so the runtime (and
the event loop library its services import) is only loaded for the other
kinds: ``tap2deb``/``tap2rpm`` start faster on a ``.tac``.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .runtime.errors import AppFileError, AppFileNotFoundError, UnsafeAppFileError, brief
from .runtime.kinds import KINDS
from .runtime.lazy import lazy_import

if TYPE_CHECKING:
    import json
    import subprocess

    from . import twisted_detect
    from .runtime import persist, service
    from .runtime.service import Application
else:  # imported on first use: a .tac is only parsed, so its build loads no runtime (see above)
    json = lazy_import("json")
    subprocess = lazy_import("subprocess")
    twisted_detect = lazy_import("tap2pkg.twisted_detect")
    persist = lazy_import("tap2pkg.runtime.persist")
    service = lazy_import("tap2pkg.runtime.service")

__all__ = ["AppInfo", "describe_kind", "inspect", "summarize"]

PathLike = str | os.PathLike[str]

#: Seconds a ``.tac`` may take to load when ``execute_python`` is set.
PYTHON_TIMEOUT = 30.0

_KIND_TEXT = {
    "python": "a Python file defining `application`; it runs when loaded",
    "pickle": "a pickled application, loaded by a restricted unpickler",
    "source": "the application as readable Python-syntax text, parsed and never run",
    "xml": "the application as XML, parsed without DTDs or entities",
}


@dataclass(frozen=True)
class AppInfo:
    """What an application file holds, as far as packaging needs to know."""

    path: Path
    kind: str
    app_name: str | None
    uid: int | str | None
    gid: int | str | None
    #: (class name, service name) of every service below the application, depth first
    services: tuple[tuple[str, str | None], ...]
    #: TCP/UDP ports the application's servers listen on (empty when unknown)
    ports: tuple[int, ...]
    #: "module:qualname" of the application's own code it references
    refs: tuple[str, ...]
    #: the runtime the file needs: "tapd" (the bundled runtime) or "twisted" (the distribution's twistd)
    runtime: str = "tapd"
    #: one short phrase saying why that runtime, e.g. "imports twisted.application.service (line 3)"
    evidence: str = field(default="", compare=False)
    #: absolute filesystem paths the file names, in order of appearance (they may not exist on the target)
    paths: tuple[str, ...] = ()


def describe_kind(kind: str) -> str:
    """One line saying what a kind (or alias) of application file is, with its suffixes."""
    canonical = persist.normalize_kind(kind)
    return f"{canonical} ({', '.join(KINDS[canonical])}): {_KIND_TEXT[canonical]}"


def inspect(path: PathLike, kind: str | None = None, *, search_path: Iterable[PathLike] = (),
            execute_python: bool = False, timeout: float = PYTHON_TIMEOUT) -> AppInfo:
    """Inspect ``path`` without running code from it (unless ``execute_python`` for a Python file).

    Raises :class:`AppFileError` (or one of its subclasses) when the file
    cannot be read, parsed, or trusted. A Twisted application is never run,
    whatever ``execute_python`` says.
    """
    if kind != "python":  # "python" is canonical: the runtime is not needed to check it
        kind = persist.detect_kind(path, kind)
        if kind != "python":
            found = twisted_detect.detect(_read(path), kind)
            if found.runtime == "twisted":
                return AppInfo(Path(path), kind, found.app_name, found.uid, found.gid, (), found.ports,
                               found.refs, "twisted", found.evidence, found.paths)
            # the safe loaders never import: no search path needed, and sys.path stays untouched
            app = persist.load(path, kind)
            return AppInfo(Path(path), kind, **summarize(app), evidence=found.evidence)
    if execute_python:
        found = twisted_detect.detect(_read(path), "python")
        if found.runtime == "tapd":
            info = _run_python(path, search_path, timeout)
            info["paths"] = tuple(dict.fromkeys((*found.paths, *info["paths"])))
            return AppInfo(Path(path), "python", **info, evidence=found.evidence)
    return _parse_python(path)


def summarize(app: Application) -> dict[str, Any]:
    """The :class:`AppInfo` fields (but ``path`` and ``kind``) for a loaded application."""
    below = [s for s in service.walk(app) if s is not app]
    services = tuple((type(s).__name__, s.name) for s in below)
    # a listening server has a port; a client (ClientService) has a host too and listens on nothing
    ports = sorted({port for port in (getattr(s, "port", None) for s in below if not hasattr(s, "host"))
                    if isinstance(port, int) and not isinstance(port, bool) and port > 0})
    return {"app_name": app.name, "uid": app.uid, "gid": app.gid, "services": services,
            "ports": tuple(ports), "refs": tuple(sorted(set(_refs(app)))),
            "paths": tuple(dict.fromkeys(_paths(app)))}


def _paths(value: Any) -> Iterator[str]:
    """Every absolute filesystem path named inside ``value`` (a loaded application)."""
    if isinstance(value, str):
        if twisted_detect.looks_like_path(value):
            yield value
    elif isinstance(value, service.Persistable):
        for item in value.persist_state().values():
            yield from _paths(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _paths(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _paths(item)


def _refs(value: Any) -> Iterator[str]:
    """Every reference to the application's own code inside ``value``."""
    if isinstance(value, service.Ref):
        if value.target not in service.REGISTRY:
            yield value.target
    elif isinstance(value, service.Persistable):
        for item in value.persist_state().values():
            yield from _refs(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)
    elif callable(value) and hasattr(value, "__module__") and hasattr(value, "__qualname__"):
        target = service.qualified_name(value)
        module = target.partition(":")[0]
        own = (persist.PYTHON_APP_MODULE, "__main__", "builtins")
        if target not in service.REGISTRY and module not in own:
            yield target


def _read(path: PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise AppFileNotFoundError(path, f"cannot read the application file: {exc.strerror or exc}",
                                   expected="an existing, readable file; check the path") from None


def _parse_python(path: PathLike) -> AppInfo:
    data = _read(path)
    try:
        module = ast.parse(data, filename=os.fspath(path))
    except SyntaxError as exc:
        raise AppFileError(path, f"syntax error: {exc.msg}", line=exc.lineno) from None
    except ValueError as exc:
        raise AppFileError(path, f"not a Python file: {exc}") from None
    except (RecursionError, MemoryError):  # the parser's own stack: an expression nested very deeply
        raise AppFileError(path, "nested too deeply to parse", expected="a Python file as people write them"
                           ) from None
    value: ast.expr | None = None
    for statement in module.body:
        if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "application" for t in statement.targets):
            value = statement.value
        elif (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
              and statement.target.id == "application" and statement.value is not None):
            value = statement.value
    if value is None:
        raise AppFileError(path, "no application defined", expected=persist.EXPECTED_APPLICATION)
    is_literal, literal_value = _literal(value, path)
    if is_literal:  # a literal is never an Application: this raises, naming what it is
        persist.check_application(literal_value, path, value.lineno)
    literal = _call_arguments(value, path)
    name = literal.get("name")
    uid, gid = literal.get("uid"), literal.get("gid")
    # what Application() itself refuses when the file runs, refused now
    if name is not None and not isinstance(name, str):
        raise AppFileError(path, f"the application's name must be a string, got {brief(name)}",
                           line=value.lineno)
    for what, number in (("uid", uid), ("gid", gid)):
        if not (number is None or isinstance(number, str) or (type(number) is int and number >= 0)):
            raise AppFileError(path, f"the application's {what} must be a user or group name or number, "
                               f"got {brief(number)}", line=value.lineno)
    found = twisted_detect.detect_python(module)
    return AppInfo(Path(path), "python", name, uid, gid, (), found.ports, (), found.runtime, found.evidence,
                   found.paths)


def _call_arguments(node: ast.expr, path: PathLike) -> dict[str, Any]:
    """Literal arguments of ``Application("name", uid=..., gid=...)``, as far as they are literals."""
    if not isinstance(node, ast.Call):
        return {}
    found: dict[str, Any] = {}
    for key, arg in zip(("name", "uid", "gid"), node.args, strict=False):
        found[key] = arg
    for keyword in node.keywords:
        if keyword.arg in ("name", "uid", "gid"):
            found[keyword.arg] = keyword.value
    result = {}
    for key, arg in found.items():
        is_literal, literal_value = _literal(arg, path)
        if is_literal:
            result[key] = literal_value
    return result


def _literal(node: ast.expr, path: PathLike) -> tuple[bool, Any]:
    """``(True, value)`` when ``node`` is a literal, ``(False, None)`` when it is not (only running
    the file can tell its value); :class:`AppFileError` for a literal that cannot be built, which
    running the file would fail on too (``{[]: 1}``, or one nested too deeply)."""
    try:
        return True, ast.literal_eval(node)
    except (ValueError, SyntaxError):
        return False, None
    except TypeError as exc:
        raise AppFileError(path, f"this value cannot be built: {exc}", line=node.lineno) from None
    except (RecursionError, MemoryError):
        raise AppFileError(path, "nested too deeply", line=node.lineno,
                           expected="a Python file as people write them") from None


# Runs in the child interpreter: load the .tac, print the summary (or the error) as JSON on the
# original stdout; the application's own prints go to stderr so they cannot corrupt it.
_CHILD = """
import json, os, sys
out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
path, package_root, search_path = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.append(package_root)
from tap2pkg.runtime import persist
from tap2pkg.runtime.errors import AppFileError
from tap2pkg.appfile import summarize
try:
    app = persist.load(path, "python", search_path=search_path)
    out.write(json.dumps({"info": summarize(app)}, default=repr))
except AppFileError as exc:
    out.write(json.dumps({"error": {"class": type(exc).__name__, "problem": exc.problem, "line": exc.line,
                                    "expected": exc.expected}}))
out.flush()
"""


def _run_python(path: PathLike, search_path: Iterable[PathLike], timeout: float) -> dict[str, Any]:
    if not Path(path).is_file():
        raise AppFileNotFoundError(path, "cannot read the application file: no such file",
                                   expected="an existing, readable file; check the path")
    package_root = str(Path(__file__).resolve().parent.parent)
    # -P: the working directory (a project being packaged) never goes on the child's sys.path
    command = [sys.executable, "-P", "-c", _CHILD, os.fspath(path), package_root,
               *[os.fspath(d) for d in search_path]]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AppFileError(path, f"loading it took longer than {timeout:g}s",
                           expected="an application file that only builds the application when loaded"
                           ) from None
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise AppFileError(path, f"loading it in a separate interpreter failed: {last}") from None
    if "error" in answer:
        error = answer["error"]
        cls = {"AppFileNotFoundError": AppFileNotFoundError,
               "UnsafeAppFileError": UnsafeAppFileError}.get(error["class"], AppFileError)
        raise cls(path, error["problem"], line=error["line"], expected=error["expected"])
    info = answer["info"]
    return {"app_name": info["app_name"], "uid": info["uid"], "gid": info["gid"],
            "services": tuple((c, n) for c, n in info["services"]), "ports": tuple(info["ports"]),
            "refs": tuple(info["refs"]), "paths": tuple(info["paths"])}
