"""Semantic rules for network definitions, reporting every problem at once.

These are the checks libvirt makes after parsing (in ``virNetworkDefParseXML``
and the network driver's ``networkValidate``) plus a few that libvirt only
discovers when a network starts (bridge name length, overlapping DHCP
ranges, static hosts outside their subnet) — kvmnet refuses those at define
time.  The rules for single values (interface names, DNS names, text that reaches
dnsmasq's files) live in :mod:`kvmnet.config.values`.  Nothing here touches the
host.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from kvmnet.config.values import control_problem, value_problems
from kvmnet.errors import ValidationError, join_problems
from kvmnet.model.addr import ip_network, ip_prefix, netmask_prefix
from kvmnet.model.modes import mode_of
from kvmnet.model.network import (
    DhcpHost,
    DhcpRange,
    ForwardInterface,
    IPDef,
    Network,
    PciAddress,
)
from kvmnet.paths import MAX_NAME_BYTES  # the one name limit, beside the file layout it protects

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address



def validate_network(net: Network) -> None:
    """Raise :class:`ValidationError` listing every semantic problem of ``net``.

    The one check shared by define, net-update (on the updated definition),
    net-plan and net-start: what define accepts, start can render.
    """
    problems = network_problems(net)
    if problems:
        raise ValidationError(problems, subject=f"network {net.name!r}")


def network_problems(net: Network) -> list[str]:
    """All semantic problems of ``net``, in document order (empty when valid)."""
    out: list[str] = []
    out += name_problems(net.name)
    if net.title is not None and "\n" in net.title:
        out.append("the title contains a line break; a network title must be a single line")
    out += value_problems(net)
    out += _forward_problems(net)
    device = forward_device_problem(net)
    if device is not None:
        out.append(device)
    out += _bridge_problems(net)
    out += _dns_problems(net)
    out += _ip_problems(net)
    out += _route_problems(net)
    out += _portgroup_problems(net)
    if net.forwards:
        from kvmnet.model.forward import forward_problems

        out += forward_problems(net)
    return join_problems(out)


# -- helpers usable by net-update -------------------------------------------------------

def name_problems(name: str) -> list[str]:
    """Problems with a network name (it becomes a file name under KVMNET_ROOT)."""
    out: list[str] = []
    if not name:
        return ["the network name is empty; give the network a name"]
    if "/" in name:
        out.append(f"network name {name!r} contains '/'; names are used as file names, "
                   "so choose a name without '/'")
    if "\x00" in name:
        out.append("the network name contains a NUL character; remove it")
    elif "\n" in name or "\r" in name:
        out.append("the network name contains a line break; use a single-line name")
    else:
        problem = control_problem(name, "the network name")
        if problem is not None:
            out.append(problem)
    if name in (".", ".."):
        out.append(f"{name!r} cannot be used as a network name; choose another name")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        out.append(f"the network name is longer than {MAX_NAME_BYTES} bytes; choose a "
                   "shorter name")
    return out


def _addr(text: str | None) -> IPAddr | None:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def dhcp_range_problems(rng: DhcpRange, ip: IPDef) -> list[str]:
    """Problems of one DHCP range relative to its ``<ip>`` (libvirt's virSocketAddrGetRange)."""
    start, end = _addr(rng.start), _addr(rng.end)
    span = f"DHCP range {rng.start} - {rng.end}"
    if start is None or end is None:
        return [f"{span} is not a pair of valid IP addresses"]
    if start.version != end.version:
        return [f"{span} mixes IPv4 and IPv6 addresses"]
    net = ip_network(ip)
    out: list[str] = []
    if net is None:
        return [(f"{span} belongs to <ip address='{ip.address}'> which has no usable prefix; "
                "add a netmask or prefix")]
    if start.version != net.version:
        return [(f"{span} is IPv{start.version} but its <ip> is {ip.address} (IPv{net.version}); "
                "move the range to an <ip> of the same family")]
    if start not in net or end not in net:
        out.append(f"{span} is not entirely within network {net}; keep both ends inside "
                   f"{net.network_address} - {net.broadcast_address}")
    elif net.version == 4:
        # as libvirt's virSocketAddrGetRange (and the dnsmasq renderer), also for /31 and /32
        if start == net.network_address:
            out.append(f"start of {span} is the network address of {net}; start at "
                       f"{net.network_address + 1} or later")
        if end == net.broadcast_address:
            out.append(f"end of {span} is the broadcast address of {net}; end at "
                       f"{net.broadcast_address - 1} or earlier")
    if int(end) < int(start):
        out.append(f"{span} is reversed; swap start and end")
    else:
        # libvirt caps a range at 65536 addresses (last two IPv4 bytes / last IPv6 group).
        if int(start) >> 16 != int(end) >> 16:
            out.append(f"{span} is too large; libvirt ranges may differ only in the last "
                       f"{'two bytes' if start.version == 4 else '16-bit group'}")
    return out


def dhcp_host_problems(host: DhcpHost, ip: IPDef) -> list[str]:
    """Problems of one static DHCP host relative to its ``<ip>``."""
    out: list[str] = []
    label = host.mac or host.id or host.name or host.ip or "?"
    net = ip_network(ip)
    ipv6 = net is not None and net.version == 6
    if ipv6 and host.mac is not None:
        out.append(f"static host {label!r}: a MAC address is not allowed in an IPv6 <dhcp>; "
                   "identify IPv6 hosts by id (DUID) or name")
    if ipv6 and host.id is None and host.name is None:
        out.append(f"static host {label!r} in an IPv6 network needs an id or a name")
    if not ipv6 and host.mac is None and host.name is None:
        out.append(f"static host {label!r} in an IPv4 network needs a mac or a name")
    if host.ip is None:
        out.append(f"static host {label!r} has no ip address; add ip='ADDRESS'")
        return out
    addr = _addr(host.ip)
    if addr is None:
        out.append(f"static host {label!r} has an invalid ip {host.ip!r}")
    elif net is not None:
        if addr.version != net.version:
            out.append(f"static host {label!r} has IPv{addr.version} address {host.ip} in an "
                       f"IPv{net.version} <ip>; move it to an <ip> of the same family")
        elif addr not in net:
            out.append(f"static host {label!r} address {host.ip} is outside network {net}; "
                       "use an address inside the subnet")
    return out


def validate_dhcp_range_in_ip(rng: DhcpRange, ip: IPDef, subject: str | None = None) -> None:
    problems = dhcp_range_problems(rng, ip)
    if problems:
        raise ValidationError(problems, subject)


def validate_dhcp_host_in_ip(host: DhcpHost, ip: IPDef, subject: str | None = None) -> None:
    problems = dhcp_host_problems(host, ip)
    if problems:
        raise ValidationError(problems, subject)


def ranges_overlap(a: DhcpRange, b: DhcpRange) -> bool:
    sa, ea, sb, eb = _addr(a.start), _addr(a.end), _addr(b.start), _addr(b.end)
    if None in (sa, ea, sb, eb):
        return False
    assert sa is not None and ea is not None and sb is not None and eb is not None
    if sa.version != sb.version:
        return False
    return int(sa) <= int(eb) and int(sb) <= int(ea)


# -- rule groups ----------------------------------------------------------------------

def _pci(a: PciAddress) -> str:
    return f"{a.domain:04x}:{a.bus:02x}:{a.slot:02x}.{a.function:x}"


def _dupes(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for item in items:
        if item in seen and item not in dup:
            dup.append(item)
        seen.add(item)
    return dup


def forward_device_problem(net: Network) -> str | None:
    """Why a bridge or macvtap network has nothing to attach to, or None (the mode's rule,
    :meth:`kvmnet.model.modes.ModeRules.device_problem`)."""
    return mode_of(net).device_problem(net)


def _forward_problems(net: Network) -> list[str]:
    out: list[str] = []
    fwd = net.forward
    pool = list(fwd.interfaces) if fwd is not None else []
    if fwd is not None and not pool and fwd.dev and fwd.pf is None and not fwd.addresses:
        # dev= without <interface> only happens in hand-built models; it is the pool.
        pool = [ForwardInterface(dev=fwd.dev)]
    addresses = list(fwd.addresses) if fwd is not None else []
    pf = fwd.pf if fwd is not None else None

    for dev in _dupes(i.dev for i in pool):
        out.append(f"interface {dev!r} can only be listed once in the forward pool; remove "
                   "the duplicate <interface>")
    for pci in _dupes(_pci(a) for a in addresses):
        out.append(f"PCI device '{pci}' can only be listed once in the forward pool; remove "
                   "the duplicate <address>")
    if (pf is not None) + bool(pool) + bool(addresses) > 1:
        out.append("<address>, <interface> and <pf> in <forward> are mutually exclusive; "
                   "use only one kind")

    out += mode_of(net).forward_problems(net, pool, addresses)
    return out


def _bridge_problems(net: Network) -> list[str]:
    # the name itself: validate_values.bridge_name_problem (through value_problems)
    return mode_of(net).bridge_problems(net)


def _dns_problems(net: Network) -> list[str]:
    out: list[str] = []
    dns = net.dns
    if dns is not None and dns.enable is False and (
            dns.forwarders or dns.hosts or dns.srvs or dns.txts):
        out.append("Extra data in disabled network: <dns enable='no'> must not contain "
                   "forwarders, hosts, srv or txt records; remove them or enable DNS")
    if dns is not None:
        for name in _dupes(t.name for t in dns.txts):
            out.append(f"DNS TXT record {name!r} is defined more than once")
    return out


def _ip_problems(net: Network) -> list[str]:
    out: list[str] = []
    dhcp4 = dhcp6 = 0
    macs: list[str] = []
    host_ips: list[str] = []
    ids: list[str] = []
    for n, ip in enumerate(net.ips, 1):
        where = f"<ip address='{ip.address}'>"
        if ip.netmask is not None and netmask_prefix(ip.netmask) is None:
            out.append(f"{where}: netmask {ip.netmask} is not contiguous; use e.g. "
                       "255.255.255.0")
        elif ip.netmask is not None and ip.prefix:
            out.append(f"{where}: give either a netmask or a prefix, not both")
        version = 6 if ip.address is not None and ":" in ip.address else 4
        if ip.family is not None and ip.family != f"ipv{version}":
            out.append(f"{where}: family='{ip.family}' does not match the address")
        if ip.prefix is not None and ip.prefix > (128 if version == 6 else 32):
            out.append(f"{where}: prefix {ip.prefix} is too long for IPv{version}")
        if ip_prefix(ip) is None and ip.netmask is None:
            out.append(f"{where}: no netmask or prefix and no classful default for this "
                       "address; add prefix='N'")
        if ip.tftp_root is not None and version == 6:
            out.append(f"{where}: <tftp> is only supported for IPv4")
        out += _local_ptr_problems(ip, where)
        dhcp = ip.dhcp
        if dhcp is None:
            continue
        prefix = ip_prefix(ip)
        if version == 6 and (dhcp.ranges or dhcp.hosts) and prefix is not None and prefix < 64:
            out.append(f"{where}: DHCPv6 needs a prefix of at least 64 (dnsmasq refuses "
                       f"/{prefix}); use prefix='64' or remove <dhcp>")
        if dhcp.ranges or dhcp.hosts:
            if version == 4:
                dhcp4 += 1
            else:
                dhcp6 += 1
        for r in dhcp.ranges:
            out += [f"{where}: {p}" for p in dhcp_range_problems(r, ip)]
        for i, a in enumerate(dhcp.ranges):
            for b in dhcp.ranges[i + 1:]:
                if ranges_overlap(a, b):
                    out.append(f"{where}: DHCP ranges {a.start} - {a.end} and {b.start} - "
                               f"{b.end} overlap; make them disjoint")
        for h in dhcp.hosts:
            out += [f"{where}: {p}" for p in dhcp_host_problems(h, ip)]
            if h.mac is not None:
                macs.append(h.mac.lower())
            if h.ip is not None:
                host_ips.append(h.ip)
            if h.id is not None:
                ids.append(h.id.lower())
    if dhcp4 > 1:
        out.append("multiple IPv4 <ip> elements have <dhcp>; DHCP is supported for only one "
                   "IPv4 address per network")
    if dhcp6 > 1:
        out.append("multiple IPv6 <ip> elements have <dhcp>; DHCP is supported for only one "
                   "IPv6 address per network")
    for mac in _dupes(macs):
        out.append(f"MAC address {mac} is used by more than one static DHCP host")
    for addr in _dupes(host_ips):
        out.append(f"IP address {addr} is assigned to more than one static DHCP host")
    for duid in _dupes(ids):
        out.append(f"DHCP host id {duid} is used by more than one static DHCP host")
    return out


def _local_ptr_problems(ip: IPDef, where: str) -> list[str]:
    """localPtr='yes' needs a reverse zone on an octet (IPv4) or nibble (IPv6) boundary."""
    prefix = ip_prefix(ip)
    if not ip.local_ptr or ip.address is None or prefix is None:
        return []
    step, bits = (4, 128) if ":" in ip.address else (8, 32)
    if 0 < prefix < bits and prefix % step == 0:
        return []
    return [(f"{where}: localPtr='yes' needs a prefix divisible by {step} (below {bits}) to name "
             f"the reverse DNS zone, not /{prefix}; change the prefix or drop localPtr")]


def _route_problems(net: Network) -> list[str]:
    out: list[str] = []
    nets = [n for n in (ip_network(ip) for ip in net.ips) if n is not None]
    for r in net.routes:
        gw = _addr(r.gateway)
        if gw is None:
            out.append(f"route to {r.address} has an invalid gateway {r.gateway!r}")
            continue
        if not any(gw.version == n.version and gw in n for n in nets):
            out.append(f"unreachable static route gateway {r.gateway!r}: it is not inside any "
                       "<ip> subnet of this network")
    return out


def _portgroup_problems(net: Network) -> list[str]:
    out: list[str] = []
    mode = net.forward_mode
    for name in _dupes(pg.name for pg in net.portgroups):
        out.append(f"multiple <portgroup> elements with the same name {name!r}")
    defaults = [pg.name for pg in net.portgroups if pg.default]
    if len(defaults) > 1:
        out.append(f"multiple default portgroups ({', '.join(defaults)}); only one may have "
                   "default='yes'")
    rules = mode_of(net)
    bandwidth_ok = rules.portgroup_bandwidth_ok(net)
    vlan_allowed = rules.vlan_ok(net)
    vlan_used = net.vlan is not None and bool(net.vlan.tags)
    bad_vlan = False
    for pg in net.portgroups:
        if vlan_used or (pg.vlan is not None and pg.vlan.tags):
            if pg.virtualport is not None:
                if not rules.portgroup_vlan_ok(net, pg):
                    bad_vlan = True
            elif not vlan_allowed:
                bad_vlan = True
        if pg.bandwidth is not None and not bandwidth_ok:
            out.append(f"<bandwidth> in portgroup '{pg.name}' is not supported with forward "
                       f"mode='{mode.value}'")
    if bad_vlan or (vlan_used and not vlan_allowed and not defaults):
        out.append("<vlan> is only supported on hostdev or passthrough networks and on "
                   "bridge networks using Open vSwitch (virtualport type='openvswitch')")
    return out
