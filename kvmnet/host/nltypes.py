"""The plain values and errors of kvmnet's netlink adapter (:mod:`.netlink`), and the rule
for interface names: what callers handle without importing the adapter itself.

One record style for what is read back from the kernel: a typed NamedTuple per kind of
object (:class:`Link`, :class:`Address`, :class:`Route`), light enough for the cold start path
(kvmnet.tuples), with the ``ip`` command's units and names."""
from __future__ import annotations

import errno as errno_mod

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start (kvmnet.tuples)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from kvmnet.tuples import NamedTuple

from kvmnet.errors import HostError

IFNAMSIZ = 16  # including the terminating NUL: names have at most 15 characters
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_mac(mac: str) -> bool:
    parts = mac.split(":")
    return len(parts) == 6 and all(len(p) == 2 and set(p) <= _HEX_DIGITS for p in parts)


class LinkExistsError(HostError):
    """A link with the requested name exists already; ``kind`` says what it is."""

    def __init__(
        self,
        message: str,
        command: str | None = None,
        errno: int | None = errno_mod.EEXIST,
        *,
        ifname: str = "",
        kind: str | None = None,
        ifindex: int | None = None,
    ) -> None:
        super().__init__(message, command, errno)
        self.ifname = ifname
        self.kind = kind
        self.ifindex = ifindex


class LinkNotFoundError(HostError):
    """The named link does not exist in this network namespace."""


class Link(NamedTuple):
    """A link as ``ip -d link show`` describes it."""

    ifname: str
    ifindex: int
    kind: str | None  # IFLA_INFO_KIND: "bridge", "veth", "tun"...; None for a plain device
    mac: str | None
    mtu: int | None
    state: str  # administrative state: "up" or "down"
    operstate: str | None  # RFC 2863 operstate: "UP", "DOWN", "UNKNOWN"...
    master: str | None  # the master's name (when it was looked up)
    master_ifindex: int | None
    stp: bool | None = None  # bridges only
    forward_delay_cs: int | None = None  # bridges only: centiseconds


class Address(NamedTuple):
    ifname: str
    address: str
    prefixlen: int
    family: int  # 4 or 6


class Route(NamedTuple):
    dst: str  # network address; "0.0.0.0" / "::" for a default route
    prefixlen: int
    gateway: str | None
    ifname: str | None
    metric: int | None
    family: int  # 4 or 6


# --------------------------------------------------------------------------------------------


def check_ifname(name: str, command: str | None = None) -> None:
    """Raise HostError unless ``name`` is a valid Linux interface name (dev_valid_name())."""
    if not name or name in (".", ".."):
        why = "is empty" if not name else "is reserved"
        raise HostError(f"interface name {name!r} {why}: choose another name", command, errno_mod.EINVAL)
    if len(name.encode()) >= IFNAMSIZ:
        raise HostError(
            f"interface name {name!r} is too long ({len(name.encode())} bytes): Linux allows at most "
            f"{IFNAMSIZ - 1}; choose a shorter name",
            command,
            errno_mod.EINVAL,
        )
    if any(c in name for c in "/:") or any(c.isspace() for c in name):
        raise HostError(
            f"interface name {name!r} contains '/', ':' or whitespace, which Linux forbids: "
            "choose another name",
            command,
            errno_mod.EINVAL,
        )
