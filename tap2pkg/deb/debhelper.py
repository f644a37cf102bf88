"""What debhelper 13 does to the files ``debian/<pkg>.install`` installs, as far as the native writer does it.

The ``dpkg`` builder runs ``dh``; the native writer reads the same tree and
must put the same files, with the same modes, in the ``.deb``. This module
holds the part of debhelper it follows, and refuses the rest with one line
naming ``--builder dpkg`` (:func:`refuse`):

* ``dh_install`` (:func:`install_list`): the install file is read as
  debhelper reads it (lines split at ``\\n`` only, words at Perl's white
  space), and each pattern is expanded as ``bsd_glob`` does: a wildcard
  never matches a name starting with a dot, a pattern that matches nothing is
  taken literally when that path exists. Brace and backslash patterns,
  ``${...}`` substitutions, ``=>`` renames and executable (dh-exec) install
  files are refused, as are empty directories (``cp -a`` keeps them);
* ``dh_fixperms`` (:func:`fixed_mode`): ``go=rX,u+rw,a-s``, then its rules
  by place and name (``usr/share/doc`` 0644, ``usr/bin`` and ``etc/init.d``
  executable, ``*.so``/``*.js``/images 0644, ``etc/sudoers.d`` 0440...);
* the helpers that change or react to what lands in some places
  (:func:`check_destination`): ``dh_compress`` (``usr/share/man``,
  ``usr/share/info``, X11 fonts, and under ``usr/share/doc`` a file over
  4 KiB or named ``changelog*``/``NEWS*``), ``dh_installsystemd``,
  ``dh_installtmpfiles``, ``dh_installsysusers``, ``dh_usrlocal``,
  ``dh_icons``... are not emulated: installing there is refused;
* ``dh_installsystemd`` reading the unit (:func:`check_unit`): the native
  maintainer-script snippets enable, unmask and purge the unit, which
  debhelper only does for a unit with an ``[Install]`` section and no
  ``Also=``; another unit is refused.
"""

from __future__ import annotations

import os
import re
import stat
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from ..errors import UnsupportedEditError

#: Perl's ``\\s`` on bytes under ``use v5.24`` (Dh_Lib's ``split``): ASCII white space, NEL and NBSP.
_PERL_SPACE = re.compile(rb"[ \t\n\r\f\v\x85\xa0]+")
#: What dh_fixperms makes 0644 wherever it is (``find -name``).
_MODE_0644 = ("*.so.*", "*.so", "*.la", "*.a", "*.js", "*.css", "*.scss", "*.sass", "*.jpeg", "*.jpg",
              "*.png", "*.gif", "*.cmxs", "*.node")
#: Where dh_fixperms makes every file executable.
_EXECUTABLE_DIRS = ("usr/bin", "bin", "usr/sbin", "sbin", "usr/games", "usr/libexec", "etc/init.d")
#: Where dh_fixperms makes every file 0644.
_NOT_EXECUTABLE_DIRS = ("usr/share/man", "usr/include", "usr/share/applications",
                        "usr/share/lintian/overrides")
#: Places a debhelper helper of ``dh``'s sequence compresses, or reads to write maintainer scripts.
_HELPER_DIRS = {
    "usr/share/man": "dh_compress", "usr/share/info": "dh_compress", "usr/share/fonts/X11": "dh_compress",
    "lib/systemd": "dh_installsystemd", "usr/lib/systemd": "dh_installsystemduser",
    "usr/lib/tmpfiles.d": "dh_installtmpfiles", "etc/tmpfiles.d": "dh_installtmpfiles",
    "usr/lib/sysusers.d": "dh_installsysusers", "usr/local": "dh_usrlocal", "usr/share/icons": "dh_icons",
    "usr/share/glib-2.0/schemas": "dh_installgsettings", "lib/modules": "dh_installmodules",
    "usr/share/initramfs-tools/hooks": "dh_installinitramfs",
}
_MAGIC = re.compile(r"[*?\[]")


def refuse(where: str, what: str) -> UnsupportedEditError:
    """The one-line refusal of an edit the native writer does not build, naming ``--builder dpkg``."""
    return UnsupportedEditError(f"{where}: {what}; the native builder cannot build this edit: "
                                "build with --builder dpkg")


def _under(rel: str, *dirs: str) -> bool:
    return any(rel.startswith(f"{d}/") for d in dirs)


def fixed_mode(path: str, mode: int, package: str) -> int:
    """The mode dh_fixperms leaves on the regular file installed at ``path``, copied with ``mode``."""
    rel = path.lstrip("/")
    base = rel.rpartition("/")[2]
    # go=rX,u+rw,a-s: "o" also clears the sticky bit, X keeps execute when anyone had it
    fixed = 0o644 | (mode & 0o100) | (0o011 if mode & 0o111 else 0)
    if _under(rel, "usr/share/doc") and not re.fullmatch(r"usr/share/doc/[^/]*/examples/.*", rel, re.S):
        fixed = 0o644
    if _under(rel, *_NOT_EXECUTABLE_DIRS):
        fixed = 0o644
    if _under(rel, "usr/share/perl5") and fnmatchcase(base, "*.pm") and fixed & 0o005 == 0o005:
        fixed &= ~0o111
    if any(fnmatchcase(base, pattern) for pattern in _MODE_0644):
        fixed = 0o644
    if _under(rel, *_EXECUTABLE_DIRS):
        fixed |= 0o111
    if _under(rel, "usr/lib") and fnmatchcase(base, "*.ali"):
        fixed &= ~0o222
    if re.fullmatch(r"usr/lib/nodejs/[^/.][^/]*/(cli|bin)\.js", rel, re.S):
        fixed = 0o755
    bug = f"usr/share/bug/{package}"
    if rel == bug or rel == f"{bug}/script":
        fixed = 0o755
    elif _under(rel, bug) and base != "script":
        fixed = 0o644
    if _under(rel, "etc/sudoers.d"):
        fixed = 0o440
    return fixed


