"""Read libvirt's node-device XML: :func:`parse_nodedev` -> :class:`NodeDevice`.

Behaves as libvirt 11.3.0's ``virNodeDeviceDefParse`` for an existing device
(src/conf/node_device_conf.c): what it ignores is ignored here (``<driver>``, which is runtime
state; an mdev's ``<parent_addr>``; the counts of ``vport_ops``, which libvirt reads as 0), and
the formatter (:mod:`.nodedev_format`) writes elements in libvirt's order whatever order they
came in.  ``system``, ``pci`` and ``net`` capabilities become typed records; the others keep
their elements, filtered and ordered by :data:`OTHER_CAPS`, libvirt's element table for each.
"""
from __future__ import annotations

import re

from lxml import etree

from kvmnet.errors import XMLParseError, quote
from kvmnet.model.nodedev import (
    HEADER_TYPES,
    LINK_STATES,
    NET_FEATURES,
    Capability,
    Element,
    MdevType,
    NetCap,
    NodeDevice,
    OtherCap,
    PciAddress,
    PciCap,
    PciLink,
    SystemCap,
)
from kvmnet.xmlio import strict
from kvmnet.xmlio.safe import parse_document
from kvmnet.xmlio.values import attr, children, first_child, known, text_of, unsigned

#: The child elements of each capability kvmnet keeps as elements, in libvirt's output order
#: (virNodeDeviceDefFormat's per-type functions); other children are ignored, as libvirt does.
OTHER_CAPS: dict[str, tuple[str, ...]] = {
    "usb_device": ("bus", "device", "product", "vendor"),
    "usb": ("number", "class", "subclass", "protocol", "description"),
    "scsi_host": ("host", "unique_id", "capability"),
    "scsi_target": ("target", "capability"),
    "scsi": ("host", "bus", "target", "lun", "type"),
    "storage": ("block", "bus", "drive_type", "model", "vendor", "serial", "capability",
                "size", "logical_block_size", "num_blocks"),
    "scsi_generic": ("char",),
    "drm": ("type",),
    "mdev": ("type", "uuid", "iommuGroup", "attr"),
    "ccw": ("cssid", "ssid", "devno", "capability"),
    "css": ("cssid", "ssid", "devno", "channel_dev_addr", "capability"),
    "ccwgroup": ("state", "cssid", "ssid", "devno", "members", "capability"),
    "vdpa": ("chardev",),
    "ap_card": ("ap-adapter",),
    "ap_queue": ("ap-adapter", "ap-domain"),
    "ap_matrix": ("capability",),
}
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_CLASS = re.compile(r"^0x[0-9a-fA-F]{6}$")
_SPEED = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


def parse_nodedev(data: str | bytes, what: str = "node device XML", *,
                  unknown: list[str] | None = None) -> NodeDevice:
    """Parse a ``<device>`` document; :class:`XMLParseError` names the element path.

    With ``unknown`` (a list), the paths the parser ignored are appended to it (:mod:`.strict`).
    """
    root = parse_document(data, what)
    if unknown is None:
        return nodedev_from_element(root)
    with strict.reading() as rec:
        dev = nodedev_from_element(root)
    unknown.extend(strict.unread(root, rec))
    return dev


def nodedev_from_element(root: etree._Element) -> NodeDevice:
    if root.tag != "device":
        raise XMLParseError(f"unexpected root element <{root.tag}>, expecting <device>; a node "
                            "device document starts with <device><name>...</name>")
    path = "/device"
    name_el = first_child(root, "name")
    name = text_of(name_el).strip() if name_el is not None else ""
    if not name:
        raise XMLParseError("node device has no name; add <name>pci_0000_03_00_1</name>", path)
    known(root, "driver")  # runtime state: libvirt does not parse it
    sys_path = first_child(root, "path")
    parent = first_child(root, "parent")
    if parent is not None:
        known(parent, "@wwnn", "@wwpn", "@fabric_wwn")
    devnodes = tuple(_devnode(el, f"{path}/devnode[{i}]")
                     for i, el in enumerate(children(root, "devnode"), 1))
    caps = tuple(_capability(el, f"{path}/capability[{i}]")
                 for i, el in enumerate(children(root, "capability"), 1))
    if not caps:
        raise XMLParseError("node device has no capability; add <capability type='...'>", path)
    return NodeDevice(
        name=name, caps=caps,
        parent=text_of(parent).strip() or None if parent is not None else None,
        path=text_of(sys_path).strip() or None if sys_path is not None else None,
        devnodes=devnodes)


def _devnode(el: etree._Element, path: str) -> tuple[str, str]:
    kind = attr(el, "type")
    if kind not in ("dev", "link"):
        raise XMLParseError(f"unknown devnode type {quote(kind or '')}; use dev or link", path)
    return kind, text_of(el).strip()


