"""One runtime dependency, parsed once from either format's syntax, written in each.

``--depends`` (and ``depends = [...]`` in ``[tool.tap2pkg]``) takes Debian's
syntax or RPM's; :meth:`Dependency.parse` reads both, and each format asks for
its own spelling:

>>> dep = Dependency.parse("python3-yaml (>= 5.1) | python3-ruamel.yaml")
>>> dep.debian()
'python3-yaml (>= 5.1) | python3-ruamel.yaml'
>>> dep.rpm()
'(python3-yaml >= 5.1 or python3-ruamel.yaml)'
>>> Dependency.parse("python3-yaml < 6").debian()
'python3-yaml (<< 6)'

Debian's deprecated bare ``<``/``>`` inside parentheses mean ``<=``/``>=``, as
dpkg reads them; RPM's ``<``/``>`` are strict. Alternatives become an RPM
rich dependency (rpm >= 4.12).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidOptionValueError

#: The operators, by their meaning; each format's spelling of them.
_DEBIAN_SPELLING = {"lt": "<<", "le": "<=", "eq": "=", "ge": ">=", "gt": ">>"}
_RPM_SPELLING = {"lt": "<", "le": "<=", "eq": "=", "ge": ">=", "gt": ">"}
_FROM_DEBIAN = {"<<": "lt", "<=": "le", "=": "eq", ">=": "ge", ">>": "gt", "<": "le", ">": "ge"}
_FROM_RPM = {"<": "lt", "<=": "le", "=": "eq", "==": "eq", ">=": "ge", ">": "gt"}

# A package name both formats accept (Debian Policy's is the stricter rule), a version of either.
_NAME = r"[a-z0-9][a-z0-9+.-]+"
_VERSION = r"[A-Za-z0-9][A-Za-z0-9.+~:_-]*"
_DEBIAN_RE = re.compile(
    rf"(?P<name>{_NAME})(?: ?\( ?(?P<op><<|<=|>=|>>|=|<|>) ?(?P<version>{_VERSION}) ?\))?")
_RPM_RE = re.compile(rf"(?P<name>{_NAME}) ?(?P<op><=|>=|==|=|<|>) ?(?P<version>{_VERSION})")


@dataclass(frozen=True, order=True)
class Relation:
    """One package, with an optional version constraint (``op`` is lt, le, eq, ge or gt).

    A Python requirement is spelled differently for RPM (``python3dist(attrs) >= 21.3``): ``rpm_name``,
    ``rpm_op`` and ``rpm_version`` hold that spelling when it differs ('' means "as for Debian").
    """

    name: str
    op: str = ""
    version: str = ""
    rpm_name: str = ""
    rpm_op: str = ""
    rpm_version: str = ""

    def debian(self) -> str:
        """``name (>= version)`` or ``name``."""
        return f"{self.name} ({_DEBIAN_SPELLING[self.op]} {self.version})" if self.op else self.name

    def rpm(self) -> str:
        """``name >= version`` or ``name``."""
        name, op = self.rpm_name or self.name, self.rpm_op or self.op
        return f"{name} {_RPM_SPELLING[op]} {self.rpm_version or self.version}" if op else name


@dataclass(frozen=True, order=True)
class Dependency:
    """A dependency: one relation, or alternatives of which any one will do."""

    alternatives: tuple[Relation, ...]

    @classmethod
    def parse(cls, text: str) -> Dependency:
        """Read ``text`` in Debian's syntax (``a (>= 1) | b``) or RPM's (``a >= 1``, ``(a or b)``).

        A malformed one raises :class:`~tap2pkg.errors.InvalidOptionValueError` naming ``--depends``.
        """
        alternatives = []
        stripped = text.strip(" ")
        # RPM's rich form of alternatives, (a >= 1 or b)
        parts = (stripped[1:-1].split(" or ") if stripped.startswith("(") and stripped.endswith(")")
                 else text.split("|"))
        for part in parts:
            part = part.strip(" ")
            debian = _DEBIAN_RE.fullmatch(part)
            rpm = None if debian else _RPM_RE.fullmatch(part)
            if debian:
                op = _FROM_DEBIAN[debian["op"]] if debian["op"] else ""
                alternatives.append(Relation(debian["name"], op, debian["version"] or ""))
            elif rpm:
                alternatives.append(Relation(rpm["name"], _FROM_RPM[rpm["op"]], rpm["version"]))
            else:
                raise InvalidOptionValueError(
                    f"dependency {text!r} is not 'name', 'name (>= version)', 'name >= version' or "
                    "alternatives 'a | b' / '(a or b)' (names of a-z 0-9 + - .); fix --depends"
                )
        return cls(tuple(alternatives))

    def debian(self) -> str:
        """The ``Depends:`` entry."""
        return " | ".join(r.debian() for r in self.alternatives)

    def rpm(self) -> str:
        """The ``Requires:`` value; alternatives as a rich dependency ``(a or b)``."""
        if len(self.alternatives) == 1:
            return self.alternatives[0].rpm()
        return "(" + " or ".join(r.rpm() for r in self.alternatives) + ")"

    @property
    def rich(self) -> bool:
        """True when the RPM form is a rich dependency (it needs ``rpmlib(RichDependencies)``)."""
        return len(self.alternatives) > 1

    def __str__(self) -> str:
        return self.debian()
