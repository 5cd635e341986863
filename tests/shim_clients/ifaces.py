"""The host's interfaces through libvirt-python's interface API, in the style of libvirt-python's
example programs (test driver; only ``import libvirt``).

Prints one JSON document: each interface (name, MAC, active as libvirt returns it, the root
and name of its XML), the name and MAC lookups' answers, and the list calls' answers.

usage: ifaces.py URI
"""
from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from typing import Any

import libvirt  # type: ignore[import-not-found, unused-ignore]


def main(uri: str) -> dict[str, Any]:
    conn = libvirt.openReadOnly(uri)
    rows = []
    for iface in conn.listAllInterfaces(0):
        doc = ET.fromstring(iface.XMLDesc(0))
        mac = iface.MACString()
        by_mac = None
        try:
            by_mac = conn.interfaceLookupByMACString(mac).name()
        except libvirt.libvirtError as exc:
            by_mac = {"error": exc.get_error_code()}  # a MAC several interfaces share
        rows.append({"name": iface.name(), "mac": mac, "active": iface.isActive(),
                     "xml_root": doc.tag, "xml_name": doc.get("name"),
                     "by_name": conn.interfaceLookupByName(iface.name()).name(),
                     "by_mac": by_mac})
    try:
        conn.interfaceLookupByName("no-such-if0")
        missing: Any = None
    except libvirt.libvirtError as exc:
        missing = exc.get_error_code()
    out = {"interfaces": rows, "active": sorted(conn.listInterfaces()),
           "inactive": sorted(conn.listDefinedInterfaces()),
           "counts": [conn.numOfInterfaces(), conn.numOfDefinedInterfaces()],
           "missing": missing}
    conn.close()
    return out


if __name__ == "__main__":
    json.dump(main(sys.argv[1]), sys.stdout, indent=1)
    print()
