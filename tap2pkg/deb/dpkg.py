"""The ``dpkg`` builder: ``dpkg-buildpackage`` in the emitted source tree."""

from __future__ import annotations

from pathlib import Path

from .archive import normalize_modes
from .source import SourceTree, orig_tarball, run_tool, tool_env


def build_with_dpkg(tree: SourceTree, *, source: bool = True, binary: bool = True) -> list[Path]:
    """Run ``dpkg-buildpackage -us -uc`` in ``tree`` and clean the tree again.

    Returns the artifacts: the ``.dsc``, ``.orig.tar.gz`` and
    ``.debian.tar.xz`` when ``source``; the ``_all.deb`` when ``binary``;
    and the ``.changes`` and ``.buildinfo``; named after the version of the
    tree's changelog, as ``dpkg-buildpackage`` names them.
    """
    orig = orig_tarball(tree)
    normalize_modes(tree.root)
    mode = "-F" if source and binary else ("-S" if source else "-A")
    env = tool_env(tree)
    run_tool(["dpkg-buildpackage", "-us", "-uc", "--no-sign", mode], cwd=tree.root, env=env,
             what="dpkg-buildpackage")
    run_tool(["debian/rules", "clean"], cwd=tree.root, env=env, what="debian/rules clean")
    base = f"{tree.spec.name}_{tree.file_version()}"
    out: list[Path] = []
    if source:
        out += [tree.parent / f"{base}.dsc", orig, tree.parent / f"{base}.debian.tar.xz"]
    if binary:
        out.append(tree.parent / f"{base}_all.deb")
    out += sorted(tree.parent.glob(f"{base}_*.changes")) + sorted(tree.parent.glob(f"{base}_*.buildinfo"))
    return out
