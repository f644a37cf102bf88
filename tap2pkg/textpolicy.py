"""The project's one text policy: what no value that reaches a generated file may hold.

Every value from an option, a settings file, the environment, an app file or a
project's metadata passes :func:`check_text` once (``PackageSpec`` calls it for
each of its fields); later stages escape for their own language (shell, unit,
deb822, rpm macros) and never check again. A refused value is one line that
names the field, the option that sets it, the character and its position.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidOptionValueError

#: Characters no value may hold: C0 controls (NUL, tab, CR, LF, ESC...), DEL, C1 controls (NEL...)
#: and the Unicode line and paragraph separators. Each ends a line somewhere (systemd treats CR and
#: NUL as line ends, a shell or rpm a LF...), so one of them in a value could start a new
#: directive, field or command in whatever file the value reaches.
#: Lone surrogates too: Python's stand-ins for bytes that are not UTF-8 (an option or an environment
#: variable in Latin-1), which no file can be written with.
_FORBIDDEN_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
#: The same, minus the line feed: the only control character multi-line text may hold.
_FORBIDDEN_CHARS_MULTILINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

#: Each user-facing field and the option that sets it, for error messages.
FIELD_OPTIONS = {
    "name": "-d/--debfile (-r/--rpmfile)", "app file name": "the app file's name",
    "maintainer": "-m/--maintainer (or DEBFULLNAME/DEBEMAIL)", "version": "-V/--set-version",
    "revision": "--revision (--release)", "protocol": "-p/--protocol", "description": "-e/--description",
    "long description": "-l/--long_description", "user": "--user", "depends": "--depends",
    "include": "--include", "license": "--license", "homepage": "--homepage",
    "distribution": "--distribution", "port": "--port", "runtime": "--runtime",
}


def _describe_char(char: str) -> str:
    name = unicodedata.name(char, "") or {
        "\x00": "NUL", "\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x0b": "LINE TABULATION",
        "\x0c": "FORM FEED", "\x1b": "ESCAPE", "\x7f": "DELETE", "\x85": "NEXT LINE",
    }.get(char, "control character")
    return f"U+{ord(char):04X} ({name})"


def check_text(field: str, value: str, *, multiline: bool = False, option: str | None = None) -> None:
    """Refuse ``value`` for ``field`` when it holds a control or line-separator character, or ``${``.

    This is the project's one text policy: every value that reaches a generated
    file passes here once (``PackageSpec`` calls it for each of its fields);
    later stages escape for their own language and never re-validate. Only
    ``multiline`` text may hold line feeds. Raises
    :class:`~tap2pkg.errors.InvalidOptionValueError` (exit 86) naming the
    field, the character and its position.
    """
    pattern = _FORBIDDEN_CHARS_MULTILINE if multiline else _FORBIDDEN_CHARS
    where = option or FIELD_OPTIONS.get(field, field)
    match = pattern.search(value)
    if match is None:
        if "${" in value:
            # dpkg-gencontrol substitutes ${...} in every control field, ${Newline} included, and
            # has no escape for it: the only safe text is text without it.
            raise InvalidOptionValueError(
                f"{field} {shorten(value)!r} holds '${{' at position {value.index('${')}, which dpkg "
                f"would substitute as a variable; write it without '${{' (fix {where})"
            )
        return
    if _not_utf8(match.group()):
        raise InvalidOptionValueError(
            f"{field} {shorten(value)!r} holds a byte that is not UTF-8 at position {match.start()}; "
            f"write it in UTF-8 (fix {where})"
        )
    raise InvalidOptionValueError(
        f"{field} {shorten(value)!r} holds the control character {_describe_char(match.group())} "
        f"at position {match.start()}; remove it (fix {where})"
    )


def _not_utf8(char: str) -> bool:
    """Whether ``char`` stands for a byte that was not UTF-8 (a lone surrogate, ``surrogateescape``)."""
    return "\ud800" <= char <= "\udfff"


def check_installed_name(name: str, where: str) -> None:
    """Refuse a file name that would be installed as is but holds a control character.

    ``where`` names the file (e.g. the include it came from), for the message.
    """
    match = _FORBIDDEN_CHARS.search(name)
    if match is not None and _not_utf8(match.group()):
        raise InvalidOptionValueError(f"{where}: the file name {shorten(name)!r} is not UTF-8; rename the "
                                      "file (fix --include)")
    if match is not None:
        raise InvalidOptionValueError(
            f"{where}: the file name {shorten(name)!r} holds the control character "
            f"{_describe_char(match.group())}; rename the file (fix --include)"
        )


def shorten(value: str, limit: int = 60) -> str:
    """``value`` cut to ``limit`` characters for a message (``...`` marks the cut)."""
    return value if len(value) <= limit else value[: limit - 3] + "..."


__all__ = ["FIELD_OPTIONS", "check_installed_name", "check_text", "shorten"]
