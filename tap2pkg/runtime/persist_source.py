"""The ``source`` format (``.tas``): the object tree as readable, hand-editable Python syntax.

A ``.tas`` file is one assignment::

    # tap2pkg application file (source format 1)
    application = Application(
        name='echo',
        uid=None,
        gid=None,
        services=[
            TCPServer(
                name='echo-tcp',
                port=8000,
                factory=Factory(
                    protocol=Ref('echoproto:Echo'),
                    options={},
                ),
            ),
        ],
    )

It looks like Python but is never run: it is parsed with :mod:`ast` and only
these constructs are accepted -- calls of registered runtime classes (by their
name, or ``module.Name`` when two share a name), ``Ref('module:name')``,
and literals: strings, bytes, numbers (negative ones too), ``True``,
``False``, ``None``, lists, tuples and dicts with string keys. A ``Ref`` to a
registered runtime object loads as that object. Anything else -- other names,
attribute access, other calls, lambdas, f-strings, imports, comprehensions --
is refused with :class:`~tap2pkg.runtime.errors.UnsafeAppFileError` and its line.
"""

from __future__ import annotations

import ast
from typing import Any

from .errors import AppFileError, UnsafeAppFileError, clip
from .persist import (
    EXPECTED_APPLICATION,
    MAX_DEPTH,
    SavedObject,
    build_object,
    check_application,
    ref_value,
    registered_class,
    twisted_application,
)
from .service import REGISTRY, Persistable, Ref

HEADER = ("# tap2pkg application file (source format 1).\n"
          "# Edit freely: it is parsed, never run. Allowed: the runtime classes below, Ref('module:name')\n"
          "# for your own code, and literals (str, bytes, numbers, True/False/None, lists, tuples, dicts).\n")

_INDENT = "    "
_INLINE_WIDTH = 80


def _class_names() -> dict[str, str]:
    """Registered persistable class key -> the name a ``.tas`` file calls it by."""
    classes = {key: cls for key, cls in REGISTRY.items()
               if isinstance(cls, type) and issubclass(cls, Persistable) and cls is not Ref}
    short: dict[str, list[str]] = {}
    for key in classes:
        short.setdefault(key.partition(":")[2], []).append(key)
    names = {}
    for key in classes:
        module, _, qualname = key.partition(":")
        names[key] = qualname if len(short[qualname]) == 1 else f"{module}.{qualname}"
    return names


# ---------------------------------------------------------------------------
# writing

def dumps_source(tree: Any) -> bytes:
    """Render a tree from :func:`~tap2pkg.runtime.persist.to_tree` as a ``.tas`` file."""
    names = _class_names()
    return (HEADER + "application = " + _render(tree, 0, names) + "\n").encode("utf-8")


def _render(value: Any, depth: int, names: dict[str, str]) -> str:
    inner = _INDENT * (depth + 1)
    if isinstance(value, SavedObject):
        if not value.fields:
            return f"{names[value.cls_key]}()"
        lines = [f"{inner}{field}={_render(v, depth + 1, names)}," for field, v in value.fields]
        return f"{names[value.cls_key]}(\n" + "\n".join(lines) + f"\n{_INDENT * depth})"
    if isinstance(value, Ref):
        return f"Ref({value.target!r})"
    if isinstance(value, (list, tuple, dict)):
        inline = _render_inline(value)
        if inline is not None and len(inline) + len(inner) <= _INLINE_WIDTH:
            return inline
        open_, close = "[]" if isinstance(value, list) else "()" if isinstance(value, tuple) else "{}"
        if isinstance(value, dict):
            lines = [f"{inner}{k!r}: {_render(v, depth + 1, names)}," for k, v in value.items()]
        else:
            lines = [f"{inner}{_render(v, depth + 1, names)}," for v in value]
        return open_ + "\n" + "\n".join(lines) + f"\n{_INDENT * depth}" + close
    return _scalar(value)


def _render_inline(value: Any) -> str | None:
    """A one-line form for containers of scalars, else ``None``."""
    if isinstance(value, dict):
        items = list(value.values())
    else:
        items = list(value)
    if any(isinstance(v, (SavedObject, Ref, list, tuple, dict)) for v in items):
        return None
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_scalar(v)}" for k, v in value.items()) + "}"
    body = ", ".join(_scalar(v) for v in value)
    if isinstance(value, tuple):
        return "(" + body + ("," if len(value) == 1 else "") + ")"
    return "[" + body + "]"


def _scalar(value: Any) -> str:
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "1e999" if value > 0 else "-1e999"  # inf is not a literal; 1e999 parses to it
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        return repr(str(value))
    return repr(bytes(value))


# ---------------------------------------------------------------------------
# reading

