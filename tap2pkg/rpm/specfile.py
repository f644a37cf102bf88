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

The spec's syntax (sections, tags, macros, ``Requires:``, ``%changelog``
dates, scriptlets) is read by :mod:`tap2pkg.rpm.spec_syntax`; this module
puts what ``%install`` installs in a simulated buildroot, applies ``%files``
to it and builds the package.
"""

from __future__ import annotations

import io
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import UnsupportedEditError
from .model import (
    FILE_CONFIG,
    FILE_LICENSE,
    FILE_NOREPLACE,
    SENSE_SCRIPT_PRE,
    VERSION_RE,
    Dependency,
    RpmFile,
    RpmPackage,
)
from .source import BUILDHOST, GROUP, RpmSources, _interpreters, tarball_members
from .spec_syntax import (
    PACKAGER,
    SPACE,
    TAG,
    check_changelog_order,
    check_line_ends,
    compare_lines,
    description_text,
    files_path,
    fixed_lines,
    global_literal,
    is_owned,
    literal,
    parse_changelog,
    parse_requires,
    refuse,
    scriptlet_body,
    spec_lines,
    split_sections,
)
from .spec_syntax import (
    words as spec_words,
)

_SCRIPTLETS = ("pre", "post", "preun", "postun")
_ATTR = re.compile(r"%attr\(([0-7]{3,4}|-),\s*([a-z_][a-z0-9_-]*|-),\s*([a-z_][a-z0-9_-]*|-)\)")


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
                raise refuse(name, f"{member.name} is outside {prefix}/")
            if len(rel.parts) == 1:
                continue
            if member.isdir():
                members[str(PurePosixPath(*rel.parts[1:]))] = (member.mode, None)
            elif member.isfile():
                fh = tar.extractfile(member)
                assert fh is not None
                members[str(PurePosixPath(*rel.parts[1:]))] = (member.mode, fh.read())
            else:
                raise refuse(name, f"{member.name} is not a regular file or directory")
    return members


def _files(body: list[tuple[int, str]], root: dict[str, _Entry], name: str, where: str) -> list[RpmFile]:
    """The ``%files`` entries applied to the buildroot, checked as rpmbuild checks them."""
    out: dict[str, RpmFile] = {}
    for number, line in body:
        here = f"{where}:{number}"
        words = spec_words(line)
        if not words or words[0].startswith("#"):
            continue
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
                raise refuse(here, f"%files: {word} is not a directive it implements")
        if len(words) != 1:
            raise refuse(here, "%files: one path per line")
        path = files_path(words[0], name, here)
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
                raise refuse(here, f"%files lists {p} twice")
            if entry.data is None:
                out[p] = RpmFile.directory(p, mode, user=user, group=group)
            else:
                out[p] = RpmFile(p, stat.S_IFREG | mode, user=user, group=group, data=entry.data, flags=flags)
    unpackaged = sorted(p for p, e in root.items() if e.data is not None and p not in out)
    if unpackaged:
        raise UnsupportedEditError(f"{where}: %files does not list {unpackaged[0]}, which %install installs; "
                                   "fix %files")
    return list(out.values())


def check_spec(directory: Path, spec_name: str) -> tuple[str, str] | None:
    """What both builders refuse in ``<directory>/<spec_name>`` before they build (CRLF line endings, a
    ``%changelog`` out of date order: :class:`~tap2pkg.errors.UnsupportedEditError`), and its ``Version``
    and ``Release`` as rpm reads them, or None when a macro is in them (only rpmbuild expands it)."""
    text = (directory / spec_name).read_bytes().decode("utf-8", "surrogateescape")
    check_line_ends(text, spec_name)
    preamble, sections = split_sections(text)
    for section in sections:
        if spec_words(section.header, 1)[0] == "%changelog":
            check_changelog_order(section.body, spec_name)
    tags: dict[str, str] = {}
    for _number, line in preamble:
        match = TAG.fullmatch(line.strip(SPACE))
        if match and match[1].lower() in ("version", "release"):
            tags.setdefault(match[1].lower(), match[2].strip(SPACE))
    version, release = tags.get("version", ""), tags.get("release", "")
    if not all(VERSION_RE.fullmatch(value) for value in (version, release)):
        return None  # a macro (or a value rpm refuses): rpmbuild says what it makes of it
    return version, release


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
    check_line_ends(text, where)
    preamble, sections = split_sections(text)
    want_preamble, want_sections = split_sections(sources.spec_text)
    headers = [s.header for s in sections]
    for i, want in enumerate(s.header for s in want_sections):
        if i >= len(headers) or headers[i] != want:
            at = sections[i].line if i < len(sections) else len(spec_lines(text))
            raise refuse(f"{where}:{at}", f"the sections are not tap2rpm's (expected {want} here)")
    if len(sections) > len(want_sections):
        extra = sections[len(want_sections)]
        raise refuse(f"{where}:{extra.line}", f"the section {extra.header}")
    spec = sources.payload.spec

    tags: dict[str, str] = {}
    requires: list[Dependency] = []
    provides: list[Dependency] = []
    packager = ""
    fixed: list[tuple[int, str]] = []
    for number, line in preamble:
        here = f"{where}:{number}"
        match = TAG.fullmatch(line.strip(SPACE))
        if not is_owned(line):
            fixed.append((number, line))
        elif line.startswith(PACKAGER):
            packager = global_literal(line[len(PACKAGER):].strip(SPACE), here)
        elif match:
            tag, value = match[1].lower(), match[2].strip(SPACE)
            if tag == "requires":
                requires += parse_requires(value, here)
            elif tag == "requires(pre)":  # needed by %pre: rpm marks it so
                requires += [Dependency(d.name, d.flags | SENSE_SCRIPT_PRE, d.version)
                             for d in parse_requires(value, here)]
            elif tag == "provides":
                provides += parse_requires(value, here)
            elif tag in tags:
                raise refuse(here, f"{match[1]} is given twice")
            else:
                tags[tag] = literal(value, here)
    want_fixed = [(n, line) for n, line in want_preamble if not is_owned(line)]
    compare_lines(fixed_lines(fixed), fixed_lines(want_fixed), where, "the preamble")
    for tag in ("name", "version", "release", "summary", "license"):
        if not tags.get(tag):
            raise UnsupportedEditError(f"{where}: no {tag.capitalize()}; fix the spec")
    if tags["name"] != spec.name:
        raise refuse(where, f"Name {tags['name']} is not {spec.name} (the sources carry that name)")

    by_header = {s.header: s for s in sections}
    want_by_header = {s.header: s for s in want_sections}
    for header in ("%prep", "%build", "%install"):
        compare_lines(fixed_lines(by_header[header].body), fixed_lines(want_by_header[header].body), where,
                      header)
    description = description_text(by_header["%description"].body, where)
    scriptlets = {}
    for key in _SCRIPTLETS:
        header = f"%{key}"
        if header in by_header:
            body = scriptlet_body(by_header[header], want_by_header[header], where)
            if body:
                scriptlets[key] = body
    root = _buildroot(directory, sources, tags["version"], where)
    files = _files(by_header["%files"].body, root, spec.name, where)
    changelog = parse_changelog(by_header["%changelog"].body, where) if "%changelog" in by_header else []
    return RpmPackage(
        name=tags["name"], version=tags["version"], release=tags["release"], summary=tags["summary"],
        description=description, license=tags["license"], url=tags.get("url", ""),
        group=GROUP, packager=packager, requires=requires + _interpreters(files), provides=provides,
        scriptlets=scriptlets,
        files=files, changelog=changelog, buildhost=BUILDHOST, buildtime=sources.build_time,
    )
