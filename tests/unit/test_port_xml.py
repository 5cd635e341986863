"""Guest ports without a host: ``<networkport>`` parsing and formatting, what a port gets on a
network (``kvmnet.port.ports.allocate``), the pure host command builders of ``kvmnet.host.tap``,
argument checks of the plug API and the run-time records (no root needed)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

import kvmnet
from kvmnet.errors import (
    VIR_ERR_NO_NETWORK_PORT,
    InvalidArgError,
    NotFoundError,
    OperationInvalidError,
    UnsupportedError,
    ValidationError,
    XMLParseError,
)
from kvmnet.host import tap
from kvmnet.model.frozen import replace
from kvmnet.model.network import Bandwidth, Network, Rate, Vlan, VlanTag
from kvmnet.model.port import NetworkPort, PlugType
from kvmnet.port import ports
from kvmnet.xmlio.network import parse_network
from kvmnet.xmlio.port import format_port, parse_port
from tests.conformance import conformance_dir

UUID = "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"
OWNER = "d54df46f-1ab5-4a22-8618-4560ef5fac2c"


def doc(body: str = "", head: str | None = None) -> str:
    """A port document: the required elements (``head``) followed by ``body``."""
    if head is None:
        head = (f"<uuid>{UUID}</uuid><owner><name>vm</name><uuid>{OWNER}</uuid></owner>"
                "<mac address='52:54:00:7b:35:93'/>")
    return f"<networkport>{head}{body}</networkport>"


def roundtrip(body: str) -> str:
    return format_port(parse_port(doc(body)))


def lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines()]


def parse_error(text: str) -> XMLParseError:
    with pytest.raises(XMLParseError) as exc:
        parse_port(text)
    return exc.value


@pytest.fixture(scope="module")
def relaxng() -> etree.RelaxNG:
    base = conformance_dir()
    if base is None:
        pytest.skip("libvirt conformance corpus (networkport.rng) not found")
    return etree.RelaxNG(etree.parse(str(base / "src/conf/schemas/networkport.rng")))


# -- parsing: required elements -------------------------------------------------------------------
def test_minimal_port_formats_as_libvirt() -> None:
    assert format_port(parse_port(doc())) == (
        "<networkport>\n"
        f"  <uuid>{UUID}</uuid>\n"
        "  <owner>\n"
        "    <name>vm</name>\n"
        f"    <uuid>{OWNER}</uuid>\n"
        "  </owner>\n"
        "  <mac address='52:54:00:7b:35:93'/>\n"
        "</networkport>\n")


def test_wrong_root_element() -> None:
    err = parse_error("<network><name>x</name></network>")
    assert err.path == "/" and "<networkport>" in str(err)


@pytest.mark.parametrize("head, needle, path", [
    (f"<owner><name>vm</name><uuid>{OWNER}</uuid></owner><mac address='52:54:00:00:00:01'/>",
     "has no uuid", "/networkport"),
    ((f"<uuid></uuid><owner><name>vm</name><uuid>{OWNER}</uuid></owner>"
     "<mac address='52:54:00:00:00:01'/>"), "has no uuid", "/networkport"),
    ((f"<uuid>nonsense</uuid><owner><name>vm</name><uuid>{OWNER}</uuid></owner>"
     "<mac address='52:54:00:00:00:01'/>"), "malformed UUID", "/networkport/uuid"),
    (f"<uuid>{UUID}</uuid><owner><uuid>{OWNER}</uuid></owner><mac address='52:54:00:00:00:01'/>",
     "no owner name", "/networkport/owner"),
    (f"<uuid>{UUID}</uuid><owner><name>vm</name></owner><mac address='52:54:00:00:00:01'/>",
     "no owner UUID", "/networkport/owner"),
    ((f"<uuid>{UUID}</uuid><owner><name>vm</name><uuid>x</uuid></owner>"
     "<mac address='52:54:00:00:00:01'/>"), "malformed UUID", "/networkport/owner/uuid"),
    (f"<uuid>{UUID}</uuid><owner><name>vm</name><uuid>{OWNER}</uuid></owner>",
     "has no mac", "/networkport/mac"),
    ((f"<uuid>{UUID}</uuid><owner><name>vm</name><uuid>{OWNER}</uuid></owner>"
     "<mac address='52:54:00:zz:00:01'/>"), "invalid MAC address", "/networkport/mac"),
])
def test_required_elements(head: str, needle: str, path: str) -> None:
    err = parse_error(doc(head=head))
    assert needle in str(err) and err.path == path


def test_values_are_normalised() -> None:
    head = (f"<uuid>{UUID.replace('-', '').upper()}</uuid><owner><name>vm</name>"
            f"<uuid>{OWNER}</uuid></owner><mac address='52:54:0:A:b:C'/>")
    port = parse_port(doc(head=head))
    assert port.uuid == UUID and port.mac == "52:54:00:0a:0b:0c"


def test_first_match_wins_as_libvirt_xpath() -> None:
    head = (f"<uuid>{UUID}</uuid><uuid>{OWNER}</uuid><owner><name>vm</name>"
            f"<uuid>{OWNER}</uuid></owner><mac/><mac address='52:54:00:00:00:02'/>")
    port = parse_port(doc(head=head))
    assert port.uuid == UUID and port.mac == "52:54:00:00:00:02"


def test_multicast_mac_parses_as_in_libvirt() -> None:
    # libvirt's parser takes it (its schema would not); plugging refuses it (see below).
    head = (f"<uuid>{UUID}</uuid><owner><name>vm</name><uuid>{OWNER}</uuid></owner>"
            "<mac address='01:00:5e:00:00:01'/>")
    assert parse_port(doc(head=head)).mac == "01:00:5e:00:00:01"


def test_names_are_escaped() -> None:
    head = (f"<uuid>{UUID}</uuid><owner><name>a&amp;b &lt;c&gt;</name><uuid>{OWNER}</uuid>"
            "</owner><mac address='52:54:00:00:00:01'/>")
    out = format_port(parse_port(doc("<group>o'neil</group>", head=head)))
    assert "<name>a&amp;b &lt;c&gt;</name>" in out and "<group>o&apos;neil</group>" in out


# -- parsing: plug ------------------------------------------------------------------------------
@pytest.mark.parametrize("body", ["<plug bridge='virbr0'/>", "<plug type='none'/>"])
def test_plug_without_type_is_not_plugged(body: str) -> None:
    port = parse_port(doc(body))
    assert port.plug is None and port.plug_type is PlugType.NONE
    assert "<plug" not in format_port(port)


def test_direct_plug_defaults_to_vepa() -> None:
    assert "<plug type='direct' dev='eth0' mode='vepa'/>" in roundtrip(
        "<plug type='direct' dev='eth0'/>")


@pytest.mark.parametrize("body, needle", [
    ("<plug type='wire'/>", "unknown value 'wire'"),
    ("<plug type='network'/>", "missing network port bridge name"),
    ("<plug type='bridge' bridge='br0' macTableManager='default'/>", "invalid macTableManager"),
    ("<plug type='direct'/>", "missing network port link device name"),
    ("<plug type='direct' dev='eth0' mode='fast'/>", "invalid mode setting 'fast'"),
    ("<plug type='hostdev-pci'/>", "missing network port PCI address"),
    ("<plug type='hostdev-pci' managed='maybe'><address bus='0x1'/></plug>", "'yes' or 'no'"),
    ("<plug type='hostdev-pci'><driver name='default'/><address bus='0x1'/></plug>",
     "invalid network port driver name"),
    ("<plug type='hostdev-pci'><address slot='0x20'/></plug>", "slot='0x20', must be <= 0x1F"),
    ("<plug type='hostdev-pci'><address bus='0x100'/></plug>", "bus='0x100', must be <= 0xFF"),
    ("<plug type='hostdev-pci'><address bus='1' function='8'/></plug>", "function='0x8'"),
])
def test_plug_errors(body: str, needle: str) -> None:
    err = parse_error(doc(body))
    assert needle in str(err) and err.path is not None and err.path.startswith("/networkport/plug")


def test_hostdev_plug_formats_driver_and_address() -> None:
    out = roundtrip("<plug type='hostdev-pci' managed='no'><driver name='vfio' model='x&amp;y'/>"
                    "<address domain='1' bus='2' slot='0x3' function='4'/></plug>")
    assert lines(out)[-5:-1] == ["<plug type='hostdev-pci' managed='no'>",
                                 "<driver name='vfio' model='x&amp;y'/>",
                                 "<address domain='0x0001' bus='0x02' slot='0x03' function='0x4'/>",
                                 "</plug>"]


def test_all_zero_pci_address_is_accepted() -> None:
    assert "<address domain='0x0000' bus='0x00' slot='0x00' function='0x0'/>" in roundtrip(
        "<plug type='hostdev-pci'><address/></plug>")


# -- parsing: bandwidth, vlan, port, rxfilters, virtualport -----------------------------------------
def test_bandwidth_with_class_id_and_floor() -> None:
    out = roundtrip("<bandwidth classID='7'><outbound average='10'/>"
                    "<inbound burst='5' floor='3' peak='2' average='1'/></bandwidth>")
    assert lines(out)[7:11] == ["<bandwidth classID='7'>",
                               "<inbound average='1' peak='2' floor='3' burst='5'/>",
                               "<outbound average='10'/>", "</bandwidth>"]


def test_bandwidth_class_id_zero_and_empty_bandwidth() -> None:
    assert "classID" not in roundtrip("<bandwidth classID='0'><inbound average='1'/></bandwidth>")
    assert "bandwidth" not in roundtrip("<bandwidth classID='3'/>")
    # libvirt keeps an <inbound average='0'/>, but writes no line for it
    assert lines(roundtrip("<bandwidth><inbound average='0'/></bandwidth>"))[7:9] == [
        "<bandwidth>", "</bandwidth>"]


@pytest.mark.parametrize("body, needle", [
    ("<bandwidth><outbound average='1' floor='2'/></bandwidth>", "only in the <inbound>"),
    ("<bandwidth><inbound average='1'/><inbound average='2'/></bandwidth>", "only one child"),
    ("<bandwidth><inbound peak='2'/></bandwidth>", "missing mandatory average or floor"),
    ("<bandwidth><inbound floor='2' burst='3'/></bandwidth>", "require the 'average'"),
    ("<bandwidth><inbound average='fast'/></bandwidth>", "could not convert bandwidth average"),
    ("<bandwidth classID='-1'><inbound average='1'/></bandwidth>", "classID"),
    ("<vlan/>", "missing tag id"),
    ("<vlan><tag id='4096'/></vlan>", "out of range"),
    ("<vlan trunk='no'><tag id='1'/><tag id='2'/></vlan>", "trunk='yes' is required"),
    ("<port isolated='maybe'/>", "'yes' or 'no'"),
    ("<rxfilters trustGuest='1'/>", "'yes' or 'no'"),
    ("<virtualport type='802.1Qbh'><parameters managerid='1'/></virtualport>", "not allowed"),
    ("<virtualport type='vmware'/>", "unknown value 'vmware'"),
])
def test_element_errors(body: str, needle: str) -> None:
    assert needle in str(parse_error(doc(body)))


def test_vlan_port_rxfilters_virtualport_format() -> None:
    out = roundtrip("<plug type='bridge' bridge='br0'/><rxfilters trustGuest='no'/>"
                    "<port isolated='no'/><vlan><tag id='7' nativeMode='untagged'/><tag id='9'/>"
                    "</vlan><virtualport type='openvswitch'><parameters profileid='p' "
                    f"interfaceid='{OWNER}'/></virtualport>")
    assert lines(out)[7:18] == [
        "<virtualport type='openvswitch'>",
        f"<parameters interfaceid='{OWNER}' profileid='p'/>", "</virtualport>",
        "<vlan trunk='yes'>", "<tag id='7' nativeMode='untagged'/>", "<tag id='9'/>", "</vlan>",
        "<port isolated='no'/>", "<rxfilters trustGuest='no'/>",
        "<plug type='bridge' bridge='br0'/>", "</networkport>"]


def test_untyped_virtualport_keeps_every_parameter() -> None:
    out = roundtrip("<virtualport><parameters managerid='0x10' profileid='x'/></virtualport>")
    assert "<virtualport>" in out and "<parameters managerid='16' profileid='x'/>" in out
    assert "<virtualport type='midonet'/>" in roundtrip("<virtualport type='midonet'/>")


def test_synthetic_ports_are_schema_valid(relaxng: etree.RelaxNG) -> None:
    bodies = ["", ("<group>g</group><port isolated='yes'/><plug type='network' bridge='virbr1' "
              "macTableManager='kernel'/>"),
              ("<bandwidth><inbound average='1' peak='2' burst='3'/><outbound average='4'/>"
              "</bandwidth><vlan><tag id='5'/></vlan><plug type='bridge' bridge='br0'/>"),
              ("<virtualport type='802.1Qbg'><parameters managerid='1' typeid='2' typeidversion='3'"
              f" instanceid='{OWNER}'/></virtualport><plug type='direct' dev='eth0' "
              "mode='passthrough'/>"),
              ("<plug type='hostdev-pci' managed='yes'><driver name='vfio'/><address domain='0'"
              " bus='1' slot='2' function='3'/></plug>")]
    for body in bodies:
        out = roundtrip(body)
        assert relaxng.validate(etree.fromstring(out.encode())), (out, relaxng.error_log)


# -- allocation (libvirt's networkAllocatePort) -------------------------------------------------------
NAT = """<network><name>nat1</name><forward mode='nat'/>
  <bridge name='virbr9' macTableManager='libvirt'/>
  {extra}
  <ip address='192.168.9.1' netmask='255.255.255.0'/>
