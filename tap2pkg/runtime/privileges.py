"""Who the daemon runs as: resolve ``-u``/``-g`` (names or numbers) and drop root.

With only a user, the group is that user's primary group. Dropping happens
after the privileged start (ports are bound), in the order initgroups,
setgid, setuid, so that no root group survives.
"""

import os
from typing import TYPE_CHECKING, NamedTuple

from .errors import PermissionDeniedError, UnknownUserError

if TYPE_CHECKING:
    import pwd

# Annotations are evaluated here (no ``from __future__ import annotations``): typing.NamedTuple
# is much cheaper to create with real types than with strings, and tapd starts with it.
# grp and pwd are imported only when a user or group is given.


class Identity(NamedTuple):
    """A resolved uid/gid to switch to; ``user`` is the name for initgroups, when known."""

    uid: int | None
    gid: int | None
    user: str | None = None

    def describe(self) -> str:
        """``"nobody (65534:65534)"`` style, for log lines."""
        uid = "-" if self.uid is None else str(self.uid)
        gid = "-" if self.gid is None else str(self.gid)
        return f"{self.user or uid} ({uid}:{gid})"


def _user(value: int | str) -> "pwd.struct_passwd | int":
    import pwd
    text = str(value).strip()
    try:
        return pwd.getpwnam(text)
    except KeyError:
        pass
    if text.isdigit():
        try:
            return pwd.getpwuid(int(text))
        except KeyError:
            return int(text)  # a bare number without a passwd entry is allowed, as with twistd
    raise UnknownUserError(f"unknown user {text!r} given with --uid or the application's uid; "
                           "create it or give an existing user name or number")


def _group(value: int | str) -> int:
    import grp
    text = str(value).strip()
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        pass
    if text.isdigit():
        return int(text)
    raise UnknownUserError(f"unknown group {text!r} given with --gid or the application's gid; "
                           "create it or give an existing group name or number")


def resolve(uid: int | str | None, gid: int | str | None) -> Identity:
    """Turn user/group names or numbers into an :class:`Identity`; :class:`UnknownUserError` if unknown."""
    user_name: str | None = None
    user_id: int | None = None
    primary_gid: int | None = None
    if uid is not None and str(uid) != "":
        entry = _user(uid)
        if isinstance(entry, int):
            user_id = entry
        else:
            user_id, primary_gid, user_name = entry.pw_uid, entry.pw_gid, entry.pw_name
    group_id = _group(gid) if gid is not None and str(gid) != "" else primary_gid
    return Identity(user_id, group_id, user_name)


def needs_switch(identity: Identity) -> bool:
    """Whether switching to ``identity`` changes anything for this process."""
    return ((identity.uid is not None and identity.uid != os.geteuid())
            or (identity.gid is not None and identity.gid != os.getegid()))


def drop(identity: Identity) -> None:
    """Switch to ``identity`` for good: supplementary groups, then gid, then uid."""
    if not needs_switch(identity):
        return
    if os.geteuid() != 0:
        raise PermissionDeniedError(
            f"cannot switch to user {identity.describe()}: tapd is not running as root "
            "(start it as root, or give -u/-g with your own user to override the application's)")
    try:
        if identity.gid is not None:
            if identity.user is not None:
                os.initgroups(identity.user, identity.gid)
            else:
                os.setgroups([identity.gid])
            os.setgid(identity.gid)
        if identity.uid is not None:
            os.setuid(identity.uid)
    except OSError as exc:
        raise PermissionDeniedError(f"cannot switch to user {identity.describe()}: {exc.strerror}") from None
