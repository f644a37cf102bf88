"""Hand edits survive: regenerating a source tree merges the packager's changes, releases carry history.

A build writes an editable source tree (the Debian ``<pkg>-<version>/``, the
``.spec`` and its sources). Each time it does, the text it generated is kept
in a state file in the output directory, ``.tap2pkg/<format>-<tree>.json``,
outside every source package (:mod:`tap2pkg.tree_state`). The next build
into that directory compares three versions of every file: what was
generated last time (the state), what is in the tree now (maybe edited by
hand) and what is generated now.

* A file the packager did not edit is regenerated; a file only they changed
  is kept; a file both changed is merged three ways with ``git merge-file``
  (:mod:`tap2pkg.merge`), the packager's lines kept where only they changed
  them.
* Where both changed the same lines, the file is left with conflict markers
  (``<<<<<<< edited`` ... ``>>>>>>> generated``) and the new generated text
  beside it as ``FILE.tap2pkg-new``; :class:`~tap2pkg.errors.MergeConflictError`
  names each such file on a line of its own and nothing is built.
* A file the packager added is kept; one they removed stays removed while the
  generation does not change it.
* ``force`` (``--force-regenerate``) discards every edit, and says which.

A new version or revision starts from the previous tree of the same package
(the highest release with a state file in the output directory, or the tree
given as ``--from-tree``): the edits are carried as above and the format's
changelog gets a new entry on top of the old ones. A version lower than the
tree's last release is refused, compared by Debian's rules
(:func:`~tap2pkg.debversion.compare_versions`, the rules of
``dpkg --compare-versions``).

What is a tree, where its changelog is and what its last release was is each
format's business: ``tap2pkg.deb.source`` and ``tap2pkg.rpm.source`` each
give a :class:`TreeFormat` (``TREE_FORMAT``), found through :func:`tree_format`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .debversion import compare_versions
from .errors import InvalidVersionError, MergeConflictError, OutputError, UsageError
from .merge import files_with_markers, merge3
from .runtime.lazy import lazy_import
from .tree_state import STATE_DIR, Files, State, settings_record, states

if TYPE_CHECKING:
    import difflib

    from .spec import PackageSpec
else:  # imported on first use: only --diff compares the tree with what would be generated
    difflib = lazy_import("difflib")

#: What a conflicting file's new generated text is written beside it as.
NEW_SUFFIX = ".tap2pkg-new"

#: The modules that give each format's :class:`TreeFormat` as ``TREE_FORMAT``.
FORMAT_MODULES = {"deb": "tap2pkg.deb.source", "rpm": "tap2pkg.rpm.source"}


@dataclass(frozen=True, slots=True)
class TreeEdits:
    """What a builder writes over the generated tree: merged or kept files, and generated files left out."""

    files: Mapping[str, tuple[bytes, int]] = field(default_factory=dict)
    removed: frozenset[str] = frozenset()

    def apply(self, root: Path, epoch: int) -> None:
        """Write the edits into the freshly generated tree at ``root`` (mtimes at ``epoch``)."""
        for rel in sorted(self.removed):
            with contextlib.suppress(FileNotFoundError):
                (root / rel).unlink()
        for rel, (data, mode) in sorted(self.files.items()):
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                path.unlink()
            path.write_bytes(data)
            os.chmod(path, mode)
            os.utime(path, (epoch, epoch))


@dataclass(frozen=True, slots=True)
class TreeFormat:
    """One format's answers about its editable tree (see the module docstring)."""

    #: ``deb`` or ``rpm``
    name: str
    #: the tree's directory for ``spec`` in ``output_dir``
    tree_dir: Callable[[PackageSpec, Path], Path]
    #: the package's rendered payload, computed once per build and handed on to the builder
    payload: Callable[[PackageSpec], Any]
    #: every generated file of the tree that is tracked (merged), relative to the tree, from the payload
    generated: Callable[[Any], Files]
    #: the tree's files on disk that belong to it (tracked names given), relative to the tree
    tree_files: Callable[[Path, Iterable[str]], Files]
    #: the full version of the tree's last release, from its changelog (None: no changelog)
    last_version: Callable[[Files, PackageSpec], str | None]
    #: (base, new) with the tree's history spliced in: the changelog as the packager has it, with a new
    #: entry on top for a new release (``message`` or a default); arguments: the payload ``new`` was
    #: generated from, base, theirs, new, message
    carry_history: Callable[[Any, Files, Files, Files, str | None], tuple[Files, Files]]


def tree_format(fmt: str) -> TreeFormat:
    """The :class:`TreeFormat` of package format ``fmt``."""
    module = importlib.import_module(FORMAT_MODULES[fmt])
    found: TreeFormat = module.TREE_FORMAT
    return found


