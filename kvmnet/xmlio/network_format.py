"""Format a :class:`Network` exactly as libvirt 11.3.0's ``virNetworkDefFormat`` does.

Two-space indentation, single-quoted attributes, libvirt's element order and
its empty-element quirks (an ``<ip>`` with no children is written as
``<ip ...>`` + ``</ip>``, a ``<portgroup>`` always has a closing tag).  The
output ends with a newline.  ``inactive=True`` corresponds to
``VIR_NETWORK_XML_INACTIVE``: runtime connection counts are left out, and so
is a device pool that was expanded from a ``<pf>``.
"""
from __future__ import annotations

from kvmnet.model.modes import owns_bridge
from kvmnet.model.network import (
    Bandwidth,
    Dns,
    Forward,
    ForwardInterface,
    IPDef,
    Lease,
    Network,
    PortGroup,
    Rate,
    Route,
    VirtualPort,
    Vlan,
)
from kvmnet.xmlio.forward import format_forwards, namespace_attribute
from kvmnet.xmlio.network_fragments import VPORT_PARAMS

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"

# Which <parameters> attributes libvirt writes for each virtualport type
# (None = no type given, where everything is written).
_VPORT_FORMAT: dict[str | None, frozenset[str]] = {
    None: frozenset(VPORT_PARAMS),
    "802.1Qbg": frozenset({"managerid", "typeid", "typeidversion", "instanceid"}),
    "802.1Qbh": frozenset({"profileid"}),
    "openvswitch": frozenset({"interfaceid", "profileid"}),
    "midonet": frozenset({"interfaceid"}),
}


def escape(text: str, *, attribute: bool = True) -> str:
    """libvirt's virBufferEscapeString: XML-escape, drop other control characters.

    Unlike libvirt, tab, line feed and carriage return are written as character
    references in attribute values: a reader normalises them to spaces there (XML
    attribute-value normalisation), and the stored file would not read back to the
    same definition.  In element text (``attribute=False``) only the carriage return
    needs one (a reader turns a raw one into a line feed).
    """
    out: list[str] = []
    for ch in text:
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == "'":
            out.append("&apos;")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "\r" or (attribute and ch in "\t\n"):
            out.append(f"&#{ord(ch)};")
        elif ord(ch) >= 0x20 or ch in "\t\n":
            out.append(ch)
    return "".join(out)


def _yn(value: bool) -> str:
    return "yes" if value else "no"


