"""libvirt ``<networkport>`` XML: parse (:func:`parse_port`) and format (:func:`format_port`).

Follows libvirt 11.3.0's ``virNetworkPortDefParseXML`` and
``virNetworkPortDefFormatBuf``: the same required elements and error cases
(with the element path and the fix added), the same defaults (no ``type`` on
``<plug>`` means "not plugged"; a direct plug without ``mode`` is 'vepa'), and
byte-identical output: two-space indentation, single-quoted attributes,
elements in libvirt's order (uuid, owner, group, mac, virtualport, bandwidth,
vlan, port, rxfilters, plug) and a trailing newline.

Where libvirt reads ``string(./a/b)`` (the first match in document order, an
empty string counting as absent) this module does the same.
"""
from __future__ import annotations

from lxml import etree

from kvmnet.errors import XMLParseError
from kvmnet.model.network import Bandwidth, HostdevDriver, PciAddress, Rate, VirtualPort, Vlan
from kvmnet.model.port import DIRECT_MODES, MAC_TABLE_MANAGERS, NetworkPort, Plug, PlugType
from kvmnet.xmlio import values as v
from kvmnet.xmlio.network_format import escape
from kvmnet.xmlio.network_fragments import VPORT_PARAMS, parse_virtualport, parse_vlan
from kvmnet.xmlio.safe import parse_document

ROOT = "/networkport"
_PLUG_TYPES = tuple(t.value for t in PlugType)
_HOSTDEV_DRIVERS = ("kvm", "vfio", "xen")  # libvirt's virDeviceHostdevPCIDriverName minus 'default'
_UINT_MAX = 2**32 - 1

# Which <parameters> attributes libvirt writes for each virtualport type (None: no type).
_VPORT_FORMAT: dict[str | None, frozenset[str]] = {
    None: frozenset(VPORT_PARAMS),
    "802.1Qbg": frozenset({"managerid", "typeid", "typeidversion", "instanceid"}),
    "802.1Qbh": frozenset({"profileid"}),
    "openvswitch": frozenset({"interfaceid", "profileid"}),
    "midonet": frozenset({"interfaceid"}),
}


# -- parsing ------------------------------------------------------------------------------------
def parse_port(data: str | bytes) -> NetworkPort:
    """Parse network port XML text; raises :class:`XMLParseError` naming the element."""
    return port_from_element(parse_document(data, "network port XML"))


def _walk(root: etree._Element, *tags: str) -> list[etree._Element]:
    """Elements matched by the XPath ``./tags[0]/tags[1]/...``, in document order."""
    found = [root]
    for tag in tags:
        found = [c for el in found for c in v.children(el, tag)]
    return found


def _xpath_string(root: etree._Element, *tags: str) -> str | None:
    """libvirt's ``virXPathString("string(./a/b)")``: first match's text, None when empty."""
    found = _walk(root, *tags)
    return (v.text_of(found[0]) or None) if found else None


def _first(root: etree._Element, *tags: str) -> etree._Element | None:
    found = _walk(root, *tags)
    return found[0] if found else None


def _path(*tags: str) -> str:
    return "/".join((ROOT, *tags))


def _tristate(el: etree._Element | None, name: str, path: str) -> bool | None:
    """virXMLPropTristateBool: absent element or attribute is None, else 'yes'/'no' only."""
    if el is None:
        return None
    text = v.attr(el, name)
    return None if text is None else v.yes_no(text, path, name)


