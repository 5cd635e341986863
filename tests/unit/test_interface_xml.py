"""libvirt interface XML (parse/format), definition rules and the pure planning of iface-*.

Nothing here needs root or touches the host: definitions go to a temporary KVMNET_ROOT, the
plans are computed on hand-written live states, and bridge-nf runs against a fake /proc/sys.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from lxml import etree

from kvmnet.cli.main import main
from kvmnet.errors import (
    ConflictError,
    InvalidArgError,
    NotFoundError,
    OperationInvalidError,
    XMLParseError,
)
from kvmnet.host import sysctl
from kvmnet.host.netlink import Address, Route
from kvmnet.iface.bridging import LinkState, LiveState, default_prefix, plan_destroy, plan_start
from kvmnet.iface.interfaces import Interfaces, bridge_definition, bridge_nf, unbridge_definition
from kvmnet.model.interface import InterfaceDef
from kvmnet.paths import Paths
from kvmnet.xmlio.interface import format_interface, parse_interface

ETH = """<interface type='ethernet' name='eth1'>
  <start mode='onboot'/>
  <mtu size='9000'/>
  <protocol family='ipv6'>
    <autoconf/>
    <dhcp peerdns='yes'/>
    <ip address='2001:db8::5' prefix='64'/>
    <route gateway='2001:db8::1'/>
  </protocol>
  <protocol family='ipv4'>
    <ip address='192.0.2.5' prefix='24'/>
    <route gateway='192.0.2.1'/>
  </protocol>
  <link speed='1000' state='up'/>
  <mac address='52:54:00:aa:bb:01'/>
</interface>
"""

BRIDGE = """<interface type='bridge' name='br0'>
  <start mode='hotplug'/>
  <protocol family='ipv4'>
    <ip address='192.0.2.5' prefix='24'/>
  </protocol>
  <bridge stp='on' delay='2.5'>
    <interface type='ethernet' name='eth1'>
      <mac address='52:54:00:aa:bb:01'/>
    </interface>
    <interface type='vlan' name='eth2.7'>
      <vlan tag='7'>
        <interface name='eth2'/>
      </vlan>
    </interface>
    <interface type='bond' name='bond1'>
      <link state='down'/>
      <bond mode='802.3ad'>
        <arpmon interval='200' target='192.0.2.1' validate='all'/>
        <interface type='ethernet' name='eth3'>
        </interface>
        <interface type='ethernet' name='eth4'>
        </interface>
      </bond>
    </interface>
  </bridge>
</interface>
"""

BOND = """<interface type='bond' name='bond0'>
  <bond>
    <miimon freq='100' downdelay='5' carrier='netif'/>
    <interface type='ethernet' name='eth0'>
      <link speed='100'/>
    </interface>
  </bond>
