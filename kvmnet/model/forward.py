"""Port forwards of a NAT network: plain frozen data and their pure rules, no I/O.

A forward publishes ports of a guest: packets to ``address`` (the listen address, an IPv4
or IPv6 address of the host or routed to it) on ``protocol`` and one of ``ports`` go to
``target`` (a guest address inside one of the network's subnets of the same IP version: a
DNAT rewrites the destination, never the version) on the matching target port.  Ports are
written as ``80``, ``80,443`` or ``8000-8010``; the target ports are the same ports when not
given, else one port per listen port (one to one) or a single port (many to one).

The rules here need only the network's definition (:func:`forward_problems`); the ones that
need the host or the other networks (a listen address inside another network, a port a host
process holds, a forward of another network on the same key) are checked by the facade
(:mod:`kvmnet.api.forward`).
"""
from __future__ import annotations

import ipaddress

from kvmnet.model.frozen import frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.model.network import Network

PROTOCOLS = ("tcp", "udp")

#: ((first, last), ...): ports as written, each a range (a single port is (p, p))
Ranges = tuple[tuple[int, int], ...]


class PortSpecError(ValueError):
    """A PORTS text that cannot be read; the message says what is wrong and how to write it."""


@frozen
class PortForward:
    """One ``<kvmnet:forward>``: listen address, protocol, ports -> target, target ports."""

    address: str
    protocol: str
    ports: Ranges
    target: str
    target_ports: Ranges = ()  # () means the same ports as ``ports``

    @property
    def version(self) -> int:
        """4 or 6: the IP version of the listen address (and, once valid, the target's)."""
        return 6 if ":" in self.address else 4

    @property
    def ports_text(self) -> str:
        return format_ports(self.ports)

    @property
    def target_ports_text(self) -> str:
        return format_ports(self.target_ports or self.ports)

    def listen_ports(self) -> list[int]:
        return expand(self.ports)

    def pairs(self) -> list[tuple[int, int]]:
        """(listen port, target port) for each listen port (after :func:`count_problem`)."""
        listen = expand(self.ports)
        target = expand(self.target_ports) if self.target_ports else listen
        if len(target) == 1:
            target = target * len(listen)
        return list(zip(listen, target))

    def claims(self) -> list[tuple[str, str, int]]:
        """The (address, protocol, port) keys this forward claims on the host."""
        return [(self.address, self.protocol, port) for port in expand(self.ports)]

    def same_listen(self, address: str, protocol: str, ports: Ranges) -> bool:
        return (self.address, self.protocol, expand(self.ports)) == (address, protocol,
                                                                      expand(ports))


def parse_ports(text: str, what: str = "PORTS") -> Ranges:
    """``80``, ``80,443``, ``8000-8010`` (and mixtures) as ranges; raises PortSpecError."""
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        first_text, dash, last_text = part.strip().partition("-")
        try:
            first = int(first_text, 10)
            last = int(last_text, 10) if dash else first
        except ValueError:
            raise PortSpecError(f"{what} '{text}' is not a port list: write one port (80), a "
                                "list (80,443) or a range (8000-8010)") from None
        if not 1 <= first <= 65535 or not 1 <= last <= 65535:
            raise PortSpecError(f"{what} '{text}': ports are 1 to 65535")
        if last < first:
            raise PortSpecError(f"{what} '{text}': range {first}-{last} ends before it "
                                f"starts; write {last}-{first}")
        out.append((first, last))
    return tuple(out)


def format_ports(ranges: Ranges) -> str:
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def expand(ranges: Ranges) -> list[int]:
    return [port for first, last in ranges for port in range(first, last + 1)]


def count_problem(fwd: PortForward) -> str | None:
    """Why the target ports cannot map onto the listen ports, or None."""
    listen = expand(fwd.ports)
    if len(set(listen)) != len(listen):
        return f"listen ports {fwd.ports_text} name a port twice; give each port once"
    if not fwd.target_ports:
        return None
    n = len(expand(fwd.target_ports))
    if n not in (1, len(listen)):
        return (f"{len(listen)} listen ports ({fwd.ports_text}) but {n} target ports "
                f"({fwd.target_ports_text}); give as many target ports, or one for all")
    return None


Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network


