"""One error family: every error class has its exit code in one table, and a code means one thing.

The table is :data:`tap2pkg.errors.EXIT_CODES`; README's "Exit codes" table must say the same.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import tap2pkg
from tap2pkg.errors import EXIT_CODES, Tap2pkgError

README = Path(__file__).resolve().parents[1] / "README.md"


def _all_error_classes() -> dict[str, type[Tap2pkgError]]:
    """Every Tap2pkgError subclass (the root included), after importing every tap2pkg module."""
    for module in pkgutil.walk_packages(tap2pkg.__path__, "tap2pkg."):
        if ".templates" in module.name:
            continue
        importlib.import_module(module.name)
    found: dict[str, type[Tap2pkgError]] = {}
    todo: list[type[Tap2pkgError]] = [Tap2pkgError]
    while todo:
        cls = todo.pop()
        assert cls.__name__ not in found or found[cls.__name__] is cls, f"two classes named {cls.__name__}"
        found[cls.__name__] = cls
        todo += cls.__subclasses__()
    return found


def test_every_error_class_is_in_the_table_with_its_own_exit_code() -> None:
    classes = _all_error_classes()
    listed = {name: row for row in EXIT_CODES for name in row.errors}
    assert sorted(set(classes) - set(listed)) == [], "error classes missing from tap2pkg.errors.EXIT_CODES"
    assert sorted(set(listed) - set(classes)) == [], "EXIT_CODES names classes that do not exist"
    for name, row in listed.items():
        assert classes[name].exit_code == row.code, f"{name}: {classes[name].exit_code} != table's {row.code}"


def test_a_code_means_one_thing() -> None:
    codes = [row.code for row in EXIT_CODES]
    assert len(codes) == len(set(codes)), "a code is in the table twice"
    classes = _all_error_classes()
    for row in EXIT_CODES:
        # Two classes share a code only when one derives from the other: the same kind of fault.
        group = [classes[name] for name in row.errors]
        roots = [cls for cls in group if not any(cls is not o and issubclass(cls, o) for o in group)]
        assert len(roots) <= 1, f"exit {row.code} is shared by unrelated classes {row.errors}"


@pytest.mark.parametrize(("code", "meaning"), [(65, "verify"), (69, "verify"), (70, "image")])
def test_verify_no_longer_reuses_a_code_that_means_something_else(code: int, meaning: str) -> None:
    row = next(row for row in EXIT_CODES if row.code == code)
    assert meaning not in row.meaning


def _readme_exit_codes() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.*) \|$", section, flags=re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_readme_lists_exactly_the_table() -> None:
    assert _readme_exit_codes() == {row.code: row.meaning for row in EXIT_CODES}
