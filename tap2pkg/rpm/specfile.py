"""Read an emitted ``.spec`` (and the sources beside it) back: what the native ``.rpm`` writer builds from.

``tap2rpm`` writes ``<pkg>.spec`` with its sources (``<pkg>-<version>.tar.gz``,
the unit, the sysusers file...) into the output directory; a packager may
edit them. :func:`read_spec_dir` reads the values the native writer owns, as
``rpmbuild`` would expand them, so an edit lands in the ``.rpm`` whichever
builder runs:

* the tags ``Name`` (unchanged), ``Version``, ``Release``, ``Summary``,
  ``License``, ``URL``, ``Requires`` and the ``%global packager``;
* ``%description``;
* the scriptlets ``%pre``, ``%post``, ``%preun``, ``%postun`` as the native
  writer runs them: the lines outside the ``%if`` of rpm's systemd macros and
  its ``%else`` fallback (the macro branch itself must stay as written);
* the ``%files`` entries (``%dir``, ``%config``, ``%config(noreplace)``,
  ``%attr``), applied to what the unchanged ``%install`` puts in the
  buildroot: ``lib/`` and the app file from the tarball, each ``SourceN``
  from its file beside the spec;
* ``%changelog``.

Values are read as rpm expands them: ``%%`` is one ``%``, and the
``%global packager`` body, expanded twice, has ``%%%%`` for one ``%`` and
``\\\\`` for one backslash (see :func:`tap2pkg.rpm.source.spec_escape` and
:func:`~tap2pkg.rpm.source.global_escape`); any other macro is refused, as
is every other edit: a changed tag, ``%prep``, ``%build`` or ``%install``, a
new section, a ``%files`` directive it does not implement. The refusal is
one line naming the spec, the line and ``--builder rpmbuild``
(:class:`~tap2pkg.errors.UnsupportedEditError`, exit 91). Comment lines
without a ``%`` outside the scriptlets are free to change.
"""

from __future__ import annotations

import datetime
import io
import re
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import UnsupportedEditError
from .model import (
    FILE_CONFIG,
    FILE_LICENSE,
    FILE_NOREPLACE,
    SENSE_SCRIPT_PRE,
    Dependency,
    RpmFile,
    RpmPackage,
)
from .source import BUILDHOST, GROUP, RpmSources, _interpreters, tarball_members

#: Section names rpm knows; a line starting with one of them opens a section.
_SECTIONS = frozenset({
    "%description", "%package", "%prep", "%generate_buildrequires", "%conf", "%build", "%install", "%check",
    "%clean", "%pre", "%post", "%preun", "%postun", "%pretrans", "%posttrans", "%preuntrans",
    "%postuntrans", "%verifyscript", "%triggerprein", "%triggerin", "%triggerun", "%triggerpostun",
    "%filetriggerin", "%filetriggerun", "%filetriggerpostun", "%transfiletriggerin",
    "%transfiletriggerun", "%transfiletriggerpostun", "%files", "%changelog", "%sourcelist",
    "%patchlist"})
_SCRIPTLETS = ("pre", "post", "preun", "postun")
#: Tags whose value the native writer reads from the spec.
_OWNED_TAGS = frozenset({"name", "version", "release", "summary", "license", "url", "requires",
                         "requires(pre)", "provides"})
_TAG = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:\([a-z]+\))?)\s*:\s*(.*)")
_PACKAGER = "%global packager "
#: The directory macros the generated spec uses, as Fedora (and the spec's fallbacks) define them.
_MACROS = {"_sysconfdir": "/etc", "_localstatedir": "/var", "_exec_prefix": "/usr",
           "_unitdir": "/usr/lib/systemd/system", "_sysusersdir": "/usr/lib/sysusers.d",
           "_tmpfilesdir": "/usr/lib/tmpfiles.d", "_defaultlicensedir": "/usr/share/licenses"}