class _Buf:
    """Line buffer with libvirt's two-space indentation."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0

    def add(self, line: str) -> None:
        self.lines.append("  " * self.level + line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def format_network(net: Network, *, inactive: bool = False) -> str:
    """The network definition as libvirt formats it (trailing newline included)."""
    b = _Buf()
    head = "<network"
    if net.dnsmasq_options:
        head += f" xmlns:dnsmasq='{DNSMASQ_NS}'"
    if net.forwards:
        head += namespace_attribute()
    if not inactive and net.connections:
        head += f" connections='{net.connections}'"
    if net.ipv6:
        head += " ipv6='yes'"
    if net.trust_guest_rx_filters is not None:
        head += f" trustGuestRxFilters='{_yn(net.trust_guest_rx_filters)}'"
    b.add(head + ">")
    b.level += 1
    b.add(f"<name>{escape(net.name, attribute=False)}</name>")
    if net.uuid is not None:
        b.add(f"<uuid>{net.uuid}</uuid>")
    if net.title is not None:
        b.add(f"<title>{escape(net.title, attribute=False)}</title>")
    if net.description is not None:
        b.add(f"<description>{escape(net.description, attribute=False)}</description>")
    if net.metadata is not None:
        for line in net.metadata.split("\n"):
            b.add(line)
    if net.forward is not None:
        _forward(b, net.forward, inactive)
    _bridge(b, net)
    if net.mtu:
        b.add(f"<mtu size='{net.mtu}'/>")
    if net.mac is not None:
        b.add(f"<mac address='{net.mac}'/>")
    if net.domain is not None:
        line = f"<domain name='{escape(net.domain.name)}'"
        if net.domain.local_only is not None:
            line += f" localOnly='{_yn(net.domain.local_only)}'"
        if net.domain.register is not None:
            line += f" register='{_yn(net.domain.register)}'"
        b.add(line + "/>")
    if net.dns is not None:
        _dns(b, net.dns)
    if net.vlan is not None:
        _vlan(b, net.vlan)
    if net.bandwidth is not None:
        _bandwidth(b, net.bandwidth)
    if net.port_isolated is not None:
        b.add(f"<port isolated='{_yn(net.port_isolated)}'/>")
    for ip in net.ips:
        _ip(b, ip)
    for route in net.routes:
        _route(b, route)
    if net.virtualport is not None:
        _virtualport(b, net.virtualport)
    for pg in net.portgroups:
        _portgroup(b, pg)
    if net.dnsmasq_options:
        b.add("<dnsmasq:options>")
        b.level += 1
        for opt in net.dnsmasq_options:
            b.add(f"<dnsmasq:option value='{escape(opt)}'/>")
        b.level -= 1
        b.add("</dnsmasq:options>")
    for line in format_forwards(net.forwards):
        b.add(line)
    b.level -= 1
    b.add("</network>")
    return b.text()


def _pool(fwd: Forward) -> tuple[ForwardInterface, ...]:
    if fwd.interfaces:
        return fwd.interfaces
    # A hand-built model may carry only dev=; libvirt keeps that as the pool.
    if fwd.dev and fwd.pf is None and not fwd.addresses:
        return (ForwardInterface(dev=fwd.dev),)
    return ()


def _nat_has_content(fwd: Forward) -> bool:
    nat = fwd.nat
    if nat is None:
        return False
    return bool(nat.address_start or nat.address_end or nat.port_start or nat.port_end
                or nat.ipv6 is not None)


def _forward(b: _Buf, fwd: Forward, inactive: bool) -> None:
    pool = _pool(fwd)
    line = "<forward"
    if pool and fwd.pf is None:
        line += f" dev='{escape(pool[0].dev)}'"
    line += f" mode='{fwd.mode.value}'"
    if fwd.mode.value == "hostdev":
        line += f" managed='{_yn(bool(fwd.managed))}'"
    has_driver = fwd.driver is not None and (fwd.driver.name or fwd.driver.model)
    short = not (pool or fwd.addresses or fwd.pf or has_driver or _nat_has_content(fwd))
    if short:
        b.add(line + "/>")
        return
    b.add(line + ">")
    b.level += 1
    if has_driver and fwd.driver is not None:
        d = "<driver"
        if fwd.driver.name:
            d += f" name='{fwd.driver.name}'"
        if fwd.driver.model:
            d += f" model='{escape(fwd.driver.model)}'"
        b.add(d + "/>")
    if fwd.mode.value == "nat" and _nat_has_content(fwd) and fwd.nat is not None:
        nat = fwd.nat
        head = "<nat" + (f" ipv6='{_yn(nat.ipv6)}'" if nat.ipv6 is not None else "")
        if not (nat.address_start or nat.address_end or nat.port_start or nat.port_end):
            b.add(head + "/>")
        else:
            b.add(head + ">")
            b.level += 1
            if nat.address_start:
                line = f"<address start='{nat.address_start}'"
                if nat.address_end:
                    line += f" end='{nat.address_end}'"
                b.add(line + "/>")
            if nat.port_start or nat.port_end:
                p = f"<port start='{nat.port_start or 0}'"
                if nat.port_end:
                    p += f" end='{nat.port_end}'"
                b.add(p + "/>")
            b.level -= 1
            b.add("</nat>")
    if fwd.pf is not None:
        b.add(f"<pf dev='{escape(fwd.pf)}'/>")
    if fwd.pf is None or not inactive:
        for iface in pool:
            line = f"<interface dev='{escape(iface.dev)}'"
            if not inactive and iface.connections:
                line += f" connections='{iface.connections}'"
            b.add(line + "/>")
        for pci in fwd.addresses:
            b.add(f"<address type='pci' domain='0x{pci.domain:04x}' bus='0x{pci.bus:02x}' "
                  f"slot='0x{pci.slot:02x}' function='0x{pci.function:x}'/>")
    b.level -= 1
    b.add("</forward>")


def _bridge(b: _Buf, net: Network) -> None:
    has_bridge = owns_bridge(net.forward_mode.value)
    br = net.bridge
    if not (has_bridge or (br is not None and (br.name or br.mac_table_manager))):
        return
    line = "<bridge"
    if br is not None and br.name:
        line += f" name='{escape(br.name)}'"
    if br is not None and br.zone:
        line += f" zone='{escape(br.zone)}'"
    if has_bridge:
        stp = br is None or br.stp is None or br.stp
        delay = br.delay if br is not None and br.delay is not None else 0
        line += f" stp='{'on' if stp else 'off'}' delay='{delay}'"
    if br is not None and br.mac_table_manager:
        line += f" macTableManager='{br.mac_table_manager}'"
    b.add(line + "/>")


def _dns(b: _Buf, dns: Dns) -> None:
    has_children = bool(dns.forwarders or dns.hosts or dns.srvs or dns.txts)
    if not (dns.enable is not None or dns.forward_plain_names is not None or has_children):
        return
    line = "<dns"
    if dns.enable is not None:
        line += f" enable='{_yn(dns.enable)}'"
    if dns.forward_plain_names is not None:
        line += f" forwardPlainNames='{_yn(dns.forward_plain_names)}'"
    if not has_children:
        b.add(line + "/>")
        return
    b.add(line + ">")
    b.level += 1
    for f in dns.forwarders:
        fl = "<forwarder"
        if f.domain is not None:
            fl += f" domain='{escape(f.domain)}'"
        if f.addr is not None:
            fl += f" addr='{f.addr}'"
        b.add(fl + "/>")
    for t in dns.txts:
        tl = f"<txt name='{escape(t.name)}'"
        if t.value is not None:
            tl += f" value='{escape(t.value)}'"
        b.add(tl + "/>")
    for s in dns.srvs:
        if s.service is None or s.protocol is None:
            continue
        sl = f"<srv service='{escape(s.service)}' protocol='{escape(s.protocol)}'"
        if s.domain:
            sl += f" domain='{escape(s.domain)}'"
        if s.target:
            sl += f" target='{escape(s.target)}'"
        for key, val in (("port", s.port), ("priority", s.priority), ("weight", s.weight)):
            if val:
                sl += f" {key}='{val}'"
        b.add(sl + "/>")
    for h in dns.hosts:
        b.add(f"<host ip='{h.ip or ''}'>")
        b.level += 1
        for name in h.hostnames:
            b.add(f"<hostname>{escape(name, attribute=False)}</hostname>")
        b.level -= 1
        b.add("</host>")
    b.level -= 1
    b.add("</dns>")


def _lease(b: _Buf, lease: Lease) -> None:
    if not lease.expiry:
        b.add("<lease expiry='0'/>")
    else:
        b.add(f"<lease expiry='{lease.expiry}' unit='{lease.unit or 'minutes'}'/>")


def _ip(b: _Buf, ip: IPDef) -> None:
    line = "<ip"
    if ip.family is not None:
        line += f" family='{ip.family}'"
    if ip.address is not None:
        line += f" address='{ip.address}'"
    if ip.netmask is not None:
        line += f" netmask='{ip.netmask}'"
    if ip.prefix:
        line += f" prefix='{ip.prefix}'"
    if ip.local_ptr is not None:
        line += f" localPtr='{_yn(ip.local_ptr)}'"
    b.add(line + ">")
    b.level += 1
    if ip.tftp_root is not None:
        b.add(f"<tftp root='{escape(ip.tftp_root)}'/>")
    dhcp = ip.dhcp
    if dhcp is not None and (dhcp.ranges or dhcp.hosts):
        b.add("<dhcp>")
        b.level += 1
        for r in dhcp.ranges:
            rl = f"<range start='{r.start}' end='{r.end}'"
            if r.lease is None:
                b.add(rl + "/>")
            else:
                b.add(rl + ">")
                b.level += 1
                _lease(b, r.lease)
                b.level -= 1
                b.add("</range>")
        for h in dhcp.hosts:
            hl = "<host"
            if h.mac is not None:
                hl += f" mac='{escape(h.mac)}'"
            if h.id is not None:
                hl += f" id='{escape(h.id)}'"
            if h.name is not None:
                hl += f" name='{escape(h.name)}'"
            if h.ip is not None:
                hl += f" ip='{h.ip}'"
            if h.lease is None:
                b.add(hl + "/>")
            else:
                b.add(hl + ">")
                b.level += 1
                _lease(b, h.lease)
                b.level -= 1
                b.add("</host>")
        if dhcp.bootp_file is not None:
            bl = f"<bootp file='{escape(dhcp.bootp_file)}'"
            if dhcp.bootp_server is not None:
                bl += f" server='{dhcp.bootp_server}'"
            b.add(bl + "/>")
        b.level -= 1
        b.add("</dhcp>")
    b.level -= 1
    b.add("</ip>")


def _route(b: _Buf, r: Route) -> None:
    line = "<route"
    if r.family is not None:
        line += f" family='{r.family}'"
    line += f" address='{r.address}'"
    if r.netmask is not None:
        line += f" netmask='{r.netmask}'"
    if r.prefix is not None:
        line += f" prefix='{r.prefix}'"
    line += f" gateway='{r.gateway}'"
    if r.metric:
        line += f" metric='{r.metric}'"
    b.add(line + "/>")


def _vlan(b: _Buf, vlan: Vlan) -> None:
    if not vlan.tags:
        return
    b.add("<vlan trunk='yes'>" if vlan.trunk else "<vlan>")
    b.level += 1
    native = next((t for t in vlan.tags if t.native_mode), None)
    for t in vlan.tags:
        # libvirt keys the native mode on the tag id, so a repeated id repeats it.
        if native is not None and t.id == native.id:
            b.add(f"<tag id='{t.id}' nativeMode='{native.native_mode}'/>")
        else:
            b.add(f"<tag id='{t.id}'/>")
    b.level -= 1
    b.add("</vlan>")


def _rate(b: _Buf, rate: Rate | None, tag: str) -> None:
    if rate is None or not (rate.average or rate.floor):
        return
    line = f"<{tag}"
    for key, val in (("average", rate.average), ("peak", rate.peak), ("floor", rate.floor),
                     ("burst", rate.burst)):
        if val:
            line += f" {key}='{val}'"
    b.add(line + "/>")


def _bandwidth(b: _Buf, bw: Bandwidth) -> None:
    b.add("<bandwidth>")
    b.level += 1
    _rate(b, bw.inbound, "inbound")
    _rate(b, bw.outbound, "outbound")
    b.level -= 1
    b.add("</bandwidth>")


def _virtualport(b: _Buf, vp: VirtualPort) -> None:
    allowed = _VPORT_FORMAT.get(vp.type, frozenset())
    params = [(k, val) for k, val in vp.parameters if k in allowed or vp.type is None]
    present = bool(vp.parameters)
    if vp.type is None:
        if not present:
            return
        b.add("<virtualport>")
    elif not present:
        b.add(f"<virtualport type='{vp.type}'/>")
        return
    else:
        b.add(f"<virtualport type='{vp.type}'>")
    order = {k: i for i, k in enumerate(VPORT_PARAMS)}
    params.sort(key=lambda kv: order.get(kv[0], len(order)))
    b.level += 1
    b.add("<parameters" + "".join(f" {k}='{escape(val)}'" for k, val in params) + "/>")
    b.level -= 1
    b.add("</virtualport>")


def _portgroup(b: _Buf, pg: PortGroup) -> None:
    line = f"<portgroup name='{escape(pg.name)}'"
    if pg.default:
        line += " default='yes'"
    if pg.trust_guest_rx_filters is not None:
        line += f" trustGuestRxFilters='{_yn(pg.trust_guest_rx_filters)}'"
    b.add(line + ">")
    b.level += 1
    if pg.vlan is not None:
        _vlan(b, pg.vlan)
    if pg.virtualport is not None:
        _virtualport(b, pg.virtualport)
    if pg.bandwidth is not None:
        _bandwidth(b, pg.bandwidth)
    b.level -= 1
    b.add("</portgroup>")
