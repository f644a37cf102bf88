"""Which Debian Policy a generated source package claims: ``Standards-Version`` per target release.

lintian warns (``newer-standards-version``) about a Policy version newer than
the ones it knows, so a package claims the newest version the target
release's lintian knows: the release is the changelog distribution
(``--distribution``). A suite name (``unstable``, ``stable``...) or an unknown
name gets :data:`DEFAULT_STANDARDS_VERSION`, bookworm's; a packager who
follows a newer Policy edits ``Standards-Version`` in ``debian/control``.
"""

from __future__ import annotations

#: The newest Policy version each release's lintian knows.
STANDARDS_VERSIONS = {
    "bullseye": "4.5.1",
    "bookworm": "4.6.2",
    "trixie": "4.7.2",
}

#: For a suite name or a release not in :data:`STANDARDS_VERSIONS`: bookworm's.
DEFAULT_STANDARDS_VERSION = STANDARDS_VERSIONS["bookworm"]

#: When each of those Policy versions was released (seconds, UTC: lintian's ``releases.json``, the
#: date of the debian-policy upload); lintian's ``timewarp-standards-version`` flags a changelog
#: entry dated before the version it claims.
RELEASED = {
    "4.5.1": 1605571543,  # 2020-11-17 00:05:43
    "4.6.2": 1671244904,  # 2022-12-17 02:41:44
    "4.7.2": 1740638102,  # 2025-02-27 06:35:02
}


def standards_version(distribution: str) -> str:
    """The ``Standards-Version`` for a package whose changelog names ``distribution``."""
    release = distribution.split("-", 1)[0]  # bookworm-backports is bookworm
    return STANDARDS_VERSIONS.get(release, DEFAULT_STANDARDS_VERSION)


def earliest_date(distribution: str) -> int:
    """The earliest build time a package for ``distribution`` may carry: the release of the Policy
    version it claims (:func:`standards_version`), so its changelog entry is not older than that."""
    return RELEASED[standards_version(distribution)]
