"""Vendor and device names from the PCI ID database (pci.ids), as libvirt shows them.

libvirt's node devices name a PCI function's vendor and product from the database udev
reads (hwdata's ``pci.ids``); where it is not installed the names are left out and only the
IDs show.  kvmnet reads the same file: ``$KVMNET_PCI_IDS`` if set (tests point it at a file of
their own, or at nothing), else ``/usr/share/misc/pci.ids`` (Debian's ``pci.ids`` package),
else ``/usr/share/hwdata/pci.ids``.

The file is ~1.3 MB of text; the first lookup parses its vendor and device lines (~0.1 s)
and keeps the table for the process, so a command pays that once, and only when it shows
PCI devices.
"""
from __future__ import annotations

import os

PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids")

# path -> vendor id -> (vendor name, {device id: device name})
_CACHE: dict[str, dict[int, tuple[str, dict[int, str]]]] = {}


def database() -> str | None:
    """The pci.ids file in use, None when there is none."""
    env = os.environ.get("KVMNET_PCI_IDS")
    if env is not None:
        return env if env and os.path.isfile(env) else None
    return next((p for p in PATHS if os.path.isfile(p)), None)


def _load(path: str) -> dict[int, tuple[str, dict[int, str]]]:
    table = _CACHE.get(path)
    if table is not None:
        return table
    table = {}
    devices: dict[int, str] | None = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("C "):  # the device class section ends the vendor list
                break
            if not line.startswith("\t"):
                ident, _, name = line.partition("  ")
                try:
                    vendor = int(ident, 16)
                except ValueError:
                    devices = None
                    continue
                devices = {}
                table[vendor] = (name.strip(), devices)
            elif not line.startswith("\t\t") and devices is not None:
                ident, _, name = line[1:].partition("  ")
                try:
                    devices[int(ident, 16)] = name.strip()
                except ValueError:
                    continue
    _CACHE[path] = table
    return table


def names(vendor: int, device: int) -> tuple[str | None, str | None]:
    """(vendor name, device name) for a PCI ID pair; None where the database has none."""
    path = database()
    if path is None:
        return None, None
    entry = _load(path).get(vendor)
    if entry is None:
        return None, None
    return entry[0], entry[1].get(device)