</network>"""


def net(extra: str = "", template: str = NAT) -> Network:
    return parse_network(template.format(extra=extra))


def base_port(**kw: object) -> NetworkPort:
    return replace(NetworkPort(uuid=UUID, owner_name="vm", owner_uuid=OWNER,
                               mac="52:54:00:00:00:01"), **kw)


def test_allocate_on_a_nat_network() -> None:
    port = ports.allocate(net(), base_port())
    assert port.plug is not None and port.plug.type is PlugType.NETWORK
    assert port.plug.bridge == "virbr9" and port.plug.mac_table_manager == "libvirt"
    assert "<plug type='network' bridge='virbr9' macTableManager='libvirt'/>" in format_port(port)


def test_isolation_comes_from_the_network_unless_the_port_says() -> None:
    n = net("<port isolated='yes'/>")
    assert ports.allocate(n, base_port()).isolated is True
    assert ports.allocate(n, base_port(isolated=False)).isolated is False
    assert ports.allocate(net(), base_port()).isolated is None


PGS = """<vlan><tag id='3'/></vlan>
  <portgroup name='def' default='yes' trustGuestRxFilters='yes'>
    <bandwidth><inbound average='100'/></bandwidth></portgroup>
  <portgroup name='fast'><vlan><tag id='8'/></vlan>
    <bandwidth><inbound average='900'/></bandwidth></portgroup>"""


def test_portgroups_then_network() -> None:
    n = net(PGS)
    d = ports.allocate(n, base_port())
    assert d.bandwidth is not None and d.bandwidth.inbound == Rate(average=100)
    assert d.vlan == Vlan(tags=(VlanTag(3),)) and d.trust_guest_rx_filters is True
    assert d.group is None  # the default portgroup is used, not recorded
    f = ports.allocate(n, base_port(group="fast"))
    assert f.bandwidth is not None and f.bandwidth.inbound == Rate(average=900)
    assert f.vlan == Vlan(tags=(VlanTag(8),)) and f.group == "fast"
    own = Bandwidth(inbound=Rate(average=5))
    assert ports.allocate(n, base_port(group="fast", bandwidth=own)).bandwidth == own


def test_unknown_portgroup_is_an_error() -> None:
    with pytest.raises(InvalidArgError, match="no portgroup 'slow'.*def, fast"):
        ports.allocate(net(PGS), base_port(group="slow"))


BRIDGED = """<network><name>lan</name><forward mode='bridge'/><bridge name='br0'/>{extra}
</network>"""


def test_bridge_mode_network_plugs_into_the_host_bridge() -> None:
    port = ports.allocate(net("", BRIDGED), base_port())
    assert port.plug is not None and port.plug.type is PlugType.BRIDGE
    assert port.plug.bridge == "br0"


@pytest.mark.parametrize("template, extra, error, needle", [
    (NAT, "<portgroup name='p' default='yes'><virtualport type='802.1Qbh'/></portgroup>",
     ValidationError, "uses IP forwarding"),
    (BRIDGED, "<virtualport type='802.1Qbh'/>", ValidationError, "uses a bridge device"),
])
def test_allocation_refusals(template: str, extra: str, error: type[Exception],
                             needle: str) -> None:
    with pytest.raises(error, match=needle):
        ports.allocate(net(extra, template), base_port())


def test_floor_needs_network_qos() -> None:
    floor = Bandwidth(inbound=Rate(average=10, floor=5))
    with pytest.raises(ValidationError, match="has no inbound QoS set"):
        ports.allocate(net(), base_port(bandwidth=floor))
    with pytest.raises(UnsupportedError, match="floor"):
        ports.allocate(net("<bandwidth><inbound average='1000'/></bandwidth>"),
                       base_port(bandwidth=floor))


def test_allocated_ports_are_schema_valid(relaxng: etree.RelaxNG) -> None:
    for port in (ports.allocate(net(PGS), base_port()),
                 ports.allocate(net("<port isolated='yes'/>"), base_port(group=None)),
                 ports.allocate(net("", BRIDGED), base_port())):
        out = format_port(port)
        assert relaxng.validate(etree.fromstring(out.encode())), (out, relaxng.error_log)


# -- host command builders (kvmnet.host.tap, pure) --------------------------------------------------
def test_host_side_mac() -> None:
    assert tap.host_side_mac("52:54:00:aa:bb:cc") == "fe:54:00:aa:bb:cc"
    assert tap.host_side_mac("fe:54:00:aa:bb:cc") == "fa:54:00:aa:bb:cc"


def test_bandwidth_steps_are_libvirts_commands() -> None:
    steps = tap.bandwidth_steps("vnet0", tap.Rate(1000, 4000, 1024), tap.Rate(128, None, 32768))
    assert [" ".join(s.argv) for s in steps] == [
        "tc qdisc add dev vnet0 root handle 1: htb default 1",
        ("tc class add dev vnet0 parent 1: classid 1:1 htb rate 1000kbps ceil 4000kbps burst 1024kb"
        " quantum 85"),
        "tc qdisc add dev vnet0 parent 1:1 handle 2: sfq perturb 10",
        "tc filter add dev vnet0 parent 1:0 protocol all prio 1 handle 1 fw flowid 1",
        "tc qdisc add dev vnet0 ingress",
        ("tc filter add dev vnet0 parent ffff: protocol all u32 match u32 0 0 police rate 128kbps"
        " burst 32768kb mtu 64kb drop flowid :1")]
    assert [s.optional for s in steps] == [False, False, True, True, False, False]


def test_bandwidth_step_defaults() -> None:
    (_root, cls, *_) = tap.bandwidth_steps("t", tap.Rate(1), None)
    assert cls.argv[-2:] == ("quantum", "1") and "ceil" not in cls.argv
    *_, police = tap.bandwidth_steps("t", None, tap.Rate(500))
    assert "500kb" in police.argv  # burst defaults to the average
    *_, police = tap.bandwidth_steps("t", None, tap.Rate(2**40))
    assert f"{(2**32 - 1) // 1024}kb" in police.argv  # ... capped to what tc can store
    assert tap.bandwidth_steps("t", None, None) == []


def test_vlan_batches() -> None:
    assert tap.vlan_batch("v", [10], trunk=False, native=None, native_tagged=False) == [
        "vlan add dev v vid 10 pvid untagged", "vlan del dev v vid 1"]
    assert tap.vlan_batch("v", [1, 20, 30], trunk=True, native=20, native_tagged=False) == [
        "vlan add dev v vid 1", "vlan add dev v vid 20 pvid untagged", "vlan add dev v vid 30"]
    assert tap.vlan_batch("v", [20], trunk=True, native=20, native_tagged=True)[0] == \
        "vlan add dev v vid 20 pvid"
    assert tap.libvirt_mac_table_batch("v", "52:54:00:00:00:01") == [
        "link set dev v learning off flood off", "fdb add 52:54:00:00:00:01 dev v master temp"]


# -- the plug API's argument checks and records (no host changes) --------------------------------------
@pytest.fixture
def conn(tmp_path: Path) -> kvmnet.api.Connection:
    c = kvmnet.open(str(tmp_path))
    c.networkDefineXML(NAT.format(extra=""))  # defined, not started
    return c


@pytest.mark.parametrize("args, kwargs, error, needle", [
    (("nat1",), {"mac": "52:54:00:00:00:01", "bridge": "br0"}, InvalidArgError, "exactly one"),
    ((None,), {"mac": "52:54:00:00:00:01"}, InvalidArgError, "exactly one"),
    ((None,), {"mac": "52:54:00:00:00:01", "bridge": "br0", "portgroup": "p"}, InvalidArgError,
     "portgroup belongs"),
    (("nat1",), {"mac": "52:54:00:00:00:0g"}, InvalidArgError, "invalid MAC"),
    (("nat1",), {"mac": "01:00:5e:00:00:01"}, InvalidArgError, "multicast"),
    (("nat1",), {"mac": "52:54:00:00:00:01", "owner_uuid": "x"}, InvalidArgError, "not a port UUID"),
    (("nat1",), {"mac": "52:54:00:00:00:01", "owner_name": " "}, InvalidArgError, "owner name"),
    (("nat1",), {"mac": "52:54:00:00:00:01", "tap_name": "a/b"}, InvalidArgError, "'/'"),
    (("nat1",), {"mac": "52:54:00:00:00:01", "tap_name": "x" * 16}, InvalidArgError, "too long"),
    (("nat1",), {"mac": "52:54:00:00:00:01", "tap_name": "tap%d"}, InvalidArgError, "'%'"),
    (("nat1",), {"mac": "52:54:00:00:00:01", "mtu": 20}, InvalidArgError, "out of range"),
    (("nope",), {"mac": "52:54:00:00:00:01"}, NotFoundError, "no network with matching name"),
    (("nat1",), {"mac": "52:54:00:00:00:01"}, OperationInvalidError, "not active"),
])
def test_plug_argument_errors(conn: kvmnet.api.Connection, args: tuple[str | None],
                              kwargs: dict[str, Any], error: type[Exception],
                              needle: str) -> None:
    with pytest.raises(error, match=needle):
        ports.plug(conn, *args, **kwargs)
    assert not conn.paths.ports.exists() or not any(conn.paths.ports.rglob("*"))


def test_create_port_refuses_a_plug(conn: kvmnet.api.Connection) -> None:
    with pytest.raises(InvalidArgError, match="remove <plug>"):
        ports.create_port(conn, "nat1", doc("<plug type='network' bridge='virbr9'/>"))
    with pytest.raises(XMLParseError, match="has no mac"):
        ports.create_port(conn, "nat1", doc(head=f"<uuid>{UUID}</uuid><owner><name>v</name>"
                                                 f"<uuid>{OWNER}</uuid></owner>"))


def test_lookups_of_missing_ports(conn: kvmnet.api.Connection) -> None:
    with pytest.raises(NotFoundError) as exc:
        ports.unplug(conn, UUID)
    assert exc.value.get_error_code() == VIR_ERR_NO_NETWORK_PORT
    with pytest.raises(NotFoundError, match="network port not found"):
        ports.port_xml(conn, "nat1", UUID)
    with pytest.raises(InvalidArgError, match="not a port UUID"):
        ports.port_xml(conn, "nat1", "../../etc/passwd")
    with pytest.raises(NotFoundError, match="no network"):
        ports.list_ports(conn, "nope")
    assert ports.list_ports(conn, "nat1") == []
    with pytest.raises(InvalidArgError):
        ports.list_ports(conn, "../x")


def _record(conn: kvmnet.api.Connection, network: str, puuid: str, owner: str,
            xml: bool = True) -> None:
    d = conn.paths.ports / network
    d.mkdir(parents=True, exist_ok=True)
    port = NetworkPort(uuid=puuid, owner_name="vm", owner_uuid=owner, mac="52:54:00:00:00:01")
    rec = {"uuid": puuid, "network": network, "bridge": "virbr9", "mac": port.mac,
           "tap_mac": "fe:54:00:00:00:01", "mtu": 1500, "owner_name": "vm", "owner_uuid": owner,
           "group": None, "isolated": False, "plug_type": "network", "created": True,
           "tc": False, "skipped": [], "tap": "kvt-no-such0", "ifindex": 999999}
    (d / f"{puuid}.json").write_text(json.dumps(rec))
    if xml:
        (d / f"{puuid}.xml").write_text(format_port(port))


def test_records_list_and_cleanup(conn: kvmnet.api.Connection) -> None:
    """Records whose taps are already gone: listed, found, and removed without a host change."""
    a, b, c = (f"{i}0000000-0000-4000-8000-000000000000" for i in (3, 1, 2))
    _record(conn, "nat1", a, OWNER)
    _record(conn, "nat1", b, OWNER)
    _record(conn, "nat1", c, UUID, xml=False)  # an interrupted plug: a run record only
    assert [p.uuid for p in ports.list_ports(conn, "nat1")] == [b, a]  # by UUID, complete only
    assert ports.find(conn, a.upper()) == ("nat1", a)
    assert "<networkport>" in ports.port_xml(conn, "nat1", a)
    assert ports.unplug_owner(conn, UUID) == [c]
    ports.unplug(conn, a, "nat1")
    assert ports.unplug_network(conn, "nat1") == []
    assert not (conn.paths.ports / "nat1").exists()
