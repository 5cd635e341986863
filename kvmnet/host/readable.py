"""Whether another user can read a file: every directory on the way searchable, the file readable.

dnsmasq drops root for an unprivileged user (``nobody``) and then reads its hosts files by
path, at start-up and on every SIGHUP; a directory it cannot search makes it skip them
silently.  This answers the question the way the kernel's permission bits do (owner, group,
others; root passes), so kvmnet can act before dnsmasq fails quietly.  POSIX ACLs and
security modules are not consulted: a problem found here is real, a pass is the mode bits'.
"""
from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


class Identity:
    """A user as the permission checks see it: uid, and every gid it has."""

    __slots__ = ("gids", "name", "uid")

    def __init__(self, name: str, uid: int, gids: Iterable[int]) -> None:
        self.name = name
        self.uid = uid
        self.gids = frozenset(gids)

    @classmethod
    def of_user(cls, user: str, group: str | None = None) -> Identity | None:
        """The account ``user`` (with ``group``, as dnsmasq's ``group=``), None if unknown."""
        import grp
        import pwd

        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            return None
        gids = {pw.pw_gid, *os.getgrouplist(user, pw.pw_gid)}
        if group:
            try:
                gids.add(grp.getgrnam(group).gr_gid)
            except KeyError:
                pass
        return cls(user, pw.pw_uid, gids)

    @classmethod
    def of_process(cls, pid: int) -> Identity | None:
        """Who process ``pid`` runs as now (effective uid, gid and groups), None if gone."""
        uid = gid = None
        groups: list[int] = []
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key == "Uid":
                        uid = int(value.split()[1])
                    elif key == "Gid":
                        gid = int(value.split()[1])
                    elif key == "Groups":
                        groups = [int(g) for g in value.split()]
        except (OSError, ValueError, IndexError):
            return None
        if uid is None or gid is None:
            return None
        return cls(f"uid {uid}", uid, {gid, *groups})


#: Anyone at all: someone who owns nothing and is in no group, so only the "others" bits count.
#: What these bits allow, every user may do; checking them needs no account lookup.
ANYONE = Identity("others", -1, ())


def _allows(st: os.stat_result, who: Identity, bits: tuple[int, int, int]) -> bool:
    if who.uid == 0:
        return True
    if st.st_uid == who.uid:
        return bool(st.st_mode & bits[0])
    if st.st_gid in who.gids:
        return bool(st.st_mode & bits[1])
    return bool(st.st_mode & bits[2])


_SEARCH = (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)
_READ = (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)


def why_unreadable(path: str, who: Identity) -> str | None:
    """Why ``who`` cannot read ``path`` (the first obstacle, with its mode and owner), or None.

    A file that does not exist is no obstacle: dnsmasq treats a missing hosts file as empty.
    """
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    parts = [p for p in directory.split("/") if p]
    current = "/"
    for part in ["", *parts]:
        current = os.path.join(current, part) if part else current
        try:
            st = os.stat(current)
        except OSError:
            return None
        if not _allows(st, who, _SEARCH):
            return (f"directory {current} (mode {stat.S_IMODE(st.st_mode):04o}, owner uid "
                    f"{st.st_uid}) does not let {who.name} search it")
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not _allows(st, who, _READ):
        return (f"file {path} (mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}) "
                f"does not let {who.name} read it")
    return None
