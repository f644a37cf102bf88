"""docs/architecture.md is the module map: it names every module, and only modules that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tap2pkg"
MAP = (ROOT / "docs" / "architecture.md").read_text()


def modules() -> set[str]:
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def listed() -> set[str]:
    """The paths in the first column of the "Every module" table."""
    table = MAP.split("## Every module", 1)[1]
    return {name for row in table.splitlines() if row.startswith("| `")
            for name in re.findall(r"`([\w/]+\.py)`", row.split(" | ")[0])}


def test_the_module_map_names_every_module() -> None:
    assert sorted(modules() - listed()) == []


def test_the_module_map_names_no_module_that_is_gone() -> None:
    assert sorted(listed() - modules()) == []


#: Python run outside tap2pkg's environment: the launcher imports Twisted in the order twistd does
STANDALONE = {"launchers/twisted_launcher.py"}


def _probes(tree: ast.AST) -> set[int]:
    """Ids of the import statements inside a ``try`` that catches ImportError (a probe for an optional
    module: its failure is the answer)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            found |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return found


def test_deferred_imports_are_declared_at_the_top_of_each_module() -> None:
    """An import inside a function is a probe, the module ``__getattr__`` that offers public names, or
    in a standalone program; every other deferred import is a ``lazy_import`` at the module's top."""
    inside = []
    for name in sorted(modules() - STANDALONE):
        tree = ast.parse((PACKAGE / name).read_text())
        probes = _probes(tree)
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name != "__getattr__":
                inside += [f"{name}:{node.lineno}" for node in ast.walk(fn)
                           if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in probes]
    assert inside == []
