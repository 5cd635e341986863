"""A read-only inventory of networks and their DHCP leases, in the style of libvirt-python's
example programs (test driver; only ``import libvirt``).

Prints one JSON document: every network with its state (as libvirt returns it: ints, bytes
lengths, names) and, for the network named on the command line, its leases as
``virNetwork.DHCPLeases()`` returns them, with the Python type of each value.

usage: netinfo.py URI NETWORK [MAC]
"""
from __future__ import annotations

import json
import sys
from typing import Any

import libvirt  # type: ignore[import-not-found, unused-ignore]


def describe(net: Any) -> dict[str, Any]:
    return {"name": net.name(), "uuid": net.UUIDString(), "uuid_bytes": len(net.UUID()),
            "active": net.isActive(), "persistent": net.isPersistent(),
            "autostart": net.autostart(), "bridge": net.bridgeName()}


def main(uri: str, network: str, mac: str | None) -> dict[str, Any]:
    conn = libvirt.openReadOnly(uri)
    if conn is None:
        raise SystemExit(f"failed to open connection to {uri}")
    nets = [describe(n) for n in conn.listAllNetworks(0)]
    net = conn.networkLookupByName(network)
    leases = net.DHCPLeases() if mac is None else net.DHCPLeases(mac)
    typed = [{k: [v, type(v).__name__] for k, v in lease.items()} for lease in leases]
    counts = [conn.numOfNetworks(), conn.numOfDefinedNetworks()]
    conn.close()
    return {"networks": nets, "counts": counts, "leases": typed}


if __name__ == "__main__":
    json.dump(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None),
              sys.stdout, indent=1)
    print()
