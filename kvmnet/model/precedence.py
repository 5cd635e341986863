"""Which settings a guest port gets: libvirt's precedence of interface, portgroup and network.

libvirt's ``networkAllocatePort`` resolves a port's settings from three places, pure data:

* ``<virtualport>``: the three are *merged* (virNetDevVPortProfileMerge3): the interface's
  first, then the network's, then the portgroup's fill in what is still missing.  A type or a
  parameter given twice with different values is an error (libvirt: "attempt to merge
  virtualports with mismatched ..."), not a silent override: an interface cannot escape its
  network's ``profileid`` by naming another one.  When none of the three names a type the
  port has no virtualport (typeless parameters alone mean nothing).
* ``<vlan>``: the first that has tags wins: interface, else portgroup, else network.
* ``<bandwidth>``: the interface's, else the portgroup's (a network's own ``<bandwidth>`` is
  the bridge's, not a port's).

:func:`resolve` answers all three for one port; :mod:`kvmnet.port.ports` calls it.
:func:`settings_json` carries an interface's own three in a guest start's ``port.plug`` step.

Missing identifiers are generated at two moments, as libvirt does:

* :func:`with_missing_ids` when a guest is defined (libvirt parses an interface's
  ``<virtualport>`` with VIR_VPORT_XML_GENERATE_MISSING_DEFAULTS): an untyped profile gets
  both an ``instanceid`` and an ``interfaceid`` (the network decides later which one counts),
  ``openvswitch`` an ``interfaceid``, ``802.1Qbg`` an ``instanceid``.  They are kept in the
  definition, so they hold across the guest's restarts.
* :func:`completed` when a port is allocated (networkAllocatePort ends with
  virNetDevVPortProfileCheckComplete(generateMissing=true)): a merged ``openvswitch`` profile
  still without an ``interfaceid`` (the interface had no ``<virtualport>``) gets a new one, a
  ``802.1Qbg`` one an ``instanceid``.  That one lives as long as the port.
"""
from __future__ import annotations

from kvmnet.model.frozen import frozen
from kvmnet.model.network import Bandwidth, VirtualPort, Vlan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from kvmnet.model.network import Network, PortGroup

#: parameter -> the virtualport types that carry it (a parameter of another type is left
#: alone by a merge, as libvirt's merge does).  A typeless profile takes any.  In libvirt's
#: format order (kvmnet.xmlio.network_fragments.VPORT_PARAMS).
_CARRIED_BY = {
    "managerid": ("802.1Qbg",), "typeid": ("802.1Qbg",), "typeidversion": ("802.1Qbg",),
    "instanceid": ("802.1Qbg",), "interfaceid": ("openvswitch", "midonet"),
    "profileid": ("802.1Qbh", "openvswitch"),
}
#: libvirt's plural names in its mismatch messages
_PLURAL = {"managerid": "managerids", "typeid": "typeids", "typeidversion": "typeidversions",
           "instanceid": "instanceids", "profileid": "profileids",
           "interfaceid": "interfaceids"}


#: which missing identifiers a definition's profile gets, by type (None: untyped)
_DEFINE_IDS: dict[str | None, tuple[str, ...]] = {
    None: ("instanceid", "interfaceid"), "openvswitch": ("interfaceid",),
    "802.1Qbg": ("instanceid",)}
#: which missing identifier an allocated port's (merged, typed) profile gets
_PORT_IDS: dict[str | None, tuple[str, ...]] = {
    "openvswitch": ("interfaceid",), "802.1Qbg": ("instanceid",)}


class MergeConflict(ValueError):
    """Two of a port's sources disagree on a virtualport's type or parameter."""


@frozen
class Resolved:
    """A port's settings after precedence (None: none of the three sources has one)."""

    virtualport: VirtualPort | None
    vlan: Vlan | None
    bandwidth: Bandwidth | None


def merge_into(orig: VirtualPort, mods: VirtualPort | None, where: str) -> VirtualPort:
    """``orig`` with what ``mods`` (from ``where``: "network", "portgroup 'x'") adds;
    raises :class:`MergeConflict` when they disagree (libvirt's virNetDevVPortProfileMerge)."""
    if mods is None:
        return orig
    otype, vtype = orig.type, orig.type
    if mods.type is not None:
        if otype is not None and otype != mods.type:
            raise MergeConflict(f"attempt to merge virtualports with mismatched types "
                                f"({otype} and {mods.type}) from the {where}")
        vtype = mods.type
    params = dict(orig.parameters)
    for key, value in mods.parameters:
        if otype is not None and otype not in _CARRIED_BY.get(key, ()):
            continue
        have = params.get(key)
        if have is not None and have != value:
            raise MergeConflict(f"attempt to merge virtualports with mismatched "
                                f"{_PLURAL.get(key, key)} ({have} and {value}) from the {where}")
        params[key] = value
    return VirtualPort(type=vtype, parameters=_ordered(params))