def ip_of(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IPv4 or IPv6 address, or None (also for a scoped ``fe80::1%eth0``: a
    forward's address is global, it names no interface)."""
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def family_name(version: int) -> str:
    return f"IPv{version}"


def at(address: str, ports: str) -> str:
    """``203.0.113.5:80`` or ``[2001:db8::5]:80`` (brackets: an IPv6 address has colons)."""
    return f"[{address}]:{ports}" if ":" in address else f"{address}:{ports}"


def describe(fwd: PortForward) -> str:
    """``tcp 203.0.113.5:80,443 -> 192.168.122.10:8080,8443`` (IPv6 addresses in brackets),
    for messages and listings."""
    return (f"{fwd.protocol} {at(fwd.address, fwd.ports_text)} -> "
            f"{at(fwd.target, fwd.target_ports_text)}")


def listen_problem(address: str) -> str | None:
    """Why ``address`` cannot be a listen address (by itself), or None."""
    ip = ip_of(address)
    if ip is None:
        return (f"listen address '{address}' is not an IP address; port forwards listen on an "
                "IPv4 or IPv6 address of the host, e.g. 203.0.113.5 or 2001:db8::5")
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback or ip == ipaddress.IPv4Address(
            "255.255.255.255"):
        return (f"listen address {address} is not a unicast address packets can be sent to; "
                "give an address of one of the host's interfaces")
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return (f"listen address {address} is an IPv4-mapped IPv6 address; write the IPv4 "
                    f"address itself ({ip.ipv4_mapped})")
        if ip.is_link_local:
            return (f"listen address {address} is link-local: it means a different host on "
                    "each link and is never routed to the host; give a global or unique-local "
                    "IPv6 address of one of the host's interfaces")
    return None


def family_problem(address: str, target: str) -> str | None:
    """Why a forward from ``address`` cannot go to ``target`` (their IP versions), or None."""
    listen, guest = ip_of(address), ip_of(target)
    if listen is None or guest is None or listen.version == guest.version:
        return None
    return (f"listen address {address} is {family_name(listen.version)} but target {target} "
            f"is {family_name(guest.version)}; a forward rewrites the destination, not the IP "
            f"version: forward an {family_name(guest.version)} listen address of the host to "
            f"the guest's {family_name(guest.version)} address (or an "
            f"{family_name(listen.version)} one to its {family_name(listen.version)} address)")


def subnets(net: Network, version: int | None = None) -> list[Subnet]:
    """The network's subnets (of IP ``version`` only, when given), in definition order."""
    from kvmnet.model.addr import ip_network

    out: list[Subnet] = []
    for ip in net.ips:
        subnet = ip_network(ip) if ip.address else None
        if subnet is not None and version in (None, subnet.version):
            out.append(subnet)
    return out


def inside(net: Network, address: str) -> Subnet | None:
    """The subnet of ``net`` (IPv4 or IPv6) that holds ``address``, or None."""
    ip = ip_of(address)
    if ip is None:
        return None
    return next((s for s in subnets(net, ip.version) if ip in s), None)


def forward_problems(net: Network) -> list[str]:
    """What is wrong with ``net``'s forwards, from its definition alone (empty: nothing)."""
    if not net.forwards:
        return []
    if net.forward_mode.value != "nat":
        return [(f"port forwards need a NAT network (forward mode 'nat', not "
                f"'{net.forward_mode.value}'); remove the forwards")]
    problems: list[str] = []
    claimed: dict[tuple[str, str, int], PortForward] = {}
    for fwd in net.forwards:
        what = f"forward {describe(fwd)}"
        if fwd.protocol not in PROTOCOLS:
            problems.append(f"{what}: protocol '{fwd.protocol}' is not tcp or udp")
        for problem in (listen_problem(fwd.address), count_problem(fwd)):
            if problem is not None:
                problems.append(f"{what}: {problem}")
        subnet = inside(net, fwd.address)
        if subnet is not None:
            problems.append(f"{what}: listen address {fwd.address} is inside the network's "
                            f"subnet {subnet}; listen on an address outside every network")
        mixed = family_problem(fwd.address, fwd.target)
        problems += [f"{what}: {p}" for p in ([mixed] if mixed is not None
                                               else target_problems(net, fwd.target))]
        for key in fwd.claims():
            other = claimed.get(key)
            if other is not None and other is not fwd:
                problems.append(f"{what}: overlaps forward {describe(other)} on "
                                f"{key[1]} port {key[2]}; remove one of them")
                break
            claimed[key] = fwd
    return problems


def target_problems(net: Network, target: str) -> list[str]:
    ip = ip_of(target)
    if ip is None:
        return [f"target '{target}' is not an IP address of a guest"]
    subnet = inside(net, target)
    family = family_name(ip.version)
    if subnet is None:
        have = ", ".join(str(s) for s in subnets(net, ip.version))
        fix = ("give the guest's address on this network" if have else
               f"add an {family} <ip> to the network, or give the guest's address in "
               "one of its subnets")
        return [(f"target {target} is outside the network's {family} subnets "
                 f"({have or 'none'}); {fix}")]
    if isinstance(subnet, ipaddress.IPv6Network):
        if subnet.prefixlen < 127 and ip == subnet.network_address:
            return [(f"target {target} is the subnet-router anycast address of {subnet} (any "
                     "router answers it); give a guest's address")]
        return []
    if subnet.prefixlen < 31 and ip in (subnet.network_address, subnet.broadcast_address):
        which = "network" if ip == subnet.network_address else "broadcast"
        return [f"target {target} is the {which} address of {subnet}; give a guest's address"]
    return []
