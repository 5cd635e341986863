"""Define a guest: semantic checks, and what libvirt's domainDefineXML assigns.

Assigned when missing: a UUID (the existing guest's when one of that name is already
defined, so re-running ``define`` on the same file keeps the guest's identity), a MAC
``52:54:00:xx:xx:xx`` per interface (unused by other guests), the NIC model, and the
missing ``interfaceid``/``instanceid`` of an interface's ``<virtualport>``, typed or not
(:func:`with_interfaceid`).  Refused
(:class:`~kvmnet.errors.ConflictError`): a name that exists with another UUID and a UUID
that another guest uses.
"""
from __future__ import annotations

from collections import Counter

from kvmnet.config.define import new_uuid, random_mac
from kvmnet.errors import ConflictError, KvmnetError, ValidationError
from kvmnet.guests.store import GuestStore, check_name
from kvmnet.model.domain import DEFAULT_NIC_MODEL, Domain
from kvmnet.model.frozen import replace
from kvmnet.model.network import VirtualPort


def problems(dom: Domain) -> list[str]:
    """Every semantic problem of a parsed definition (no host access)."""
    out: list[str] = []
    paths = [("<kernel>", dom.os.kernel), ("<initrd>", dom.os.initrd),
             ("<emulator>", dom.emulator)]
    paths += [(f"disk {d.target_dev} source", d.source) for d in dom.disks]
    for kind, devs in (("serial", dom.serials), ("console", dom.consoles)):
        for c in devs:
            if c.type == "file":
                paths.append((f"{kind} source path", c.source_path))
            paths.append((f"{kind} log file", c.log_file))
    for what, value in paths:
        if value is not None and not value.startswith("/"):
            out.append(f"{what} '{value}' is a relative path; QEMU runs from '/', so write an "
                       "absolute path")
    for dev, n in Counter(d.target_dev for d in dom.disks).items():
        if n > 1:
            out.append(f"disk target '{dev}' is used by {n} disks; give each disk its own target")
    macs = Counter(i.mac for i in dom.interfaces if i.mac)
    for mac, n in macs.items():
        if n > 1:
            out.append(f"MAC address {mac} is used by {n} interfaces; give each its own "
                       "(or leave <mac> out to get a generated one)")
    taps = Counter(i.target_dev for i in dom.interfaces if i.target_dev)
    for tap, n in taps.items():
        if n > 1:
            out.append(f"target dev '{tap}' is used by {n} interfaces")
    orders = [d.boot_order for d in dom.disks] + [i.boot_order for i in dom.interfaces]
    given = [o for o in orders if o is not None]
    if given and dom.os.boot:
        out.append("per-device <boot order=.../> cannot be used together with <os><boot "
                   "dev=.../>; use one or the other")
    for order, n in Counter(given).items():
        if n > 1:
            out.append(f"boot order {order} is used by {n} devices; each needs its own")
    for d in dom.disks:
        if d.device == "cdrom" and (d.bus == "virtio" or (d.bus is None
                                                           and d.target_dev.startswith("vd"))):
            out.append(f"cdrom {d.target_dev} cannot be on the virtio bus; use an hdX or sdX "
                       "target")
    return out


def validate(dom: Domain) -> None:
    check_name(dom.name)
    found = problems(dom)
    if found:
        raise ValidationError(found, f"guest '{dom.name}'")


def used_macs(store: GuestStore, skip: str | None = None) -> set[str]:
    """MACs of every other guest's persistent and live definition."""
    from kvmnet.xmlio.domain import parse_domain

    macs: set[str] = set()
    for name in store.defined_names() | store.recorded_names():
        if name == skip:
            continue
        for text, live in ((store.read_config(name), False), (store.read_status(name), True)):
            if text is None:
                continue
            try:
                macs |= {i.mac for i in parse_domain(text, live=live).interfaces if i.mac}
            except KvmnetError:
                continue  # a damaged file must not block defining another guest
    return macs


def unique_mac(taken: set[str]) -> str:
    while True:
        mac = random_mac()
        if mac not in taken:
            return mac


def uuid_of(store: GuestStore, name: str) -> str | None:
    """The UUID under which ``name`` is defined or running, if it is."""
    from kvmnet.xmlio.domain import parse_domain

    for text, live in ((store.read_status(name), True), (store.read_config(name), False)):
        if text is not None:
            try:
                return parse_domain(text, live=live).uuid
            except KvmnetError:
                continue
    return None


def with_interfaceid(itype: str, vport: VirtualPort | None) -> VirtualPort | None:
    """``vport`` with the identifiers libvirt generates when it reads a guest's definition
    (``interfaceid`` for ``openvswitch``, ``instanceid`` for ``802.1Qbg``, both for an
    untyped one, whose network decides later which counts), whatever the interface's type
    (``itype`` is kept for the callers; libvirt generates them on every type that takes a
    ``<virtualport>``).  They are kept in the definition, so the OVS port's
    ``external_ids:iface-id`` (a controller's binding, e.g. OVN's logical port) holds across
    the guest's restarts."""
    from kvmnet.model.precedence import with_missing_ids

    return with_missing_ids(vport, new_uuid)


def assign(store: GuestStore, dom: Domain) -> Domain:
    """Fill in UUID, MACs and NIC models; refuse name/UUID clashes.  Call under the lock."""
    existing = uuid_of(store, dom.name)
    uuid = dom.uuid or existing or new_uuid()
    if existing is not None and existing != uuid:
        raise ConflictError(f"domain '{dom.name}' already exists with uuid {existing}; keep that "
                            "<uuid> (or leave it out) to redefine it, or choose another name")
    for other in store.defined_names() | store.recorded_names():
        if other != dom.name and uuid_of(store, other) == uuid:
            raise ConflictError(f"domain '{other}' is already defined with uuid {uuid}; leave "
                                "<uuid> out to get a new one")
    taken = used_macs(store, skip=dom.name) | {i.mac for i in dom.interfaces if i.mac}
    ifaces = []
    for iface in dom.interfaces:
        mac = iface.mac
        if mac is None:
            mac = unique_mac(taken)
            taken.add(mac)
        # a VF is the NIC itself: no emulated model (libvirt adds none either)
        model = None if iface.type == "hostdev" else iface.model or DEFAULT_NIC_MODEL
        ifaces.append(replace(iface, mac=mac, model=model,
                              virtualport=with_interfaceid(iface.type, iface.virtualport)))
    os_def = replace(dom.os, arch=dom.os.arch or "x86_64", machine=dom.os.machine or "pc")
    return replace(dom, uuid=uuid, interfaces=tuple(ifaces), os=os_def)
