"""rpm's spec language, as far as the native writer reads a ``.spec`` back (:mod:`tap2pkg.rpm.specfile`).

A spec is split into its preamble and its sections (:func:`split_sections`),
each line numbered for the refusals. Values are expanded as rpm expands them:
``%%`` is one ``%`` (:func:`literal`), a ``%global`` body is expanded twice
(:func:`global_literal`), and a ``%files`` path may use ``%{name}`` and the
directory macros of the generated spec (:func:`files_path`); any other macro is
refused. ``Requires:`` values (:func:`parse_requires`) and ``%changelog`` dates
(:func:`parse_changelog`) are read as rpm reads them. The lines the native
writer does not read must stay as tap2rpm wrote them: :func:`fixed_lines` and
:func:`compare_lines` find the first one changed, added or removed, and
:func:`scriptlet_body` reads a scriptlet around rpm's systemd macro branch.
Every refusal is :func:`refuse`'s one line naming the spec, the line and
``--builder rpmbuild`` (:class:`~tap2pkg.errors.UnsupportedEditError`, exit 91).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from ..errors import UnsupportedEditError
from .model import Dependency

#: Section names rpm knows; a line starting with one of them opens a section.
_SECTIONS = frozenset({
    "%description", "%package", "%prep", "%generate_buildrequires", "%conf", "%build", "%install", "%check",
    "%clean", "%pre", "%post", "%preun", "%postun", "%pretrans", "%posttrans", "%preuntrans",
    "%postuntrans", "%verifyscript", "%triggerprein", "%triggerin", "%triggerun", "%triggerpostun",
    "%filetriggerin", "%filetriggerun", "%filetriggerpostun", "%transfiletriggerin",
    "%transfiletriggerun", "%transfiletriggerpostun", "%files", "%changelog", "%sourcelist",
    "%patchlist"})
#: Tags whose value the native writer reads from the spec.
_OWNED_TAGS = frozenset({"name", "version", "release", "summary", "license", "url", "requires",
                         "requires(pre)", "provides"})
#: A preamble tag line: the tag (``Requires(pre)`` included) and its value.
TAG = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:\([a-z]+\))?)\s*:\s*(.*)")
#: The line that sets the packager: its body is a ``%global`` one.
PACKAGER = "%global packager "
#: The directory macros the generated spec uses, as Fedora (and the spec's fallbacks) define them.
_MACROS = {"_sysconfdir": "/etc", "_localstatedir": "/var", "_exec_prefix": "/usr",
           "_unitdir": "/usr/lib/systemd/system", "_sysusersdir": "/usr/lib/sysusers.d",
           "_tmpfilesdir": "/usr/lib/tmpfiles.d", "_defaultlicensedir": "/usr/share/licenses"}
_MACRO = re.compile(r"%\{([A-Za-z_][A-Za-z0-9_]*)\}|%%|%")
_OPERATORS = ("<=", ">=", "=", "<", ">")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def refuse(where: str, what: str) -> UnsupportedEditError:
    """The error for an edit the native writer cannot build: ``where`` (spec and line), ``what``, the fix."""
    return UnsupportedEditError(f"{where}: {what}; the native builder cannot build this edit: "
                                "build with --builder rpmbuild")


@dataclass(slots=True)
class Section:
    """One section of a spec: its header line as written, that line's number, its numbered body lines."""

    header: str
    line: int
    body: list[tuple[int, str]] = field(default_factory=list)


def split_sections(text: str) -> tuple[list[tuple[int, str]], list[Section]]:
    """The preamble's numbered lines and the sections, each with its header and numbered body lines."""
    preamble: list[tuple[int, str]] = []
    sections: list[Section] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if words and words[0] in _SECTIONS:
            sections.append(Section(line.rstrip(), number))
        elif sections:
            sections[-1].body.append((number, line))
        else:
            preamble.append((number, line))
    return preamble, sections


def literal(text: str, where: str) -> str:
    """``text`` as rpm expands it, when its only macro is ``%%``."""
    def expand(match: re.Match[str]) -> str:
        if match[0] != "%%":
            raise refuse(where, f"the macro {match[0]} is one it cannot expand")
        return "%"

    return _MACRO.sub(expand, text)


