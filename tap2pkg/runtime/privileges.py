"""Who the daemon runs as: resolve ``-u``/``-g`` (names or numbers) and drop root.

With only a user, the group is that user's primary group. A user given by a
number that has no passwd entry has no known group, so a group must be given
with it (refused otherwise: the process would keep group 0).

Everything is looked up once, before ``--chroot`` (the lookups read
``/etc/passwd`` and ``/etc/group``). Dropping happens after the privileged
start (ports are bound), in the order setgroups, setgid, setuid, and is then
checked, so that no root group survives: the supplementary groups become the
user's own (none for a user without a passwd entry, or when only a group is
given), whatever groups tapd was started with.
"""

import os
from typing import TYPE_CHECKING, NamedTuple

from .errors import PermissionDeniedError, UnknownUserError
from .lazy import lazy_import

if TYPE_CHECKING:
    import grp
    import pwd
else:  # imported on first use: only a user or group given with -u/-g or by the application needs them
    grp = lazy_import("grp")
    pwd = lazy_import("pwd")

# Annotations are evaluated here (no ``from __future__ import annotations``): typing.NamedTuple
# is much cheaper to create with real types than with strings, and tapd starts with it.


class Identity(NamedTuple):
    """A resolved uid/gid to switch to; ``user`` is the name when known.

    ``groups`` are the supplementary groups the process gets when it switches
    (``None`` when nothing is to change).
    """

    uid: int | None
    gid: int | None
    user: str | None = None
    groups: tuple[int, ...] | None = None

    def describe(self) -> str:
        """``"nobody (65534:65534)"`` style, for log lines."""
        uid = "-" if self.uid is None else str(self.uid)
        gid = "-" if self.gid is None else str(self.gid)
        return f"{self.user or uid} ({uid}:{gid})"


def _brief(text: str) -> str:
    """``text`` quoted, cut short when long: error messages stay one readable line."""
    return repr(text if len(text) <= 40 else f"{text[:32]}...")


def _user(value: int | str) -> "pwd.struct_passwd | int":
    text = str(value).strip()
    try:
        return pwd.getpwnam(text)
    except KeyError:
        pass
    if text.isdigit() and text.isascii() and len(text) <= 10:
        try:
            return pwd.getpwuid(int(text))
        except (KeyError, OverflowError):
            return _id_number(text, "user")  # a bare number without a passwd entry is allowed, as with twistd
    raise UnknownUserError(f"unknown user {_brief(text)} given with --uid or the application's uid; "
                           "create it or give an existing user name or number")


def _group(value: int | str) -> int:
    text = str(value).strip()
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        pass
    if text.isdigit() and text.isascii() and len(text) <= 10:
        return _id_number(text, "group")
    raise UnknownUserError(f"unknown group {_brief(text)} given with --gid or the application's gid; "
                           "create it or give an existing group name or number")


def _id_number(text: str, what: str) -> int:
    number = int(text)
    if number >= 2**32 - 1:  # (uid_t)-1 means "unchanged" to setuid/setgid
        raise UnknownUserError(f"{what} number {number} is out of range; give a number below 4294967295")
    return number


def resolve(uid: int | str | None, gid: int | str | None) -> Identity:
    """Turn user/group names or numbers into an :class:`Identity`; :class:`UnknownUserError` if unknown.

    The supplementary groups are those of the user's passwd entry; none when
    the user has no entry or only a group is given. A user number without a
    passwd entry needs a group: without one it is refused.
    """
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
    if user_id is not None and group_id is None:
        raise UnknownUserError(
            f"user {user_id} has no passwd entry, so its group is unknown and tapd would keep group "
            f"{os.getegid()}; give the group too (-g/--gid with -u, gid= with the application's uid=), "
            "or create the user")
    if user_id is None and group_id is None:
        return Identity(None, None)
    groups: tuple[int, ...] = ()
    if user_name is not None and group_id is not None:
        groups = tuple(sorted(set(os.getgrouplist(user_name, group_id))))
    return Identity(user_id, group_id, user_name, groups)


def needs_switch(identity: Identity) -> bool:
    """Whether switching to ``identity`` changes anything for this process (its groups included)."""
    if ((identity.uid is not None and identity.uid != os.geteuid())
            or (identity.gid is not None and identity.gid != os.getegid())):
        return True
    # root with the right uid/gid may still hold groups it was started with (sudo, setpriv --groups)
    return (identity.groups is not None and os.geteuid() == 0
            and set(os.getgroups()) != set(identity.groups))


def drop(identity: Identity) -> None:
    """Switch to ``identity`` for good: supplementary groups, then gid, then uid; then check it held."""
    if not needs_switch(identity):
        return
    if os.geteuid() != 0:
        raise PermissionDeniedError(
            f"cannot switch to user {identity.describe()}: tapd is not running as root "
            "(start it as root, or give -u/-g with your own user to override the application's)")
    try:
        os.setgroups(list(identity.groups or ()))
        if identity.gid is not None:
            os.setgid(identity.gid)
        if identity.uid is not None:
            os.setuid(identity.uid)
    except OSError as exc:
        raise PermissionDeniedError(f"cannot switch to user {identity.describe()}: {exc.strerror}") from None
    held = ((identity.gid is None or os.getresgid() == (identity.gid,) * 3)
            and (identity.uid is None or os.getresuid() == (identity.uid,) * 3)
            and set(os.getgroups()) == set(identity.groups or ()))
    if not held:
        raise PermissionDeniedError(
            f"switching to user {identity.describe()} did not take effect "
            f"(uids {os.getresuid()}, gids {os.getresgid()}, groups {os.getgroups()})")