@dataclass(slots=True)
class Plan:
    """What a build into an existing tree will write, decided before anything is written."""

    fmt: str
    #: the tree read as the packager's (None: nothing to carry, a fresh tree)
    tree: Path | None
    #: the tree this build writes (the same, or a new release's)
    target: Path
    #: what the builder generates before the edits are written over it
    fresh: Files
    #: what is generated now, history spliced in: the next state's files
    generated: Files
    #: what the tree holds now (tracked and added files)
    theirs: Files
    edits: TreeEdits
    state: State
    #: the format's payload the files were generated from: the builder writes it, not a second rendering
    payload: Any
    notes: list[str] = field(default_factory=list)
    #: relative path -> (text with markers or None, new generated text, why)
    conflicts: dict[str, tuple[bytes | None, bytes, str]] = field(default_factory=dict)

    def diff(self) -> str:
        """A unified diff from what would be generated to what is in the tree (empty: in sync); one line
        when there is no tree yet (not thousands of added lines: the bundled runtime)."""
        if self.tree is None or not self.theirs:
            return f"Only in generated: {self.target} (no source tree there yet: a build writes it)\n"
        label = self.tree.name
        out: list[str] = []
        for rel in sorted(set(self.generated) | set(self.theirs)):
            want, want_mode = self.generated.get(rel, (None, 0))
            have, have_mode = self.theirs.get(rel, (None, 0))
            # a chmod +x or -x is an edit too (a umask's read bits are not: the formats normalize them)
            if want is not None and have is not None and (want_mode ^ have_mode) & 0o111:
                out.append(f"Mode of generated/{rel} {want_mode:04o} and {label}/{rel} {have_mode:04o} "
                           "differ\n")
            if want == have:
                continue
            try:
                a = (want or b"").decode().splitlines(keepends=True)
                b = (have or b"").decode().splitlines(keepends=True)
            except UnicodeDecodeError:
                out.append(f"Binary files generated/{rel} and {label}/{rel} differ\n")
                continue
            out += difflib.unified_diff(a, b, "/dev/null" if want is None else f"generated/{rel}",
                                        "/dev/null" if have is None else f"{label}/{rel}")
            if out and not out[-1].endswith("\n"):
                out[-1] += "\n\\ No newline at end of file\n"
        return "".join(out)

    def finish(self, output_dir: Path) -> Path:
        """After the build: record what was generated (the state file) and remove the
        ``FILE.tap2pkg-new`` of conflicts resolved since; the state file's path."""
        if self.tree is not None and self.tree.is_dir():
            for rel in self.generated:
                with contextlib.suppress(OSError):
                    Path(f"{self.tree / rel}{NEW_SUFFIX}").unlink()
        return self.state.save(Path(output_dir))

    def write_merge(self, output_dir: Path) -> list[str]:
        """Leave the merge in the tree as a merge tool would, without building: every file merged or
        regenerated, each conflicting one with its markers and ``FILE.tap2pkg-new`` beside it, and the
        state of what was generated now. One line for each conflict."""
        target = self.target
        desired: Files = {rel: v for rel, v in self.fresh.items() if rel not in self.edits.removed}
        desired.update(self.edits.files)
        for rel, (marked, _new, _why) in self.conflicts.items():
            if marked is not None:
                desired[rel] = (marked, self.theirs.get(rel, self.generated.get(rel, (b"", 0o644)))[1])
        on_disk = self.theirs if target == self.tree else {}
        for rel in sorted(self.edits.removed):
            with contextlib.suppress(OSError):
                (target / rel).unlink()
        for rel, (data, mode) in sorted(desired.items()):
            if on_disk.get(rel) != (data, mode):
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                os.chmod(path, mode)
        lines = []
        for rel, (_marked, new, why) in sorted(self.conflicts.items()):
            path = target / rel
            Path(f"{path}{NEW_SUFFIX}").write_bytes(new)
            lines.append(f"{path}: {why}; the new generated text is in {path.name}{NEW_SUFFIX}: resolve "
                         "the file and run again (or --force-regenerate to discard your edit)")
        self.state.save(Path(output_dir))
        return lines


