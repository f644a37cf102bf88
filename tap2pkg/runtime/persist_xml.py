"""The ``xml`` format (``.tax``): the object tree as XML.

Schema (version 1)::

    <?xml version="1.0" encoding="utf-8"?>
    <application-file format="tap2pkg" version="1">
      <object class="tap2pkg.runtime.service:Application">
        <str name="name">echo</str>
        <none name="uid"/>
        <none name="gid"/>
        <list name="services">
          <object class="tap2pkg.runtime.internet:TCPServer">
            <int name="port">8000</int>
            <object name="factory" class="tap2pkg.runtime.service:Factory">
              <ref name="protocol" target="echoproto:Echo"/>
              <dict name="options"/>
            </object>
          </object>
        </list>
      </object>
    </application-file>

The root holds exactly one ``<object>``: the application. Value elements:

* ``<object class="module:qualname">`` -- a registered runtime class; each child is
  one constructor keyword argument, named by its ``name`` attribute;
* ``<ref target="module:qualname"/>`` -- your own code (a registered runtime object
  loads as itself);
* ``<list>``, ``<tuple>`` -- children in order; ``<dict>`` -- children carry a ``key``
  (``key-base64`` for a key holding characters XML cannot carry);
* ``<str>`` (text as is; ``encoding="base64"`` for text XML cannot hold, such as
  control characters or carriage returns), ``<bytes>`` (base64), ``<int>``,
  ``<float>`` (Python syntax, ``inf`` allowed), ``<bool>`` (``true``/``false``), ``<none/>``.

Loading uses expat directly and refuses any DOCTYPE (and so every entity
declaration: entity bombs, external entities) with
:class:`~tap2pkg.runtime.errors.UnsafeAppFileError`; no code is run and only
registered classes are built.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from .errors import AppFileError, UnsafeAppFileError, brief, clip
from .persist import (
    EXPECTED_APPLICATION,
    MAX_DEPTH,
    MAX_VALUES,
    SavedObject,
    build_object,
    ref_value,
    registered_class,
    twisted_application,
)
from .service import Ref

ROOT = "application-file"
VERSION = "1"
_INDENT = "  "
# characters XML 1.0 cannot carry, plus \r, which parsers turn into \n
_NEEDS_BASE64 = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|\r")
# characters no XML 1.0 document can carry, even as a character reference
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SCALARS = {"none", "bool", "int", "float", "str", "bytes", "ref"}
# the encodings expat decodes itself: any other name would hand the file's bytes to a Python codec
# (utf-7, rot13, idna...), which fails in its own ways or decodes what no .tax writer ever wrote
_ENCODINGS = {"utf-8", "utf-16", "utf-16be", "utf-16le", "iso-8859-1", "us-ascii"}
_CONTAINERS = {"object", "list", "tuple", "dict"}


# ---------------------------------------------------------------------------
# writing

def dumps_xml(tree: Any) -> bytes:
    """Render a tree from :func:`~tap2pkg.runtime.persist.to_tree` as a ``.tax`` file."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             f'<{ROOT} format="tap2pkg" version="{VERSION}">']
    _render(tree, "", 1, lines)
    lines.append(f"</{ROOT}>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _render(value: Any, attrs: str, depth: int, lines: list[str]) -> None:
    pad = _INDENT * depth
    if isinstance(value, SavedObject):
        open_tag = f"object{attrs} class={quoteattr(value.cls_key)}"
        children = [(f" name={quoteattr(field)}", v) for field, v in value.fields]
        tag = "object"
    elif isinstance(value, (list, tuple)):
        tag = "list" if isinstance(value, list) else "tuple"
        open_tag = tag + attrs
        children = [("", v) for v in value]
    elif isinstance(value, dict):
        tag = "dict"
        open_tag = tag + attrs
        children = [(_key_attr(k), v) for k, v in value.items()]
    else:
        lines.append(pad + _scalar(value, attrs))
        return
    if not children:
        lines.append(f"{pad}<{open_tag}/>")
        return
    lines.append(f"{pad}<{open_tag}>")
    for child_attrs, child in children:
        _render(child, child_attrs, depth + 1, lines)
    lines.append(f"{pad}</{tag}>")


def _key_attr(key: str) -> str:
    if _NOT_XML.search(key):
        return f' key-base64="{base64.b64encode(key.encode("utf-8", "surrogatepass")).decode("ascii")}"'
    return f" key={quoteattr(key)}"


def _scalar(value: Any, attrs: str) -> str:
    if value is None:
        return f"<none{attrs}/>"
    if isinstance(value, Ref):
        return f"<ref{attrs} target={quoteattr(value.target)}/>"
    if isinstance(value, bool):
        return f"<bool{attrs}>{'true' if value else 'false'}</bool>"
    if isinstance(value, int):
        return f"<int{attrs}>{int(value)}</int>"
    if isinstance(value, float):
        return f"<float{attrs}>{float(value)!r}</float>"
    if isinstance(value, str):
        if _NEEDS_BASE64.search(value):
            encoded = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")
            return f'<str{attrs} encoding="base64">{encoded}</str>'
        return f"<str{attrs}>{escape(value)}</str>"
    return f"<bytes{attrs}>{base64.b64encode(bytes(value)).decode('ascii')}</bytes>"


# ---------------------------------------------------------------------------
# reading

class _Node:
    """One parsed element: tag, attributes, text, children and the line it starts on."""

    __slots__ = ("attrs", "children", "line", "tag", "text")

    def __init__(self, tag: str, attrs: dict[str, str], line: int) -> None:
        self.tag = tag
        self.attrs = attrs
        self.line = line
        self.text: list[str] = []
        self.children: list[_Node] = []


def _parse(data: bytes, path: object) -> _Node:
    parser = expat.ParserCreate()
    stack: list[_Node] = []
    root: list[_Node] = []
    count = [0]

    def refuse_doctype(*_args: Any) -> None:
        raise UnsafeAppFileError(path, "refusing a DOCTYPE: .tax files may not declare entities or a DTD",
                                 line=parser.CurrentLineNumber)

    def refuse_entity(*_args: Any) -> None:
        raise UnsafeAppFileError(path, "refusing an entity declaration or external entity",
                                 line=parser.CurrentLineNumber)

    def start(tag: str, attrs: dict[str, str]) -> None:
        # bounded here, while parsing: the reader that follows recurses, and holds every element
        if len(stack) > MAX_DEPTH:  # the root element is not a level
            raise AppFileError(path, f"nested too deeply: more than {MAX_DEPTH} levels",
                               line=parser.CurrentLineNumber)
        count[0] += 1
        if count[0] > MAX_VALUES:
            raise AppFileError(path, f"too large: more than {MAX_VALUES} elements",
                               line=parser.CurrentLineNumber,
                               expected="large data in a file of its own, which the application reads")
        node = _Node(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def declaration(_version: str, encoding: str | None, _standalone: int) -> None:
        # called before expat looks the encoding up, so an unsupported one never reaches a codec
        if encoding is not None and encoding.lower() not in _ENCODINGS:
            raise AppFileError(path, f"the XML declaration names the encoding {brief(encoding)}, which a "
                               ".tax file cannot use", line=parser.CurrentLineNumber,
                               expected='encoding="utf-8": save the file as UTF-8')

    def text(chunk: str) -> None:
        if stack:
            stack[-1].text.append(chunk)

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_entity  # type: ignore[assignment]  # typeshed types this handler as returning int; ours raises
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.XmlDeclHandler = declaration
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise AppFileError(path, f"malformed XML: {expat.ErrorString(exc.code)}", line=exc.lineno) from None
    except (ValueError, LookupError) as exc:  # a text the encoding it declares cannot decode
        raise AppFileError(path, f"cannot decode it: {clip(str(exc))}", line=parser.CurrentLineNumber,
                           expected="UTF-8 text") from None
    return root[0]


def loads_xml(data: bytes, path: object) -> Any:
    """Build the application a ``.tax`` file describes, without running anything in it."""
    root = _parse(data, path)
    if root.tag == "instance" and root.attrs.get("class", "").startswith("twisted."):  # Twisted's old XML
        raise twisted_application(path, "xml", root.line)
    if root.tag != ROOT or root.attrs.get("format") != "tap2pkg":
        raise AppFileError(path, f"the root element is <{clip(root.tag)}>", line=root.line,
                           expected=f'<{ROOT} format="tap2pkg" version="{VERSION}">')
    if root.attrs.get("version") != VERSION:
        raise AppFileError(path, f"unsupported .tax version {brief(root.attrs.get('version'))}",
                           line=root.line,
                           expected=f'version="{VERSION}"')
    if not root.children:
        raise AppFileError(path, "no application defined", line=root.line,
                           expected=f"an <object> element inside <{ROOT}> ({EXPECTED_APPLICATION})")
    if len(root.children) > 1:
        raise AppFileError(path, "more than one top-level element", line=root.children[1].line,
                           expected="exactly one <object> element: the application")
    try:
        return _Reader(path).value(root.children[0])
    except RecursionError:
        raise AppFileError(path, "nested too deeply to load") from None


class _Reader:
    """Turns parsed elements into values, building only registered classes."""

    def __init__(self, path: object) -> None:
        self.path = path

    def error(self, node: _Node, problem: str, expected: str | None = None) -> AppFileError:
        return AppFileError(self.path, problem, line=node.line, expected=expected)

    def value(self, node: _Node) -> Any:
        if node.tag not in _SCALARS | _CONTAINERS:
            raise self.error(node, f"unknown element <{clip(node.tag)}>",
                             expected="one of " + ", ".join(f"<{t}>" for t in sorted(_SCALARS | _CONTAINERS)))
        if node.tag in _SCALARS and node.children:
            raise self.error(node, f"<{node.tag}> cannot have child elements")
        text = "".join(node.text)
        if node.tag in _CONTAINERS and text.strip():
            raise self.error(node, f"<{node.tag}> cannot hold text", expected="child elements only")
        try:
            return getattr(self, "read_" + node.tag)(node, text)
        except (ValueError, binascii.Error) as exc:
            if isinstance(exc, UnicodeDecodeError):
                raise self.error(node, f"<{node.tag}> holds invalid base64 text") from None
            problem = f"bad <{node.tag}> value {brief(text.strip())}: {clip(str(exc))}"
            raise self.error(node, problem) from None

    def attr(self, node: _Node, name: str) -> str:
        if name not in node.attrs:
            raise self.error(node, f"<{node.tag}> needs a {name!r} attribute")
        return node.attrs[name]

    def read_none(self, node: _Node, text: str) -> Any:
        if text.strip():
            raise self.error(node, "<none> cannot hold text")
        return None

    def read_bool(self, node: _Node, text: str) -> Any:
        words = {"true": True, "false": False}
        if text.strip() not in words:
            raise self.error(node, f"bad <bool> value {brief(text.strip())}", expected="true or false")
        return words[text.strip()]

    def read_int(self, node: _Node, text: str) -> Any:
        return int(text.strip())

    def read_float(self, node: _Node, text: str) -> Any:
        return float(text.strip())

    def read_str(self, node: _Node, text: str) -> Any:
        encoding = node.attrs.get("encoding")
        if encoding is None:
            return text
        if encoding != "base64":
            raise self.error(node, f"unknown <str> encoding {brief(encoding)}", expected='encoding="base64"')
        return base64.b64decode(text.strip(), validate=True).decode("utf-8", "surrogatepass")

    def read_bytes(self, node: _Node, text: str) -> Any:
        return base64.b64decode("".join(text.split()), validate=True)

    def read_ref(self, node: _Node, text: str) -> Any:
        return ref_value(self.attr(node, "target"), self.path, node.line)

    def read_list(self, node: _Node, text: str) -> Any:
        return [self.value(child) for child in node.children]

    def read_tuple(self, node: _Node, text: str) -> Any:
        return tuple(self.value(child) for child in node.children)

    def read_dict(self, node: _Node, text: str) -> Any:
        result = {}
        for child in node.children:
            if "key-base64" in child.attrs:
                try:
                    raw = base64.b64decode(child.attrs["key-base64"], validate=True)
                    key = raw.decode("utf-8", "surrogatepass")
                except ValueError:
                    raise self.error(child, "invalid key-base64 attribute") from None
            else:
                key = self.attr(child, "key")
            if key in result:
                raise self.error(child, f"duplicate key {brief(key)}")
            result[key] = self.value(child)
        return result

    def read_object(self, node: _Node, text: str) -> Any:
        cls = registered_class(self.attr(node, "class"), self.path, node.line)
        kwargs = {}
        for child in node.children:
            name = self.attr(child, "name")
            if name in kwargs:
                raise self.error(child, f"duplicate argument {brief(name)}")
            kwargs[name] = self.value(child)
        return build_object(cls, [], kwargs, self.path, node.line)
