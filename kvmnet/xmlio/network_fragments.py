"""Parsers for the pieces of a network definition that ``net-update`` edits.

Each ``parse_*`` takes an lxml element and its path and performs syntax and
per-attribute checks only.  Like libvirt's "partialOkay" mode they accept
incomplete definitions (a DHCP host given only by MAC, an SRV record given
only by service) because ``net-update ... delete`` matches on them; callers
that add or modify call the matching ``require_complete_*`` afterwards.
The full-network parser uses the same functions, so both paths agree.
"""
from __future__ import annotations

from kvmnet.errors import XMLParseError, quote
from kvmnet.model.network import (
    Bandwidth,
    DhcpHost,
    DhcpRange,
    DnsHost,
    DnsSrv,
    DnsTxt,
    ForwardInterface,
    Lease,
    PortGroup,
    Rate,
    VirtualPort,
    Vlan,
    VlanTag,
)
from kvmnet.xmlio import values as v

LEASE_UNITS = ("seconds", "minutes", "hours")
VPORT_TYPES = ("802.1Qbg", "802.1Qbh", "openvswitch", "midonet")
# Canonical (libvirt format) order of <virtualport><parameters> attributes.
VPORT_PARAMS = ("managerid", "typeid", "typeidversion", "instanceid", "interfaceid", "profileid")
# Parameters each virtualport type may carry (libvirt rejects the others).
VPORT_ALLOWED = {
    "802.1Qbg": {"managerid", "typeid", "typeidversion", "instanceid"},
    "802.1Qbh": {"profileid"},
    "openvswitch": {"profileid", "interfaceid"},
    "midonet": {"interfaceid"},
}
# Characters libvirt allows in SRV service/protocol ('.' would break the record).
_SERVICE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/*")
_PROTOCOL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+/")
_DUID_CHARS = frozenset("0123456789abcdefABCDEF:")
DNS_RECORD_LENGTH_SRV = 512 - 30

TYPE_CHECKING = False  # typing costs milliseconds of a cold start: annotations only
if TYPE_CHECKING:
    from kvmnet.xmlio.expat_tree import Node


def expect_tag(el: Node, tag: str, path: str) -> None:
    """Refuse a fragment whose element is not the one the section needs."""
    if el.tag != tag:
        raise XMLParseError(f"unexpected element <{el.tag}>, expected <{tag}>", path)


def parse_lease(el: Node, path: str) -> Lease | None:
    """``<lease expiry='N' unit='...'/>``; no expiry means no lease (as libvirt)."""
    expiry_text = v.attr(el, "expiry")
    if expiry_text is None:
        return None
    expiry = v.unsigned(expiry_text, path, "expiry", maximum=2**64 - 1)
    unit_text = v.attr(el, "unit")
    unit = "minutes" if unit_text is None else v.choice(unit_text, LEASE_UNITS, path, "unit")
    if expiry > 0 and ((unit == "seconds" and expiry < 120) or (unit == "minutes" and expiry < 2)):
        raise XMLParseError(
            f"lease time {expiry} {unit} is too short; dnsmasq's minimum lease time is "
            "2 minutes (use 0 for an infinite lease)",
            path,
        )
    # libvirt formats no unit for an infinite lease and 'minutes' when omitted.
    return Lease(expiry=expiry, unit=None if expiry == 0 else unit)


def _lease_child(el: Node, path: str) -> Lease | None:
    lease_el = v.first_child(el, "lease")
    if lease_el is None:
        return None
    return parse_lease(lease_el, v.child_path(path, "lease"))


def parse_dhcp_range(el: Node, path: str) -> DhcpRange:
    """``<range start= end=>``: both addresses required and of one family."""
    expect_tag(el, "range", path)
    start = v.attr(el, "start")
    end = v.attr(el, "end")
    if start is None:
        raise XMLParseError("missing 'start' attribute in DHCP range; add start='ADDRESS'", path)
    if end is None:
        raise XMLParseError("missing 'end' attribute in DHCP range; add end='ADDRESS'", path)
    s = v.ip_address(start, path, "start")
    e = v.ip_address(end, path, "end")
    if v.ip_version(s) != v.ip_version(e):
        raise XMLParseError(
            f"DHCP range {s} - {e} mixes IPv4 and IPv6; both ends must be the same family", path
        )
    return DhcpRange(start=s, end=e, lease=_lease_child(el, path))


def parse_dhcp_host(el: Node, path: str) -> DhcpHost:
    """``<host mac|id|name ip>``; at least one of mac, name or ip."""
    expect_tag(el, "host", path)
    mac = v.attr(el, "mac")
    if mac is not None:
        # Validated, but kept as written: libvirt stores the host MAC verbatim.
        v.mac_address(mac, path, "mac")
    duid = v.attr(el, "id")
    if duid is not None:
        bad = [c for c in duid if c not in _DUID_CHARS]
        if bad or not duid:
            raise XMLParseError(
                f"invalid character '{bad[0] if bad else ''}' in DHCP host id {quote(duid)}; a DUID "
                "is hex bytes separated by colons",
                path,
            )
    name = v.attr(el, "name")
    if name is not None and not (name[:1].isascii() and name[:1].isalnum()):
        raise XMLParseError(
            f"cannot use host name {quote(name)}; a DHCP host name must start with a letter or digit",
            path,
        )
    ip_text = v.attr(el, "ip")
    ip = v.ip_address(ip_text, path, "ip") if ip_text is not None else None
    if mac is None and name is None and ip is None:
        raise XMLParseError(
            "static DHCP host needs at least one of the attributes name, mac or ip", path
        )
    return DhcpHost(ip=ip, mac=mac, id=duid, name=name, lease=_lease_child(el, path))


def require_complete_dhcp_host(host: DhcpHost, ipv6: bool, path: str) -> None:
    """What an added/modified (not merely matched) DHCP host must have."""
    if ipv6:
        if host.mac is not None:
            raise XMLParseError(
                f"MAC address {host.mac!r} is not allowed in an IPv6 static host; identify "
                "IPv6 hosts by id (DUID) or name",
                path,
            )
        if host.id is None and host.name is None:
            raise XMLParseError("static host in an IPv6 network must have an id or a name", path)
    elif host.mac is None and host.name is None:
        raise XMLParseError("static host in an IPv4 network must have a mac or a name", path)
    if host.ip is None:
        raise XMLParseError("static DHCP host is missing its ip attribute; add ip='ADDRESS'", path)


def parse_forward_interface(el: Node, path: str) -> ForwardInterface:
    """``<interface dev='eth0'/>`` of a forward pool."""
    expect_tag(el, "interface", path)
    v.known(el, "@connections")  # live status only (how many guests use it): not kept
    dev = v.attr(el, "dev")
    if not dev:
        raise XMLParseError("missing required dev attribute in forward <interface>", path)
    return ForwardInterface(dev=dev)


def parse_dns_host(el: Node, path: str) -> DnsHost:
    """``<host ip=><hostname>..</hostname></host>``; ip or a hostname at least."""
    expect_tag(el, "host", path)
    names: list[str] = []
    for i, h in enumerate(v.children(el, "hostname"), 1):
        text = v.text_of(h)
        if not text:
            raise XMLParseError("empty <hostname> in DNS host record", v.child_path(path, "hostname", i))
        names.append(text)
    ip_text = v.attr(el, "ip")
    ip = v.ip_address(ip_text, path, "ip") if ip_text is not None else None
    if ip is None and not names:
        raise XMLParseError(
            "DNS host record has neither an ip attribute nor a <hostname>; give at least one",
            path,
        )
    return DnsHost(ip=ip, hostnames=tuple(names))


def require_complete_dns_host(host: DnsHost, path: str) -> None:
    if host.ip is None:
        raise XMLParseError("DNS host record is missing its ip attribute; add ip='ADDRESS'", path)
    if not host.hostnames:
        raise XMLParseError("DNS host record needs at least one <hostname>", path)


def parse_dns_txt(el: Node, path: str) -> DnsTxt:
    """``<txt name= value=>``; name always required, value only when complete."""
    expect_tag(el, "txt", path)
    name = v.attr(el, "name")
    if name is None:
        raise XMLParseError("missing required name attribute in DNS TXT record", path)
    if " " in name or "," in name:
        raise XMLParseError(
            f"DNS TXT record name {quote(name)} contains a space or comma, which dnsmasq cannot "
            "accept; use a DNS name",
            path,
        )
    v.no_line_breaks(name, path, "DNS TXT record name")
    value = v.attr(el, "value")
    if value is not None:
        v.no_line_breaks(value, path, f"value of DNS TXT record {quote(name)}")
    return DnsTxt(name=name, value=value)


def require_complete_dns_txt(txt: DnsTxt, path: str) -> None:
    if txt.value is None:
        raise XMLParseError(f"DNS TXT record {txt.name!r} is missing its value attribute", path)


def _srv_number(el: Node, path: str, name: str, target: str | None,
                minimum: int) -> int | None:
    text = v.attr(el, name)
    if text is None:
        return None
    number = v.unsigned(text, path, name, minimum=minimum, maximum=65535)
    if target is None:
        raise XMLParseError(
            f"DNS SRV attribute {quote(name)} is not allowed without a target; add target='HOST'",
            path,
        )
    return number


def parse_dns_srv(el: Node, path: str) -> DnsSrv:
    """``<srv service= protocol= [domain target port priority weight]>``."""
    expect_tag(el, "srv", path)
    service = v.attr(el, "service")
    if service is not None:
        if len(service.encode()) > DNS_RECORD_LENGTH_SRV:
            raise XMLParseError(
                f"DNS SRV service is too long ({len(service)} bytes, limit "
                f"{DNS_RECORD_LENGTH_SRV})",
                path,
            )
        if any(c not in _SERVICE_CHARS for c in service):
            raise XMLParseError(
                f"invalid character in DNS SRV service {quote(service)}; allowed are letters, "
                "digits and _-+/*",
                path,
            )
    protocol = v.attr(el, "protocol")
    if protocol is not None and any(c not in _PROTOCOL_CHARS for c in protocol):
        raise XMLParseError(
            f"invalid character in DNS SRV protocol {quote(protocol)}; use e.g. 'tcp' or 'udp'", path
        )
    # libvirt reads these with XPath string(): an empty attribute is absent.
    domain = v.attr(el, "domain") or None
    target = v.attr(el, "target") or None
    if domain is not None:
        v.no_line_breaks(domain, path, "DNS SRV domain")
    if target is not None:
        v.no_line_breaks(target, path, "DNS SRV target")
    port = _srv_number(el, path, "port", target, 1)
    priority = _srv_number(el, path, "priority", target, 0)
    weight = _srv_number(el, path, "weight", target, 0)
    return DnsSrv(
        service=service,
        protocol=protocol,
        domain=domain,
        target=target,
        port=port,
        # A zero priority/weight is the default and is not formatted by libvirt.
        priority=priority or None,
        weight=weight or None,
    )


def require_complete_dns_srv(srv: DnsSrv, path: str) -> None:
    if srv.service is None:
        raise XMLParseError("DNS SRV record is missing its service attribute", path)
    if srv.protocol is None:
        raise XMLParseError(
            f"DNS SRV record {srv.service!r} is missing its protocol attribute", path
        )


def parse_virtualport(el: Node, path: str, *, require_type: bool) -> VirtualPort:
    """``<virtualport type=><parameters .../></virtualport>``."""
    vtype = v.attr(el, "type")
    if vtype is not None:
        v.choice(vtype, VPORT_TYPES, path, "type")
    elif require_type:
        raise XMLParseError(
            "missing required virtualport type; use type='openvswitch', '802.1Qbg', "
            "'802.1Qbh' or 'midonet'",
            path,
        )
    params: dict[str, str] = {}
    pel = v.first_child(el, "parameters")
    if pel is not None:
        ppath = v.child_path(path, "parameters")
        for key, limit in (("managerid", 0xFF), ("typeid", 0xFFFFFF), ("typeidversion", 0xFF)):
            text = v.attr(pel, key)
            if text is not None:
                params[key] = str(v.unsigned(text, ppath, key, maximum=limit, base=0))
        for key in ("instanceid", "interfaceid"):
            text = v.attr(pel, key)
            if text is not None:
                params[key] = v.uuid_text(text, ppath, key)
        profile = v.attr(pel, "profileid")
        if profile is not None:
            if len(profile.encode()) > 39:
                raise XMLParseError("profileid is too long (limit 39 bytes)", ppath, )
            if profile:
                params["profileid"] = profile
        if vtype is not None:
            extra = [k for k in params if k not in VPORT_ALLOWED[vtype]]
            if extra:
                raise XMLParseError(
                    f"attribute '{extra[0]}' is not allowed for <virtualport type={quote(vtype)}>; "
                    "allowed: " + ", ".join(p for p in VPORT_PARAMS if p in VPORT_ALLOWED[vtype]),
                    ppath,
                )
    ordered = tuple((k, params[k]) for k in VPORT_PARAMS if k in params)
    return VirtualPort(type=vtype, parameters=ordered)


def parse_vlan(el: Node, path: str) -> Vlan:
    """``<vlan [trunk='yes']><tag id= [nativeMode=]/>...</vlan>``."""
    tags_el = v.children(el, "tag")
    if not tags_el:
        raise XMLParseError(
            "missing tag id - each <vlan> must have at least one <tag id='N'/>", path
        )
    tags: list[VlanTag] = []
    native_seen = False
    for i, t in enumerate(tags_el, 1):
        tpath = v.child_path(path, "tag", i)
        id_text = v.attr(t, "id")
        if id_text is None:
            raise XMLParseError("missing vlan tag id attribute", tpath)
        tag_id = v.unsigned(id_text, tpath, "id", maximum=4095)
        mode_text = v.attr(t, "nativeMode")
        mode = None
        if mode_text is not None:
            if native_seen:
                raise XMLParseError("duplicate native vlan setting; only one tag may be native", tpath)
            mode = v.choice(mode_text, ("tagged", "untagged"), tpath, "nativeMode")
            native_seen = True
        tags.append(VlanTag(id=tag_id, native_mode=mode))
    trunk = len(tags) > 1
    trunk_text = v.attr(el, "trunk")
    if trunk_text is not None:
        if trunk_text.lower() == "yes":
            trunk = True
        elif trunk_text.lower() != "no":
            raise XMLParseError(f"invalid trunk={quote(trunk_text)} in <vlan>; use yes or no", path)
        elif len(tags) > 1:
            raise XMLParseError("trunk='yes' is required for more than one vlan tag", path)
        elif native_seen:
            raise XMLParseError("trunk='no' is not allowed with a native vlan id", path)
    return Vlan(tags=tuple(tags), trunk=True if trunk else None)


def _rate(el: Node, path: str, allow_floor: bool, outbound: bool) -> Rate:
    vals: dict[str, int | None] = {}
    for key in ("average", "peak", "burst", "floor"):
        text = v.attr(el, key)
        vals[key] = None if text is None else v.unsigned(text, path, key, maximum=2**64 - 1)
    if vals["average"] is None and vals["floor"] is None:
        raise XMLParseError("missing mandatory average or floor attribute", path)
    if (vals["peak"] is not None or vals["burst"] is not None) and vals["average"] is None:
        raise XMLParseError("'peak' and 'burst' require the 'average' attribute", path)
    # As libvirt: a zero floor is the same as no floor.
    if vals["floor"] and outbound:
        raise XMLParseError("the floor attribute is allowed only in <inbound>", path)
    if vals["floor"] and not allow_floor:
        raise XMLParseError(
            "the floor attribute is not supported here; floor is only available on a "
            "guest interface's bandwidth", path)
    return Rate(average=vals["average"], peak=vals["peak"], burst=vals["burst"],
                floor=vals["floor"])


def parse_bandwidth(el: Node, path: str, *, allow_floor: bool = False) -> Bandwidth | None:
    """``<bandwidth><inbound/><outbound/></bandwidth>``; empty means none."""
    if v.attr(el, "classID") is not None:
        raise XMLParseError("the classID attribute is not supported on <bandwidth> here", path)
    rates: dict[str, Rate | None] = {"inbound": None, "outbound": None}
    for key in rates:
        found = v.children(el, key)
        if len(found) > 1:
            raise XMLParseError(f"only one <{key}> element is allowed", path)
        if found:
            rates[key] = _rate(found[0], v.child_path(path, key), allow_floor,
                               key == "outbound")
    if rates["inbound"] is None and rates["outbound"] is None:
        return None
    return Bandwidth(inbound=rates["inbound"], outbound=rates["outbound"])


def parse_portgroup(el: Node, path: str) -> PortGroup:
    """``<portgroup name= [default] [trustGuestRxFilters]>`` with vlan/virtualport/bandwidth."""
    expect_tag(el, "portgroup", path)
    name = v.attr(el, "name")
    if not name:
        raise XMLParseError("missing required name attribute in <portgroup>", path)
    default_text = v.attr(el, "default")
    trust_text = v.attr(el, "trustGuestRxFilters")
    vport_el = v.first_child(el, "virtualport")
    bw_el = v.first_child(el, "bandwidth")
    vlan_el = v.first_child(el, "vlan")
    vport = None if vport_el is None else parse_virtualport(
        vport_el, v.child_path(path, "virtualport"), require_type=False)
    if vport == VirtualPort():
        vport = None  # an empty <virtualport/> is not formatted: it would not survive storing
    return PortGroup(
        name=name,
        # libvirt: anything but a case-insensitive 'yes' means not default.
        default=True if default_text is not None and default_text.lower() == "yes" else None,
        trust_guest_rx_filters=None if trust_text is None
        else v.yes_no(trust_text, path, "trustGuestRxFilters"),
        virtualport=vport,
        bandwidth=None if bw_el is None else parse_bandwidth(bw_el, v.child_path(path, "bandwidth")),
        vlan=None if vlan_el is None else parse_vlan(vlan_el, v.child_path(path, "vlan")),
    )
