"""Inert mirrors of Twisted's saved application files: what they would build, as plain records.

Twisted saves an application (``twisted.persisted.sob``) as a pickle (``.tap``)
or as AOT source (``.tas``); very old versions wrote XML (``.tax``, "marmalade").
Loading any of them runs code. The functions here read them without loading:
each object the file would build becomes a :class:`SavedObject` (class name,
constructor arguments, state), each class or function it names a
:class:`SavedName`, and back-references a :class:`BackReference`;
:func:`walk` then visits the mirror once per value, cycles included.

* :func:`mirror_pickle` follows the pickle's opcodes (:func:`pickletools.genops`)
  on a stack of its own: it never calls ``find_class`` or anything the pickle
  names, so nothing in the file runs and nothing is imported;
* :func:`mirror_source` reads the AOT constructors (``Instance``, ``Ref``,
  ``Deref``, ``Class``...) from the :mod:`ast` syntax tree, never executing it;
* :func:`mirror_xml` reads marmalade elements (``<instance class=...>``,
  ``<dictionary>`` with ``role="key"`` children, ``<int value=...>``,
  ``reference``/``<reference key=...>``) with expat, refusing any DOCTYPE or entity.

A file that is not in the expected form mirrors as ``(None, [])``. Standard
library only.
"""

from __future__ import annotations

import ast
import pickletools
import re
from collections.abc import Iterator
from typing import Any
from xml.parsers import expat

__all__ = ["MAX_WALK", "BackReference", "SavedName", "SavedObject", "mirror_pickle", "mirror_source",
           "mirror_xml", "resolve", "state_of", "walk"]

#: The most values of a mirror :func:`walk` visits: beyond it, the rest is not looked at.
MAX_WALK = 1_000_000

class SavedObject:
    """An object a saved file would build: its class (dotted name), constructor arguments and state."""

    __slots__ = ("args", "cls", "state")

    def __init__(self, cls: str, args: Any = (), state: Any = None) -> None:
        self.cls = cls
        self.args = args
        self.state = state


