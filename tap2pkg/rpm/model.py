"""What goes into one binary RPM, independent of how it is written.

:class:`RpmPackage` is the simple, fully resolved input of the native writer:
names and texts, dependencies, scriptlet bodies and the file entries with their
modes, owners, contents and ``%config`` flags.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field

from ..errors import InvalidPackageNameError, InvalidVersionError
from ..runtime.errors import ConfigError

# rpmsenseFlags (rpmds.h)
SENSE_LESS = 1 << 1
SENSE_GREATER = 1 << 2
SENSE_EQUAL = 1 << 3
SENSE_INTERP = 1 << 8
SENSE_SCRIPT_PRE = 1 << 9
SENSE_SCRIPT_POST = 1 << 10
SENSE_SCRIPT_PREUN = 1 << 11
SENSE_SCRIPT_POSTUN = 1 << 12
#: found by rpmbuild's dependency generator (an executable's #! interpreter), not declared in the spec
SENSE_FIND_REQUIRES = 1 << 14
SENSE_RPMLIB = 1 << 24
SENSE_CONFIG = 1 << 28

# rpmfileAttrs (rpmfiles.h)
FILE_CONFIG = 1 << 0
FILE_DOC = 1 << 1
FILE_NOREPLACE = 1 << 4
FILE_LICENSE = 1 << 7

_OPERATORS = {"<": SENSE_LESS, "<=": SENSE_LESS | SENSE_EQUAL, "=": SENSE_EQUAL, "==": SENSE_EQUAL,
              ">=": SENSE_GREATER | SENSE_EQUAL, ">": SENSE_GREATER}
_DEP_RE = re.compile(r"^\s*([^\s<>=]+)(?:\s*(<=|>=|==|=|<|>)\s*([^\s<>=]+))?\s*$")
NAME_RE = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+-]*$")
VERSION_RE = re.compile(r"^[A-Za-z0-9._+~^]+$")

SCRIPTLETS = ("pre", "post", "preun", "postun")


@dataclass(frozen=True, order=True)
class Dependency:
    """A versioned or plain capability: ``python3 >= 3.11`` is name, flags, version."""

    name: str
    flags: int = 0
    version: str = ""

    @classmethod
    def parse(cls, text: str, *, option: str = "--depends") -> Dependency:
        """Parse ``name [op version]``; a malformed one is a :class:`ConfigError` naming ``option``."""
        match = _DEP_RE.match(text)
        if not match or not (match.group(2) is None) == (match.group(3) is None):
            raise ConfigError(f"{option} {text!r}: expected 'NAME' or 'NAME OP VERSION' "
                              f"with OP one of <, <=, =, >=, >")
        name, op, version = match.groups()
        return cls(name, _OPERATORS[op] if op else 0, version or "")

    def __str__(self) -> str:
        ops = {v: k for k, v in _OPERATORS.items() if k != "=="}
        op = ops.get(self.flags & (SENSE_LESS | SENSE_GREATER | SENSE_EQUAL))
        return f"{self.name} {op} {self.version}" if op and self.version else self.name


@dataclass(frozen=True)
class RpmFile:
    """One path the package owns: a regular file (``data``), a directory or a symlink (``target``)."""

    path: str
    mode: int  # permission bits with the file-type bits, e.g. 0o100644
    user: str = "root"
    group: str = "root"
    data: bytes = b""
    target: str = ""
    flags: int = 0  # FILE_CONFIG | FILE_NOREPLACE ...

    @classmethod
    def regular(cls, path: str, data: bytes, perms: int = 0o644, **kw: object) -> RpmFile:
        """A regular file with permission bits ``perms``."""
        return cls(path, stat.S_IFREG | perms, data=data, **kw)  # type: ignore[arg-type]  # **kw holds only RpmFile fields (user, group, flags)

    @classmethod
    def directory(cls, path: str, perms: int = 0o755, **kw: object) -> RpmFile:
        """A directory the package owns."""
        return cls(path, stat.S_IFDIR | perms, **kw)  # type: ignore[arg-type]  # **kw holds only RpmFile fields (user, group, flags)

    @property
    def is_dir(self) -> bool:
        """True for a directory entry."""
        return stat.S_ISDIR(self.mode)


@dataclass
class RpmPackage:
    """The resolved content of one binary RPM."""

    name: str
    version: str
    release: str
    summary: str
    description: str
    license: str
    url: str = ""
    arch: str = "noarch"
    group: str = "Unspecified"
    packager: str = ""
    #: what the spec declares, then what rpmbuild's generator finds (the ``#!`` interpreters of executables,
    #: marked :data:`SENSE_FIND_REQUIRES`)
    requires: list[Dependency] = field(default_factory=list)
    provides: list[Dependency] = field(default_factory=list)
    scriptlets: dict[str, str] = field(default_factory=dict)  # "pre", "post", "preun", "postun"
    files: list[RpmFile] = field(default_factory=list)
    changelog: list[tuple[int, str, str]] = field(default_factory=list)  # (time, name, text)
    buildhost: str = "localhost"
    buildtime: int = 0

    @property
    def evr(self) -> str:
        """``version-release``."""
        return f"{self.version}-{self.release}"

    @property
    def filename(self) -> str:
        """The conventional file name ``name-version-release.arch.rpm``."""
        return f"{self.name}-{self.evr}.{self.arch}.rpm"

    def validate(self) -> None:
        """Refuse names and versions rpm would reject or misread, naming the option to fix."""
        if not NAME_RE.match(self.name):
            raise InvalidPackageNameError(f"package name {self.name!r} is not a valid RPM name: use "
                                          "letters, digits and . _ + - (-r/--rpmfile)")
        for what, value, option in (("version", self.version, "-V/--set-version"),
                                    ("release", self.release, "--release")):
            if not value or not VERSION_RE.match(value):
                raise InvalidVersionError(f"RPM {what} {value!r} is invalid: use letters, digits and "
                                          f". _ + ~ ^ only, no '-' ({option})")
        for key in self.scriptlets:
            if key not in SCRIPTLETS:
                raise ConfigError(f"unknown scriptlet {key!r}: expected one of {', '.join(SCRIPTLETS)}")