def global_literal(text: str, where: str) -> str:
    """A ``%global`` body as rpm expands it twice (``%%%%`` is one ``%``, ``\\\\`` one backslash)."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("%%%%", i):
            out.append("%")
            i += 4
        elif text.startswith("\\\\", i):
            out.append("\\")
            i += 2
        elif text[i] in "%\\":
            raise refuse(where, "a % or \\ in the %global packager is not escaped as tap2rpm writes it")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def files_path(text: str, name: str, where: str) -> str:
    """A ``%files`` path with the directory macros and ``%{name}`` expanded."""
    def expand(match: re.Match[str]) -> str:
        macro = match[1]
        if macro == "name":
            return name
        if macro in _MACROS:
            return _MACROS[macro]
        if match[0] == "%%":
            return "%"
        raise refuse(where, f"the macro {match[0]} is one it cannot expand")

    path = _MACRO.sub(expand, text)
    if not path.startswith("/") or "/../" in f"{path}/" or "*" in path or "?" in path:
        raise refuse(where, f"{text} is not a plain absolute path")
    return path.rstrip("/") or "/"


def parse_requires(value: str, where: str) -> list[Dependency]:
    """The capabilities of one ``Requires:`` value, as rpm reads them (``a >= 1, b`` or ``(a or b)``)."""
    value = literal(value, where)
    if value.startswith("("):
        if not value.endswith(")") or value.count("(") != value.count(")"):
            raise refuse(where, f"Requires: {value!r} is not one rich dependency")
        return [Dependency(value)]
    tokens = value.replace(",", " ").split()
    out = []
    i = 0
    while i < len(tokens):
        name = tokens[i]
        if name in _OPERATORS or name.startswith("(") or name.count("(") != name.count(")"):
            raise refuse(where, f"Requires: {value!r} is not 'NAME [OP VERSION]...'")
        if i + 1 < len(tokens) and tokens[i + 1] in _OPERATORS:
            if i + 2 >= len(tokens):
                raise refuse(where, f"Requires: {value!r} has an operator with no version")
            out.append(Dependency.parse(f"{name} {tokens[i + 1]} {tokens[i + 2]}", option=where))
            i += 3
        else:
            out.append(Dependency(name))
            i += 1
    return out


def parse_changelog(body: list[tuple[int, str]], where: str) -> list[tuple[int, str, str]]:
    """``%changelog`` entries: (time rpm reads from the date, the rest of the ``*`` line, the text)."""
    entries: list[tuple[int, str, list[str]]] = []
    for number, line in body:
        if line.startswith("*"):
            words = line[1:].split(None, 4)
            try:
                if len(words) < 5 or words[0] not in _DAYS:
                    raise ValueError
                month, day, year = _MONTHS.index(words[1]) + 1, int(words[2]), int(words[3])
                # noon UTC of that day, as rpm reads it; an impossible date (Feb 30) is a ValueError
                when = (datetime.date(year, month, day).toordinal() - _EPOCH_ORDINAL) * 86400 + 43200
            except ValueError:
                raise UnsupportedEditError(f"{where}:{number}: expected '* Www Mmm DD YYYY NAME'; fix the "
                                           "changelog entry") from None
            entries.append((when, literal(words[4].strip(), f"{where}:{number}"), []))
        elif entries:
            entries[-1][2].append(literal(line, f"{where}:{number}"))
        elif line.strip():
            raise UnsupportedEditError(f"{where}:{number}: text before the first '* ' entry; "
                                       "fix the changelog")
    return [(when, name, "\n".join(lines).rstrip()) for when, name, lines in entries]


def is_owned(line: str) -> bool:
    """True for a preamble line whose value the native writer reads (a tag it owns, the packager)."""
    match = TAG.fullmatch(line.strip())
    return line.startswith(PACKAGER) or bool(match and match[1].lower() in _OWNED_TAGS)


def fixed_lines(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines that must stay as tap2rpm wrote them: all but blank ones and comments without a macro."""
    return [(n, line.rstrip()) for n, line in lines
            if line.strip() and not (line.lstrip().startswith("#") and "%" not in line)]


def compare_lines(actual: list[tuple[int, str]], expected: list[tuple[int, str]], where: str,
                  what: str) -> None:
    """Refuse the first of ``actual``'s lines that is not ``expected``'s (changed, added or removed)."""
    for (number, got), (_n, want) in zip(actual, expected, strict=False):
        if got != want:
            raise refuse(f"{where}:{number}", f"{what} changed")
    if len(actual) > len(expected):
        raise refuse(f"{where}:{actual[len(expected)][0]}", f"{what}: a line added")
    if len(actual) < len(expected):
        last = actual[-1][0] if actual else 0
        raise refuse(f"{where}:{last}", f"{what}: a line removed ({expected[len(actual)][1].strip()!r})")


def scriptlet_body(section: Section, expected: Section, where: str) -> str:
    """A scriptlet as the native writer runs it: the ``%else`` fallback of rpm's macro branch, with the
    lines around the ``%if``."""
    def split(body: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], ...] | None:
        marks = [i for i, (_n, line) in enumerate(body) if line.strip().split()[:1] in (["%if"], ["%else"],
                                                                                       ["%endif"])]
        if not marks:
            return None
        if len(marks) != 3:
            raise refuse(f"{where}:{body[marks[0]][0]}", f"{section.header}: a %if it does not know")
        i, e, end = marks
        return body[:i], body[i:e + 1], body[e + 1:end], body[end:end + 1], body[end + 1:]

    got, want = split(section.body), split(expected.body)
    if want is None:
        if got is not None:
            raise refuse(where, f"{section.header}: a %if it does not know")
        kept = section.body
    else:
        if got is None:
            raise refuse(f"{where}:{section.line}", f"{section.header}: the %if of rpm's macros was removed")
        for part in (1, 3):  # the %if line, the macro branch and %else; %endif
            compare_lines(fixed_lines(got[part]), fixed_lines(want[part]), where,
                          f"{section.header}'s macro branch")
        kept = got[0] + got[2] + got[4]
    lines = []
    for number, line in kept:
        if line.lstrip().startswith("%") and not line.lstrip().startswith("%%"):
            raise refuse(f"{where}:{number}", f"{section.header}: the directive {line.split()[0]}")
        lines.append(literal(line, f"{where}:{number}"))
    return "\n".join(lines).rstrip()

