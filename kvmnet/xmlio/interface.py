"""libvirt's host interface XML: :func:`parse_interface` and :func:`format_interface`.

Behaves as libvirt 11.3.0's ``virInterfaceDefParseString`` + ``virInterfaceDefFormat``
(src/conf/interface_conf.c): the same elements are read and written in the same order and
layout, so a document libvirt writes reads back and formats byte for byte the same.  Where
libvirt would accept a value that its own schema (interface.rng) forbids -- a malformed
address, a negative prefix, a bond without slaves, a second ``<protocol family='ipv4'>`` --
the parser refuses it with the element path and the fix, so that everything kvmnet formats is
valid against interface.rng.  Elements libvirt ignores are ignored here too.
"""
from __future__ import annotations

import ipaddress
import re

from lxml import etree

from kvmnet.errors import XMLParseError, quote
from kvmnet.model.interface import (
    ARP_VALIDATE,
    BOND_MODES,
    LINK_STATES,
    MII_CARRIERS,
    START_MODES,
    TYPES,
    ArpMon,
    BondDef,
    BridgeDef,
    InterfaceDef,
    IPAddress,
    Link,
    MiiMon,
    Protocol,
    VlanDef,
)
from kvmnet.xmlio import strict
from kvmnet.xmlio.network_format import escape
from kvmnet.xmlio.safe import parse_document
from kvmnet.xmlio.values import attr, children, choice, first_child, unsigned, yes_no

