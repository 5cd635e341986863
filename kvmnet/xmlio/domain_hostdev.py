"""Host PCI devices in domain XML: ``<hostdev mode='subsystem' type='pci'>`` and the source of an
``<interface type='hostdev'>`` (an SR-IOV VF), parsed and formatted as libvirt does.

::

    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:02'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>
      </source>
    </interface>

    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>
      </source>
    </hostdev>

The host address is kept as sysfs names it (``0000:03:10.1``); the guest-side ``<address>`` of
a ``<hostdev>``, its ``<driver>`` and ``<rom>`` are kept verbatim.  Formatting writes the
address as libvirt's virPCIDeviceAddressFormat does (``function='0x1'``).
"""
from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from kvmnet.errors import XMLParseError
from kvmnet.model.domain import Hostdev, RawElement
from kvmnet.xmlio import values as v

_LIMITS = (("domain", 0xFFFF), ("bus", 0xFF), ("slot", 0x1F), ("function", 7))


def pci_source(el: etree._Element, path: str, *, need_type: bool) -> str:
    """The host PCI address in ``<source><address .../></source>`` of ``el``, as
    ``DDDD:BB:SS.F`` (numbers in C notation, range-checked as libvirt does)."""
    src = v.first_child(el, "source")
    addr = v.first_child(src, "address") if src is not None else None
    spath = f"{path}/source/address"
    if addr is None:
        raise XMLParseError("missing <source><address type='pci' domain='0x0000' bus='0x03' "
                            "slot='0x10' function='0x1'/></source>: name the host's PCI device "
                            "(kvmnet nodedev-list --cap pci)", path)
    atype = addr.get("type")
    if atype is None and need_type:
        raise XMLParseError("missing address type; write <address type='pci' .../>", spath)
    if atype not in (None, "pci"):
        raise XMLParseError(f"address type '{atype}' is not supported; kvmnet passes PCI "
                            "devices through (type='pci')", spath)
    parts = {key: v.unsigned(addr.get(key) or "0", spath, key, maximum=limit, base=0)
             for key, limit in _LIMITS}
    if not (parts["domain"] or parts["bus"] or parts["slot"]):
        raise XMLParseError("PCI address 0000:00:00 is the host bridge, not a device; give the "
                            "device's bus and slot", spath)
    return (f"{parts['domain']:04x}:{parts['bus']:02x}:{parts['slot']:02x}."
            f"{parts['function']:x}")


def managed(el: etree._Element, path: str) -> bool | None:
    text = el.get("managed")
    return None if text is None else v.yes_no(text, path, "managed")


def parse_hostdev(el: etree._Element, path: str, live: bool,
                  raw: Callable[[etree._Element], RawElement]) -> Hostdev:
    """``<hostdev mode='subsystem' type='pci'>`` (other modes and types are refused); ``raw``
    keeps an element verbatim (:func:`kvmnet.xmlio.domain.raw`)."""
    mode = el.get("mode") or "subsystem"
    htype = el.get("type")
    if mode != "subsystem" or htype != "pci":
        shown = f"mode='{mode}' type='{htype}'"
        raise XMLParseError(f"<hostdev {shown}> is not supported; kvmnet passes host PCI "
                            "devices through with VFIO (<hostdev mode='subsystem' type='pci'>)",
                            path)
    address = pci_source(el, path, need_type=False)
    alias = None
    extra: list[RawElement] = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "alias":
            alias = child.get("name") if live else None
        elif child.tag in ("driver", "rom", "address", "boot"):
            extra.append(raw(child))
        elif child.tag != "source":
            raise XMLParseError(f"<{child.tag}> in <hostdev> is not supported; kvmnet takes "
                                "source (and keeps driver, rom, address, boot) — remove it",
                                f"{path}/{child.tag}")
    return Hostdev(address=address, managed=managed(el, path), alias=alias, extra=tuple(extra))


def address_line(address: str, with_type: bool) -> str:
    """``<address [type='pci'] domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>``."""
    dom, bus, rest = address.split(":")
    slot, func = rest.split(".")
    kind = "type='pci' " if with_type else ""
    return (f"<address {kind}domain='0x{dom}' bus='0x{bus}' slot='0x{slot}' "
            f"function='0x{int(func, 16)}'/>")


def source_lines(address: str, with_type: bool) -> list[str]:
    return ["<source>", "  " + address_line(address, with_type), "</source>"]


def managed_attr(value: bool | None) -> str:
    return "" if value is None else f" managed='{'yes' if value else 'no'}'"


def format_hostdev(h: Hostdev, live: bool) -> list[str]:
    lines = [f"<hostdev mode='subsystem' type='pci'{managed_attr(h.managed)}>"]
    lines += ["  " + line for line in source_lines(h.address, with_type=False)]
    if live and h.alias:
        lines.append(f"  <alias name='{h.alias}'/>")
    for item in h.extra:
        lines += ["  " + line for line in item.xml.splitlines()]
    lines.append("</hostdev>")
    return lines