class SavedName:
    """A class, function or module a saved file names (dotted)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class BackReference:
    """A back-reference (AOT ``Deref(n)``, marmalade ``<reference key="n"/>``), looked up when read."""

    __slots__ = ("key", "table")

    def __init__(self, table: dict[Any, Any], key: Any) -> None:
        self.table = table
        self.key = key


def resolve(value: Any) -> Any:
    for _ in range(100):  # a chain of back-references is short; a loop of them is not followed
        if not isinstance(value, BackReference):
            return value
        value = value.table.get(value.key)
    return None


def state_of(value: Any) -> dict[Any, Any]:
    state = resolve(value.state) if isinstance(value, SavedObject) else None
    if isinstance(state, tuple) and len(state) == 2:  # pickle's (state, slotstate)
        state = {**(resolve(state[0]) or {}), **(resolve(state[1]) or {})} if all(
            isinstance(resolve(s), (dict, type(None))) for s in state) else None
    return state if isinstance(state, dict) else {}


def walk(root: Any) -> Iterator[Any]:
    """Every value reachable from ``root``, once each (shared and cyclic ones too), up to :data:`MAX_WALK`."""
    seen: set[int] = set()
    pending = [root]
    while pending and len(seen) < MAX_WALK:
        value = resolve(pending.pop())
        if id(value) in seen:
            continue
        seen.add(id(value))
        yield value
        if isinstance(value, SavedObject):
            pending += [value.args, value.state]
        elif isinstance(value, dict):
            pending += [*value.keys(), *value.values()]
        elif isinstance(value, (list, tuple, set, frozenset)):
            pending += list(value)


# ---- .tap: a pickle, mirrored opcode by opcode, never unpickled

_MARK = object()
_PUSH_ARG = frozenset({
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING", "SHORT_BINSTRING",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE",
    "BINUNICODE8", "FLOAT", "BINFLOAT"})
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_EMPTY: dict[str, Any] = {"EMPTY_TUPLE": tuple, "EMPTY_LIST": list, "EMPTY_DICT": dict, "EMPTY_SET": set}


def mirror_pickle(data: bytes) -> tuple[Any, list[str]]:
    """The inert mirror of what a pickle builds, and every global it names (dotted), in order."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    names: list[str] = []

    def pop_mark() -> list[Any]:
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1:]
                del stack[i:]
                return items
        raise ValueError("no MARK")

    def glob(module: Any, name: Any) -> SavedName:
        dotted = f"{module}.{name}"
        names.append(dotted)
        return SavedName(dotted)

    def obj(cls: Any, args: Any) -> SavedObject:
        if isinstance(cls, SavedName) and cls.name in ("copyreg._reconstructor", "copy_reg._reconstructor") \
                and isinstance(args, tuple) and args and isinstance(args[0], SavedName):
            cls, args = args[0], args[1:]  # how protocols 0 and 1 make an instance
        return SavedObject(cls.name if isinstance(cls, SavedName) else "?", args)

    try:
        for opcode, arg, _pos in pickletools.genops(data):
            op = opcode.name
            if op in _PUSH_ARG:
                stack.append(arg)
            elif op in _CONSTANTS:
                stack.append(_CONSTANTS[op])
            elif op == "MARK":
                stack.append(_MARK)
            elif op in _EMPTY:
                stack.append(_EMPTY[op]())
            elif op in ("TUPLE1", "TUPLE2", "TUPLE3"):
                size = int(op[-1])
                items = stack[-size:]
                del stack[-size:]
                stack.append(tuple(items))
            elif op == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif op == "LIST":
                stack.append(pop_mark())
            elif op == "FROZENSET":
                stack.append(frozenset(i for i in pop_mark() if _hashable(i)))
            elif op == "DICT":
                items = pop_mark()
                stack.append(_pairs({}, items))
            elif op in ("APPEND", "APPENDS", "ADDITEMS"):
                items = pop_mark() if op != "APPEND" else [stack.pop()]
                target = stack[-1]
                if isinstance(target, list):
                    target.extend(items)
                elif isinstance(target, set):
                    target.update(i for i in items if _hashable(i))
            elif op in ("SETITEM", "SETITEMS"):
                items = pop_mark() if op == "SETITEMS" else [stack.pop(-2), stack.pop()]
                if isinstance(stack[-1], dict):
                    _pairs(stack[-1], items)
            elif op == "GLOBAL":
                module, _, name = str(arg).partition(" ")
                stack.append(glob(module, name))
            elif op == "STACK_GLOBAL":
                name, module = stack.pop(), stack.pop()
                stack.append(glob(module, name))
            elif op in ("REDUCE", "NEWOBJ"):
                args = stack.pop()
                stack.append(obj(stack.pop(), args))
            elif op == "NEWOBJ_EX":
                kwargs, args = stack.pop(), stack.pop()
                stack.append(obj(stack.pop(), (args, kwargs)))
            elif op == "OBJ":
                items = pop_mark()
                stack.append(obj(items[0], tuple(items[1:])))
            elif op == "INST":
                module, _, name = str(arg).partition(" ")
                stack.append(obj(glob(module, name), tuple(pop_mark())))
            elif op == "BUILD":
                state = stack.pop()
                if isinstance(stack[-1], SavedObject):
                    stack[-1].state = state
            elif op in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg or 0)] = stack[-1]
            elif op == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif op in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(int(arg or 0)))
            elif op == "POP":
                stack.pop()
            elif op == "POP_MARK":
                pop_mark()
            elif op == "DUP":
                stack.append(stack[-1])
            elif op in ("PERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER"):
                stack.append(None)
            elif op == "BINPERSID":
                stack[-1] = None
            elif op == "STOP":
                break
    except (ValueError, IndexError, KeyError, TypeError, MemoryError, RecursionError):
        return None, []  # not a pickle tapd or Twisted could load: the loader says what is wrong
    return (stack[-1] if stack else None), names


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:  # a key no real dict could hold: the mirror leaves it out
        return False
    return True


def _pairs(target: dict[Any, Any], items: list[Any]) -> dict[Any, Any]:
    for key, value in zip(items[::2], items[1::2], strict=False):
        if _hashable(key):
            target[key] = value
    return target


# ---- .tas: Twisted's AOT source form, parsed, never executed

def mirror_source(data: bytes) -> tuple[Any, list[str]]:
    try:
        module = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None, []
    root: ast.expr | None = None
    for statement in module.body:
        if isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "app"
                                                     for t in statement.targets):
            root = statement.value
    if root is None:
        return None, []
    reader = _AotReader()
    try:
        return reader.value(root), reader.names
    except RecursionError:
        return None, reader.names


