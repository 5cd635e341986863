"""The identifiers of a ``<virtualport>``, generated where libvirt generates them (no root).

libvirt 11.3 generates them at two moments, and these tests hold kvmnet to both:

* reading a guest's ``<interface>`` (virNetDevVPortProfileParse with
  VIR_VPORT_XML_GENERATE_MISSING_DEFAULTS): an untyped ``<virtualport>`` gets an
  ``instanceid`` and an ``interfaceid``, ``openvswitch`` an ``interfaceid``, ``802.1Qbg`` an
  ``instanceid``, ``802.1Qbh`` and ``midonet`` nothing.  kvmnet does it when the guest is
  defined and keeps them in the definition, as libvirt's stored XML keeps them;
* allocating a port (networkAllocatePort ends with virNetDevVPortProfileCheckComplete with
  generateMissing): an Open vSwitch port whose interface named no interfaceid gets a new
  one, a UUID of its own (not the port's), shown in the port's XML.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from kvmnet.guests import Guests
from kvmnet.guests.runner import _plugged
from kvmnet.model.domain import Interface
from kvmnet.model.frozen import replace
from kvmnet.model.network import VirtualPort
from kvmnet.model.port import NetworkPort
from kvmnet.model.precedence import completed, merge3, with_missing_ids
from kvmnet.port import ports
from kvmnet.xmlio.domain import format_domain, parse_domain
from kvmnet.xmlio.network import parse_network
from kvmnet.xmlio.port import format_port, parse_port
from tests.unit.test_domain_xml import minimal

PORT = "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"
VM = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
IID = "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa3b"
INST = "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa3c"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
OVS_NET = """<network><name>ovsnet</name><forward mode='bridge'/><bridge name='ovsbr0'/>
  <virtualport type='openvswitch'/>
  <portgroup name='gold'><virtualport><parameters profileid='gold'/></virtualport></portgroup>