def port_from_element(root: etree._Element) -> NetworkPort:
    """Build a NetworkPort from an already-parsed ``<networkport>`` element."""
    if root.tag != "networkport":
        raise XMLParseError(f"unknown root element <{root.tag}> for a network port; expected "
                            "<networkport>", "/")
    uuid_text = _xpath_string(root, "uuid")
    if uuid_text is None:
        raise XMLParseError("network port has no uuid; add <uuid>...</uuid> (e.g. from uuidgen)",
                            ROOT)
    uuid = v.uuid_text(uuid_text, _path("uuid"))
    owner_name = _xpath_string(root, "owner", "name")
    if owner_name is None:
        raise XMLParseError("network port has no owner name; add <owner><name>GUEST</name>"
                            "<uuid>...</uuid></owner>", _path("owner"))
    owner_uuid_text = _xpath_string(root, "owner", "uuid")
    if owner_uuid_text is None:
        raise XMLParseError("network port has no owner UUID; add the guest's <uuid> inside "
                            "<owner>", _path("owner"))
    owner_uuid = v.uuid_text(owner_uuid_text, _path("owner", "uuid"))
    group = _xpath_string(root, "group")

    vport_el = _first(root, "virtualport")
    virtualport = None if vport_el is None else parse_virtualport(
        vport_el, _path("virtualport"), require_type=False)

    mac_text = None
    for el in _walk(root, "mac"):
        mac_text = v.attr(el, "address")
        if mac_text is not None:
            break
    if not mac_text:
        raise XMLParseError("network port has no mac; add <mac address='52:54:00:xx:xx:xx'/>",
                            _path("mac"))
    # libvirt parses the port's MAC without the unicast check (its schema has one).
    mac = v.mac_address(mac_text, _path("mac"), unicast=False)

    bandwidth, class_id = None, None
    bw_el = _first(root, "bandwidth")
    if bw_el is not None:
        bandwidth, class_id = _parse_bandwidth(bw_el, _path("bandwidth"))
    vlan_el = _first(root, "vlan")
    vlan = None if vlan_el is None else parse_vlan(vlan_el, _path("vlan"))
    isolated = _tristate(_first(root, "port"), "isolated", _path("port"))
    trust = _tristate(_first(root, "rxfilters"), "trustGuest", _path("rxfilters"))
    plug = _parse_plug(root)
    return NetworkPort(uuid=uuid, owner_name=owner_name, owner_uuid=owner_uuid, mac=mac,
                       group=group, virtualport=virtualport, bandwidth=bandwidth,
                       class_id=class_id, vlan=vlan, isolated=isolated,
                       trust_guest_rx_filters=trust, plug=plug)


def _parse_rate(el: etree._Element, path: str) -> Rate:
    vals: dict[str, int | None] = {}
    for key in ("average", "peak", "burst", "floor"):
        text = v.attr(el, key)
        try:
            vals[key] = None if text is None else v.unsigned(text, path, key, maximum=2**64 - 1)
        except XMLParseError:
            raise XMLParseError(f"could not convert bandwidth {key} value '{text}'; write a "
                                "whole number (kilobytes per second, or kilobytes for burst)",
                                path) from None
    if vals["average"] is None and vals["floor"] is None:
        raise XMLParseError("missing mandatory average or floor attribute; add e.g. "
                            "average='1000' (kilobytes per second)", path)
    if (vals["peak"] is not None or vals["burst"] is not None) and vals["average"] is None:
        raise XMLParseError("'peak' and 'burst' require the 'average' attribute", path)
    return Rate(average=vals["average"], peak=vals["peak"], burst=vals["burst"],
                floor=vals["floor"])


def _parse_bandwidth(el: etree._Element, path: str) -> tuple[Bandwidth | None, int | None]:
    """virNetDevBandwidthParse with a class ID and floor allowed (as for ports)."""
    class_id = None
    class_text = v.attr(el, "classID")
    if class_text is not None:
        class_id = v.unsigned(class_text, path, "classID", maximum=_UINT_MAX) or None
    rates: dict[str, Rate | None] = {"inbound": None, "outbound": None}
    for key in rates:
        found = v.children(el, key)
        if len(found) > 1:
            raise XMLParseError(f"only one child <{key}> element is allowed in <bandwidth>", path)
        if found:
            rates[key] = _parse_rate(found[0], v.child_path(path, key))
    out = rates["outbound"]
    if out is not None and out.floor:
        raise XMLParseError("the 'floor' attribute is allowed only in the <inbound> element",
                            v.child_path(path, "outbound"))
    if rates["inbound"] is None and out is None:
        return None, class_id
    return Bandwidth(inbound=rates["inbound"], outbound=out), class_id


