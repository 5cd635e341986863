"""net-update's vocabulary: its commands and sections, one table each.

libvirt numbers them (``virNetworkUpdateCommand``, ``virNetworkUpdateSection``), virsh names
them, and the update code dispatches on them; all three read these enums, declared in
libvirt's order so that a member's number is its position (``number``).  The ``VIR_*``
constants of :mod:`kvmnet.api` spell the same numbers under libvirt-python's names (a unit
test holds them to this table).  Plain data: cheap to import (the facade needs the names on
every ``net-update``).
"""
from __future__ import annotations

import enum


class Command(str, enum.Enum):
    """virsh's update commands, in libvirt's order (``virNetworkUpdateCommand`` 1..4)."""

    MODIFY = "modify"
    DELETE = "delete"
    ADD_LAST = "add-last"
    ADD_FIRST = "add-first"

    @property
    def number(self) -> int:
        """libvirt's value (0 is VIR_NETWORK_UPDATE_COMMAND_NONE)."""
        return COMMAND_NAMES.index(self.value)

    @property
    def is_add(self) -> bool:
        return self in (Command.ADD_LAST, Command.ADD_FIRST)


class Section(str, enum.Enum):
    """virsh's section names, in libvirt's order (``virNetworkUpdateSection`` 1..12)."""

    BRIDGE = "bridge"
    DOMAIN = "domain"
    IP = "ip"
    IP_DHCP_HOST = "ip-dhcp-host"
    IP_DHCP_RANGE = "ip-dhcp-range"
    FORWARD = "forward"
    FORWARD_INTERFACE = "forward-interface"
    FORWARD_PF = "forward-pf"
    PORTGROUP = "portgroup"
    DNS_HOST = "dns-host"
    DNS_TXT = "dns-txt"
    DNS_SRV = "dns-srv"

    @property
    def number(self) -> int:
        """libvirt's value (0 is VIR_NETWORK_SECTION_NONE)."""
        return SECTION_NAMES.index(self.value)

    @property
    def updatable(self) -> bool:
        """Whether net-update can change it (libvirt refuses the others)."""
        return self not in UNSUPPORTED


#: The names by libvirt's number (index 0: "none", which no update uses).
COMMAND_NAMES: tuple[str, ...] = ("none", *(c.value for c in Command))
SECTION_NAMES: tuple[str, ...] = ("none", *(s.value for s in Section))

#: The sections libvirt cannot update, with the name its error message gives them
#: ("can't update 'forward pf' section of network ...").
UNSUPPORTED: dict[Section, str] = {
    Section.BRIDGE: "bridge", Section.DOMAIN: "domain", Section.IP: "ip",
    Section.FORWARD: "forward", Section.FORWARD_PF: "forward pf",
}