</network>"""
NAT_NET = "<network><name>nat1</name><forward mode='nat'/><ip address='10.9.0.1' prefix='24'/></network>"


def fake_uuids() -> Callable[[], str]:
    """Deterministic UUIDs: ...0001, ...0002, in the order they are asked for."""
    n = itertools.count(1)
    return lambda: f"00000000-0000-4000-8000-{next(n):012d}"


def vp(vtype: str | None, **params: str) -> VirtualPort:
    return VirtualPort(type=vtype, parameters=tuple(params.items()))


# -- pure rules ---------------------------------------------------------------------------------
@pytest.mark.parametrize("given, expected", [
    (vp(None), vp(None, instanceid="00000000-0000-4000-8000-000000000001",
                  interfaceid="00000000-0000-4000-8000-000000000002")),
    (vp(None, interfaceid=IID), vp(None, instanceid="00000000-0000-4000-8000-000000000001",
                                   interfaceid=IID)),
    (vp(None, profileid="p"), vp(None, instanceid="00000000-0000-4000-8000-000000000001",
                                 interfaceid="00000000-0000-4000-8000-000000000002",
                                 profileid="p")),
    (vp("openvswitch"), vp("openvswitch", interfaceid="00000000-0000-4000-8000-000000000001")),
    (vp("openvswitch", interfaceid=IID, profileid="p"),
     vp("openvswitch", interfaceid=IID, profileid="p")),
    (vp("802.1Qbg", managerid="1", typeid="2", typeidversion="3"),
     vp("802.1Qbg", managerid="1", typeid="2", typeidversion="3",
        instanceid="00000000-0000-4000-8000-000000000001")),
    (vp("802.1Qbh", profileid="p"), vp("802.1Qbh", profileid="p")),
    (vp("midonet"), vp("midonet")),
])
def test_define_time_ids_per_type(given: VirtualPort, expected: VirtualPort) -> None:
    assert with_missing_ids(given, fake_uuids()) == expected


def test_allocation_time_ids_only_for_a_typed_profile_lacking_one() -> None:
    new = fake_uuids()
    assert completed(None, new) is None
    assert completed(vp("openvswitch", profileid="p"), new) == vp(
        "openvswitch", interfaceid="00000000-0000-4000-8000-000000000001", profileid="p")
    assert completed(vp("openvswitch", interfaceid=IID), new) == vp(
        "openvswitch", interfaceid=IID)
    # an untyped one is not the port's profile yet: the network decides
    assert completed(vp(None), new) == vp(None)
    assert completed(vp("802.1Qbh", profileid="p"), new) == vp("802.1Qbh", profileid="p")


def test_real_ids_are_fresh_version_4_uuids() -> None:
    a, b = (with_missing_ids(vp(None)) for _ in range(2))
    assert a is not None and b is not None
    values = [v for _, v in a.parameters] + [v for _, v in b.parameters]
    assert all(re.fullmatch(UUID_RE, v) for v in values) and len(set(values)) == 4


# -- the guest's XML ----------------------------------------------------------------------------
def test_an_empty_virtualport_is_kept_by_the_parser() -> None:
    dom = parse_domain(minimal("<interface type='network'><source network='ovsnet'/>"
                               "<virtualport/></interface>"))
    assert dom.interfaces[0].virtualport == VirtualPort()
    # nothing to show yet, as libvirt formats an untyped profile without parameters
    assert "virtualport" not in format_domain(dom)


@pytest.fixture
def guests(tmp_path: Path) -> Guests:
    from kvmnet.api import Connection

    return Guests(Connection(tmp_path / "root"))


def test_define_fills_an_untyped_virtualport_as_libvirt_writes_it_back(guests: Guests) -> None:
    guests.defineXML(minimal("<interface type='network'><mac address='52:54:00:00:00:01'/>"
                             "<source network='ovsnet'/><virtualport/></interface>"))
    text = guests.lookupByName("g1").XMLDesc()
    found = re.search(
        r"\n      <virtualport>\n"
        rf"        <parameters instanceid='({UUID_RE})' interfaceid='({UUID_RE})'/>\n"
        r"      </virtualport>\n", text)
    assert found is not None, text
    assert found.group(1) != found.group(2)
    # in libvirt's place: after <source>, before <model>
    assert text.index("<source network='ovsnet'/>") < found.start()
    assert found.end() <= text.index("<model type='virtio'/>")
    # kept, not made again: read back and defined again (virsh edit), or defined from the
    # same file again
    guests.defineXML(text)
    assert guests.lookupByName("g1").XMLDesc() == text


def test_define_fills_ids_on_every_interface_type(guests: Guests) -> None:
    nics = ("<interface type='bridge'><source bridge='ovsbr0'/>"
            "<virtualport type='openvswitch'/></interface>"
            "<interface type='direct'><source dev='eth0' mode='vepa'/>"
            "<virtualport type='802.1Qbg'><parameters managerid='11' typeid='1193047' "
            "typeidversion='2'/></virtualport></interface>"
            "<interface type='direct'><source dev='eth1' mode='private'/>"
            "<virtualport type='802.1Qbh'><parameters profileid='finance'/></virtualport>"
            "</interface>"
            f"<interface type='network'><source network='ovsnet'/><virtualport><parameters "
            f"interfaceid='{IID}' instanceid='{INST}'/></virtualport></interface>")
    d = guests.defineXML(minimal(nics)).definition()
    got = [i.virtualport for i in d.interfaces]
    assert all(v is not None for v in got)
    keys = [tuple(k for k, _ in v.parameters) for v in got if v is not None]
    assert keys == [("interfaceid",), ("managerid", "typeid", "typeidversion", "instanceid"),
                    ("profileid",), ("instanceid", "interfaceid")]
    assert got[3] == vp(None, instanceid=INST, interfaceid=IID)  # given ones stay


# -- the port -----------------------------------------------------------------------------------
def port(group: str | None = None, virtualport: VirtualPort | None = None) -> NetworkPort:
    return NetworkPort(uuid=PORT, owner_name="vm1", owner_uuid=VM, mac="52:54:00:00:00:01",
                       group=group, virtualport=virtualport)


def test_an_ovs_port_without_interfaceid_gets_its_own_and_keeps_it() -> None:
    net = parse_network(OVS_NET)
    got = ports.allocate(net, port())
    assert got.virtualport is not None and got.virtualport.type == "openvswitch"
    iid = got.virtualport.param("interfaceid")
    assert iid is not None and re.fullmatch(UUID_RE, iid) and iid != PORT
    assert ports.allocate(net, port()).virtualport != got.virtualport  # a new port, a new id
    text = format_port(got)
    assert (f"  <virtualport type='openvswitch'>\n    <parameters interfaceid='{iid}'/>\n"
            "  </virtualport>\n") in text
    # a network restart re-allocates the port from its XML (kvmnet.port.keep): same id
    again = ports.allocate(net, replace(parse_port(text.encode()), plug=None))
    assert again.virtualport is not None and again.virtualport.param("interfaceid") == iid


def test_the_guests_ids_win_and_the_instanceid_stays_out_of_an_ovs_port() -> None:
    net = parse_network(OVS_NET)
    got = ports.allocate(net, port(group="gold",
                                   virtualport=vp(None, instanceid=INST, interfaceid=IID)))
    assert got.virtualport is not None
    assert (got.virtualport.type, got.virtualport.param("interfaceid"),
            got.virtualport.param("profileid")) == ("openvswitch", IID, "gold")
    text = format_port(got)
    assert f"<parameters interfaceid='{IID}' profileid='gold'/>" in text
    assert INST not in text  # libvirt formats no instanceid on an openvswitch profile


def test_untyped_ids_mean_nothing_on_a_network_without_a_switch_profile() -> None:
    assert merge3(vp(None, instanceid=INST, interfaceid=IID), None, None) is None
    got = ports.allocate(parse_network(NAT_NET), port(virtualport=vp(None, interfaceid=IID)))
    assert got.virtualport is None


def test_a_running_guests_xml_shows_the_ports_virtualport() -> None:
    """As libvirt's live XML shows the actual virtualport: the interfaceid the switch has."""
    iface = Interface(type="network", mac="52:54:00:00:00:01", network="ovsnet")
    info = ports.PortInfo(uuid=PORT, network="ovsnet", tap="vnet0", bridge="ovsbr0",
                          mac="52:54:00:00:00:01", tap_mac="fe:54:00:00:00:01", mtu=1500,
                          owner_name="vm1", owner_uuid=VM,
                          virtualport=vp("openvswitch", interfaceid=IID)).as_dict()
    live = _plugged(iface, info, "net0")
    assert live.virtualport == vp("openvswitch", interfaceid=IID)
    assert (live.target_dev, live.port_id, live.bridge) == ("vnet0", PORT, "ovsbr0")
    # a bridge interface keeps its own (it has no allocation)
    own = Interface(type="bridge", bridge="ovsbr0", virtualport=vp("openvswitch", interfaceid=INST))
    assert _plugged(own, info, "net0").virtualport == own.virtualport
    # a port listed (not just plugged) has none to show: the JSON has no such key
    listed = ports.PortInfo(uuid=PORT, network="ovsnet", tap="vnet0", bridge="ovsbr0",
                            mac="52:54:00:00:00:01", tap_mac="fe:54:00:00:00:01", mtu=1500,
                            owner_name="vm1", owner_uuid=VM).as_dict()
    assert "virtualport" not in listed