def loads_source(data: bytes, path: object) -> Any:
    """Build the application a ``.tas`` file describes, without running anything in it."""
    try:
        module = ast.parse(data, filename=str(path))
    except SyntaxError as exc:
        raise AppFileError(path, f"syntax error: {exc.msg}", line=exc.lineno) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise AppFileError(path, f"not a text file: {exc}") from None
    except (RecursionError, MemoryError):
        raise AppFileError(path, "nested too deeply to parse") from None
    value: Any = None
    found = False
    for statement in module.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(
                statement.value.value, str):
            continue  # a docstring
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == "application"):
            if found:
                raise AppFileError(path, "application is assigned twice", line=statement.lineno)
            try:
                value = _Builder(path).build(statement.value)
            except RecursionError:
                raise AppFileError(path, "nested too deeply to load", line=statement.lineno) from None
            check_application(value, path, statement.lineno)
            found = True
            continue
        if isinstance(statement, ast.Assign) and _is_twisted_aot(statement):
            raise twisted_application(path, "source", statement.lineno)
        if isinstance(statement, ast.Assign):
            raise AppFileError(path, "only `application = ...` may be assigned in a .tas file",
                               line=statement.lineno)
        raise UnsafeAppFileError(path, f"refusing {_what(statement)}: a .tas file holds only "
                                 "`application = ...`", line=statement.lineno)
    if not found:
        raise AppFileError(path, "no application defined", expected=EXPECTED_APPLICATION)
    return value


def _is_twisted_aot(statement: ast.Assign) -> bool:
    """Whether ``statement`` is Twisted's AOT form: ``app = Ref(1, Instance('twisted...', ...))``."""
    if not any(isinstance(t, ast.Name) and t.id == "app" for t in statement.targets):
        return False
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id in ("Instance", "Class") and node.args
               and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("twisted.")
               for node in ast.walk(statement.value))


def _what(node: ast.AST) -> str:
    return {ast.Import: "an import", ast.ImportFrom: "an import", ast.Call: "a call",
            ast.Attribute: "attribute access", ast.Name: "a name", ast.Lambda: "a lambda",
            ast.JoinedStr: "an f-string", ast.FunctionDef: "a function definition",
            ast.ClassDef: "a class definition"}.get(type(node), f"a {type(node).__name__} construct")


class _Builder:
    """Turns the allowed expression nodes into values; refuses everything else."""

    def __init__(self, path: object) -> None:
        self.path = path
        self.by_name = {name: key for key, name in _class_names().items()}
        self.depth = 0

    def refuse(self, node: ast.AST, why: str = "") -> UnsafeAppFileError:
        line = getattr(node, "lineno", None)
        return UnsafeAppFileError(self.path, f"refusing {_what(node)}{why}: a .tas file may only hold "
                                  "runtime classes, Ref('module:name') and literals", line=line)

    def build(self, node: ast.expr) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise AppFileError(self.path, f"nested too deeply: more than {MAX_DEPTH} levels",
                                   line=node.lineno)
            return self._build(node)
        finally:
            self.depth -= 1

    def _build(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            if node.value is Ellipsis or isinstance(node.value, complex):
                raise self.refuse(node)
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) and isinstance(
                node.operand, ast.Constant) and type(node.operand.value) in (int, float):
            number: int | float = node.operand.value  # type: ignore[assignment]  # checked just above
            return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, ast.List):
            return [self.build(item) for item in self._items(node.elts)]
        if isinstance(node, ast.Tuple):
            return tuple(self.build(item) for item in self._items(node.elts))
        if isinstance(node, ast.Dict):
            result = {}
            for key, item in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise self.refuse(item, " (** in a dict)")
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    raise AppFileError(self.path, "dict keys must be strings", line=key.lineno)
                result[key.value] = self.build(item)
            return result
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.refuse(node)

    def _items(self, items: list[ast.expr]) -> list[ast.expr]:
        for item in items:
            if isinstance(item, ast.Starred):
                raise self.refuse(item, " (* unpacking)")
        return items

    def call(self, node: ast.Call) -> Any:
        name = self._dotted(node.func)
        if name is None:
            raise UnsafeAppFileError(self.path, f"refusing a call to {clip(ast.unparse(node.func))}: only "
                                     "runtime classes and Ref('module:name') may be called", line=node.lineno)
        args = [self.build(arg) for arg in self._items(node.args)]
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.refuse(keyword.value, " (** arguments)")
            kwargs[keyword.arg] = self.build(keyword.value)
        if name == "Ref":
            if len(args) != 1 or kwargs or not isinstance(args[0], str):
                raise AppFileError(self.path, "Ref takes one string: Ref('module:name')", line=node.lineno)
            return ref_value(args[0], self.path, node.lineno)
        key = self.by_name.get(name)
        if key is None and "." not in name:
            twins = sorted(n for n in self.by_name if n.endswith(f".{name}"))
            if len(twins) > 1:
                raise AppFileError(self.path,
                                   f"{clip(name)} is ambiguous: several runtime classes have that name",
                                   line=node.lineno, expected=" or ".join(twins))
        if key is None:
            raise UnsafeAppFileError(self.path,
                                     f"refusing a call to {clip(name)}: not a tap2pkg runtime class",
                                     line=node.lineno,
                                     expected=f"one of {', '.join(sorted(self.by_name))}, or Ref()")
        cls = registered_class(key, self.path, node.lineno)
        return build_object(cls, args, kwargs, self.path, node.lineno)

    def _dotted(self, node: ast.expr) -> str | None:
        """``Name`` or ``a.b.Name`` as a string (looked up, never evaluated)."""
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            base = self._dotted(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None
