"""A guest port's life through libvirt-python's network port API (test driver; only
``import libvirt``): create from XML, list, look up, read back, delete, look up again.

usage: ports.py URI NETWORK PORT_XML_FILE     prints one JSON document
"""
from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from typing import Any

import libvirt  # type: ignore[import-not-found, unused-ignore]


def main(uri: str, network: str, xml: str) -> dict[str, Any]:
    conn = libvirt.open(uri)
    net = conn.networkLookupByName(network)
    port = net.portCreateXML(xml, 0)
    out: dict[str, Any] = {"uuid": port.UUIDString(), "uuid_bytes": len(port.UUID()),
                           "network": port.network().name(),
                           "listed": [p.UUIDString() for p in net.listAllPorts(0)]}
    doc = ET.fromstring(net.portLookupByUUIDString(port.UUIDString()).XMLDesc(0))
    out["xml"] = {"root": doc.tag, "owner": doc.findtext("owner/name"),
                  "mac": doc.find("mac").get("address") if doc.find("mac") is not None else None,
                  "plug": doc.find("plug").get("type") if doc.find("plug") is not None else None}
    out["by_bytes"] = net.portLookupByUUID(port.UUID()).UUIDString()
    try:
        port.setParameters({libvirt.VIR_NETWORK_PORT_BANDWIDTH_IN_AVERAGE: 1000}, 0)
        out["set_parameters"] = "ok"
    except libvirt.libvirtError as exc:
        out["set_parameters"] = exc.get_error_code()
    out["delete"] = port.delete(0)
    out["listed_after"] = [p.UUIDString() for p in net.listAllPorts(0)]
    try:
        net.portLookupByUUIDString(out["uuid"])
        out["lookup_after"] = "found"
    except libvirt.libvirtError as exc:
        out["lookup_after"] = exc.get_error_code()
    conn.close()
    return out


if __name__ == "__main__":
    with open(sys.argv[3]) as fh:
        json.dump(main(sys.argv[1], sys.argv[2], fh.read()), sys.stdout, indent=1)
    print()
