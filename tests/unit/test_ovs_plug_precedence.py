"""Golden tables of libvirt's precedence for a port's settings (no root).

The interface's ``<virtualport>``, the network's and the portgroup's are merged (libvirt's
virNetDevVPortProfileMerge3), conflicting values are an error; ``<vlan>`` and ``<bandwidth>``
go to the first source that has one: interface, portgroup, network.
"""
from __future__ import annotations

import pytest

from kvmnet.errors import ValidationError
from kvmnet.model.network import Bandwidth, Rate, VirtualPort, Vlan, VlanTag
from kvmnet.model.port import NetworkPort
from kvmnet.model.precedence import MergeConflict, merge3, resolve
from kvmnet.port import ports
from kvmnet.xmlio.network import parse_network

IID = "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa3b"
IID2 = "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4c"


def vp(vtype: str | None = "openvswitch", **params: str) -> VirtualPort:
    return VirtualPort(type=vtype, parameters=tuple(params.items()))


OVS = vp()
# (interface, network, portgroup) -> merged (or the conflict's words)
MERGES = [
    ((None, None, None), None),
    ((vp(None), None, None), None),  # typeless alone: no virtualport
    ((None, vp(None, profileid="p"), None), None),
    ((None, OVS, None), OVS),
    ((OVS, None, None), OVS),
    ((None, None, OVS), OVS),
    ((vp(None, interfaceid=IID), OVS, None), vp(interfaceid=IID)),
    ((None, OVS, vp(None, profileid="gold")), vp(profileid="gold")),
    ((vp(interfaceid=IID), vp(profileid="net"), None), vp(interfaceid=IID, profileid="net")),
    ((vp(profileid="net"), vp(profileid="net"), vp(profileid="net")), vp(profileid="net")),
    ((vp(interfaceid=IID), vp(interfaceid=IID2), None), "mismatched interfaceids"),
    ((None, vp(profileid="a"), vp(profileid="b")), "mismatched profileids (a and b)"),
    ((vp(profileid="mine"), vp(profileid="net"), None), "mismatched profileids (mine and net)"),
    ((vp("802.1Qbh"), OVS, None), "mismatched types (802.1Qbh and openvswitch)"),
    ((None, OVS, vp("midonet")), "mismatched types (openvswitch and midonet) from the portgroup"),
]


@pytest.mark.parametrize("sources, expected", MERGES)
def test_virtualport_merge_table(sources: tuple[VirtualPort | None, ...],
                                 expected: VirtualPort | str | None) -> None:
    if isinstance(expected, str):
        with pytest.raises(MergeConflict, match=expected.replace("(", r"\(").replace(")", r"\)")):
            merge3(*sources, portgroup_name="pg")
    else:
        assert merge3(*sources) == expected


NET = """<network><name>ovs</name><forward mode='bridge'/><bridge name='ovsbr0'/>
  <virtualport type='openvswitch'><parameters profileid='net-profile'/></virtualport>
  <vlan><tag id='1'/></vlan>
  <portgroup name='blue' default='yes'><vlan><tag id='10'/></vlan>
    <bandwidth><inbound average='1000'/></bandwidth></portgroup>
  <portgroup name='trunk'><vlan trunk='yes'><tag id='10' nativeMode='untagged'/><tag id='20'/>
  </vlan></portgroup>
  <portgroup name='plain'/>
</network>"""
V30 = Vlan(tags=(VlanTag(id=30),))
BW = Bandwidth(outbound=Rate(average=5))
# (portgroup, interface vlan, interface bandwidth) -> (vlan tags, trunk, bandwidth source)
CHOICES = [
    ("blue", None, None, ((10,), None, "portgroup")),
    (None, None, None, ((10,), None, "portgroup")),  # the default portgroup
    ("trunk", None, None, ((10, 20), True, None)),
    ("plain", None, None, ((1,), None, None)),  # the network's vlan
    ("blue", V30, BW, ((30,), None, "interface")),  # the interface's own wins
    ("plain", V30, None, ((30,), None, None)),
]


@pytest.mark.parametrize("group, vlan, bandwidth, expected", CHOICES)
def test_vlan_and_bandwidth_precedence(group: str | None, vlan: Vlan | None,
                                       bandwidth: Bandwidth | None,
                                       expected: tuple[object, ...]) -> None:
    net = parse_network(NET)
    pg = next(p for p in net.portgroups if p.name == (group or "blue"))
    got = resolve(net, pg, virtualport=None, vlan=vlan, bandwidth=bandwidth)
    tags, trunk, bw_from = expected
    assert got.vlan is not None and tuple(t.id for t in got.vlan.tags) == tags
    assert got.vlan.trunk == trunk
    assert got.bandwidth == {"portgroup": pg.bandwidth, "interface": bandwidth, None: None}[
        bw_from]  # type: ignore[index]
    assert got.virtualport == vp(profileid="net-profile")


def test_allocation_applies_the_precedence_and_refuses_conflicts() -> None:
    net = parse_network(NET)
    port = NetworkPort(uuid=IID, owner_name="vm", owner_uuid=IID2, mac="52:54:00:00:00:01",
                       group="trunk", virtualport=vp(None, interfaceid=IID))
    got = ports.allocate(net, port)
    assert got.virtualport == vp(interfaceid=IID, profileid="net-profile")
    assert got.vlan is not None and [t.id for t in got.vlan.tags] == [10, 20]
    assert got.plug is not None and got.plug.bridge == "ovsbr0"
    bad = NetworkPort(uuid=IID, owner_name="vm", owner_uuid=IID2, mac="52:54:00:00:00:01",
                      virtualport=vp(profileid="other"))
    with pytest.raises(ValidationError, match="mismatched profileids.*remove the conflicting"):
        ports.allocate(net, bad)