#: libvirt's MTU limit (virInterfaceDefParseMtu).
MAX_MTU = 100000
_INT_MAX = 2**31 - 1
_UINT_MAX = 2**32 - 1
# interface.rng's deviceName and macAddr; timeval is an xsd:double >= 0 (decimal notation).
_DEVICE_NAME = re.compile(r"^[a-zA-Z0-9_.\-\\:/]+$")
_MAC = re.compile(r"^[a-fA-F0-9]{2}(:[a-fA-F0-9]{2}){5}$")
_DECIMAL = re.compile(r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")

# Which nested types each parent allows (libvirt's virInterfaceDefParseXML check).
_NESTED = {"bridge": ("ethernet", "bond", "vlan"), "bond": ("ethernet",)}


# -- parsing -----------------------------------------------------------------------------------
def parse_interface(data: str | bytes, what: str = "interface XML", *,
                    unknown: list[str] | None = None) -> InterfaceDef:
    """Parse an ``<interface>`` document; :class:`XMLParseError` names the element path.

    With ``unknown`` (a list), the paths of the elements and attributes that the parser
    ignored are appended to it (:mod:`.strict`).
    """
    root = parse_document(data, what)
    if unknown is None:
        return interface_from_element(root)
    with strict.reading() as rec:
        iface = interface_from_element(root)
    unknown.extend(strict.unread(root, rec))
    return iface


def interface_from_element(root: etree._Element) -> InterfaceDef:
    if root.tag != "interface":
        raise XMLParseError(f"unexpected root element <{root.tag}>, expecting <interface>; "
                            "an interface definition starts with <interface type=... name=...>")
    return _interface(root, "/interface", None)


def _interface(el: etree._Element, path: str, parent: str | None) -> InterfaceDef:
    raw_type = attr(el, "type")
    if raw_type is None:
        raise XMLParseError("missing required attribute 'type'; use one of: "
                            + ", ".join(TYPES), path)
    kind = choice(raw_type, TYPES, path, "type")
    if parent is not None and kind not in _NESTED[parent]:
        allowed = " or ".join(_NESTED[parent])
        raise XMLParseError(f"interface has unsupported type '{kind}' inside a {parent}; a "
                            f"{parent} can only contain {allowed} interfaces", path)
    name = attr(el, "name")
    if name is None:
        raise XMLParseError("interface has no name; add a name='...' attribute with the "
                            "device name, e.g. eth0", path)
    if not _DEVICE_NAME.match(name):
        raise XMLParseError(f"invalid interface name {name!r}; a device name consists of "
                            "letters, digits and _ . - : / \\ only", path)
    start_mode: str | None = None
    mtu = 0
    protocols: tuple[Protocol, ...] = ()
    if parent is None:
        # Only a top-level interface has these: nested ones inherit them from their master.
        start = first_child(el, "start")
        if start is not None:
            start_mode = _start_mode(start, f"{path}/start")
        mtu = _mtu(el, path)
        protocols = _protocols(el, path)
    link = Link()
    if kind != "bridge":  # link status makes no sense for a bridge (libvirt ignores it there)
        lnk = first_child(el, "link")
        if lnk is not None:
            link = _link(lnk, f"{path}/link")
    mac = bridge = bond = vlan = None
    if kind == "ethernet":
        mac_el = first_child(el, "mac")
        if mac_el is not None:
            mac = _mac(mac_el, f"{path}/mac")
    elif kind == "bridge":
        bridge = _bridge(_required(el, "bridge", path), f"{path}/bridge")
    elif kind == "bond":
        bond = _bond(_required(el, "bond", path), f"{path}/bond")
    else:
        vlan = _vlan(_required(el, "vlan", path), f"{path}/vlan")
    return InterfaceDef(type=kind, name=name, start_mode=start_mode, mtu=mtu,
                        protocols=protocols, link=link, mac=mac, bridge=bridge, bond=bond,
                        vlan=vlan)


def _required(el: etree._Element, tag: str, path: str) -> etree._Element:
    found = first_child(el, tag)
    if found is None:
        raise XMLParseError(f"{el.get('type')} interface misses the <{tag}> element; add "
                            f"<{tag}>...</{tag}> describing the {tag}", path)
    return found


def _start_mode(el: etree._Element, path: str) -> str | None:
    mode = attr(el, "mode")
    if mode is None:
        return None
    if mode not in START_MODES:
        raise XMLParseError(f"unknown interface start mode {quote(mode)}; use one of: "
                            + ", ".join(START_MODES), path)
    return mode


def _mtu(el: etree._Element, path: str) -> int:
    mtu_el = first_child(el, "mtu")
    size = None if mtu_el is None else attr(mtu_el, "size")
    if size is None:
        return 0
    try:
        return unsigned(size, f"{path}/mtu", "size", maximum=MAX_MTU)
    except XMLParseError:
        raise XMLParseError(f"interface mtu value {quote(size)} is improper; give a whole number "
                            f"of bytes up to {MAX_MTU}, e.g. 1500", f"{path}/mtu") from None


def _protocols(el: etree._Element, path: str) -> tuple[Protocol, ...]:
    out: list[Protocol] = []
    nodes = children(el, "protocol")
    for i, node in enumerate(nodes, 1):
        ppath = f"{path}/protocol" if len(nodes) == 1 else f"{path}/protocol[{i}]"
        family = attr(node, "family")
        if family is None:
            raise XMLParseError("protocol misses the family attribute; add family='ipv4' or "
                                "family='ipv6'", ppath)
        if family not in ("ipv4", "ipv6"):
            raise XMLParseError(f"unsupported protocol family {quote(family)}; use 'ipv4' or "
                                "'ipv6'", ppath)
        if any(p.family == family for p in out):
            raise XMLParseError(f"a second <protocol family={quote(family)}>; put all {family} "
                                "settings into one <protocol> element", ppath)
        out.append(_protocol(node, ppath, family))
    return tuple(out)


def _protocol(el: etree._Element, path: str, family: str) -> Protocol:
    version = 4 if family == "ipv4" else 6
    dhcp_el = first_child(el, "dhcp")
    peerdns: bool | None = None
    peerdns_text = None if dhcp_el is None else attr(dhcp_el, "peerdns")
    if peerdns_text is not None:
        peerdns = yes_no(peerdns_text, f"{path}/dhcp", "peerdns")
    ips: list[IPAddress] = []
    nodes = children(el, "ip")
    for i, node in enumerate(nodes, 1):
        ipath = f"{path}/ip" if len(nodes) == 1 else f"{path}/ip[{i}]"
        address = attr(node, "address")
        if address is None:
            continue  # libvirt skips an <ip> without an address
        _check_ip(address, version, ipath, "address")
        prefix = 0
        prefix_text = attr(node, "prefix")
        if prefix_text is not None:
            # libvirt reads the prefix with strtol base 0 (so 0x18 is 24).
            prefix = unsigned(prefix_text, ipath, "prefix",
                              maximum=32 if version == 4 else 128, base=0)
        ips.append(IPAddress(address, prefix))
    gateway = None
    routes = children(el, "route")
    if routes and (gateway := attr(routes[0], "gateway")) is not None:
        rpath = f"{path}/route" if len(routes) == 1 else f"{path}/route[1]"
        _check_ip(gateway, version, rpath, "gateway")
    return Protocol(family=family, autoconf=version == 6 and first_child(el, "autoconf") is not None,
                    dhcp=dhcp_el is not None, peerdns=peerdns, ips=tuple(ips), gateway=gateway)


def _check_ip(text: str, version: int, path: str, name: str) -> None:
    try:
        if "%" in text or text != text.strip():
            raise ValueError(text)  # zones and padding: the schema's patterns refuse them
        addr = ipaddress.ip_address(text)
    except ValueError:
        example = "192.168.0.5" if version == 4 else "2001:db8::5"
        raise XMLParseError(f"invalid IPv{version} address {quote(text)} in attribute {quote(name)}; "
                            f"write an address such as {example}", path) from None
    if addr.version != version:
        raise XMLParseError(f"attribute {quote(name)} must be an IPv{version} address inside "
                            f"<protocol family='ipv{version}'>, not {quote(text)}", path)


def _link(el: etree._Element, path: str) -> Link:
    state = attr(el, "state")
    if state == "":
        state = None  # libvirt's "unset" state: nothing is written back
    elif state is not None and state not in LINK_STATES:
        raise XMLParseError(f"unknown link state: {state}; use one of: "
                            + ", ".join(LINK_STATES), path)
    speed = 0
    speed_text = attr(el, "speed")
    if speed_text is not None:
        speed = unsigned(speed_text, path, "speed", maximum=_UINT_MAX)
    return Link(speed=speed, state=state)


def _mac(el: etree._Element, path: str) -> str | None:
    mac = attr(el, "address")
    if mac is None:
        return None
    if not _MAC.match(mac):
        raise XMLParseError(f"invalid MAC address {quote(mac)} in attribute 'address'; write six "
                            "two-digit hex bytes separated by colons, e.g. 52:54:00:12:34:56",
                            path)
    return mac


def _nested(el: etree._Element, path: str, parent: str) -> tuple[InterfaceDef, ...]:
    nodes = children(el, "interface")
    return tuple(_interface(node, f"{path}/interface[{i}]", parent)
                 for i, node in enumerate(nodes, 1))


def _bridge(el: etree._Element, path: str) -> BridgeDef:
    stp: bool | None = None
    raw = attr(el, "stp")
    if raw is not None:
        if raw not in ("on", "off"):
            raise XMLParseError(f"bridge interface stp should be on or off, got {quote(raw)}", path)
        stp = raw == "on"
    delay = attr(el, "delay")
    if delay is not None and not _DECIMAL.match(delay):
        raise XMLParseError(f"invalid bridge delay {quote(delay)}; give the forward delay in "
                            "seconds as a non-negative number, e.g. 0 or 2.5", path)
    return BridgeDef(stp=stp, delay=delay, interfaces=_nested(el, path, "bridge"))


def _int_attr(el: etree._Element, name: str, path: str, required: str | None = None) -> int:
    value = attr(el, name)
    if value is None:
        if required is not None:
            raise XMLParseError(required, path)
        return 0
    return unsigned(value, path, name, maximum=_INT_MAX)


def _bond(el: etree._Element, path: str) -> BondDef:
    mode = attr(el, "mode")
    if mode is not None and mode not in BOND_MODES:
        raise XMLParseError(f"unknown bonding mode {quote(mode)}; use one of: "
                            + ", ".join(BOND_MODES), path)
    slaves = _nested(el, path, "bond")
    if not slaves:
        raise XMLParseError("a bond needs at least one slave; add <interface type='ethernet' "
                            "name='eth0'/> inside <bond>", path)
    miimon = arpmon = None
    mii = first_child(el, "miimon")
    arp = first_child(el, "arpmon")
    if mii is not None:  # libvirt reads <miimon> and ignores <arpmon> when both are present
        mpath = f"{path}/miimon"
        carrier = attr(mii, "carrier")
        if carrier is not None and carrier not in MII_CARRIERS:
            raise XMLParseError(f"unknown mii bonding carrier {quote(carrier)}; use 'ioctl' or "
                                "'netif'", mpath)
        miimon = MiiMon(
            freq=_int_attr(mii, "freq", mpath, "bond interface miimon freq missing; add "
                                               "freq='100' (milliseconds)"),
            downdelay=_int_attr(mii, "downdelay", mpath),
            updelay=_int_attr(mii, "updelay", mpath),
            carrier=carrier)
    elif arp is not None:
        apath = f"{path}/arpmon"
        target = attr(arp, "target")
        if target is None:
            raise XMLParseError("bond interface arpmon target missing; add target='IPv4 "
                                "address' to probe", apath)
        _check_ip(target, 4, apath, "target")
        validate = attr(arp, "validate")
        if validate is not None and validate not in ARP_VALIDATE:
            raise XMLParseError(f"unknown arp bonding validate {quote(validate)}; use one of: "
                                + ", ".join(ARP_VALIDATE), apath)
        arpmon = ArpMon(
            interval=_int_attr(arp, "interval", apath, "bond interface arpmon interval "
                                                       "missing; add interval='100' (ms)"),
            target=target,
            validate=None if validate == "none" else validate)
    return BondDef(mode=mode, miimon=miimon, arpmon=arpmon, interfaces=slaves)


def _vlan(el: etree._Element, path: str) -> VlanDef:
    tag = attr(el, "tag")
    if tag is None:
        raise XMLParseError("vlan interface misses the tag attribute; add tag='N' (0-4095)", path)
    number = unsigned(tag, path, "tag", maximum=4095)
    dev_el = first_child(el, "interface")
    device = attr(dev_el, "name") if dev_el is not None else None
    if device is None:
        raise XMLParseError("vlan interface misses the underlying device; add "
                            "<interface name='eth0'/> inside <vlan>", path)
    if not _DEVICE_NAME.match(device):
        raise XMLParseError(f"invalid device name {device!r}", f"{path}/interface")
    return VlanDef(tag=number, device=device)


# -- formatting ----------------------------------------------------------------------------------
def format_interface(iface: InterfaceDef) -> str:
    """The document libvirt writes for ``iface`` (two-space indent, ends with a newline)."""
    lines: list[str] = []
    _format(iface, lines, "", nested=False)
    return "".join(f"{line}\n" for line in lines)


def _format(d: InterfaceDef, out: list[str], ind: str, *, nested: bool) -> None:
    out.append(f"{ind}<interface type='{d.type}' name='{escape(d.name)}'>")
    i2 = ind + "  "
    if not nested:
        if d.start_mode is not None:
            out.append(f"{i2}<start mode='{d.start_mode}'/>")
        if d.mtu:
            out.append(f"{i2}<mtu size='{d.mtu}'/>")
        for proto in d.protocols:
            _format_protocol(proto, out, i2)
    if d.type != "bridge" and (d.link.speed or d.link.state):
        text = f"{i2}<link"
        if d.link.speed:
            text += f" speed='{d.link.speed}'"
        if d.link.state:
            text += f" state='{d.link.state}'"
        out.append(text + "/>")
    if d.type == "ethernet" and d.mac:
        out.append(f"{i2}<mac address='{d.mac}'/>")
    elif d.bridge is not None:
        br = d.bridge
        text = f"{i2}<bridge"
        if br.stp is not None:
            text += f" stp='{'on' if br.stp else 'off'}'"
        if br.delay is not None:
            text += f" delay='{br.delay}'"
        out.append(text + ">")
        for child in br.interfaces:
            _format(child, out, i2 + "  ", nested=True)
        out.append(f"{i2}</bridge>")
    elif d.bond is not None:
        _format_bond(d.bond, out, i2)
    elif d.vlan is not None:
        out.append(f"{i2}<vlan tag='{d.vlan.tag}'>")
        out.append(f"{i2}  <interface name='{escape(d.vlan.device)}'/>")
        out.append(f"{i2}</vlan>")
    out.append(f"{ind}</interface>")


def _format_protocol(p: Protocol, out: list[str], ind: str) -> None:
    out.append(f"{ind}<protocol family='{p.family}'>")
    i2 = ind + "  "
    if p.autoconf:
        out.append(f"{i2}<autoconf/>")
    if p.dhcp:
        if p.peerdns is None:
            out.append(f"{i2}<dhcp/>")
        else:
            out.append(f"{i2}<dhcp peerdns='{'yes' if p.peerdns else 'no'}'/>")
    for ip in p.ips:
        prefix = f" prefix='{ip.prefix}'" if ip.prefix else ""
        out.append(f"{i2}<ip address='{ip.address}'{prefix}/>")
    if p.gateway is not None:
        out.append(f"{i2}<route gateway='{p.gateway}'/>")
    out.append(f"{ind}</protocol>")


def _format_bond(b: BondDef, out: list[str], ind: str) -> None:
    out.append(f"{ind}<bond mode='{b.mode}'>" if b.mode else f"{ind}<bond>")
    i2 = ind + "  "
    if b.miimon is not None:
        m = b.miimon
        text = f"{i2}<miimon freq='{m.freq}'"
        if m.downdelay > 0:
            text += f" downdelay='{m.downdelay}'"
        if m.updelay > 0:
            text += f" updelay='{m.updelay}'"
        if m.carrier:
            text += f" carrier='{m.carrier}'"
        out.append(text + "/>")
    elif b.arpmon is not None:
        a = b.arpmon
        text = f"{i2}<arpmon interval='{a.interval}' target='{a.target}'"
        if a.validate:
            text += f" validate='{a.validate}'"
        out.append(text + "/>")
    for child in b.interfaces:
        _format(child, out, i2, nested=True)
    out.append(f"{ind}</bond>")
