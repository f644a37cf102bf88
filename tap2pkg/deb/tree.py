"""Read an emitted Debian source tree back: what the native ``.deb`` writer builds from.

``tap2deb`` writes an editable tree ``<pkg>-<version>/`` with ``debian/``; a
packager may change it by hand. :func:`read_debian_tree` reads it the way
``dpkg-buildpackage`` and debhelper would, for the parts the native writer
implements, so an edit lands in the ``.deb`` whichever builder runs:

* ``debian/control``: the binary package's fields (``Description``,
  ``Depends``, ``Recommends``...; ``Maintainer``, ``Section``, ``Priority`` and
  ``Homepage`` from the source paragraph), with ``${misc:Depends}`` and
  ``${misc:Pre-Depends}`` replaced by what debhelper puts there;
* ``debian/changelog``: the version of its top entry, and the whole file as
  ``changelog.Debian.gz``;
* ``debian/<pkg>.service``, ``.init``, ``.default``, ``.logrotate``,
  ``.sysusers``, ``.tmpfiles``: the service files, at their installed places
  (a unit with no ``[Install]`` section or with ``Also=`` is refused: debhelper
  writes other maintainer scripts for it);
* ``debian/<pkg>.preinst``, ``.postinst``, ``.postrm``: the maintainer
  scripts, ``#DEBHELPER#`` replaced by the native writer's snippets and
  ``#PACKAGE#`` by the package name;
* ``debian/<pkg>.install``: the files copied from the tree as dh_install
  copies them, with dh_fixperms' modes and every file under ``/etc`` a
  conffile (:mod:`tap2pkg.deb.debhelper`; a place where another helper acts,
  such as dh_compress under ``/usr/share/doc``, is refused);
* ``debian/copyright`` and ``debian/<pkg>.lintian-overrides``, installed as
  debhelper installs them.

Anything else is refused with one line naming the file and ``--builder
dpkg`` (:class:`~tap2pkg.errors.UnsupportedEditError`, exit 91), never
ignored: a changed ``debian/rules`` (the native writer runs no rules, so no
override either), a ``debian/`` file it does not know or a generated one
removed, a control field or substitution variable it does not implement. The
source package files (``debian/source/*``) are the business of
``dpkg-source``, which both builders run. What debhelper leaves behind after a
build (``debian/.debhelper/``, ``debian/<pkg>/``, ``debian/files``...) is not
an edit and is skipped.

``debian/control`` is read with deb822's rules by the small reader here
(:func:`parse_deb822`); a malformed file is one line with its line number.
Like dpkg, it splits lines at ``\n`` only: a form feed or U+2028 inside a
line stays in its value.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import UnsupportedEditError
from ..payload import SERVICE_ROLES, PayloadFile
from ..render import render
from .debhelper import check_destination, check_unit, fixed_mode, install_list
from .debhelper import refuse as _refuse
from .native import MISC_DEPENDS, MISC_PRE_DEPENDS
from .source import SourceTree

_SUBSTVARS = {"misc:Depends": MISC_DEPENDS, "misc:Pre-Depends": MISC_PRE_DEPENDS}

#: The binary ``control`` file's fields in the order ``dpkg-gencontrol`` writes them.
_FIELD_ORDER = ("Package", "Version", "Architecture", "Maintainer", "Installed-Size", "Pre-Depends",
                "Depends", "Recommends", "Suggests", "Enhances", "Section", "Priority", "Homepage",
                "Description")
#: Relationship fields dpkg-gencontrol keeps in order (stronger ones first).
_RELATIONS = ("Pre-Depends", "Depends", "Recommends", "Suggests", "Enhances")
#: Source paragraph fields: those inherited by the binary package, and those only the source package uses.
_SOURCE_INHERITED = ("Maintainer", "Section", "Priority", "Homepage")
_SOURCE_ONLY = frozenset(f.lower() for f in (
    "Source", "Uploaders", "Standards-Version", "Rules-Requires-Root", "Build-Depends", "Build-Depends-Indep",
    "Build-Depends-Arch", "Build-Conflicts", "Build-Conflicts-Indep", "Build-Conflicts-Arch", "Testsuite",
    "Vcs-Browser", "Vcs-Git", "Vcs-Arch", "Vcs-Bzr", "Vcs-Cvs", "Vcs-Darcs", "Vcs-Hg", "Vcs-Mtn", "Vcs-Svn"))
_BINARY = frozenset(f.lower() for f in ("Package", "Architecture", "Section", "Priority", "Homepage",
                                        "Description", *_RELATIONS))

#: Maintainer scripts the tree holds.
_SCRIPTS = ("preinst", "postinst", "prerm", "postrm")
#: What debhelper leaves in debian/ after a build: build products, not edits.
_BUILD_LEFTOVERS = re.compile(r"(\.debhelper|tmp|files|debhelper-build-stamp|.*\.substvars|.*\.debhelper"
                              r"|.*\.debhelper\.log)(/.*)?")
_TOKEN = re.compile(r"#[A-Za-z0-9_.+]+#")
_SUBSTVAR = re.compile(r"\$\{([^}]*)\}")
_RELATION = re.compile(r"(?P<name>[a-z0-9][a-z0-9+.-]+)"
                       r"(?:\s*\(\s*(?P<op><<|<=|>=|>>|=|<|>)\s*(?P<version>[A-Za-z0-9.+~:-]+)\s*\))?", re.A)
#: Dpkg::Changelog::Entry::Debian's header (distributions in any case: ``dch`` writes UNRELEASED).
_CHANGELOG_TOP = re.compile(r"(?P<name>\w[-+0-9a-z.]*) \((?P<version>[^() \t]+)\)(?:\s+[-+0-9a-z.]+)+;.*?\s*",
                            re.A | re.I)
#: Lines dpkg's changelog parser skips: RCS keywords and comments.
_CHANGELOG_SKIPPED = re.compile(r"\$\w+:.*\$.*|# .*|/\*.*\*/.*", re.A)
#: White space as dpkg's Perl sees it (``\s`` on bytes): dpkg splits lines at ``\n`` alone.
_WS = " \t\n\r\f\v"
_VERSION = re.compile(r"(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*")


@dataclass(frozen=True, slots=True)
class Field:
    """One deb822 field: its name as written, its value (continuation lines as dpkg-gencontrol writes
    them) and its line."""

    name: str
    value: str
    line: int


def parse_deb822(text: str, where: str) -> list[dict[str, Field]]:
    """The paragraphs of a deb822 file (``debian/control``): field name, lower-cased -> :class:`Field`.

    Comment lines (``#``) are dropped; a malformed line raises
    :class:`~tap2pkg.errors.UnsupportedEditError` naming ``where`` and the line.
    """
    paragraphs: list[dict[str, Field]] = []
    current: dict[str, Field] = {}
    last: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip(_WS)
        if line.startswith("#"):
            continue
        if not line:
            if current:
                paragraphs.append(current)
            current, last = {}, None
            continue
        if line[0] in _WS:
            if last is None:
                raise UnsupportedEditError(f"{where}:{number}: a continuation line with no field before it; "
                                           "fix the file")
            # dpkg-gencontrol writes a continuation line as one space and what follows its first blank
            field = current[last]
            current[last] = Field(field.name, f"{field.value}\n {line[1:]}", field.line)
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(_WS)
        if not colon or not name or any(c in _WS for c in name):
            raise UnsupportedEditError(f"{where}:{number}: expected 'Field: value'; fix the file")
        if name.lower() in current:
            raise UnsupportedEditError(f"{where}:{number}: {name} is given twice in one paragraph; "
                                       "fix the file")
        last = name.lower()
        current[last] = Field(name, value.strip(_WS), number)
    if current:
        paragraphs.append(current)
    return paragraphs


def changelog_version(text: str, name: str, where: str) -> str:
    """The version of the top entry of a Debian changelog for package ``name``."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(_WS) or _CHANGELOG_SKIPPED.fullmatch(line):
            continue
        match = _CHANGELOG_TOP.fullmatch(line)
        if not match:
            raise UnsupportedEditError(f"{where}:{number}: expected 'PACKAGE (VERSION) DISTRIBUTION; "
                                       "urgency=...'; fix the file")
        if match["name"] != name:
            raise _refuse(f"{where}:{number}", f"the entry is for {match['name']}, the package is {name}")
        if not _VERSION.fullmatch(match["version"]):
            raise UnsupportedEditError(f"{where}:{number}: {match['version']!r} is not a Debian version; "
                                       "fix the file")
        return match["version"]
    raise UnsupportedEditError(f"{where}: no entry; fix the file")


def _relations(field: Field, where: str, seen: set[str]) -> str:
    """A relationship field as dpkg-gencontrol writes it: substitution variables replaced, spacing made
    canonical, empty entries dropped."""
    def substitute(match: re.Match[str]) -> str:
        if match[1] not in _SUBSTVARS:
            raise _refuse(f"{where}:{field.line}", f"${{{match[1]}}} is not a variable it knows")
        return _SUBSTVARS[match[1]]

    value = _SUBSTVAR.sub(substitute, re.sub(r"\s+", " ", field.value.strip(_WS), flags=re.A))
    entries = []
    for entry in value.split(","):
        if not entry.strip(_WS):
            continue
        alternatives = []
        for alternative in entry.split("|"):
            match = _RELATION.fullmatch(alternative.strip(_WS))
            if not match:
                raise _refuse(f"{where}:{field.line}", f"{field.name}: {alternative.strip(_WS)!r} is not "
                              "'package' or 'package (op version)'")
            name, op = match["name"], match["op"]
            op = {"<": "<=", ">": ">="}.get(op, op)
            # a range (a (>= 6), a (<< 7)) is kept by dpkg-gencontrol; a repeated name without a version
            # or with the same operator is merged or dropped by it, which the native writer does not do
            key = f"{name} {op[:1] if op else ''}"
            if key in seen or f"{name} " in seen or (not op and any(s.split()[0] == name for s in seen)):
                raise _refuse(f"{where}:{field.line}", f"{field.name}: {name} is named twice in the "
                              "relationship fields")
            seen.add(key)
            alternatives.append(f"{name} ({op} {match['version']})" if op else name)
        entries.append(" | ".join(alternatives))
    return ", ".join(entries)


def control_fields(text: str, package: str, version: str, where: str = "debian/control") -> dict[str, str]:
    """The binary ``control`` fields (all but ``Installed-Size``) that ``debian/control`` gives."""
    paragraphs = parse_deb822(text, where)
    if len(paragraphs) != 2:
        raise _refuse(where, f"{len(paragraphs)} paragraphs, not a source and one binary package")
    source, binary = paragraphs
    for paragraph, known in ((source, _SOURCE_ONLY | {f.lower() for f in _SOURCE_INHERITED}),
                             (binary, _BINARY)):
        for key, field in paragraph.items():
            if key not in known:
                raise _refuse(f"{where}:{field.line}", f"the field {field.name} is not one it writes")
    for key, expected in (("source", package), ("package", package), ("architecture", "all")):
        given = (source if key == "source" else binary).get(key)
        if given is None or given.value != expected:
            line = f":{given.line}" if given else ""
            raise _refuse(f"{where}{line}", f"{key.capitalize()} must be {expected}")
    fields = {"Package": package, "Version": version, "Architecture": "all"}
    for name in _SOURCE_INHERITED:
        picked = binary.get(name.lower()) or source.get(name.lower())
        if picked is not None and picked.value:
            fields[name] = picked.value
    if "Maintainer" not in fields:
        raise UnsupportedEditError(f"{where}: no Maintainer in the source paragraph; fix the file")
    seen: set[str] = set()
    for name in _RELATIONS:
        relation = binary.get(name.lower())
        if relation is not None and (value := _relations(relation, where, seen)):
            fields[name] = value
    description = binary.get("description")
    if description is None or not description.value.split("\n")[0]:
        raise UnsupportedEditError(f"{where}: the binary package has no Description; fix the file")
    fields["Description"] = description.value
    return {name: fields[name] for name in _FIELD_ORDER if name in fields}


@dataclass(frozen=True, slots=True)
class DebianTree:
    """What the native writer needs from a source tree: control fields, files and maintainer scripts."""

    name: str
    #: the full version, from ``debian/changelog``
    version: str
    #: the binary package's control fields in dpkg's order, all but ``Installed-Size``
    fields: Mapping[str, str]
    #: every installed file (documentation included), sorted by installed path
    files: tuple[PayloadFile, ...]
    #: ``preinst``, ``postinst``, ``prerm``, ``postrm``
    scripts: Mapping[str, str]

    @property
    def deb_name(self) -> str:
        """The ``.deb``'s file name, ``<pkg>_<version without epoch>_all.deb``."""
        return f"{self.name}_{self.version.partition(':')[2] or self.version}_all.deb"

    def control_text(self, installed_size: int) -> str:
        """The binary package's ``control`` file."""
        fields = dict(self.fields, **{"Installed-Size": str(installed_size)})
        # as dpkg-gencontrol: no space after the colon when the value starts on the next line
        return "".join(f"{name}:{'' if fields[name].startswith(chr(10)) else ' '}{fields[name]}\n"
                       for name in _FIELD_ORDER if name in fields)


def _read(path: Path, where: str) -> bytes:
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(where, "not a regular file")
        return path.read_bytes()
    except OSError as exc:
        raise UnsupportedEditError(f"{where}: cannot read it ({exc.strerror}); fix it or write the tree "
                                   "again") from None


def _text(root: Path, rel: str) -> str:
    where = f"debian/{rel}"
    try:
        return _read(root / "debian" / rel, where).decode()
    except UnicodeDecodeError:
        raise UnsupportedEditError(f"{where}: not UTF-8 text; fix the file") from None


def _check_debian_dir(root: Path, name: str, generated: Mapping[str, tuple[str, int]]) -> None:
    """Refuse a ``debian/`` file the native writer does not know, or a generated one removed."""
    present = set()
    debian = root / "debian"
    for dirpath, dirnames, filenames in os.walk(debian):
        rel_dir = PurePosixPath(Path(dirpath).relative_to(debian).as_posix())
        for d in list(dirnames):
            rel = str(rel_dir / d)
            if _BUILD_LEFTOVERS.fullmatch(rel) or rel == name:  # debian/<pkg>/: debhelper's staging
                dirnames.remove(d)
        for name in filenames:
            rel = str(rel_dir / name)
            if _BUILD_LEFTOVERS.fullmatch(rel):
                continue
            if rel not in generated and not rel.startswith("source/"):  # debian/source/: dpkg-source's
                raise _refuse(f"debian/{rel}", "a file it does not know")
            present.add(rel)
    for rel in sorted(set(generated) - present):
        raise _refuse(f"debian/{rel}", "removed")


def read_debian_tree(tree: SourceTree) -> DebianTree:
    """Read ``tree.root`` (as written for ``tree.payload``, maybe edited since) into a :class:`DebianTree`.

    Raises :class:`~tap2pkg.errors.UnsupportedEditError` for an edit the
    native writer cannot build (see the module docs).
    """
    payload, root = tree.payload, tree.root
    name = payload.spec.name
    layout = payload.core.layout
    _check_debian_dir(root, name, payload.debian)
    rules = _text(root, "rules")
    if rules != payload.text("rules"):
        raise _refuse("debian/rules", "changed (the native writer runs no debian/rules, so no "
                      "override either)")
    changelog = _text(root, "changelog")
    version = changelog_version(changelog, name, "debian/changelog")
    fields = control_fields(_text(root, "control"), name, version)

    files: dict[str, PayloadFile] = {}

    def add(f: PayloadFile, where: str) -> None:
        if f.path in files:
            raise _refuse(where, f"{f.path} is installed twice")
        files[f.path] = f

    for role in SERVICE_ROLES:
        path = getattr(layout, role.place)
        if path is None:
            continue
        rel = f"{name}.{role.debian_name}"
        data = _read(root / "debian" / rel, f"debian/{rel}")
        if role.debian_name == "service":
            check_unit(data, f"debian/{rel}")
        add(PayloadFile(path, role.mode, data, conffile=path.startswith("/etc/"), role=role.name),
            f"debian/{rel}")
    for path, file in install_list(root, f"{name}.install"):
        data = _read(file, str(file.relative_to(root)))
        check_destination(path, len(data), f"debian/{name}.install")
        add(PayloadFile(path, fixed_mode(path, file.lstat().st_mode, name), data,
                        conffile=path.startswith("/etc/"), tree_path=file.relative_to(root).as_posix()),
            f"debian/{name}.install")
    docs = (
        (f"{layout.docdir}/changelog.Debian.gz", gzip.compress(changelog.encode(), 9, mtime=0)),
        (f"{layout.docdir}/copyright", _text(root, "copyright").encode()),
        (f"/usr/share/lintian/overrides/{name}", _text(root, f"{name}.lintian-overrides").encode()),
    )
    for path, data in docs:
        add(PayloadFile(path, 0o644, data, role="doc"), path)

    scripts = {}
    for script in _SCRIPTS:
        rel = f"{name}.{script}"
        text = _text(root, rel).replace("#PACKAGE#", name)
        for token in _TOKEN.findall(text):
            if token != "#DEBHELPER#":
                raise _refuse(f"debian/{rel}", f"the token {token} is not one it substitutes")
        snippet = render(f"debian/native/{script}.snippet", payload.context).rstrip("\n")
        scripts[script] = text.replace("#DEBHELPER#", snippet)
    return DebianTree(name, version, fields, tuple(sorted(files.values(), key=lambda f: f.path)),
                      dict(sorted(scripts.items())))


__all__ = ["DebianTree", "Field", "changelog_version", "control_fields", "parse_deb822",
           "read_debian_tree"]