def _ordered(params: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Parameters in libvirt's format order."""
    order = tuple(_CARRIED_BY)
    return tuple(sorted(params.items(), key=lambda kv: order.index(kv[0])
                        if kv[0] in order else len(order)))


def _new_uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _with_ids(vport: VirtualPort, keys: tuple[str, ...], new_uuid: Callable[[], str]
              ) -> VirtualPort:
    params = dict(vport.parameters)
    missing = [k for k in keys if not params.get(k)]
    if not missing:
        return vport
    for key in missing:
        params[key] = new_uuid()
    return VirtualPort(type=vport.type, parameters=_ordered(params))


def with_missing_ids(vport: VirtualPort | None, new_uuid: Callable[[], str] = _new_uuid
                     ) -> VirtualPort | None:
    """An interface's ``<virtualport>`` with the identifiers libvirt generates when it reads
    a guest's definition (see the module docstring); ``new_uuid`` makes one."""
    if vport is None:
        return None
    return _with_ids(vport, _DEFINE_IDS.get(vport.type, ()), new_uuid)


def completed(vport: VirtualPort | None, new_uuid: Callable[[], str] = _new_uuid
              ) -> VirtualPort | None:
    """An allocated port's merged profile with the identifier its type needs and lacks
    (libvirt's virNetDevVPortProfileCheckComplete with generateMissing)."""
    if vport is None:
        return None
    return _with_ids(vport, _PORT_IDS.get(vport.type, ()), new_uuid)


def merge3(interface: VirtualPort | None, network: VirtualPort | None,
           portgroup: VirtualPort | None, portgroup_name: str | None = None
           ) -> VirtualPort | None:
    """libvirt's virNetDevVPortProfileMerge3: the interface's profile, then the network's,
    then the portgroup's fill in what is missing; None when none of them has a type."""
    if all(p is None or p.type is None for p in (interface, network, portgroup)):
        return None
    out = interface if interface is not None else VirtualPort()
    out = merge_into(out, network, "network")
    pg_where = f"portgroup '{portgroup_name}'" if portgroup_name else "portgroup"
    return merge_into(out, portgroup, pg_where)


def resolve(net: Network, pg: PortGroup | None, *, virtualport: VirtualPort | None,
            vlan: Vlan | None, bandwidth: Bandwidth | None) -> Resolved:
    """The settings of a port on ``net`` in portgroup ``pg`` (the named one, else the
    default one, else None) whose interface has ``virtualport``, ``vlan`` and ``bandwidth``
    of its own; raises :class:`MergeConflict`."""
    vport = merge3(virtualport, net.virtualport, pg.virtualport if pg is not None else None,
                   pg.name if pg is not None else None)
    if vlan is None or not vlan.tags:
        if pg is not None and pg.vlan is not None and pg.vlan.tags:
            vlan = pg.vlan
        elif net.vlan is not None and net.vlan.tags:
            vlan = net.vlan
        else:
            vlan = None
    if bandwidth is None and pg is not None:
        bandwidth = pg.bandwidth
    return Resolved(virtualport=vport, vlan=vlan, bandwidth=bandwidth)


# -- an interface's own settings as JSON (a guest start's port step carries them) -------------
def settings_json(virtualport: VirtualPort | None, vlan: Vlan | None,
                  bandwidth: Bandwidth | None) -> dict[str, object] | None:
    """An interface's ``<virtualport>``, ``<vlan>`` and ``<bandwidth>`` as plain JSON values
    (None when it has none of them); :func:`settings_from_json` reads them back."""
    out: dict[str, object] = {}
    if virtualport is not None:
        out["virtualport"] = {"type": virtualport.type,
                              "parameters": [list(kv) for kv in virtualport.parameters]}
    if vlan is not None:
        out["vlan"] = {"tags": [[t.id, t.native_mode] for t in vlan.tags], "trunk": vlan.trunk}
    if bandwidth is not None:
        out["bandwidth"] = {
            key: None if r is None else [r.average, r.peak, r.burst, r.floor]
            for key, r in (("inbound", bandwidth.inbound), ("outbound", bandwidth.outbound))}
    return out or None


def settings_from_json(data: dict[str, Any] | None
                       ) -> tuple[VirtualPort | None, Vlan | None, Bandwidth | None]:
    """The inverse of :func:`settings_json`."""
    from kvmnet.model.network import Rate, VlanTag

    data = data or {}
    vport = vlan = bandwidth = None
    if data.get("virtualport") is not None:
        vp = data["virtualport"]
        vport = VirtualPort(type=vp.get("type"),
                            parameters=tuple((str(k), str(v)) for k, v in vp["parameters"]))
    if data.get("vlan") is not None:
        vlan = Vlan(tags=tuple(VlanTag(id=int(i), native_mode=m) for i, m in data["vlan"]["tags"]),
                    trunk=data["vlan"].get("trunk"))
    if data.get("bandwidth") is not None:
        rates = {key: None if r is None else Rate(*r)
                 for key, r in data["bandwidth"].items()}
        bandwidth = Bandwidth(inbound=rates.get("inbound"), outbound=rates.get("outbound"))
    return vport, vlan, bandwidth