def _capability(el: etree._Element, path: str) -> Capability:
    kind = attr(el, "type")
    if kind == "system":
        return _system(el, path)
    if kind == "pci":
        return _pci(el, path)
    if kind == "net":
        return _net(el, path)
    if kind in OTHER_CAPS:
        return _other(el, kind)
    allowed = ", ".join(("system", "pci", "net", *OTHER_CAPS))
    raise XMLParseError(f"unknown capability type {quote(kind or '')}; use one of: {allowed}",
                        path)


def _text(el: etree._Element, tag: str) -> str | None:
    child = first_child(el, tag)
    return text_of(child).strip() if child is not None else None


def _number(el: etree._Element, tag: str, path: str, *, required: bool = True,
            base: int = 10) -> int | None:
    text = _text(el, tag)
    if text is None:
        if required:
            raise XMLParseError(f"missing <{tag}>; add <{tag}>N</{tag}>", path)
        return None
    return unsigned(text, f"{path}/{tag}", tag, base=base)


# -- system ------------------------------------------------------------------------------------
def _system(el: etree._Element, path: str) -> SystemCap:
    hw = first_child(el, "hardware")
    fw = first_child(el, "firmware")
    uuid = _text(hw, "uuid") if hw is not None else None
    if uuid is None or not _UUID.match(uuid):
        raise XMLParseError("system capability needs <hardware><uuid>UUID</uuid></hardware>",
                            f"{path}/hardware")
    return SystemCap(
        hardware_uuid=uuid, product=_text(el, "product"),
        hardware_vendor=_text(hw, "vendor") if hw is not None else None,
        hardware_version=_text(hw, "version") if hw is not None else None,
        hardware_serial=_text(hw, "serial") if hw is not None else None,
        firmware_vendor=_text(fw, "vendor") if fw is not None else None,
        firmware_version=_text(fw, "version") if fw is not None else None,
        firmware_release_date=_text(fw, "release_date") if fw is not None else None)


# -- pci ---------------------------------------------------------------------------------------
def _hex_id(el: etree._Element, tag: str, path: str) -> tuple[int, str | None]:
    child = first_child(el, tag)
    value = attr(child, "id") if child is not None else None
    if value is None or not _HEX.match(value):
        raise XMLParseError(f"missing or invalid <{tag} id='0x....'>", f"{path}/{tag}")
    text = text_of(child).strip() if child is not None else ""
    return int(value, 16), text or None


def pci_address_from(el: etree._Element, path: str) -> PciAddress:
    """``<address domain='0x0000' bus='0x02' slot='0x00' function='0x1'/>``."""
    parts = []
    for name, limit in (("domain", 0xFFFF), ("bus", 0xFF), ("slot", 0x1F), ("function", 7)):
        value = attr(el, name)
        if value is None:
            raise XMLParseError(f"PCI address misses '{name}'", path)
        parts.append(unsigned(value, path, name, maximum=limit, base=0))
    return PciAddress(*parts)


def _sub(el: etree._Element, kind: str) -> etree._Element | None:
    return next((c for c in children(el, "capability") if attr(c, "type") == kind), None)


def _pci(el: etree._Element, path: str) -> PciCap:
    klass_text = _text(el, "class")
    if klass_text is not None and not _CLASS.match(klass_text):
        raise XMLParseError(f"invalid PCI class {quote(klass_text)}; use 0xCCSSPP",
                            f"{path}/class")
    address = PciAddress(*(_number(el, t, path) or 0
                           for t in ("domain", "bus", "slot", "function")))
    product_id, product = _hex_id(el, "product", path)
    vendor_id, vendor = _hex_id(el, "vendor", path)
    pf_el = _sub(el, "phys_function")
    pf_addr = first_child(pf_el, "address") if pf_el is not None else None
    vf_el = _sub(el, "virt_functions")
    vfs: tuple[PciAddress, ...] = ()
    max_count = None
    if vf_el is not None:
        vfs = tuple(pci_address_from(a, f"{path}/capability/address")
                    for a in children(vf_el, "address"))
        count = attr(vf_el, "maxCount")
        max_count = unsigned(count, path, "maxCount") if count is not None else None
    header = next((t for t in HEADER_TYPES if _sub(el, t) is not None), None)
    mdev_el = _sub(el, "mdev_types")
    vpd_el = _sub(el, "vpd")
    group_el = first_child(el, "iommuGroup")
    group = devices = None
    if group_el is not None:
        number = attr(group_el, "number")
        group = unsigned(number or "", f"{path}/iommuGroup", "number")
        devices = tuple(pci_address_from(a, f"{path}/iommuGroup/address")
                        for a in children(group_el, "address"))
    numa_el = first_child(el, "numa")
    numa = None
    if numa_el is not None and attr(numa_el, "node") is not None:
        numa = int(attr(numa_el, "node") or "-1")
    pcie_el = first_child(el, "pci-express")
    return PciCap(
        address=address, product_id=product_id, vendor_id=vendor_id, product=product,
        vendor=vendor, pci_class=int(klass_text, 16) if klass_text else None,
        phys_function=pci_address_from(pf_addr, f"{path}/capability/address")
        if pf_addr is not None else None,
        is_vf=pf_el is not None, virt_functions=vfs, has_vfs=vf_el is not None,
        vf_max_count=max_count, header_type=header,
        mdev_types=mdev_types(mdev_el, path) if mdev_el is not None else None,
        vpd=element(vpd_el) if vpd_el is not None else None,
        iommu_group=group, iommu_devices=devices or (), numa_node=numa,
        pci_express=_pcie(pcie_el, f"{path}/pci-express") if pcie_el is not None else None)