def _tree_and_base(fmt: TreeFormat, spec: PackageSpec, output_dir: Path,
                   from_tree: Path | None) -> tuple[Path | None, State | None]:
    """The tree to carry edits from and the state it was generated with."""
    if from_tree is not None:
        from_tree = Path(from_tree)
        if not from_tree.is_dir():
            raise OutputError(f"--from-tree {from_tree}: not a directory; name the source tree "
                              f"({spec.name}-VERSION/ or the .spec's directory)")
        for state_dir in (from_tree.parent, from_tree):
            for state in states(state_dir, fmt.name, spec.name):
                if (state_dir / state.tree).resolve() == from_tree.resolve():
                    return from_tree, state
        return from_tree, None
    here = fmt.tree_dir(spec, output_dir)
    found = states(output_dir, fmt.name, spec.name)
    for state in found:
        if (output_dir / state.tree).resolve() == here.resolve():
            return here, state
    if found:
        return output_dir / found[0].tree, found[0]
    # a link there is never followed: the build refuses it (exit 73) when it writes the tree
    return (here, None) if here.is_dir() and not here.is_symlink() else (None, None)


def plan(fmt_name: str, spec: PackageSpec, output_dir: Path, settings: Mapping[str, Any], *,
         from_tree: Path | None = None, force: bool = False, message: str | None = None) -> Plan:
    """Decide what a build of ``spec`` into ``output_dir`` writes over its generated tree.

    Raises :class:`~tap2pkg.errors.InvalidVersionError` when ``spec``'s
    release is lower than the tree's last one, and
    :class:`~tap2pkg.errors.MergeConflictError` when the tree still holds
    conflict markers from an earlier run. Conflicts of this run are in
    :attr:`Plan.conflicts` (the caller writes them, or shows the diff).
    """
    fmt = tree_format(fmt_name)
    output_dir = Path(output_dir)
    payload = fmt.payload(spec)
    orig = fmt.generated(payload)
    new = dict(orig)
    tree, state = _tree_and_base(fmt, spec, output_dir, from_tree)
    key_dir = fmt.tree_dir(spec, output_dir)
    record = State(fmt.name, spec.name, spec.full_version, os.path.relpath(key_dir, output_dir),
                   settings_record(settings, spec), new)
    if tree is None:
        if message is not None:
            _, new = fmt.carry_history(payload, {}, {}, new, message)
            record = State(record.format, record.name, record.version, record.tree, record.settings, new)
        edits = TreeEdits({rel: v for rel, v in new.items() if orig.get(rel) != v})
        return Plan(fmt.name, None, key_dir, orig, new, {}, edits, record, payload)
    theirs = fmt.tree_files(tree, [*new, *(state.files if state else {})])
    theirs = {rel: v for rel, v in theirs.items() if not rel.endswith(NEW_SUFFIX)}
    marked = files_with_markers(theirs)
    if marked:
        raise MergeConflictError([f"{tree / rel}: still has conflict markers from an earlier run; resolve "
                                  f"them (and remove {rel}{NEW_SUFFIX}), then run again" for rel in marked])
    last, where = fmt.last_version(theirs, spec), tree
    if from_tree is None:  # the last release of the package in the output directory, whichever tree
        for other in states(output_dir, fmt.name, spec.name)[:1]:
            if last is None or compare_versions(other.version, last) > 0:
                last, where = other.version, output_dir / other.tree
    if last is not None and compare_versions(spec.full_version, last) < 0:
        raise InvalidVersionError(f"{spec.full_version} is lower than {last}, the last release in {where}; "
                                  "dpkg would refuse it: give a higher -V/--set-version or --revision")
    base: Files = dict(state.files) if state is not None else {}
    base, new = fmt.carry_history(payload, base, theirs, new, message)
    record = State(record.format, record.name, record.version, record.tree, record.settings, new)
    result = Plan(fmt.name, tree, key_dir, orig, new, theirs, TreeEdits(), record, payload)
    files: Files = {}
    removed: set[str] = set()
    kept: list[str] = []  # what the packager changed in the tree, not what is generated now
    for rel in sorted(set(new) | set(base) | set(theirs)):
        outcome = _merge_one(rel, base.get(rel), theirs.get(rel), new.get(rel), state is not None, force,
                             result)
        if outcome != new.get(rel) and rel not in result.conflicts:
            kept.append(rel)
        if outcome is None:
            if rel in orig:
                removed.add(rel)
        elif outcome != orig.get(rel):
            files[rel] = outcome
    if kept:  # a tree from someone else's repository is built with its edits: say which
        shown = ", ".join(kept[:MAX_KEPT_NOTE]) + (f" and {len(kept) - MAX_KEPT_NOTE} more"
                                                   if len(kept) > MAX_KEPT_NOTE else "")
        result.notes.append(f"{tree}: built with the tree's own changes to what tap2pkg generates "
                            f"({shown}); --diff shows them, --force-regenerate discards them")
    result.edits = TreeEdits(files, frozenset(removed))
    return result


