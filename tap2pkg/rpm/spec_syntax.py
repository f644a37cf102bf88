"""rpm's spec language, as far as the native writer reads a ``.spec`` back (:mod:`tap2pkg.rpm.specfile`).

A spec is split into its preamble and its sections (:func:`split_sections`),
each line numbered for the refusals; as rpm does, only a line feed ends a line
(:func:`spec_lines`; CRLF is refused, :func:`check_line_ends`) and only rpm's
white space separates words (:func:`words`). ``%description`` and ``%changelog``
lose their ``#`` comments as rpm cuts them (:func:`description_text`,
:func:`parse_changelog`), and entries out of date order are refused
(:func:`check_changelog_order`, which both builders run). Values are expanded as rpm expands them:
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
#: rpm's white space (``risspace``): Python's str.split() and strip() also take \x1c-\x1f, U+0085, U+2028...
SPACE = " \t\n\v\f\r"
_WORD_BREAK = re.compile(f"[{re.escape(SPACE)}]+")
#: A line's first word when it is ``%`` and letters (a section's name is one), as rpm splits words.
_FIRST_WORD = re.compile(f"[{re.escape(SPACE)}]*(%[A-Za-z_]+)(?![^{re.escape(SPACE)}])")
#: A preamble tag line: the tag (``Requires(pre)`` included) and its value.
TAG = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:\([a-z]+\))?)[ \t\v\f\r]*:[ \t\v\f\r]*(.*)")
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


def words(line: str, limit: int = 0) -> list[str]:
    """``line``'s words as rpm splits them, at its white space only (at most ``limit`` splits when given)."""
    stripped = line.strip(SPACE)
    return _WORD_BREAK.split(stripped, maxsplit=limit) if stripped else []


def spec_lines(text: str) -> list[str]:
    """The spec's lines as rpm reads them: split at line feeds only (not at ``\\v``, ``\\f``, U+2028...)."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def check_line_ends(text: str, where: str) -> None:
    """Refuse CRLF line endings, which both builders would misread (rpmbuild fails in ``%prep``)."""
    for number, line in enumerate(spec_lines(text), start=1):
        if line.endswith("\r"):
            raise UnsupportedEditError(f"{where}:{number}: the line ends with a carriage return (CRLF line "
                                       "endings); save the spec with LF line endings")


def split_sections(text: str) -> tuple[list[tuple[int, str]], list[Section]]:
    """The preamble's numbered lines and the sections, each with its header and numbered body lines."""
    preamble: list[tuple[int, str]] = []
    sections: list[Section] = []
    for number, line in enumerate(spec_lines(text), start=1):
        first = _FIRST_WORD.match(line)  # the first word, when it may be a section's name
        if first and first[1] in _SECTIONS:
            sections.append(Section(line.rstrip(SPACE), number))
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
    tokens = words(value.replace(",", " "))
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


def _comment_cut(line: str) -> str:
    """``line`` as rpm reads it in a section: a comment (first non-blank ``#``) loses the ``#`` and all
    after it."""
    stripped = line.lstrip(SPACE)
    return line[:len(line) - len(stripped)] if stripped.startswith("#") else line


def description_text(body: list[tuple[int, str]], where: str) -> str:
    """``%description`` as rpm reads it: each line without its trailing blanks, then without its comment
    (a ``# ...`` line is blank, its leading blanks kept), the text without its trailing blanks."""
    lines = (_comment_cut(literal(line, f"{where}:{n}").rstrip(SPACE)) for n, line in body)
    return "\n".join(lines).rstrip(SPACE)


def _changelog_lines(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """``%changelog`` as rpm joins its lines: a comment line keeps only its leading blanks and loses its
    line end, so what is left of it starts the next line (a ``#`` line at column 0 vanishes)."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, line in body:
        cut = _comment_cut(line)
        joined = (pending[0], pending[1] + cut) if pending is not None else (number, cut)
        pending = joined if cut != line else None
        if pending is None:
            out.append(joined)
    if pending is not None:
        out.append(pending)
    return out


def _entry_time(line: str) -> int | None:
    """The time rpm reads from a ``* Www Mmm DD YYYY NAME`` line (noon UTC of that day), None when it
    does not read one."""
    parts = words(line[1:], 4)
    try:
        if len(parts) < 5 or parts[0] not in _DAYS:
            return None
        month, day, year = _MONTHS.index(parts[1]) + 1, int(parts[2]), int(parts[3])
        return (datetime.date(year, month, day).toordinal() - _EPOCH_ORDINAL) * 86400 + 43200
    except ValueError:  # an unknown month, not a number, an impossible date (Feb 30)
        return None


def check_changelog_order(body: list[tuple[int, str]], where: str) -> None:
    """Refuse a ``%changelog`` entry dated later than the one above it: rpmbuild keeps only the entries
    above it (``error: %changelog not in descending chronological order``) and still succeeds."""
    last: int | None = None
    for number, line in _changelog_lines(body):
        when = _entry_time(line) if line.startswith("*") else None
        if when is not None and last is not None and when > last:
            raise UnsupportedEditError(f"{where}:{number}: this %changelog entry is dated later than the one "
                                       "above it, and rpmbuild would drop it and every entry below; put the "
                                       "entries newest first")
        last = when if when is not None else last


def parse_changelog(body: list[tuple[int, str]], where: str) -> list[tuple[int, str, str]]:
    """``%changelog`` entries: (time rpm reads from the date, the rest of the ``*`` line, the text), read
    as rpm reads them (comments cut, see :func:`_changelog_lines`; the text without its blank ends)."""
    for number, line in body:  # a macro is expanded before the comment is cut: refuse one anywhere
        literal(line, f"{where}:{number}")
    check_changelog_order(body, where)
    entries: list[tuple[int, str, list[str]]] = []
    for number, line in _changelog_lines(body):
        if line.startswith("*"):
            when = _entry_time(line)
            if when is None:
                raise UnsupportedEditError(f"{where}:{number}: expected '* Www Mmm DD YYYY NAME'; fix the "
                                           "changelog entry")
            entries.append((when, literal(words(line[1:], 4)[4], f"{where}:{number}"), []))
        elif entries:
            entries[-1][2].append(literal(line, f"{where}:{number}"))
        elif line.strip(SPACE):
            raise UnsupportedEditError(f"{where}:{number}: text before the first '* ' entry; "
                                       "fix the changelog")
    return [(when, name, "\n".join(lines).strip(SPACE)) for when, name, lines in entries]


def is_owned(line: str) -> bool:
    """True for a preamble line whose value the native writer reads (a tag it owns, the packager)."""
    match = TAG.fullmatch(line.strip(SPACE))
    return line.startswith(PACKAGER) or bool(match and match[1].lower() in _OWNED_TAGS)


def fixed_lines(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines that must stay as tap2rpm wrote them: all but blank ones and comments without a macro."""
    return [(n, line.rstrip(SPACE)) for n, line in lines
            if line.strip(SPACE) and not (line.lstrip(SPACE).startswith("#") and "%" not in line)]


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
        marks = [i for i, (_n, line) in enumerate(body) if words(line, 1)[:1] in (["%if"], ["%else"],
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
        if line.lstrip(SPACE).startswith("%") and not line.lstrip(SPACE).startswith("%%"):
            raise refuse(f"{where}:{number}", f"{section.header}: the directive {words(line)[0]}")
        lines.append(literal(line, f"{where}:{number}"))
    return "\n".join(lines).rstrip(SPACE)

