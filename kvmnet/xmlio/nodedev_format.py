"""Write libvirt's node-device XML: :func:`format_nodedev`.

The layout of libvirt 11.3.0's ``virNodeDeviceDefFormat`` (src/conf/node_device_conf.c):
two-space indents, elements in its order, empty values left out as it leaves them out
(a PCI class, a NUMA node, an IOMMU group without devices, a link speed of 0).  ``inactive``
is ``VIR_NODE_DEVICE_XML_INACTIVE``: the sysfs ``<path>`` is left out.
"""
from __future__ import annotations

from kvmnet.model.nodedev import (
    Capability,
    Element,
    MdevType,
    NetCap,
    NodeDevice,
    OtherCap,
    PciAddress,
    PciCap,
    SystemCap,
)
from kvmnet.xmlio.network_format import escape


def format_nodedev(dev: NodeDevice, *, inactive: bool = False) -> str:
    """The document libvirt writes for ``dev`` (ends with a newline)."""
    out = ["<device>", f"  <name>{_t(dev.name)}</name>"]
    if dev.path and not inactive:
        out.append(f"  <path>{_t(dev.path)}</path>")
    out.extend(f"  <devnode type='{kind}'>{_t(node)}</devnode>" for kind, node in dev.devnodes)
    if dev.parent:
        out.append(f"  <parent>{_t(dev.parent)}</parent>")
    if dev.driver:
        out += ["  <driver>", f"    <name>{_t(dev.driver)}</name>", "  </driver>"]
    for cap in dev.caps:
        _capability(cap, out)
    out.append("</device>")
    return "".join(f"{line}\n" for line in out)


def _t(text: str) -> str:
    return escape(text, attribute=False)


def _a(text: str) -> str:
    return escape(text)


def _capability(cap: Capability, out: list[str]) -> None:
    out.append(f"  <capability type='{cap.type}'>")
    if isinstance(cap, SystemCap):
        _system(cap, out)
    elif isinstance(cap, PciCap):
        _pci(cap, out)
    elif isinstance(cap, NetCap):
        _net(cap, out)
    else:
        _other(cap, out)
    out.append("  </capability>")


def _opt(out: list[str], ind: str, tag: str, value: str | None) -> None:
    if value is not None:
        out.append(f"{ind}<{tag}>{_t(value)}</{tag}>")


def _system(c: SystemCap, out: list[str]) -> None:
    i = "    "
    _opt(out, i, "product", c.product)
    out.append(f"{i}<hardware>")
    _opt(out, i + "  ", "vendor", c.hardware_vendor)
    _opt(out, i + "  ", "version", c.hardware_version)
    _opt(out, i + "  ", "serial", c.hardware_serial)
    out.append(f"{i}  <uuid>{_t(c.hardware_uuid)}</uuid>")
    out += [f"{i}</hardware>", f"{i}<firmware>"]
    _opt(out, i + "  ", "vendor", c.firmware_vendor)
    _opt(out, i + "  ", "version", c.firmware_version)
    _opt(out, i + "  ", "release_date", c.firmware_release_date)
    out.append(f"{i}</firmware>")


def address_xml(a: PciAddress) -> str:
    return (f"<address domain='0x{a.domain:04x}' bus='0x{a.bus:02x}' slot='0x{a.slot:02x}' "
            f"function='0x{a.function:x}'/>")


def _id_name(tag: str, ident: int, name: str | None) -> str:
    if name:
        return f"<{tag} id='0x{ident:04x}'>{_t(name)}</{tag}>"
    return f"<{tag} id='0x{ident:04x}'/>"


def _pci(c: PciCap, out: list[str]) -> None:
    i = "    "
    if c.pci_class is not None:
        out.append(f"{i}<class>0x{c.pci_class:06x}</class>")
    a = c.address
    out += [f"{i}<domain>{a.domain}</domain>", f"{i}<bus>{a.bus}</bus>",
            f"{i}<slot>{a.slot}</slot>", f"{i}<function>{a.function}</function>",
            i + _id_name("product", c.product_id, c.product),
            i + _id_name("vendor", c.vendor_id, c.vendor)]
    if c.is_vf:
        out.append(f"{i}<capability type='phys_function'>")
        if c.phys_function is not None:
            out.append(f"{i}  {address_xml(c.phys_function)}")
        out.append(f"{i}</capability>")
    if c.has_vfs:
        head = f"{i}<capability type='virt_functions'"
        if c.vf_max_count is not None:
            head += f" maxCount='{c.vf_max_count}'"
        if c.virt_functions:
            out.append(head + ">")
            out.extend(f"{i}  {address_xml(vf)}" for vf in c.virt_functions)
            out.append(f"{i}</capability>")
        else:
            out.append(head + "/>")
    if c.header_type:
        out.append(f"{i}<capability type='{c.header_type}'/>")
    if c.mdev_types is not None:
        mdev_types_xml(c.mdev_types, out, i)
    if c.vpd is not None:
        _element(c.vpd, out, i)
    if c.iommu_group is not None and c.iommu_devices:
        out.append(f"{i}<iommuGroup number='{c.iommu_group}'>")
        out.extend(f"{i}  {address_xml(d)}" for d in c.iommu_devices)
        out.append(f"{i}</iommuGroup>")
    if c.numa_node is not None and c.numa_node >= 0:
        out.append(f"{i}<numa node='{c.numa_node}'/>")
    if c.pci_express is not None:
        if not c.pci_express:
            out.append(f"{i}<pci-express/>")
        else:
            out.append(f"{i}<pci-express>")
            for lnk in c.pci_express:
                text = f"{i}  <link validity='{lnk.validity}'"
                if lnk.port is not None:
                    text += f" port='{lnk.port}'"
                if lnk.speed:
                    text += f" speed='{lnk.speed}'"
                out.append(text + f" width='{lnk.width}'/>")
            out.append(f"{i}</pci-express>")


def mdev_types_xml(types: tuple[MdevType, ...], out: list[str], ind: str) -> None:
    out.append(f"{ind}<capability type='mdev_types'>")
    for t in types:
        out.append(f"{ind}  <type id='{_a(t.id)}'>")
        _opt(out, ind + "    ", "name", t.name)
        out.append(f"{ind}    <deviceAPI>{_t(t.device_api)}</deviceAPI>")
        out.append(f"{ind}    <availableInstances>{t.available}</availableInstances>")
        out.append(f"{ind}  </type>")
    out.append(f"{ind}</capability>")


def _net(c: NetCap, out: list[str]) -> None:
    i = "    "
    out.append(f"{i}<interface>{_t(c.interface)}</interface>")
    _opt(out, i, "address", c.address)
    if c.link_speed or c.link_state:
        text = f"{i}<link"
        if c.link_speed:
            text += f" speed='{c.link_speed}'"
        if c.link_state:
            text += f" state='{c.link_state}'"
        out.append(text + "/>")
    out.extend(f"{i}<feature name='{f}'/>" for f in c.features)
    if c.subtype:
        out.append(f"{i}<capability type='{c.subtype}'/>")


def _other(c: OtherCap, out: list[str]) -> None:
    for e in c.children:
        _element(e, out, "    ")


def _element(e: Element, out: list[str], ind: str) -> None:
    head = f"{ind}<{e.tag}" + "".join(f" {k}='{_a(v)}'" for k, v in e.attrs)
    if e.children:
        out.append(head + ">")
        for child in e.children:
            _element(child, out, ind + "  ")
        out.append(f"{ind}</{e.tag}>")
    elif e.text is not None:
        out.append(f"{head}>{_t(e.text)}</{e.tag}>")
    else:
        out.append(head + "/>")