def mdev_types(el: etree._Element, path: str) -> tuple[MdevType, ...]:
    out = []
    for t in children(el, "type"):
        tid = attr(t, "id")
        if not tid:
            raise XMLParseError("mdev type without id", f"{path}/capability/type")
        out.append(MdevType(tid, _text(t, "name"), _text(t, "deviceAPI") or "",
                            _number(t, "availableInstances", path) or 0))
    return tuple(out)


def _pcie(el: etree._Element, path: str) -> tuple[PciLink, ...]:
    links = []
    for i, lnk in enumerate(children(el, "link"), 1):
        lpath = f"{path}/link[{i}]"
        validity = attr(lnk, "validity")
        if validity not in ("cap", "sta"):
            raise XMLParseError("link validity must be cap or sta", lpath)
        port, speed, width = attr(lnk, "port"), attr(lnk, "speed"), attr(lnk, "width")
        if speed is not None and not _SPEED.match(speed):
            raise XMLParseError(f"invalid link speed {quote(speed)}; GT/s, e.g. 2.5", lpath)
        links.append(PciLink(validity, unsigned(width or "", lpath, "width"),
                             unsigned(port, lpath, "port") if port is not None else None,
                             speed))
    return tuple(links)


# -- net ---------------------------------------------------------------------------------------
def _net(el: etree._Element, path: str) -> NetCap:
    ifname = _text(el, "interface")
    if not ifname:
        raise XMLParseError("net capability needs <interface>NAME</interface>", path)
    link = first_child(el, "link")
    speed, state = 0, None
    if link is not None:
        s = attr(link, "speed")
        speed = unsigned(s, f"{path}/link", "speed") if s is not None else 0
        state = attr(link, "state")
        if state is not None and state not in LINK_STATES:
            raise XMLParseError(f"unknown link state {quote(state)}; use one of: "
                                + ", ".join(LINK_STATES), f"{path}/link")
    names = set()
    for i, f in enumerate(children(el, "feature"), 1):
        name = attr(f, "name")
        if name not in NET_FEATURES:
            raise XMLParseError(f"unknown net feature {quote(name or '')}; use one of: "
                                + ", ".join(NET_FEATURES), f"{path}/feature[{i}]")
        names.add(name)
    sub = next((attr(c, "type") for c in children(el, "capability")
                if attr(c, "type") in ("80203", "80211")), None)
    return NetCap(interface=ifname, address=_text(el, "address"), link_speed=speed,
                  link_state=state, features=tuple(f for f in NET_FEATURES if f in names),
                  subtype=sub)


# -- other capabilities ------------------------------------------------------------------------
def element(el: etree._Element) -> Element:
    """An element with its attributes, text and child elements, as read (all known)."""
    strict.took_whole(el)
    kids = tuple(element(c) for c in el if isinstance(c.tag, str))
    text = None if kids else (el.text or "").strip() or None
    return Element(str(el.tag), tuple((str(k), str(v)) for k, v in el.attrib.items()), text,
                   kids)


def _other(el: etree._Element, kind: str) -> OtherCap:
    order = OTHER_CAPS[kind]
    kept = [element(c) for tag in order for c in children(el, tag)]
    if kind == "scsi_host":  # libvirt reads only the flag of vport_ops, not its counts
        kept = [_zero_vports(e) for e in kept]
    if kind == "mdev" and not any(e.tag == "iommuGroup" for e in kept):
        kept.insert(next((i for i, e in enumerate(kept) if e.tag == "attr"), len(kept)),
                    Element("iommuGroup", (("number", "0"),)))
    known(el, "parent_addr")  # libvirt ignores it when parsing an existing mdev
    return OtherCap(kind, tuple(kept))


def _zero_vports(e: Element) -> Element:
    if e.tag != "capability" or ("type", "vport_ops") not in e.attrs:
        return e
    return Element(e.tag, e.attrs, None, tuple(
        Element(c.tag, c.attrs, "0", ()) if c.tag in ("max_vports", "vports") else c
        for c in e.children))