_MACRO = re.compile(r"%\{([A-Za-z_][A-Za-z0-9_]*)\}|%%|%")
_ATTR = re.compile(r"%attr\(([0-7]{3,4}|-),\s*([a-z_][a-z0-9_-]*|-),\s*([a-z_][a-z0-9_-]*|-)\)")
_OPERATORS = ("<=", ">=", "=", "<", ">")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _refuse(where: str, what: str) -> UnsupportedEditError:
    return UnsupportedEditError(f"{where}: {what}; the native builder cannot build this edit: "
                                "build with --builder rpmbuild")


@dataclass(slots=True)
class _Section:
    header: str
    line: int
    body: list[tuple[int, str]] = field(default_factory=list)


def _sections(text: str) -> tuple[list[tuple[int, str]], list[_Section]]:
    """The preamble's numbered lines and the sections, each with its header and numbered body lines."""
    preamble: list[tuple[int, str]] = []
    sections: list[_Section] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if words and words[0] in _SECTIONS:
            sections.append(_Section(line.rstrip(), number))
        elif sections:
            sections[-1].body.append((number, line))
        else:
            preamble.append((number, line))
    return preamble, sections


def _literal(text: str, where: str) -> str:
    """``text`` as rpm expands it, when its only macro is ``%%``."""
    def expand(match: re.Match[str]) -> str:
        if match[0] != "%%":
            raise _refuse(where, f"the macro {match[0]} is one it cannot expand")
        return "%"

    return _MACRO.sub(expand, text)


def _global_literal(text: str, where: str) -> str:
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
            raise _refuse(where, "a % or \\ in the %global packager is not escaped as tap2rpm writes it")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _path(text: str, name: str, where: str) -> str:
    """A ``%files`` path with the directory macros and ``%{name}`` expanded."""
    def expand(match: re.Match[str]) -> str:
        macro = match[1]
        if macro == "name":
            return name
        if macro in _MACROS:
            return _MACROS[macro]
        if match[0] == "%%":
            return "%"
        raise _refuse(where, f"the macro {match[0]} is one it cannot expand")

    path = _MACRO.sub(expand, text)
    if not path.startswith("/") or "/../" in f"{path}/" or "*" in path or "?" in path:
        raise _refuse(where, f"{text} is not a plain absolute path")
    return path.rstrip("/") or "/"


def _requires(value: str, where: str) -> list[Dependency]:
    """The capabilities of one ``Requires:`` value, as rpm reads them (``a >= 1, b`` or ``(a or b)``)."""
    value = _literal(value, where)
    if value.startswith("("):
        if not value.endswith(")") or value.count("(") != value.count(")"):
            raise _refuse(where, f"Requires: {value!r} is not one rich dependency")
        return [Dependency(value)]
    tokens = value.replace(",", " ").split()
    out = []
    i = 0
    while i < len(tokens):
        name = tokens[i]
        if name in _OPERATORS or name.startswith("(") or name.count("(") != name.count(")"):
            raise _refuse(where, f"Requires: {value!r} is not 'NAME [OP VERSION]...'")
        if i + 1 < len(tokens) and tokens[i + 1] in _OPERATORS:
            if i + 2 >= len(tokens):
                raise _refuse(where, f"Requires: {value!r} has an operator with no version")
            out.append(Dependency.parse(f"{name} {tokens[i + 1]} {tokens[i + 2]}", option=where))
            i += 3
        else:
            out.append(Dependency(name))
            i += 1
    return out


_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def _changelog(body: list[tuple[int, str]], where: str) -> list[tuple[int, str, str]]:
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
            entries.append((when, _literal(words[4].strip(), f"{where}:{number}"), []))
        elif entries:
            entries[-1][2].append(_literal(line, f"{where}:{number}"))
        elif line.strip():
            raise UnsupportedEditError(f"{where}:{number}: text before the first '* ' entry; "
                                       "fix the changelog")
    return [(when, name, "\n".join(lines).rstrip()) for when, name, lines in entries]


