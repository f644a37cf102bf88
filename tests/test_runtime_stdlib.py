"""The runtime is copied into every package: it may use the standard library only."""

from __future__ import annotations

import ast
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import tap2pkg.runtime

RUNTIME = Path(tap2pkg.runtime.__file__).parent
#: third-party modules the runtime may use when present, only behind `except ImportError`
OPTIONAL = {"uvloop"}


def _guarded_by_import_error(tree: ast.AST, node: ast.AST) -> bool:
    for parent in ast.walk(tree):
        if isinstance(parent, ast.Try) and any(node is n for stmt in parent.body for n in ast.walk(stmt)):
            for handler in parent.handlers:
                names = [handler.type] if not isinstance(handler.type, ast.Tuple) else handler.type.elts
                if any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"}
                       for n in names):
                    return True
    return False


def _foreign_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        for module in modules:
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if module == "tap2pkg.runtime" or module.startswith("tap2pkg.runtime."):
                continue
            if top in OPTIONAL and _guarded_by_import_error(tree, node):
                continue
            problems.append(f"{path.relative_to(RUNTIME)}:{node.lineno}: imports {module}")
    return problems


def test_runtime_sources_import_only_the_standard_library() -> None:
    problems = [p for path in sorted(RUNTIME.rglob("*.py")) for p in _foreign_imports(path)]
    assert problems == []


def test_import_checker_catches_a_foreign_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import jinja2\nfrom tap2pkg import render\ntry:\n    import uvloop\nexcept ImportError:\n"
                   "    uvloop = None\n")
    global RUNTIME
    saved, RUNTIME = RUNTIME, tmp_path
    try:
        assert _foreign_imports(bad) == ["bad.py:1: imports jinja2", "bad.py:2: imports tap2pkg"]
    finally:
        RUNTIME = saved


def test_every_runtime_module_imports_in_an_isolated_interpreter(tmp_path: Path) -> None:
    # the layout a package installs: /usr/lib/<pkg>/tap2pkg/{__init__.py,runtime/}
    (tmp_path / "tap2pkg").mkdir()
    (tmp_path / "tap2pkg" / "__init__.py").write_text('__version__ = "test"\n')
    shutil.copytree(RUNTIME, tmp_path / "tap2pkg" / "runtime",
                    ignore=shutil.ignore_patterns("__pycache__"))
    names = [m.name for m in pkgutil.walk_packages([str(tmp_path / "tap2pkg" / "runtime")],
                                                   prefix="tap2pkg.runtime.")]
    assert names, "no runtime modules found"
    code = ("import importlib, sys\nsys.path.insert(0, sys.argv[1])\n"
            "for n in sys.argv[2:]:\n    importlib.import_module(n)\n")
    # -I: isolated (no user site, no PYTHON* env), -S: no site-packages at all
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(tmp_path), *names], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
