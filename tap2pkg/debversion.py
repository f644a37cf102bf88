"""Debian version order, as ``dpkg --compare-versions`` has it, without running dpkg.

A version is ``[epoch:]upstream[-revision]``. Epochs compare as numbers;
the upstream version and the revision each compare part by part, a run of
non-digits then a run of digits: non-digits character by character, with
``~`` lower than anything (even the end, so ``1.0~rc1`` comes before
``1.0``), then the end, then letters, then everything else; digits as
numbers. :mod:`tap2pkg.regen` orders a tree's releases by these rules and
refuses a version lower than the last one; :mod:`tap2pkg.publish` keeps the
newest versions of a repository by them.
"""

from __future__ import annotations


def _order(char: str) -> int:
    """dpkg's order of one character of a non-digit part: ``~`` first, then the end, letters, the rest."""
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's comparison of an upstream version or a revision (``verrevcmp``)."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = (a[i] > b[j]) - (a[i] < b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split_version(version: str) -> tuple[int, str, str]:
    epoch, colon, rest = version.partition(":")
    if not colon:
        epoch, rest = "0", version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return int(epoch or 0), upstream, revision


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian version ``a`` is lower than, equal to or higher than ``b`` (dpkg's rules)."""
    ea, ua, ra = _split_version(a)
    eb, ub, rb = _split_version(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


__all__ = ["compare_versions"]