def _owned(line: str) -> bool:
    """True for a preamble line whose value the native writer reads (a tag it owns, the packager)."""
    match = _TAG.fullmatch(line.strip())
    return line.startswith(_PACKAGER) or bool(match and match[1].lower() in _OWNED_TAGS)


def _fixed(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines that must stay as tap2rpm wrote them: all but blank ones and comments without a macro."""
    return [(n, line.rstrip()) for n, line in lines
            if line.strip() and not (line.lstrip().startswith("#") and "%" not in line)]


def _compare(actual: list[tuple[int, str]], expected: list[tuple[int, str]], where: str, what: str) -> None:
    for (number, got), (_n, want) in zip(actual, expected, strict=False):
        if got != want:
            raise _refuse(f"{where}:{number}", f"{what} changed")
    if len(actual) > len(expected):
        raise _refuse(f"{where}:{actual[len(expected)][0]}", f"{what}: a line added")
    if len(actual) < len(expected):
        last = actual[-1][0] if actual else 0
        raise _refuse(f"{where}:{last}", f"{what}: a line removed ({expected[len(actual)][1].strip()!r})")


def _script(section: _Section, expected: _Section, where: str) -> str:
    """A scriptlet as the native writer runs it: the ``%else`` fallback of rpm's macro branch, with the
    lines around the ``%if``."""
    def split(body: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], ...] | None:
        marks = [i for i, (_n, line) in enumerate(body) if line.strip().split()[:1] in (["%if"], ["%else"],
                                                                                       ["%endif"])]
        if not marks:
            return None
        if len(marks) != 3:
            raise _refuse(f"{where}:{body[marks[0]][0]}", f"{section.header}: a %if it does not know")
        i, e, end = marks
        return body[:i], body[i:e + 1], body[e + 1:end], body[end:end + 1], body[end + 1:]

    got, want = split(section.body), split(expected.body)
    if want is None:
        if got is not None:
            raise _refuse(where, f"{section.header}: a %if it does not know")
        kept = section.body
    else:
        if got is None:
            raise _refuse(f"{where}:{section.line}", f"{section.header}: the %if of rpm's macros was removed")
        for part in (1, 3):  # the %if line, the macro branch and %else; %endif
            _compare(_fixed(got[part]), _fixed(want[part]), where, f"{section.header}'s macro branch")
        kept = got[0] + got[2] + got[4]
    lines = []
    for number, line in kept:
        if line.lstrip().startswith("%") and not line.lstrip().startswith("%%"):
            raise _refuse(f"{where}:{number}", f"{section.header}: the directive {line.split()[0]}")
        lines.append(_literal(line, f"{where}:{number}"))
    return "\n".join(lines).rstrip()


@dataclass(slots=True)
class _Entry:
    """One thing in the simulated buildroot: a directory (data None) or a file."""

    mode: int
    data: bytes | None = None


def _buildroot(directory: Path, sources: RpmSources, version: str, where: str) -> dict[str, _Entry]:
    """What the unchanged ``%install`` puts in the buildroot, from the tarball and sources beside the spec."""
    payload = sources.payload
    spec, layout = payload.spec, payload.layout
    root: dict[str, _Entry] = {}

    def add(path: str, entry: _Entry) -> None:
        parent = path.rsplit("/", 1)[0]  # absolute, normalized paths of the layout
        while parent and parent not in root:  # install -D, mkdir -p
            root[parent] = _Entry(0o755)
            parent = parent.rsplit("/", 1)[0]
        root[path] = entry

    add(layout.libdir, _Entry(0o755))
    prefix = f"{spec.name}-{version}"
    tarball = directory / f"{prefix}.tar.gz"
    try:
        data = tarball.read_bytes()
    except OSError as exc:
        raise UnsupportedEditError(f"{where}: Source0 is {tarball.name}, which cannot be read "
                                   f"({exc.strerror}); make it or undo the Version edit") from None
    # the tarball as this build wrote it holds the payload's tree files: no need to unpack it again
    members = tarball_members(payload) if (tarball.name, data) == (sources.tarball_name, sources.tarball) \
        else _unpack(data, prefix, tarball.name)
    for name, (mode, content) in sorted(members.items()):
        top, _, below = name.partition("/")
        mode &= 0o7755  # rpm's build scripts run with umask 022
        if top == "lib" and below:
            target = f"{layout.libdir}/{below}"
        elif name == spec.app_file_name and content is not None:
            target, mode = layout.app_path, 0o644  # install -m 0644
        else:
            continue
        add(target, _Entry(mode, content))
    for source in sources.sources:
        try:
            add(source.path, _Entry(source.mode, (directory / source.name).read_bytes()))
        except OSError as exc:
            raise UnsupportedEditError(f"{source.name}: cannot read it ({exc.strerror}); write the sources "
                                       "again") from None
    for path in (layout.statedir, layout.logdir):
        add(path, _Entry(0o750))
    return root


def _unpack(data: bytes, prefix: str, name: str) -> dict[str, tuple[int, bytes | None]]:
    """The members of a ``.tar.gz`` under ``prefix/``, as :func:`~tap2pkg.rpm.source.tarball_members`
    gives them (a directory's data is None); a member elsewhere or of another type is refused."""
    members: dict[str, tuple[int, bytes | None]] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            rel = PurePosixPath(member.name)
            if not rel.parts or rel.parts[0] != prefix or ".." in rel.parts:
                raise _refuse(name, f"{member.name} is outside {prefix}/")
            if len(rel.parts) == 1:
                continue
            if member.isdir():
                members[str(PurePosixPath(*rel.parts[1:]))] = (member.mode, None)
            elif member.isfile():
                fh = tar.extractfile(member)
                assert fh is not None
                members[str(PurePosixPath(*rel.parts[1:]))] = (member.mode, fh.read())
            else:
                raise _refuse(name, f"{member.name} is not a regular file or directory")
    return members


def _files(body: list[tuple[int, str]], root: dict[str, _Entry], name: str, where: str) -> list[RpmFile]:
    """The ``%files`` entries applied to the buildroot, checked as rpmbuild checks them."""
    out: dict[str, RpmFile] = {}
    for number, line in body:
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        here = f"{where}:{number}"
        is_dir, flags, attr = False, 0, None
        while len(words) > 1:
            word = words.pop(0)
            if word == "%dir":
                is_dir = True
            elif word == "%config":
                flags |= FILE_CONFIG
            elif word == "%config(noreplace)":
                flags |= FILE_CONFIG | FILE_NOREPLACE
            elif word == "%license":
                flags |= FILE_LICENSE
            elif attr_match := _ATTR.fullmatch(word):
                attr = attr_match.groups()
            else:
                raise _refuse(here, f"%files: {word} is not a directive it implements")
        if len(words) != 1:
            raise _refuse(here, "%files: one path per line")
        path = _path(words[0], name, here)
        if path not in root:
            raise UnsupportedEditError(f"{here}: %files lists {path}, which %install does not install; fix "
                                       "%files")
        listed = [path] if is_dir or root[path].data is not None else \
            [path, *sorted(p for p in root if p.startswith(path + "/"))]
        for p in listed:
            entry = root[p]
            mode = int(attr[0], 8) if attr and attr[0] != "-" else entry.mode
            user = attr[1] if attr and attr[1] != "-" else "root"
            group = attr[2] if attr and attr[2] != "-" else "root"
            if p in out:
                raise _refuse(here, f"%files lists {p} twice")
            if entry.data is None:
                out[p] = RpmFile.directory(p, mode, user=user, group=group)
            else:
                out[p] = RpmFile(p, stat.S_IFREG | mode, user=user, group=group, data=entry.data, flags=flags)
    unpackaged = sorted(p for p, e in root.items() if e.data is not None and p not in out)
    if unpackaged:
        raise UnsupportedEditError(f"{where}: %files does not list {unpackaged[0]}, which %install installs; "
                                   "fix %files")
    return list(out.values())


def read_spec_dir(directory: Path, sources: RpmSources) -> RpmPackage:
    """Read ``<directory>/<pkg>.spec`` and its sources (written for ``sources``, maybe edited since)
    into the :class:`~tap2pkg.rpm.model.RpmPackage` the native writer builds.

    Raises :class:`~tap2pkg.errors.UnsupportedEditError` for an edit the
    native writer cannot build (see the module docs).
    """
    where = sources.spec_name
    try:
        text = (directory / where).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnsupportedEditError(f"{where}: cannot read it ({exc}); write the sources again") from None
    preamble, sections = _sections(text)
    want_preamble, want_sections = _sections(sources.spec_text)
    headers = [s.header for s in sections]
    for i, want in enumerate(s.header for s in want_sections):
        if i >= len(headers) or headers[i] != want:
            at = sections[i].line if i < len(sections) else len(text.splitlines())
            raise _refuse(f"{where}:{at}", f"the sections are not tap2rpm's (expected {want} here)")
    if len(sections) > len(want_sections):
        extra = sections[len(want_sections)]
        raise _refuse(f"{where}:{extra.line}", f"the section {extra.header}")
    spec = sources.payload.spec

    tags: dict[str, str] = {}
    requires: list[Dependency] = []
    provides: list[Dependency] = []
    packager = ""
    fixed: list[tuple[int, str]] = []
    for number, line in preamble:
        here = f"{where}:{number}"
        match = _TAG.fullmatch(line.strip())
        if not _owned(line):
            fixed.append((number, line))
        elif line.startswith(_PACKAGER):
            packager = _global_literal(line[len(_PACKAGER):].strip(), here)
        elif match:
            tag, value = match[1].lower(), match[2].strip()
            if tag == "requires":
                requires += _requires(value, here)
            elif tag == "requires(pre)":  # needed by %pre: rpm marks it so
                requires += [Dependency(d.name, d.flags | SENSE_SCRIPT_PRE, d.version)
                             for d in _requires(value, here)]
            elif tag == "provides":
                provides += _requires(value, here)
            elif tag in tags:
                raise _refuse(here, f"{match[1]} is given twice")
            else:
                tags[tag] = _literal(value, here)
    _compare(_fixed(fixed), _fixed([(n, line) for n, line in want_preamble if not _owned(line)]), where,
             "the preamble")
    for tag in ("name", "version", "release", "summary", "license"):
        if not tags.get(tag):
            raise UnsupportedEditError(f"{where}: no {tag.capitalize()}; fix the spec")
    if tags["name"] != spec.name:
        raise _refuse(where, f"Name {tags['name']} is not {spec.name} (the sources carry that name)")

    by_header = {s.header: s for s in sections}
    want_by_header = {s.header: s for s in want_sections}
    for header in ("%prep", "%build", "%install"):
        _compare(_fixed(by_header[header].body), _fixed(want_by_header[header].body), where, header)
    description = "\n".join(_literal(line, f"{where}:{n}") for n, line in by_header["%description"].body)
    scriptlets = {}
    for key in _SCRIPTLETS:
        header = f"%{key}"
        if header in by_header:
            body = _script(by_header[header], want_by_header[header], where)
            if body:
                scriptlets[key] = body
    root = _buildroot(directory, sources, tags["version"], where)
    files = _files(by_header["%files"].body, root, spec.name, where)
    changelog = _changelog(by_header["%changelog"].body, where) if "%changelog" in by_header else []
    return RpmPackage(
        name=tags["name"], version=tags["version"], release=tags["release"], summary=tags["summary"],
        description=description.rstrip(), license=tags["license"], url=tags.get("url", ""),
        group=GROUP, packager=packager, requires=requires + _interpreters(files), provides=provides,
        scriptlets=scriptlets,
        files=files, changelog=changelog, buildhost=BUILDHOST, buildtime=sources.build_time,
    )
