"""The three-way text merge of hand edits: ``git merge-file`` and the conflict markers it leaves.

:func:`merge3` takes what tap2pkg generated last time (the base), the file
as the packager has it and what is generated now, and gives one text with
both sets of changes; where they change the same lines, the text holds
both between markers labelled for the packager::

    <<<<<<< edited
    their lines
    =======
    the generated lines
    >>>>>>> generated

:func:`files_with_markers` finds files that still hold such markers, so an
unresolved conflict is never built or merged again. :mod:`tap2pkg.regen`
decides which files are merged.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MissingToolError
from .runtime.lazy import lazy_import

if TYPE_CHECKING:
    import shutil
    import subprocess

    from .tree_state import Files
else:  # imported on first use: only a tree with hand edits is merged
    shutil = lazy_import("shutil")
    subprocess = lazy_import("subprocess")

#: The labels of the conflict markers.
OURS_LABEL, THEIRS_LABEL = "edited", "generated"
_MARKER = re.compile(rf"^(<<<<<<< {OURS_LABEL}|>>>>>>> {THEIRS_LABEL})$", re.MULTILINE)


def merge3(base: bytes, theirs: bytes, new: bytes) -> tuple[bytes, bool]:
    """``git merge-file``: the changes from ``base`` to ``theirs`` and to ``new`` in one text, and
    whether some overlapped (then the text holds conflict markers)."""
    if shutil.which("git") is None:
        raise MissingToolError("git is not installed; it merges hand edits (apt-get install git)")
    with tempfile.TemporaryDirectory(prefix="tap2pkg-merge-") as tmp:
        paths = []
        for name, data in (("edited", theirs), ("base", base), ("generated", new)):
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        proc = subprocess.run(["git", "merge-file", "-p", "-L", OURS_LABEL, "-L", "last generated",
                               "-L", THEIRS_LABEL, *paths], capture_output=True, check=False)
    if proc.returncode < 0 or proc.returncode > 127:
        raise MissingToolError(f"git merge-file failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout, proc.returncode > 0


def files_with_markers(files: Files) -> list[str]:
    """The files that still hold this module's conflict markers."""
    return sorted(rel for rel, (data, _m) in files.items() if _MARKER.search(data.decode(errors="replace")))


__all__ = ["OURS_LABEL", "THEIRS_LABEL", "files_with_markers", "merge3"]
