"""The kinds of application file: one table for the runtime, tapd and the packaging tools.

========  ================  ==========================  =====================
kind      suffixes          other names (``-y``)         tapd option
========  ================  ==========================  =====================
python    ``.tac``, ``.py``  ``tac``, ``py``              ``-y/--python``
pickle    ``.tap``           ``tap``                      ``-f/--file``
source    ``.tas``           ``tas``                      ``-s/--source``
xml       ``.tax``           ``tax``                      ``-x/--xml``
========  ================  ==========================  =====================

Standard library only, and nothing else imported: the packaging side reads
this table without loading the runtime.
"""

from __future__ import annotations

#: Every kind of application file and the suffixes that select it.
KINDS: dict[str, tuple[str, ...]] = {
    "python": (".tac", ".py"),
    "pickle": (".tap",),
    "source": (".tas",),
    "xml": (".tax",),
}

#: Every name a caller (``-y/--type``) may use for a kind: the kind itself or a suffix without its dot.
ALIASES: dict[str, str] = {
    **{kind: kind for kind in KINDS},
    **{suffix[1:]: kind for kind, suffixes in KINDS.items() for suffix in suffixes},
}

#: The suffix -> kind map, for files given without ``-y``.
SUFFIXES: dict[str, str] = {suffix: kind for kind, suffixes in KINDS.items() for suffix in suffixes}

#: The tapd long option that loads each kind.
TAPD_OPTIONS: dict[str, str] = {
    "python": "--python", "pickle": "--file", "source": "--source", "xml": "--xml",
}

#: The twistd option that loads each kind, for apps run under Twisted (Twisted has no XML loader any more).
TWISTD_OPTIONS: dict[str, str] = {"python": "-y", "pickle": "-f", "source": "-s"}

#: The kinds a saved application can be written as (a Python file is written by people).
SAVE_KINDS = ("pickle", "source", "xml")


def kind_by_name(name: str) -> str | None:
    """The kind ``name`` (a kind or an alias such as ``tap``) means, or None."""
    return ALIASES.get(name)


def kind_by_suffix(suffix: str) -> str | None:
    """The kind a file suffix (``.tac``) selects, or None."""
    return SUFFIXES.get(suffix)