#: How many changed files the note of a build with hand edits names.
MAX_KEPT_NOTE = 8


def _merge_one(rel: str, base: tuple[bytes, int] | None, theirs: tuple[bytes, int] | None,
               new: tuple[bytes, int] | None, has_state: bool, force: bool,
               plan: Plan) -> tuple[bytes, int] | None:
    """One file's outcome (None: absent); conflicts and notes go into ``plan``."""
    if force:
        if theirs is not None and theirs != new and theirs != base:
            what = "your added file" if base is None and new is None else "your edit of"
            plan.notes.append(f"--force-regenerate: discarded {what} {rel}")
        return new
    if theirs == new or theirs == base:
        return new
    if theirs is None:  # removed by the packager
        if new == base:
            return None
        plan.conflicts[rel] = (None, (new or (b"", 0))[0], "you removed it and the generated file changed")
        return None
    if new is None:
        if base is not None:
            plan.notes.append(f"{rel} is no longer generated; your edited copy is kept")
        return theirs  # added by the packager, or edited and no longer generated: kept
    if new == base:
        return theirs
    mode = theirs[1] if base is not None and theirs[1] != base[1] else new[1]
    if base is None and not has_state:
        why = "there is no record of what tap2pkg generated here (no state file), and it differs"
        merged, conflicted = merge3(b"", theirs[0], new[0])
    else:
        why = "your edit and the regenerated file change the same lines; conflict markers are left in it"
        merged, conflicted = merge3((base or (b"", 0))[0], theirs[0], new[0])
    try:
        merged.decode()
    except UnicodeDecodeError:
        plan.conflicts[rel] = (None, new[0], "a binary file changed by you and by the generation")
        return theirs
    if conflicted:
        plan.conflicts[rel] = (merged, new[0], why)
        return theirs
    plan.notes.append(f"{rel}: your edit is merged with the regenerated file")
    return merged, mode


def from_tree_settings(fmt_name: str, tree: Path, name: str | None = None) -> tuple[State, Path]:
    """The state a tree was generated with, and the output directory holding it (for ``--from-tree``
    without an app file). Several packages' records may name one tree (the ``.spec`` files of several
    RPMs share one directory): ``name`` (``-r``/``-d``, the package name) picks one, and without it
    they are refused rather than one of them built."""
    tree = Path(tree)
    if not tree.is_dir():
        raise OutputError(f"--from-tree {tree}: not a directory; name the source tree")
    found: list[tuple[State, Path]] = []
    for output_dir in (tree.parent, tree):
        directory = output_dir / STATE_DIR
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob(f"{fmt_name}-*.json")):
            state = State.load(path)
            if state is not None and (output_dir / state.tree).resolve() == tree.resolve():
                found.append((state, output_dir))
    if not found:
        raise OutputError(f"--from-tree {tree}: no record of how tap2pkg generated it ({STATE_DIR}/ beside "
                          "it); give the app file too, with the options it was built with")
    if name is not None:
        picked = [(state, where) for state, where in found if state.name == name]
        if not picked:
            known = ", ".join(sorted(state.name for state, _ in found))
            raise UsageError(f"--from-tree {tree}: no package {name!r} was generated there "
                             f"(it holds: {known})")
        return picked[0]
    if len(found) > 1:
        known = ", ".join(sorted(state.name for state, _ in found))
        option = "-d/--debfile" if fmt_name == "deb" else "-r/--rpmfile"
        raise UsageError(f"--from-tree {tree}: it holds the trees of several packages ({known}); "
                         f"name the one to build with {option}")
    return found[0]


def whole_tree(fmt_name: str, spec: PackageSpec, tree: Path) -> tuple[TreeEdits, Any]:
    """The tree as it is, to write over the generated one (a build ``--from-tree``): every file kept,
    generated files the packager removed left out; and the payload it was compared with, for the builder."""
    fmt = tree_format(fmt_name)
    payload = fmt.payload(spec)
    new = fmt.generated(payload)
    theirs = {rel: v for rel, v in fmt.tree_files(tree, new).items() if not rel.endswith(NEW_SUFFIX)}
    marked = files_with_markers(theirs)
    if marked:
        raise MergeConflictError([f"{tree / rel}: still has conflict markers; resolve them, then build again"
                                  for rel in marked])
    return TreeEdits({rel: v for rel, v in theirs.items() if new.get(rel) != v},
                     frozenset(rel for rel in new if rel not in theirs)), payload


__all__ = ["FORMAT_MODULES", "NEW_SUFFIX", "Plan", "TreeEdits", "TreeFormat", "from_tree_settings", "plan",
           "tree_format", "whole_tree"]