class _AotReader:
    """Mirrors the AOT constructors (``Instance``, ``Ref``, ``Deref``, ``Class``...) from the syntax tree."""

    def __init__(self) -> None:
        self.refs: dict[Any, Any] = {}
        self.names: list[str] = []

    def value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand,
                                                                                          ast.Constant):
            number = node.operand.value
            return -number if isinstance(number, (int, float)) else None
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.value(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            pairs = zip(node.keys, node.values, strict=True)
            return _pairs({}, [part for key, item in pairs if key is not None
                               for part in (self.value(key), self.value(item))])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.call(node.func.id, node)
        return None

    def call(self, name: str, node: ast.Call) -> Any:
        args = [self.value(arg) for arg in node.args]
        first = args[0] if args and isinstance(args[0], str) else None
        if name in ("Class", "Function", "Module") and first is not None:
            self.names.append(first)
            return SavedName(first)
        if name == "Instance" and first is not None:
            self.names.append(first)
            state = args[1] if len(args) > 1 else {k.arg: self.value(k.value) for k in node.keywords if k.arg}
            return SavedObject(first, (), state)
        if name == "InstanceMethod" and len(args) == 3 and isinstance(args[1], str):
            self.names.append(args[1])
            return SavedObject(args[1], (), {"__self__": args[2]})
        if name == "Ref" and len(args) == 2:
            self.refs[args[0]] = args[1]
            return args[1]
        if name == "Deref" and len(args) == 1:
            return BackReference(self.refs, args[0])
        if name == "Copyreg" and len(args) == 2 and isinstance(args[0], str):
            self.names.append(args[0])
            return SavedObject(args[0], args[1])
        return None


# ---- .tax: Twisted's old XML form (marmalade), parsed without DTDs or entities

class _Element:
    __slots__ = ("attrs", "children", "tag")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[_Element] = []


def mirror_xml(data: bytes) -> tuple[Any, list[str]]:
    parser = expat.ParserCreate()
    stack: list[_Element] = []
    roots: list[_Element] = []

    def refuse(*_args: Any) -> None:
        raise ValueError("DOCTYPE or entity")

    def start(tag: str, attrs: dict[str, str]) -> None:
        if len(stack) > 200:
            raise ValueError("too deep")
        element = _Element(tag, attrs)
        (stack[-1].children if stack else roots).append(element)
        stack.append(element)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]  # typeshed wants an int result; ours raises
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda _tag: stack.pop()
    try:
        parser.Parse(data, True)
    except (expat.ExpatError, ValueError, LookupError):  # LookupError: an encoding Python does not know
        return None, []  # tapd's own XML loader says what is wrong
    if not roots or roots[0].tag == "application-file":  # tapd's own format
        return None, []
    reader = _MarmaladeReader()
    try:
        return reader.value(roots[0]), reader.names
    except RecursionError:
        return None, reader.names


class _MarmaladeReader:
    """Mirrors marmalade elements: ``<instance class=...>``, ``<dictionary>``, ``<int value=...>``..."""

    def __init__(self) -> None:
        self.refs: dict[Any, Any] = {}
        self.names: list[str] = []

    def value(self, element: _Element) -> Any:
        tag, attrs = element.tag, element.attrs
        text = attrs.get("value", "")
        result: Any = None
        if tag in ("int", "longint"):
            result = int(text) if re.fullmatch(r"-?\d{1,20}", text) else None
        elif tag in ("string", "unicode"):
            result = text
        elif tag == "bool":
            result = text not in ("", "0")
        elif tag in ("class", "module", "function") and "name" in attrs:
            self.names.append(attrs["name"])
            result = SavedName(attrs["name"])
        elif tag in ("instance", "method", "copyreg"):
            cls = attrs.get("class") or attrs.get("loadfunc") or "?"
            self.names.append(cls)
            inner = [self.value(child) for child in element.children]
            result = SavedObject(cls, (), inner[0] if inner else None)
        elif tag in ("list", "tuple"):
            items = [self.value(child) for child in element.children]
            result = items if tag == "list" else tuple(items)
        elif tag == "dictionary":
            result = _pairs({}, [self.value(child) for child in element.children])
        elif tag == "reference":
            result = BackReference(self.refs, attrs.get("key"))
        if "reference" in attrs:
            self.refs[attrs["reference"]] = result
        return result