def check_destination(path: str, size: int, where: str) -> None:
    """Refuse a file installed where a debhelper helper the native writer does not emulate acts on it."""
    rel = path.lstrip("/")
    for place, helper in _HELPER_DIRS.items():
        if _under(rel, place):
            raise refuse(where, f"{path} is in /{place}, where {helper} acts on it")
    base = rel.rpartition("/")[2]
    if _under(rel, "usr/share/doc") and (size > 4096 or base.startswith(("changelog", "NEWS"))):
        raise refuse(where, f"{path} would be compressed by dh_compress (over 4 KiB or a changelog)")
    if re.fullmatch(r"usr/lib/[^/]+/perl5/.*\.pm", rel, re.S):
        raise refuse(where, f"{path} is a Perl module where dh_fixperms may change its mode")


def check_unit(data: bytes, where: str) -> None:
    """Refuse a unit for which dh_installsystemd writes other snippets than the native writer's."""
    lines = data.split(b"\n")
    if not any(re.fullmatch(rb"[ \t\n\r\f\v]*\[Install\]", line, re.I) for line in lines):
        raise refuse(where, "no [Install] section (dh_installsystemd then neither enables nor purges "
                     "the unit)")
    for line in lines:
        if re.match(rb"[ \t\n\r\f\v]*Also=.", line, re.I):
            raise refuse(where, "Also= (dh_installsystemd then handles the units it names too)")


def _glob(root: Path, pattern: str) -> list[Path]:
    """``pattern`` expanded in ``root`` as bsd_glob does: a wildcard does not match a leading dot, only a
    pattern that starts with one does (``.[!.]*``; one that could match ``.`` or ``..`` is refused first)."""
    found = [root]
    for part in pattern.split("/"):
        if part in ("", "."):
            continue
        if not _MAGIC.search(part):
            found = [p / part for p in found if os.path.lexists(p / part)]
            continue
        matched = []
        for parent in found:
            try:
                names = sorted(os.listdir(parent)) if parent.is_dir() and not parent.is_symlink() else []
            except OSError:
                names = []
            matched += [parent / n for n in names
                        if (part.startswith(".") or not n.startswith(".")) and fnmatchcase(n, part)]
        found = matched
    return found


def _pattern_files(root: Path, pattern: str, where: str) -> list[Path]:
    """What one install pattern names in the tree (the tree's top, as dh_install's ``.``)."""
    if any(c in pattern for c in "{}\\") or "${" in pattern:
        raise refuse(where, f"{pattern}: brace, backslash and ${{...}} patterns are not implemented")
    if ".." in pattern.split("/"):
        raise refuse(where, f"{pattern} installs from outside the tree")
    if any(part.startswith(".") and _MAGIC.search(part) and any(fnmatchcase(d, part) for d in (".", ".."))
           for part in pattern.split("/")):
        raise refuse(where, f"{pattern}: a wildcard after a leading dot (bsd_glob matches . and .. there)")
    matches = _glob(root, pattern)
    if not matches and os.path.lexists(root / pattern.lstrip("/")):
        matches = [root / pattern.lstrip("/")]  # dh_install takes a pattern matching nothing literally
    return matches


def install_list(root: Path, rel: str) -> list[tuple[str, Path]]:
    """``debian/<rel>`` (the install file) read as dh_install does: (installed path, tree file) pairs."""
    where = f"debian/{rel}"
    path = root / "debian" / rel
    try:
        if path.stat().st_mode & 0o111:
            raise refuse(where, "an executable install file (dh-exec)")
        data = path.read_bytes()
    except OSError as exc:
        raise UnsupportedEditError(f"{where}: cannot read it ({exc.strerror}); fix it") from None
    out = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        words = [os.fsdecode(w) for w in _PERL_SPACE.split(line) if w]
        at = f"{where}:{number}"
        if not words or words[0].startswith("#"):
            continue
        if len(words) < 2 or "=>" in words:
            raise refuse(at, "only 'SOURCE... DESTINATION' lines are implemented")
        *patterns, dest = words
        if "${" in dest:
            raise refuse(at, f"{dest}: ${{...}} substitutions are not implemented")
        for pattern in patterns:
            matches = _pattern_files(root, pattern, at)
            if not matches:
                raise UnsupportedEditError(f"{at}: {pattern} matches no file in the tree; "
                                           "fix the install file")
            for match in matches:
                shown = match.relative_to(root).as_posix()
                if match == root or match.is_relative_to(root / "debian"):
                    raise refuse(at, f"{pattern} installs from debian/")
                if match.is_symlink():
                    raise refuse(at, f"{shown} is a symbolic link")
                base = PurePosixPath("/", dest.strip("/"), match.name)
                if not stat.S_ISDIR(match.lstat().st_mode):
                    out.append((str(base), match))
                    continue
                for dirpath, dirnames, filenames in os.walk(match):
                    dirnames.sort()
                    here = Path(dirpath)
                    for d in dirnames:
                        if (here / d).is_symlink():
                            raise refuse(at, f"{(here / d).relative_to(root).as_posix()} is a symbolic link")
                    if not dirnames and not filenames:
                        raise refuse(at, f"{here.relative_to(root).as_posix()} is an empty directory")
                    for name in sorted(filenames):
                        out.append((str(base / (here / name).relative_to(match).as_posix()), here / name))
    return out


__all__ = ["check_destination", "check_unit", "fixed_mode", "install_list", "refuse"]
