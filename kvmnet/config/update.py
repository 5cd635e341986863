"""``net-update`` on the model: libvirt's ``virNetworkDefUpdateSection``, pure.

:func:`apply_update` takes a parsed :class:`Network`, a command, a section and
an XML fragment, and returns a new network with the change (the model is
frozen).  It follows libvirt 11.3.0 (src/conf/network_conf.c) section by
section: which fragments parse, which attributes identify an entry for
``modify``/``delete``, when ``add`` finds a duplicate, and which
combinations are unsupported.  Where libvirt is silent or picks an ``<ip>``
that cannot work, kvmnet is slightly friendlier; every such place says so.
Nothing here touches the host.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TypeVar

from kvmnet.errors import (
    VIR_ERR_OPERATION_INVALID,
    ConflictError,
    InvalidArgError,
    NotFoundError,
    OperationInvalidError,
    UnsupportedError,
    ValidationError,
    XMLParseError,
)
from kvmnet.model.addr import ip_network, ip_prefix
from kvmnet.model.frozen import replace
from kvmnet.model.network import (
    Dhcp,
    DhcpHost,
    DhcpRange,
    Dns,
    DnsHost,
    DnsSrv,
    DnsTxt,
    ForwardInterface,
    IPDef,
    Network,
)
from kvmnet.model.update import UNSUPPORTED, Command, Section
from kvmnet.xmlio.expat_tree import Element, parse_tree
from kvmnet.xmlio.network import (
    parse_dhcp_host,
    parse_dhcp_range,
    parse_dns_host,
    parse_dns_srv,
    parse_dns_txt,
    parse_forward_interface,
    parse_portgroup,
    require_complete_dhcp_host,
    require_complete_dns_host,
    require_complete_dns_srv,
    require_complete_dns_txt,
)

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")


def _normalise(text: str, prefix: str) -> str:
    t = str(text).strip().lower().replace("_", "-")
    return t.removeprefix(prefix)


def parse_command(command: str | Command) -> Command:
    """Accept virsh names (``add``, ``add-last``...) and enum names (``ADD_LAST``)."""
    if isinstance(command, Command):
        return command
    name = _normalise(command, "vir-network-update-command-")
    if name == "add":
        return Command.ADD_LAST
    try:
        return Command(name)
    except ValueError:
        raise InvalidArgError(
            f"unknown net-update command '{command}'; use one of add, add-last, add-first, "
            "modify or delete") from None


def parse_section(section: str | Section) -> Section:
    """Accept virsh names (``ip-dhcp-host``) and enum names (``IP_DHCP_HOST``)."""
    if isinstance(section, Section):
        return section
    try:
        return Section(_normalise(section, "vir-network-section-"))
    except ValueError:
        names = ", ".join(s.value for s in Section)
        raise InvalidArgError(f"unknown net-update section '{section}'; use one of {names}") from None


def apply_update(net: Network, command: str, section: str, xml: str | bytes,
                 parent_index: int = -1) -> Network:
    """Return ``net`` with ``command`` applied to ``section`` using the XML fragment ``xml``.

    ``parent_index`` picks the ``<ip>`` element for the ``ip-dhcp-*`` sections
    (0-based over all ``<ip>`` elements); a negative value lets kvmnet choose.
    """
    cmd = parse_command(command)
    sec = parse_section(section)
    # libvirt parses the fragment before looking at the section, so malformed
    # XML is reported as such even for sections that cannot be updated.
    root = parse_tree(xml, "net-update XML")  # a piece of network XML: its reader's tree
    if not sec.updatable:
        supported = [s.value for s in Section if s.updatable]
        raise UnsupportedError(
            f"can't update '{UNSUPPORTED[sec]}' section of network '{net.name}': net-update only "
            f"changes {', '.join(supported[:-1])} and {supported[-1]}; use net-edit (or "
            "net-define with a changed definition) for the rest")
    if sec is Section.IP_DHCP_HOST:
        return _update_dhcp_host(net, cmd, root, parent_index)
    if sec is Section.IP_DHCP_RANGE:
        return _update_dhcp_range(net, cmd, root, parent_index)
    # the other sections have a single parent, so libvirt ignores the index there
    return {Section.FORWARD_INTERFACE: _update_forward_interface, Section.PORTGROUP: _update_portgroup,
            Section.DNS_HOST: _update_dns_host, Section.DNS_TXT: _update_dns_txt,
            Section.DNS_SRV: _update_dns_srv}[sec](net, cmd, root)


# ---------------------------------------------------------------- helpers

def _not_found(message: str) -> NotFoundError:
    # libvirt reports a missing entry as VIR_ERR_OPERATION_INVALID, not "no network"
    return NotFoundError(message, code=VIR_ERR_OPERATION_INVALID)


def _exists(message: str) -> ConflictError:
    return ConflictError(message, code=VIR_ERR_OPERATION_INVALID)


def _invalid(net: Network, problem: str) -> ValidationError:
    return ValidationError([problem], subject=f"network '{net.name}'")


def _check_root(net: Network, root: Element, expected: str) -> str:
    """The fragment's root must be the section's element; return its path."""
    if root.tag != expected:
        raise XMLParseError(
            f"unexpected element <{root.tag}>, expecting <{expected}>, while updating network "
            f"'{net.name}'; this section takes a single <{expected}> element as its XML")
    return f"/{expected}"


def _insert(items: Sequence[T], item: T, cmd: Command) -> list[T]:
    return [item, *items] if cmd is Command.ADD_FIRST else [*items, item]


def _addr(text: str | None) -> IPAddr:
    # fragment addresses were checked by the parser; this only converts them
    return ipaddress.ip_address(text or "")


def _same_addr(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def _family(ip: IPDef) -> int:
    try:
        return ipaddress.ip_address(ip.address or "").version
    except ValueError:
        return 6 if ip.family == "ipv6" else 4


def _has_dhcp(ip: IPDef) -> bool:
    return ip.dhcp is not None and bool(ip.dhcp.ranges or ip.dhcp.hosts)


def _fam_name(version: int) -> str:
    return "IPv6" if version == 6 else "IPv4"


def _replace_ip(net: Network, index: int, ip: IPDef, dhcp: Dhcp) -> Network:
    empty = not (dhcp.ranges or dhcp.hosts or dhcp.bootp_file or dhcp.bootp_server)
    ips = list(net.ips)
    ips[index] = replace(ip, dhcp=None if empty else dhcp)
    return replace(net, ips=tuple(ips))


# --------------------------------------------------------- <ip> selection

def _select_ip(net: Network, parent_index: int, family: int | None) -> int:
    """Pick the ``<ip>`` whose ``<dhcp>`` is updated (libvirt's virNetworkIPDefByIndex).

    A non-negative index counts over all ``<ip>`` elements.  Otherwise libvirt
    takes the first ``<ip>`` that has DHCP, else the first IPv4, else the first
    IPv6 one.  kvmnet applies that rule among the ``<ip>`` elements of the
    fragment's address family when it is known, so an IPv6 host is not sent to
    the IPv4 ``<ip>`` (where libvirt would reject it); whenever libvirt's choice
    works, both choices are the same.
    """
    ips = net.ips
    if not ips:
        raise OperationInvalidError(
            f"couldn't update dhcp entry: network '{net.name}' has no <ip> element; add an <ip> "
            "with net-edit first")
    if parent_index >= 0:
        if parent_index >= len(ips):
            raise InvalidArgError(
                f"couldn't update dhcp entry: no <ip> element found at index {parent_index} in "
                f"network '{net.name}', which has {len(ips)} (counted from 0); pass --parent-index "
                f"0..{len(ips) - 1}, or leave it out to let kvmnet choose")
        return parent_index
    candidates = [i for i, ip in enumerate(ips) if family is None or _family(ip) == family]
    for i in candidates:
        if _has_dhcp(ips[i]):
            return i
    for wanted in ((4, 6) if family is None else (family,)):
        for i in candidates:
            if _family(ips[i]) == wanted:
                return i
    raise OperationInvalidError(
        f"couldn't update dhcp entry: network '{net.name}' has no {_fam_name(family or 4)} <ip> "
        "element for this entry; add one with net-edit, or use an address of the other family")


def _check_multi_dhcp(net: Network, index: int) -> None:
    """libvirt runs DHCP on at most one ``<ip>`` per address family."""
    fam = _family(net.ips[index])
    for i, ip in enumerate(net.ips):
        if i != index and _family(ip) == fam and _has_dhcp(ip):
            raise OperationInvalidError(
                f"dhcp is supported only for a single {_fam_name(fam)} address on each network: "
                f"<ip address='{ip.address}'> (index {i}) of network '{net.name}' already has DHCP; "
                f"use --parent-index {i} to add the entry there instead")


# --------------------------------------------------------- ip-dhcp-host

def _same_mac(a: str | None, b: str | None) -> bool:
    # host MACs are kept as written; libvirt compares the parsed bytes
    def key(mac: str) -> list[int] | str:
        try:
            return [int(p, 16) for p in mac.split(":")]
        except ValueError:
            return mac
    return a is not None and b is not None and key(a) == key(b)


def _host_text(h: DhcpHost) -> str:
    attrs = [f"{k}='{v}'" for k, v in (("mac", h.mac), ("id", h.id), ("name", h.name), ("ip", h.ip))
             if v is not None]
    return f"<host {' '.join(attrs)}/>"


def _check_dhcp_host(net: Network, ip: IPDef, host: DhcpHost, partial: bool, path: str) -> None:
    """The checks libvirt's virNetworkDHCPHostDefParseXML makes against the chosen ``<ip>``."""
    fam = _family(ip)
    if host.mac is not None and fam == 6:
        raise XMLParseError(
            f"Invalid to specify MAC address '{host.mac}' in network '{net.name}' IPv6 static host "
            "definition; IPv6 hosts are identified by id (DHCP DUID) or name", path)
    if partial:
        return
    require_complete_dhcp_host(host, fam == 6, path)
    host_ip = _addr(host.ip)
    if host_ip.version != fam:
        raise _invalid(net, "the address family of a host entry IP must match the address family "
                            f"of the dhcp element's parent: {host.ip} is {_fam_name(host_ip.version)} "
                            f"but <ip address='{ip.address}'> is {_fam_name(fam)}; choose an <ip> "
                            "of the same family with --parent-index, or leave it out")
    subnet = ip_network(ip)
    # kvmnet addition: dnsmasq silently ignores a reservation outside the subnet
    if subnet is not None and host_ip not in subnet:
        raise _invalid(net, f"DHCP host ip {host.ip} is outside the network {subnet} of "
                            f"<ip address='{ip.address}'>; use an address inside it")


def _update_dhcp_host(net: Network, cmd: Command, root: Element, parent_index: int) -> Network:
    path = _check_root(net, root, "host")
    host = parse_dhcp_host(root, path)
    partial = cmd is Command.DELETE
    family: int | None = None
    if host.ip is not None:
        family = _addr(host.ip).version
    elif host.mac is not None:
        family = 4
    elif host.id is not None:
        family = 6
    index = _select_ip(net, parent_index, family)
    ip = net.ips[index]
    _check_dhcp_host(net, ip, host, partial, path)
    dhcp = ip.dhcp or Dhcp()
    hosts = list(dhcp.hosts)

    def clash(h: DhcpHost) -> list[str]:
        same = []
        if _same_mac(host.mac, h.mac):
            same.append("mac")
        if host.id is not None and host.id == h.id:
            same.append("id")
        if host.name is not None and host.name == h.name:
            same.append("name")
        if _same_addr(host.ip, h.ip):
            same.append("ip")
        return same

    if cmd is Command.MODIFY:
        # libvirt finds the entry by mac, ip or name (kvmnet also by id) and replaces it whole
        found = next((i for i, h in enumerate(hosts) if clash(h)), None)
        if found is None:
            raise _not_found(
                f"couldn't locate an existing dhcp host entry matching {_host_text(host)} in network "
                f"'{net.name}' (matched by mac, id, name or ip); use 'add' to create it")
        hosts[found] = host
    elif cmd.is_add:
        _check_multi_dhcp(net, index)
        for h in hosts:
            same = clash(h)
            if same:
                raise _exists(
                    f"there is an existing dhcp host entry {_host_text(h)} in network '{net.name}' "
                    f"with the same {' and '.join(same)} as {_host_text(host)}; use 'modify' to "
                    "change it, or 'delete' it first")
        hosts = _insert(hosts, host, cmd)
    else:
        def matches(h: DhcpHost) -> bool:
            # every attribute the fragment gives must match; a mac absent on either side passes
            return ((host.mac is None or h.mac is None or _same_mac(host.mac, h.mac))
                    and (host.id is None or host.id == h.id)
                    and (host.name is None or host.name == h.name)
                    and (host.ip is None or _same_addr(host.ip, h.ip)))
        found = next((i for i, h in enumerate(hosts) if matches(h)), None)
        if found is None:
            raise _not_found(f"couldn't locate a dhcp host entry matching {_host_text(host)} in "
                             f"<ip address='{ip.address}'> of network '{net.name}'; check the "
                             "attributes (net-dumpxml shows the entries) or --parent-index")
        del hosts[found]
    return _replace_ip(net, index, ip, replace(dhcp, hosts=tuple(hosts)))


# -------------------------------------------------------- ip-dhcp-range

def _check_range(net: Network, ip: IPDef, rng: DhcpRange) -> None:
    """libvirt's virSocketAddrGetRange sanity check of a range against its ``<ip>``."""
    start, end = _addr(rng.start), _addr(rng.end)
    text = f"{rng.start} - {rng.end}"
    if start.version != _family(ip):
        raise _invalid(net, "the address family of a dhcp range must match the address family of "
                            f"the dhcp element's parent: range {text} is {_fam_name(start.version)} "
                            f"but <ip address='{ip.address}'> is {_fam_name(_family(ip))}; choose "
                            "an <ip> of the same family with --parent-index, or leave it out")
    subnet = ip_network(ip)
    net_text = f"{ip.address}/{ip_prefix(ip)}"
    if subnet is None:
        raise _invalid(net, f"bad prefix for network {ip.address} when checking range {text}")
    if start not in subnet or end not in subnet:
        raise _invalid(net, f"range {text} is not entirely within network {net_text}; "
                            f"use addresses inside {subnet}")
    if isinstance(subnet, ipaddress.IPv4Network):
        if start == subnet.network_address:
            raise _invalid(net, f"start of range {text} in network {net_text} is the network "
                                "address; start one address higher")
        if end == subnet.broadcast_address:
            raise _invalid(net, f"end of range {text} in network {net_text} is the broadcast "
                                "address; end one address lower")
    # libvirt's legacy limit: all but the last 16 bits of start and end must agree
    if (int(start) >> 16) != (int(end) >> 16):
        raise _invalid(net, f"range {text} is too large (> 65535 addresses); split it")
    if int(end) < int(start):
        raise _invalid(net, f"range {text} is reversed; swap start and end")


def _update_dhcp_range(net: Network, cmd: Command, root: Element, parent_index: int) -> Network:
    path = _check_root(net, root, "range")
    if cmd is Command.MODIFY:
        raise UnsupportedError("dhcp ranges cannot be modified, only added or deleted; delete the "
                               "old range and add the new one")
    rng = parse_dhcp_range(root, path)
    index = _select_ip(net, parent_index, _addr(rng.start).version)
    ip = net.ips[index]
    _check_range(net, ip, rng)
    dhcp = ip.dhcp or Dhcp()
    found = next((i for i, r in enumerate(dhcp.ranges)
                  if _same_addr(r.start, rng.start) and _same_addr(r.end, rng.end)), None)
    ranges = list(dhcp.ranges)
    text = f"<range start='{rng.start}' end='{rng.end}'/>"
    if cmd.is_add:
        _check_multi_dhcp(net, index)
        if found is not None:
            raise _exists(f"there is an existing dhcp range entry in network '{net.name}' that "
                          f"matches \"{text}\"; nothing to add")
        ranges = _insert(ranges, rng, cmd)
    else:
        if found is None:
            raise _not_found(f"couldn't locate a matching dhcp range entry {text} in <ip address="
                             f"'{ip.address}'> of network '{net.name}'; start and end must both "
                             "match an existing range exactly")
        del ranges[found]
    return _replace_ip(net, index, ip, replace(dhcp, ranges=tuple(ranges)))


# ---------------------------------------------------- forward-interface

def _update_forward_interface(net: Network, cmd: Command, root: Element) -> Network:
    path = _check_root(net, root, "interface")
    if cmd is Command.MODIFY:
        raise UnsupportedError("forward interface entries cannot be modified, only added or "
                               "deleted; delete the old interface and add the new one")
    iface = parse_forward_interface(root, path)
    fwd = net.forward
    if fwd is None:
        raise OperationInvalidError(
            f"network '{net.name}' has no <forward> element, so it has no interface pool to "
            "update; an isolated network forwards nowhere (use net-edit to add a <forward>)")
    # <forward dev='X'/> is the same pool as one <interface dev='X'/> (libvirt parses it so)
    pool = list(fwd.interfaces) or ([ForwardInterface(dev=fwd.dev)] if fwd.dev else [])
    found = next((i for i, f in enumerate(pool) if f.dev == iface.dev), None)
    if cmd.is_add:
        if found is not None:
            raise _exists(f"there is an existing interface entry in network '{net.name}' that "
                          f"matches <interface dev={iface.dev!r}>; nothing to add")
        pool = _insert(pool, ForwardInterface(dev=iface.dev), cmd)
    else:
        if found is None:
            devs = ", ".join(f.dev for f in pool) or "none"
            raise _not_found(f"couldn't find an interface entry in network '{net.name}' matching "
                             f"<interface dev={iface.dev!r}> (the pool has: {devs})")
        used = pool[found].connections or 0
        if used > 0:
            raise OperationInvalidError(
                f"unable to delete interface '{iface.dev}' in network '{net.name}'. It is currently "
                f"being used by {used} domains; detach or move those guests first")
        del pool[found]
    # libvirt writes dev= from the first pool entry, except when a <pf> defines the pool
    dev = fwd.dev if fwd.pf else (pool[0].dev if pool else None)
    return replace(net, forward=replace(fwd, interfaces=tuple(pool), dev=dev))


# ------------------------------------------------------------ portgroup

def _update_portgroup(net: Network, cmd: Command, root: Element) -> Network:
    path = _check_root(net, root, "portgroup")
    pg = parse_portgroup(root, path)
    groups = list(net.portgroups)
    found = next((i for i, g in enumerate(groups) if g.name == pg.name), None)
    default = next((i for i, g in enumerate(groups) if g.default), None)
    text = f"<portgroup name='{pg.name}'>"
    if found is None and not cmd.is_add:
        names = ", ".join(g.name for g in groups) or "none"
        raise _not_found(f"couldn't find a portgroup entry in network '{net.name}' matching {text} "
                         f"(portgroups: {names}); use 'add' to create it")
    if found is not None and cmd.is_add:
        raise _exists(f"there is an existing portgroup entry in network '{net.name}' that matches "
                      f"\"{text}\"; use 'modify' to change it")
    # libvirt refuses a second default rather than silently moving the default
    if cmd is not Command.DELETE and pg.default and default is not None and default != found:
        raise _exists(f"a different portgroup entry in network '{net.name}' "
                      f"('{groups[default].name}') is already set as the default. Only one "
                      "default is allowed; drop default='yes' here, or first modify that "
                      "portgroup without it")
    if cmd is Command.MODIFY:
        assert found is not None
        groups[found] = pg
    elif cmd.is_add:
        groups = _insert(groups, pg, cmd)
    else:
        assert found is not None
        del groups[found]
    return replace(net, portgroups=tuple(groups))


# ------------------------------------------------------------ dns-*

def _with_dns(net: Network, dns: Dns) -> Network:
    # an emptied <dns> is not written at all, as libvirt does
    return replace(net, dns=None if dns == Dns() else dns)


def _dns_writable(net: Network, cmd: Command) -> Dns:
    dns = net.dns or Dns()
    if cmd is not Command.DELETE and dns.enable is False:
        raise OperationInvalidError(
            f"DNS is disabled in network '{net.name}' (<dns enable='no'>), so it cannot hold DNS "
            "records; enable DNS with net-edit first")
    return dns


def _dns_host_text(h: DnsHost) -> str:
    names = "".join(f"<hostname>{n}</hostname>" for n in h.hostnames)
    ip = f" ip='{h.ip}'" if h.ip is not None else ""
    return f"<host{ip}>{names}</host>"


def _update_dns_host(net: Network, cmd: Command, root: Element) -> Network:
    path = _check_root(net, root, "host")
    host = parse_dns_host(root, path)
    # a partial record (ip or hostnames) only identifies one to delete
    if cmd is not Command.DELETE:
        require_complete_dns_host(host, path)
    dns = _dns_writable(net, cmd)

    def matches(h: DnsHost) -> bool:
        # only delete matches on names: the same name on several addresses is legitimate
        return _same_addr(host.ip, h.ip) or (
            cmd is Command.DELETE and bool(set(host.hostnames) & set(h.hostnames)))

    found = [i for i, h in enumerate(dns.hosts) if matches(h)]
    hosts = list(dns.hosts)
    if cmd.is_add:
        if found:
            raise _exists(f"there is already at least one DNS HOST record with a matching field in "
                          f"network '{net.name}': {_dns_host_text(hosts[found[0]])} has ip "
                          f"{host.ip}; use 'modify' to replace its hostnames")
        hosts = _insert(hosts, host, cmd)
    else:
        how = "ip" if cmd is Command.MODIFY else "ip or hostname"
        if not found:
            raise _not_found(f"couldn't locate a matching DNS HOST record in network '{net.name}' for "
                             f"{_dns_host_text(host)} (matched by {how})")
        if len(found) > 1:
            raise OperationInvalidError(
                f"multiple matching DNS HOST records were found in network '{net.name}' for "
                f"{_dns_host_text(host)}; give the ip so that exactly one record matches")
        if cmd is Command.MODIFY:
            hosts[found[0]] = host
        else:
            del hosts[found[0]]
    return _with_dns(net, replace(dns, hosts=tuple(hosts)))


def _update_dns_txt(net: Network, cmd: Command, root: Element) -> Network:
    path = _check_root(net, root, "txt")
    txt = parse_dns_txt(root, path)
    # the parser refuses line breaks in the value (CVE-2026-61477) and bad name characters
    if cmd is not Command.DELETE:
        require_complete_dns_txt(txt, path)
    dns = _dns_writable(net, cmd)
    txts = list(dns.txts)
    found = next((i for i, t in enumerate(txts) if t.name == txt.name), None)
    if cmd.is_add:
        if found is not None:
            raise _exists(f"there is already a DNS TXT record with name '{txt.name}' in network "
                          f"'{net.name}'; use 'modify' to change its value")
        txts = _insert(txts, txt, cmd)
    else:
        if found is None:
            names = ", ".join(t.name for t in txts) or "none"
            raise _not_found(f"couldn't locate a matching DNS TXT record named '{txt.name}' in "
                             f"network '{net.name}' (TXT records: {names})")
        if cmd is Command.MODIFY:
            txts[found] = DnsTxt(name=txt.name, value=txt.value)
        else:
            del txts[found]
    return _with_dns(net, replace(dns, txts=tuple(txts)))


_SRV_KEYS = ("domain", "service", "protocol", "target")


def _srv_text(s: DnsSrv) -> str:
    attrs = [f"{k}='{getattr(s, k)}'" for k in ("service", "protocol", "domain", "target")
             if getattr(s, k) is not None]
    return f"<srv {' '.join(attrs)}/>"


def _update_dns_srv(net: Network, cmd: Command, root: Element) -> Network:
    if cmd is Command.MODIFY:
        raise UnsupportedError("DNS SRV records cannot be modified, only added or deleted; delete "
                               "the old record and add the new one")
    path = _check_root(net, root, "srv")
    srv = parse_dns_srv(root, path)
    # the parser refuses line breaks in domain and target (CVE-2026-61477)
    if cmd.is_add:
        require_complete_dns_srv(srv, path)
    dns = _dns_writable(net, cmd)

    def matches(s: DnsSrv) -> bool:
        # every field the fragment gives (of domain, service, protocol, target) must be equal
        return all(getattr(srv, k) is None or getattr(srv, k) == getattr(s, k) for k in _SRV_KEYS)

    found = [i for i, s in enumerate(dns.srvs) if matches(s)]
    srvs = list(dns.srvs)
    if cmd.is_add:
        if found:
            raise _exists(f"there is already at least one DNS SRV record matching all specified "
                          f"fields in network '{net.name}': {_srv_text(srvs[found[0]])}; delete it "
                          "first to replace it")
        srvs = _insert(srvs, srv, cmd)
    else:
        if not found:
            raise _not_found(f"couldn't locate a matching DNS SRV record in network '{net.name}' "
                             f"for {_srv_text(srv)}")
        if len(found) > 1:
            listed = ", ".join(_srv_text(srvs[i]) for i in found)
            raise OperationInvalidError(
                f"multiple DNS SRV records matching all specified fields were found in network "
                f"'{net.name}' ({listed}); give more of service, protocol, domain and target so "
                "that exactly one matches")
        del srvs[found[0]]
    return _with_dns(net, replace(dns, srvs=tuple(srvs)))