def _parse_plug(root: etree._Element) -> Plug | None:
    el = _first(root, "plug")
    path = _path("plug")
    if el is None:
        return None
    type_text = v.attr(el, "type")
    if type_text is None:
        return None  # libvirt: no type means not plugged, and <plug> is not written back
    ptype = PlugType(v.choice(type_text, _PLUG_TYPES, path, "type"))
    if ptype is PlugType.NONE:
        return None
    if ptype in (PlugType.NETWORK, PlugType.BRIDGE):
        bridge = v.attr(el, "bridge")
        if bridge is None:
            raise XMLParseError("missing network port bridge name; add bridge='BRIDGE' to <plug>",
                                path)
        mgr = v.attr(el, "macTableManager")
        if mgr is not None and mgr not in MAC_TABLE_MANAGERS:
            raise XMLParseError(f"invalid macTableManager setting '{mgr}' in network port; use "
                                "'kernel' or 'libvirt'", path)
        return Plug(type=ptype, bridge=bridge, mac_table_manager=mgr)
    if ptype is PlugType.DIRECT:
        dev = v.attr(el, "dev")
        if dev is None:
            raise XMLParseError("missing network port link device name; add dev='DEVICE' to "
                                "<plug>", path)
        mode = v.attr(el, "mode")
        if mode is not None and mode not in DIRECT_MODES:
            raise XMLParseError(f"invalid mode setting '{mode}' in network port; use one of "
                                + ", ".join(DIRECT_MODES), path)
        return Plug(type=ptype, dev=dev, mode=mode or "vepa")
    managed = _tristate(el, "managed", path)
    driver = None
    drv_el = _first(root, "plug", "driver")
    if drv_el is not None:
        dpath = v.child_path(path, "driver")
        name = v.attr(drv_el, "name")
        if name is not None and name not in _HOSTDEV_DRIVERS:
            raise XMLParseError(f"invalid network port driver name '{name}'; use one of "
                                + ", ".join(_HOSTDEV_DRIVERS), dpath)
        model = v.attr(drv_el, "model")
        if name is not None or model is not None:
            driver = HostdevDriver(name=name, model=model)
    addr_el = _first(root, "plug", "address")
    if addr_el is None:
        raise XMLParseError("missing network port PCI address; add <address domain='0x0000' "
                            "bus='0x..' slot='0x..' function='0x.'/> inside <plug>", path)
    address = _parse_pci(addr_el, v.child_path(path, "address"))
    return Plug(type=ptype, managed=managed, driver=driver, address=address)


def _parse_pci(el: etree._Element, path: str) -> PciAddress:
    """virPCIDeviceAddressParseXML: numbers in C notation (0x.. hex), range-checked."""
    vals = {}
    for key in ("domain", "bus", "slot", "function"):
        text = v.attr(el, key)
        vals[key] = 0 if text is None else v.unsigned(text, path, key, maximum=_UINT_MAX, base=0)
    multi = v.attr(el, "multifunction")
    if multi is not None:
        v.on_off(multi, path, "multifunction")
    if any(vals.values()):  # an all-zero address is "empty" and not range-checked
        for key, limit in (("bus", 0xFF), ("slot", 0x1F), ("function", 0x7)):
            if vals[key] > limit:
                raise XMLParseError(f"invalid PCI address {key}='0x{vals[key]:x}', must be "
                                    f"<= 0x{limit:X}", path)
    return PciAddress(domain=vals["domain"], bus=vals["bus"], slot=vals["slot"],
                      function=vals["function"])


# -- formatting -----------------------------------------------------------------------------------
def _yn(value: bool) -> str:
    return "yes" if value else "no"