</interface>
"""


@pytest.fixture(scope="module")
def relaxng(conformance: Path) -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(conformance / "src/conf/schemas/interface.rng")))


def valid(relaxng: etree.RelaxNG, text: str) -> bool:
    return bool(relaxng.validate(etree.fromstring(text.encode())))


# -- round trips and libvirt's normalisations -----------------------------------------------------
@pytest.mark.parametrize("doc", [ETH, BRIDGE, BOND], ids=["ethernet", "bridge", "bond"])
def test_round_trip(relaxng: etree.RelaxNG, doc: str) -> None:
    assert format_interface(parse_interface(doc)) == doc
    assert valid(relaxng, doc)


def test_model_fields() -> None:
    br = parse_interface(BRIDGE)
    assert br.bridge is not None and br.bridge.stp is True and br.bridge.delay_seconds == 2.5
    assert [c.name for c in br.children] == ["eth1", "eth2.7", "bond1"]
    assert [d.name for d in br.walk()] == ["br0", "eth1", "eth2.7", "bond1", "eth3", "eth4"]
    assert br.macs() == ("52:54:00:aa:bb:01",)
    assert br.lower_devices() == ("eth1", "eth2.7", "bond1", "eth3", "eth4", "eth2")
    eth = parse_interface(ETH)
    v6 = eth.protocol("ipv6")
    assert v6 is not None and v6.autoconf and v6.dhcp and v6.peerdns is True
    assert eth.mtu == 9000 and eth.link.speed == 1000


NORMALISED = [
    # prefix read as C's strtol base 0; prefix 0 and mtu 0 mean "not given"
    (("<interface type='ethernet' name='e'><mtu size='0'/><protocol family='ipv4'>"
     "<ip address='10.0.0.1' prefix='0x18'/><ip address='10.0.0.2' prefix='0'/><ip/>"
     "<route gateway='10.0.0.9'/><route gateway='10.0.0.8'/></protocol></interface>"),
     ("<interface type='ethernet' name='e'>\n  <protocol family='ipv4'>\n"
     "    <ip address='10.0.0.1' prefix='24'/>\n    <ip address='10.0.0.2'/>\n"
     "    <route gateway='10.0.0.9'/>\n  </protocol>\n</interface>\n")),
    # elements libvirt ignores: <link>/<mac> on a bridge, <start>/<mtu>/<protocol> below the top
    (("<interface type='bridge' name='b'><link state='up'/><mac address='52:54:00:00:00:01'/>"
     "<bridge><interface type='ethernet' name='e'><start mode='onboot'/><mtu size='1'/>"
     "<protocol family='ipv4'/></interface></bridge></interface>"),
     ("<interface type='bridge' name='b'>\n  <bridge>\n    <interface type='ethernet' "
     "name='e'>\n    </interface>\n  </bridge>\n</interface>\n")),
    # miimon wins over arpmon; an empty link state is libvirt's "unset"
    (("<interface type='bond' name='b'><link state=''/><bond><arpmon interval='1' "
     "target='10.0.0.1'/><miimon freq='7' updelay='0'/><interface type='ethernet' name='e'/>"
     "</bond></interface>"),
     ("<interface type='bond' name='b'>\n  <bond>\n    <miimon freq='7'/>\n"
     "    <interface type='ethernet' name='e'>\n    </interface>\n  </bond>\n</interface>\n")),
    # validate='none' is the default and not written; autoconf only counts for IPv6
    (("<interface type='bond' name='b'><bond mode='balance-rr'><arpmon interval='1' "
     "target='10.0.0.1' validate='none'/><interface type='ethernet' name='e'/></bond>"
     "<protocol family='ipv4'><autoconf/><dhcp/></protocol></interface>"),
     ("<interface type='bond' name='b'>\n  <protocol family='ipv4'>\n    <dhcp/>\n"
     "  </protocol>\n  <bond mode='balance-rr'>\n    <arpmon interval='1' target='10.0.0.1'/>\n"
     "    <interface type='ethernet' name='e'>\n    </interface>\n  </bond>\n</interface>\n")),
]


@pytest.mark.parametrize("doc,expected", NORMALISED)
def test_libvirt_normalisations(relaxng: etree.RelaxNG, doc: str, expected: str) -> None:
    out = format_interface(parse_interface(doc))
    assert out == expected
    assert valid(relaxng, out), relaxng.error_log.last_error
    assert format_interface(parse_interface(out)) == out


@pytest.mark.parametrize("address", ["::", "::1", "1::", "2001:db8:0:0:1:0:0:1", "fe80::1:2",
                                     "::ffff:192.0.2.1", "1:2:3:4:5:6:7::", "a:b::c:d:e:f:1"])
def test_ipv6_forms_stay_schema_valid(relaxng: etree.RelaxNG, address: str) -> None:
    doc = (f"<interface type='ethernet' name='e'><protocol family='ipv6'>"
           f"<ip address='{address}' prefix='128'/></protocol></interface>")
    assert valid(relaxng, format_interface(parse_interface(doc)))


# -- parse errors name the element --------------------------------------------------------------
BAD = [
    ("<interface name='e'/>", "/interface", "missing required attribute 'type'"),
    ("<interface type='wifi' name='e'/>", "/interface", "unknown value 'wifi'"),
    ("<interface type='ethernet'/>", "/interface", "interface has no name"),
    ("<interface type='ethernet' name='a b'/>", "/interface", "invalid interface name"),
    ("<interface type='ethernet' name='e'><start mode='always'/></interface>",
     "/interface/start", "unknown interface start mode"),
    ("<interface type='ethernet' name='e'><mtu size='100001'/></interface>",
     "/interface/mtu", "mtu value '100001' is improper"),
    ("<interface type='ethernet' name='e'><mac address='52:54:00:00:00'/></interface>",
     "/interface/mac", "invalid MAC address"),
    ("<interface type='ethernet' name='e'><link state='sideways'/></interface>",
     "/interface/link", "unknown link state"),
    ("<interface type='ethernet' name='e'><protocol/></interface>",
     "/interface/protocol", "misses the family attribute"),
    ("<interface type='ethernet' name='e'><protocol family='ipx'/></interface>",
     "/interface/protocol", "unsupported protocol family"),
    (("<interface type='ethernet' name='e'><protocol family='ipv4'/>"
     "<protocol family='ipv4'/></interface>"), "/interface/protocol[2]", "a second <protocol"),
    (("<interface type='ethernet' name='e'><protocol family='ipv4'><ip address='10.0.0.1'/>"
     "<ip address='10.0.0.300'/></protocol></interface>"),
     "/interface/protocol/ip[2]", "invalid IPv4 address '10.0.0.300'"),
    (("<interface type='ethernet' name='e'><protocol family='ipv6'><ip address='10.0.0.1'/>"
     "</protocol></interface>"), "/interface/protocol/ip", "must be an IPv6 address"),
    (("<interface type='ethernet' name='e'><protocol family='ipv6'><ip address='fe80::1%e'/>"
     "</protocol></interface>"), "/interface/protocol/ip", "invalid IPv6 address"),
    (("<interface type='ethernet' name='e'><protocol family='ipv4'><ip address='10.0.0.1' "
     "prefix='33'/></protocol></interface>"), "/interface/protocol/ip", "out of range"),
    (("<interface type='ethernet' name='e'><protocol family='ipv4'><dhcp peerdns='maybe'/>"
     "</protocol></interface>"), "/interface/protocol/dhcp", "use 'yes' or 'no'"),
    (("<interface type='ethernet' name='e'><protocol family='ipv4'><route gateway='x'/>"
     "</protocol></interface>"), "/interface/protocol/route", "invalid IPv4 address 'x'"),
    ("<interface type='bridge' name='b'/>", "/interface", "misses the <bridge> element"),
    ("<interface type='bridge' name='b'><bridge stp='yes'/></interface>",
     "/interface/bridge", "stp should be on or off"),
    ("<interface type='bridge' name='b'><bridge delay='-1'/></interface>",
     "/interface/bridge", "invalid bridge delay"),
    (("<interface type='bridge' name='b'><bridge><interface type='ethernet' name='e'/>"
     "<interface type='bridge' name='c'><bridge/></interface></bridge></interface>"),
     "/interface/bridge/interface[2]", "unsupported type 'bridge' inside a bridge"),
    (("<interface type='bridge' name='b'><bridge><interface type='bond' name='c'><bond>"
     "<interface type='vlan' name='v'/></bond></interface></bridge></interface>"),
     "/interface/bridge/interface[1]/bond/interface[1]", "unsupported type 'vlan' inside a bond"),
    ("<interface type='bond' name='b'><bond/></interface>", "/interface/bond",
     "needs at least one slave"),
    (("<interface type='bond' name='b'><bond mode='fast'><interface type='ethernet' name='e'/>"
     "</bond></interface>"), "/interface/bond", "unknown bonding mode"),
    (("<interface type='bond' name='b'><bond><miimon/><interface type='ethernet' name='e'/>"
     "</bond></interface>"), "/interface/bond/miimon", "miimon freq missing"),
    (("<interface type='bond' name='b'><bond><miimon freq='1' carrier='x'/>"
     "<interface type='ethernet' name='e'/></bond></interface>"),
     "/interface/bond/miimon", "unknown mii bonding carrier"),
    (("<interface type='bond' name='b'><bond><arpmon interval='1'/>"
     "<interface type='ethernet' name='e'/></bond></interface>"),
     "/interface/bond/arpmon", "arpmon target missing"),
    ("<interface type='vlan' name='v'><vlan><interface name='e'/></vlan></interface>",
     "/interface/vlan", "misses the tag attribute"),
    ("<interface type='vlan' name='v'><vlan tag='4096'><interface name='e'/></vlan></interface>",
     "/interface/vlan", "out of range"),
    ("<interface type='vlan' name='v'><vlan tag='1'/></interface>",
     "/interface/vlan", "misses the underlying device"),
]


@pytest.mark.parametrize("doc,path,message", BAD)
def test_parse_errors_name_the_element(doc: str, path: str, message: str) -> None:
    with pytest.raises(XMLParseError) as info:
        parse_interface(doc)
    assert info.value.path == path
    assert message in str(info.value)


@pytest.mark.parametrize("doc,message", [
    ("<interface type='ethernet' name='e'>", "not well-formed XML at line 1"),
    ("", "is empty"),
    ("<network/>", "unexpected root element <network>, expecting <interface>"),
    ("<!DOCTYPE x [<!ENTITY a 'b'>]><interface type='ethernet' name='&a;'/>", "DOCTYPE"),
])
def test_invalid_documents(doc: str, message: str) -> None:
    with pytest.raises(XMLParseError, match=message):
        parse_interface(doc)


# -- definitions --------------------------------------------------------------------------------
@pytest.fixture
def ifs(tmp_path: Path) -> Interfaces:
    return Interfaces(Paths(tmp_path / "root"))


def eth(name: str, mac: str | None = None, ip: str | None = None) -> str:
    m = f"<mac address='{mac}'/>" if mac else ""
    p = f"<protocol family='ipv4'><ip address='{ip}' prefix='24'/></protocol>" if ip else ""
    return f"<interface type='ethernet' name='{name}'>{p}{m}</interface>"


def bridge(name: str, *ports: str, stp: str = "off") -> str:
    inner = "".join(f"<interface type='ethernet' name='{p}'/>" for p in ports)
    return f"<interface type='bridge' name='{name}'><bridge stp='{stp}'>{inner}</bridge></interface>"


def test_define_stores_the_formatted_document(ifs: Interfaces) -> None:
    d = ifs.define_xml(ETH)
    assert d.name == "eth1"
    assert ifs.store.names() == ["eth1"]
    assert ifs.xml("eth1", inactive=True) == ETH
    raw = (ifs.paths.interfaces / "eth1.xml").read_text()
    assert raw.startswith("<!--\nWARNING") and "kvmnet iface-edit eth1" in raw


def test_duplicate_mac_is_refused(ifs: Interfaces) -> None:
    ifs.define_xml(eth("eth1", "52:54:00:00:00:01"))
    before = ifs.store.files()
    with pytest.raises(ConflictError, match="MAC address 52:54:00:00:00:01 is already used by "
                                            "the definition of interface 'eth1'"):
        ifs.define_xml(eth("eth2", "52:54:00:00:00:01".upper()))
    assert ifs.store.files() == before
    ifs.define_xml(eth("eth1", "52:54:00:00:00:01", ip="192.0.2.1"))  # redefining is fine


def test_bridge_absorbs_its_ports_definition(ifs: Interfaces) -> None:
    ifs.define_xml(eth("eth1", "52:54:00:00:00:01"))
    ifs.define_xml(eth("eth9"))
    doc = ("<interface type='bridge' name='br0'><bridge><interface type='ethernet' name='eth1'>"
           "<mac address='52:54:00:00:00:01'/></interface></bridge></interface>")
    ifs.define_xml(doc)
    assert ifs.store.names() == ["br0", "eth9"]
    with pytest.raises(ConflictError, match="'eth1' is part of bridge 'br0'"):
        ifs.define_xml(eth("eth1"))
    with pytest.raises(ConflictError, match="'eth1' is already part of bridge 'br0'"):
        ifs.define_xml(bridge("br1", "eth1"))
    assert ifs.store.names() == ["br0", "eth9"]


@pytest.mark.parametrize("doc,error,message", [
    (bridge("br0", "lo"), InvalidArgError, "loopback device lo cannot be part of bridge"),
    (bridge("br0", "br0"), InvalidArgError, "cannot contain itself"),
    (bridge("br0", "eth1", "eth1"), InvalidArgError, "listed twice"),
    (eth("averyveryverylongname"), InvalidArgError, "too long"),
    (eth("eth:1"), InvalidArgError, "forbids"),
    ("<interface type='vlan' name='v'><vlan tag='3'><interface name='lo'/></vlan></interface>",
     InvalidArgError, "cannot sit on 'lo'"),
])
def test_definition_rules(ifs: Interfaces, doc: str, error: type[Exception],
                          message: str) -> None:
    with pytest.raises(error, match=message):
        ifs.define_xml(doc)
    assert ifs.store.names() == []


def cli(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--root", str(root), *args], stdout=out, stderr=err, stdin=io.StringIO(""))
    return rc, out.getvalue(), err.getvalue()


def test_cli_define_dumpxml_undefine(tmp_path: Path) -> None:
    root = tmp_path / "root"
    f = tmp_path / "eth1.xml"
    f.write_text(ETH)
    assert cli(root, "iface-define", str(f)) == (0, f"Interface eth1 defined from {f}\n\n", "")
    assert cli(root, "iface-dumpxml", "eth1", "--inactive") == (0, ETH + "\n", "")
    assert cli(root, "iface-undefine", "eth1") == (0, "Interface eth1 undefined\n\n", "")
    assert not (root / "etc/kvmnet/interfaces/eth1.xml").exists()


@pytest.mark.parametrize("text,message", [
    ("<interface type='ethernet' name='e'", "not well-formed XML"),
    (("<interface type='bridge' name='b'><bridge><interface type='ethernet' name='lo'/></bridge>"
     "</interface>"), "loopback device lo"),
])
def test_cli_bad_input_is_one_error(tmp_path: Path, text: str, message: str) -> None:
    root = tmp_path / "root"
    f = tmp_path / "bad.xml"
    f.write_text(text)
    rc, out, err = cli(root, "iface-define", str(f))
    assert rc == 1 and out == "\n"
    assert err.count("error:") == 1 and message in err and "Traceback" not in err
    assert not (root / "etc/kvmnet/interfaces").exists() or \
        list((root / "etc/kvmnet/interfaces").iterdir()) == []


# -- planning on a hand-made host -------------------------------------------------------------------
def host() -> LiveState:
    """lo, eth1 (10.9.0.1/24, default route, a static route, IPv6), eth2, and br7 with eth3."""
    links = {n: LinkState(n, kind=k, mac=m, mtu=1500, master=ms) for n, k, m, ms in [
        ("lo", None, "00:00:00:00:00:00", None), ("eth1", "veth", "02:00:00:00:00:01", None),
        ("eth2", "veth", "02:00:00:00:00:02", None), ("br7", "bridge", "02:00:00:00:00:03", None),
        ("eth3", "veth", "02:00:00:00:00:03", "br7")]}
    addrs = [Address("lo", "127.0.0.1", 8, 4), Address("eth1", "10.9.0.1", 24, 4),
             Address("eth1", "2001:db8:9::1", 64, 6), Address("eth1", "fe80::1", 64, 6),
             Address("br7", "10.7.0.1", 24, 4)]
    routes = [Route("0.0.0.0", 0, "10.9.0.2", "eth1", None, 4),
              Route("198.51.100.0", 24, "10.9.0.3", "eth1", 5, 4),
              Route("10.9.0.0", 24, None, "eth1", None, 4),
              Route("2001:db8:9::", 64, None, "eth1", 256, 6),
              Route("fe80::", 64, None, "eth1", 256, 6),
              Route("::", 0, "2001:db8:9::2", "eth1", 1024, 6),
              Route("10.7.0.0", 24, None, "br7", None, 4)]
    return LiveState(links, addrs, routes, {})


def test_bridge_plan_moves_addresses_and_routes() -> None:
    cur = host()
    br = bridge_definition("eth1", "virbr2", None, cur, {}, stp=True, delay=0)
    assert format_interface(br) == (
        "<interface type='bridge' name='virbr2'>\n  <mtu size='1500'/>\n"
        "  <protocol family='ipv4'>\n    <ip address='10.9.0.1' prefix='24'/>\n"
        "    <route gateway='10.9.0.2'/>\n  </protocol>\n  <protocol family='ipv6'>\n"
        "    <ip address='2001:db8:9::1' prefix='64'/>\n    <route gateway='2001:db8:9::2'/>\n"
        "  </protocol>\n  <bridge stp='on' delay='0'>\n"
        "    <interface type='ethernet' name='eth1'>\n      <mac address='02:00:00:00:00:01'/>\n"
        "    </interface>\n  </bridge>\n</interface>\n")
    plan = plan_start(br, cur)
    t = plan.target
    assert plan.new_links == {"virbr2"} and plan.precreate == []
    assert t.links["virbr2"] == LinkState("virbr2", kind="bridge", mac="02:00:00:00:00:01",
                                          mtu=1500, stp=True, forward_delay_cs=0)
    assert t.links["eth1"].master == "virbr2"
    assert {(a.address, a.prefixlen) for a in t.addresses_of("virbr2")} == \
        {("10.9.0.1", 24), ("2001:db8:9::1", 64)}
    assert t.addresses_of("eth1") == []
    assert sorted((r.dst, r.gateway, r.metric) for r in t.static_routes()
                  if r.ifname == "virbr2") == [("0.0.0.0", "10.9.0.2", None),
                                                ("198.51.100.0", "10.9.0.3", 5),
                                                ("::", "2001:db8:9::2", 1024)]
    assert not [r for r in t.static_routes() if r.ifname == "eth1"]
    # and back: the port's definition gets the bridge's addressing
    port = unbridge_definition("virbr2", br, t)
    assert port.type == "ethernet" and port.name == "eth1" and port.mac == "02:00:00:00:00:01"
    assert port.protocols == br.protocols


@pytest.mark.parametrize("iface,name,error,message", [
    ("lo", "br0", InvalidArgError, "loopback device lo cannot be attached"),
    ("eth1", "eth1", InvalidArgError, "cannot be attached to itself"),
    ("nosuch", "br0", NotFoundError, "interface 'nosuch' not found"),
    ("br7", "br0", OperationInvalidError, "br7 is already a bridge"),
    ("eth3", "br0", ConflictError, "'eth3' is already attached to 'br7'"),
    ("eth1", "eth2", ConflictError, "network device eth2 already exists"),
])
def test_iface_bridge_refusals(iface: str, name: str, error: type[Exception],
                               message: str) -> None:
    with pytest.raises(error, match=message):
        bridge_definition(iface, name, None, host(), {}, stp=True, delay=0)


@pytest.mark.parametrize("doc,error,message", [
    (bridge("br0", "eth9"), NotFoundError, "interface 'eth9' \\(needed by 'br0'\\) does not"),
    (bridge("br0", "eth3"), ConflictError, "'eth3' is already attached to 'br7'"),
    (bridge("eth2", "eth1"), ConflictError, "'eth2' exists and is a veth, not a bridge"),
    (eth("eth1", "52:54:00:00:00:99"), ConflictError, "says MAC 52:54:00:00:00:99, but"),
    (eth("eth9"), NotFoundError, "interface 'eth9' does not exist"),
    (("<interface type='vlan' name='eth9.5'><vlan tag='5'><interface name='eth9'/></vlan>"
     "</interface>"), NotFoundError, "'eth9' \\(needed by 'eth9.5'\\)"),
])
def test_start_plan_refusals(doc: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        plan_start(parse_interface(doc), host())


def test_start_plan_for_ethernet_vlan_and_bond() -> None:
    cur = host()
    plan = plan_start(parse_interface(
        "<interface type='ethernet' name='eth2'><mtu size='9000'/><protocol family='ipv4'>"
        "<dhcp/><ip address='172.16.0.5'/><route gateway='172.16.0.1'/></protocol>"
        "<protocol family='ipv6'><autoconf/></protocol></interface>"), cur)
    t = plan.target
    assert t.links["eth2"].mtu == 9000 and t.links["eth2"].up
    assert Address("eth2", "172.16.0.5", 16, 4) in t.addresses  # classful default prefix
    assert "kept the existing IPv4 default route via 10.9.0.2 dev eth1" in " ".join(plan.notes)
    assert "kvmnet runs no DHCP client" in " ".join(plan.notes)
    assert t.sysctls == {"net.ipv6.conf.eth2.autoconf": "1", "net.ipv6.conf.eth2.accept_ra": "2"}
    vlan = plan_start(parse_interface(
        "<interface type='vlan' name='eth2.5'><vlan tag='5'><interface name='eth2'/></vlan>"
        "</interface>"), cur)
    assert vlan.new_links == {"eth2.5"} and len(vlan.precreate) == 1
    bond = plan_start(parse_interface(
        "<interface type='bond' name='bond0'><bond mode='active-backup'>"
        "<interface type='ethernet' name='eth1'/><interface type='ethernet' name='eth2'/>"
        "</bond></interface>"), cur)
    assert bond.new_links == {"bond0"} and len(bond.precreate) == 3  # create + 2 slaves
    assert bond.target.links["eth1"].master == "bond0"
    assert {a.address for a in bond.target.addresses_of("bond0")} == {"10.9.0.1", "2001:db8:9::1"}


def test_destroy_plan() -> None:
    cur = host()
    target, deletable = plan_destroy(None, cur, "br7", {"br7"})
    assert deletable == {"br7"} and "br7" not in target.links
    assert target.links["eth3"].master is None
    d = parse_interface("<interface type='ethernet' name='eth1'><protocol family='ipv4'>"
                        "<ip address='10.9.0.1' prefix='24'/><route gateway='10.9.0.2'/>"
                        "</protocol></interface>")
    target, deletable = plan_destroy(d, cur, "eth1", set())
    assert deletable == set() and not target.links["eth1"].up
    assert [a.address for a in target.addresses_of("eth1")] == ["2001:db8:9::1"]
    assert not [r for r in target.routes if r.dst == "0.0.0.0"]


@pytest.mark.parametrize("address,prefix", [("10.1.2.3", 8), ("172.16.0.1", 16),
                                            ("192.168.1.1", 24), ("2001:db8::1", 64)])
def test_default_prefix(address: str, prefix: int) -> None:
    assert default_prefix(address) == prefix


def test_model_is_frozen() -> None:
    d = InterfaceDef(type="ethernet", name="e")
    with pytest.raises(AttributeError):
        d.name = "f"  # type: ignore[misc]


# -- bridge-nf against a fake /proc/sys ----------------------------------------------------------------
@pytest.fixture
def proc_sys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake = tmp_path / "proc-sys"
    fake.mkdir()
    monkeypatch.setattr(sysctl, "PROC_SYS", str(fake))
    return fake


def test_bridge_nf_without_br_netfilter(tmp_path: Path, proc_sys: Path) -> None:
    assert set(bridge_nf().values()) == {None}
    root = tmp_path / "root"
    rc, out, err = cli(root, "bridge-nf")
    assert rc == 0 and "br_netfilter is not loaded" in out
    rc, out, err = cli(root, "bridge-nf", "off")  # the outcome already holds: not an error
    assert rc == 0 and "br_netfilter is not loaded" in out
    rc, out, err = cli(root, "bridge-nf", "on")
    assert rc == 1 and err.count("error:") == 1 and "modprobe br_netfilter" in err


def test_bridge_nf_on_and_off(tmp_path: Path, proc_sys: Path) -> None:
    (proc_sys / "net" / "bridge").mkdir(parents=True)
    for leaf in ("iptables", "ip6tables", "arptables"):
        (proc_sys / "net" / "bridge" / f"bridge-nf-call-{leaf}").write_text("1\n")
    root = tmp_path / "root"
    rc, out, _ = cli(root, "bridge-nf", "off")
    assert rc == 0 and "net.bridge.bridge-nf-call-arptables = 0" in out
    assert (proc_sys / "net/bridge/bridge-nf-call-iptables").read_text() == "0"
    assert bridge_nf(True) == {k: "1" for k in bridge_nf()}
    rc, out, _ = cli(root, "bridge-nf", "--json")
    assert rc == 0 and '"loaded": true' in out and '"bridge-nf-call-ip6tables": "1"' in out
    assert cli(root, "bridge-nf", "maybe")[0] == 2


def test_definitions_made_from_the_host_are_schema_valid(relaxng: etree.RelaxNG) -> None:
    from kvmnet.iface.interfaces import live_definition

    cur = host()
    docs = [format_interface(live_definition(cur, name, status=status))
            for name in cur.links for status in (False, True)]
    br = bridge_definition("eth1", "virbr2", None, cur, {}, stp=False, delay=5)
    docs += [format_interface(br), format_interface(unbridge_definition("virbr2", br, cur))]
    for doc in docs:
        assert valid(relaxng, doc), (doc, relaxng.error_log.last_error)
    assert "<bridge stp='off'>" in docs[-2]  # virsh sets the delay only with STP on