def format_port(port: NetworkPort) -> str:
    """The port as libvirt's virNetworkPortDefFormat writes it (trailing newline included)."""
    out = ["<networkport>", f"  <uuid>{port.uuid}</uuid>", "  <owner>",
           f"    <name>{escape(port.owner_name)}</name>", f"    <uuid>{port.owner_uuid}</uuid>",
           "  </owner>"]
    if port.group is not None:
        out.append(f"  <group>{escape(port.group)}</group>")
    out.append(f"  <mac address='{port.mac}'/>")
    if port.virtualport is not None:
        _virtualport(out, port.virtualport)
    if port.bandwidth is not None:
        _bandwidth(out, port.bandwidth, port.class_id)
    if port.vlan is not None:
        _vlan(out, port.vlan)
    if port.isolated is not None:
        out.append(f"  <port isolated='{_yn(port.isolated)}'/>")
    if port.trust_guest_rx_filters is not None:
        out.append(f"  <rxfilters trustGuest='{_yn(port.trust_guest_rx_filters)}'/>")
    if port.plug is not None and port.plug.type is not PlugType.NONE:
        _plug(out, port.plug)
    out.append("</networkport>")
    return "\n".join(out) + "\n"


def _virtualport(out: list[str], vp: VirtualPort) -> None:
    allowed = _VPORT_FORMAT.get(vp.type, frozenset())
    if not vp.parameters:
        if vp.type is not None:
            out.append(f"  <virtualport type='{vp.type}'/>")
        return
    out.append(f"  <virtualport type='{vp.type}'>" if vp.type is not None else "  <virtualport>")
    order = {k: i for i, k in enumerate(VPORT_PARAMS)}
    params = sorted((kv for kv in vp.parameters if kv[0] in allowed),
                    key=lambda kv: order.get(kv[0], len(order)))
    out.append("    <parameters" + "".join(f" {k}='{escape(val)}'" for k, val in params) + "/>")
    out.append("  </virtualport>")


def _bandwidth(out: list[str], bw: Bandwidth, class_id: int | None) -> None:
    out.append(f"  <bandwidth classID='{class_id}'>" if class_id else "  <bandwidth>")
    for tag, rate in (("inbound", bw.inbound), ("outbound", bw.outbound)):
        if rate is None or not (rate.average or rate.floor):
            continue
        line = f"    <{tag}"
        for key, val in (("average", rate.average), ("peak", rate.peak),
                         ("floor", rate.floor), ("burst", rate.burst)):
            if val:
                line += f" {key}='{val}'"
        out.append(line + "/>")
    out.append("  </bandwidth>")


def _vlan(out: list[str], vlan: Vlan) -> None:
    if not vlan.tags:
        return
    out.append("  <vlan trunk='yes'>" if vlan.trunk else "  <vlan>")
    native = next((t for t in vlan.tags if t.native_mode), None)
    for t in vlan.tags:
        # libvirt keys the native mode on the tag id, so a repeated id repeats it.
        if native is not None and t.id == native.id:
            out.append(f"    <tag id='{t.id}' nativeMode='{native.native_mode}'/>")
        else:
            out.append(f"    <tag id='{t.id}'/>")
    out.append("  </vlan>")


def _plug(out: list[str], plug: Plug) -> None:
    head = f"  <plug type='{plug.type.value}'"
    if plug.type in (PlugType.NETWORK, PlugType.BRIDGE):
        head += f" bridge='{escape(plug.bridge or '')}'"
        if plug.mac_table_manager:
            head += f" macTableManager='{plug.mac_table_manager}'"
        out.append(head + "/>")
    elif plug.type is PlugType.DIRECT:
        out.append(head + f" dev='{escape(plug.dev or '')}' mode='{plug.mode or 'vepa'}'/>")
    else:
        if plug.managed is not None:
            head += f" managed='{_yn(plug.managed)}'"
        out.append(head + ">")
        drv = plug.driver
        if drv is not None and (drv.name or drv.model):
            line = "    <driver"
            if drv.name:
                line += f" name='{drv.name}'"
            if drv.model:
                line += f" model='{escape(drv.model)}'"
            out.append(line + "/>")
        a = plug.address or PciAddress(0, 0, 0, 0)
        out.append(f"    <address domain='0x{a.domain:04x}' bus='0x{a.bus:02x}' "
                   f"slot='0x{a.slot:02x}' function='0x{a.function}'/>")
        out.append("  </plug>")
