"""The libvirt-python shaped API: Connection and Network."""
from __future__ import annotations

from pathlib import Path

import pytest

import kvmnet
from kvmnet import api
from kvmnet.api import Connection
from kvmnet.errors import (
    VIR_ERR_NO_NETWORK,
    VIR_ERR_OPERATION_INVALID,
    InvalidArgError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
    UnsupportedError,
    XMLParseError,
)
from kvmnet.xmlio.network import parse_network

U1 = "3e3fce45-4f53-4fa7-bb32-11f34168b82b"
U2 = "3e3fce45-4f53-4fa7-bb32-11f34168b82c"


def xml(name: str, net: str = "192.168.100", uuid: str | None = None) -> str:
    u = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (f"<network><name>{name}</name>{u}<forward mode='nat'/>"
            f"<ip address='{net}.1' netmask='255.255.255.0'><dhcp>"
            f"<range start='{net}.2' end='{net}.254'/></dhcp></ip></network>")


@pytest.fixture
def conn(tmp_path: Path) -> Connection:
    return kvmnet.open(str(tmp_path))


def test_constants_match_libvirt() -> None:
    assert (api.VIR_CONNECT_LIST_NETWORKS_INACTIVE, api.VIR_CONNECT_LIST_NETWORKS_ACTIVE,
            api.VIR_CONNECT_LIST_NETWORKS_PERSISTENT, api.VIR_CONNECT_LIST_NETWORKS_TRANSIENT,
            api.VIR_CONNECT_LIST_NETWORKS_AUTOSTART,
            api.VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART) == (1, 2, 4, 8, 16, 32)
    assert api.VIR_NETWORK_XML_INACTIVE == 1
    assert (api.VIR_NETWORK_UPDATE_COMMAND_MODIFY, api.VIR_NETWORK_UPDATE_COMMAND_DELETE,
            api.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, api.VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST) \
        == (1, 2, 3, 4)
    assert api.VIR_NETWORK_SECTION_IP_DHCP_HOST == 4 and api.VIR_NETWORK_SECTION_DNS_SRV == 12
    assert api.UPDATE_SECTIONS[api.VIR_NETWORK_SECTION_FORWARD_PF] == "forward-pf"
    assert (api.VIR_NETWORK_UPDATE_AFFECT_CURRENT, api.VIR_NETWORK_UPDATE_AFFECT_LIVE,
            api.VIR_NETWORK_UPDATE_AFFECT_CONFIG) == (0, 1, 2)


def test_open_uses_env_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KVMNET_ROOT", str(tmp_path))
    with kvmnet.open() as c:
        c.networkDefineXML(xml("envnet"))
    assert (tmp_path / "etc/kvmnet/networks/envnet.xml").is_file()
    assert c.paths.root == tmp_path


def test_define_and_lookup(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a", uuid=U1))
    assert net.name() == "a" and net.UUIDString() == U1
    assert net.UUID() == bytes.fromhex(U1.replace("-", ""))
    assert conn.networkLookupByName("a").UUIDString() == U1
    assert conn.networkLookupByUUIDString(U1.upper().replace("-", "")).name() == "a"
    assert conn.networkLookupByUUID(net.UUID()).name() == "a"
    assert conn.lookupNetwork(U1).name() == "a"
    assert conn.lookupNetwork("a").name() == "a"
    assert not net.isActive() and net.isPersistent() and not net.autostart()
    assert net.bridgeName() == "virbr0"


def test_lookup_errors_have_libvirt_codes(conn: Connection) -> None:
    with pytest.raises(NotFoundError) as exc:
        conn.networkLookupByName("nope")
    assert exc.value.get_error_code() == VIR_ERR_NO_NETWORK
    assert "net-list --all" in str(exc.value)
    with pytest.raises(NotFoundError):
        conn.networkLookupByUUIDString(U1)
    with pytest.raises(NotFoundError):
        conn.networkLookupByName("../../etc/passwd")


def test_xmldesc_round_trips_through_the_parser(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a"))
    doc = net.XMLDesc(0)
    parsed = parse_network(doc)
    assert parsed.uuid == net.UUIDString() and parsed.bridge_name == "virbr0"
    assert parsed.mac is not None and parsed.mac.startswith("52:54:00:")
    assert net.XMLDesc(api.VIR_NETWORK_XML_INACTIVE) == doc
    with pytest.raises(InvalidArgError):
        net.XMLDesc(4)


def write_live(conn: Connection, name: str, text: str) -> None:
    conn.store.write_status(name, text)


def test_list_filters(conn: Connection) -> None:
    conn.networkDefineXML(xml("inact", "192.168.1"))
    conn.networkDefineXML(xml("auto", "192.168.2")).setAutostart(True)
    act = conn.networkDefineXML(xml("Act", "192.168.3"))
    write_live(conn, "Act", act.XMLDesc(0))
    write_live(conn, "trans", xml("trans", "192.168.4", uuid=U2))

    def names(flags: int) -> list[str]:
        return [n.name() for n in conn.listAllNetworks(flags)]

    assert names(0) == ["Act", "auto", "inact", "trans"]  # virsh order: case-insensitive
    assert names(api.VIR_CONNECT_LIST_NETWORKS_ACTIVE) == ["Act", "trans"]
    assert names(api.VIR_CONNECT_LIST_NETWORKS_INACTIVE) == ["auto", "inact"]
    assert names(api.VIR_CONNECT_LIST_NETWORKS_TRANSIENT) == ["trans"]
    assert names(api.VIR_CONNECT_LIST_NETWORKS_PERSISTENT
                 | api.VIR_CONNECT_LIST_NETWORKS_ACTIVE) == ["Act"]
    assert names(api.VIR_CONNECT_LIST_NETWORKS_AUTOSTART) == ["auto"]
    assert names(api.VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART
                 | api.VIR_CONNECT_LIST_NETWORKS_INACTIVE) == ["inact"]
    assert conn.listNetworks() == ["Act", "trans"]
    assert conn.listDefinedNetworks() == ["auto", "inact"]
    assert conn.numOfNetworks() == 2 and conn.numOfDefinedNetworks() == 2
    with pytest.raises(InvalidArgError):
        conn.listAllNetworks(64)


def test_live_and_inactive_xml(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a", "192.168.1"))
    live = net.XMLDesc(0).replace("192.168.1.2'", "192.168.1.50'")
    write_live(conn, "a", live)
    assert "192.168.1.50" in net.XMLDesc(0)
    assert "192.168.1.50" not in net.XMLDesc(api.VIR_NETWORK_XML_INACTIVE)
    assert net.isActive()


def test_autostart(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a"))
    assert net.setAutostart(True) == 0 and net.autostart()
    net.setAutostart(0)
    assert not net.autostart()
    write_live(conn, "t", xml("t", "192.168.5", uuid=U2))
    with pytest.raises(OperationInvalidError, match="transient"):
        conn.networkLookupByName("t").setAutostart(True)


def test_undefine(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a"))
    net.setAutostart(True)
    assert net.undefine() == 0
    assert conn.listAllNetworks() == []
    with pytest.raises(NotFoundError):
        net.undefine()


def test_undefine_active_network_leaves_it_transient(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a"))
    write_live(conn, "a", net.XMLDesc(0))
    net.undefine()
    again = conn.networkLookupByName("a")
    assert again.isActive() and not again.isPersistent()
    with pytest.raises(OperationInvalidError, match="transient") as exc:
        again.undefine()
    assert exc.value.get_error_code() == VIR_ERR_OPERATION_INVALID


def test_stale_handle_after_redefine_with_other_uuid(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a", uuid=U1))
    conn.networkLookupByName("a").undefine()
    conn.networkDefineXML(xml("a", uuid=U2))
    with pytest.raises(NotFoundError, match="redefined"):
        net.undefine()
    assert conn.networkLookupByName("a").isPersistent()


HOST = "<host mac='00:16:3e:77:e2:ee' name='c.example.com' ip='192.168.100.12'/>"


def test_update_config(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a"))
    before = net.XMLDesc(0)
    assert net.update(api.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, api.VIR_NETWORK_SECTION_IP_DHCP_HOST,
                      -1, HOST, api.VIR_NETWORK_UPDATE_AFFECT_CONFIG) == 0
    assert "c.example.com" in net.XMLDesc(0)
    # AFFECT_CURRENT on an inactive network means the config
    net.update(api.VIR_NETWORK_UPDATE_COMMAND_DELETE, api.VIR_NETWORK_SECTION_IP_DHCP_HOST,
               -1, HOST, api.VIR_NETWORK_UPDATE_AFFECT_CURRENT)
    assert net.XMLDesc(0) == before


def test_update_failures_change_nothing(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a"))
    path = conn.store.config_path("a")
    before = path.read_bytes()
    cases: list[tuple[int, int, str, int, type[KvmnetError]]] = [
        (9, 4, HOST, 2, InvalidArgError),
        (3, 13, HOST, 2, UnsupportedError),  # libvirt: VIR_ERR_OPERATION_UNSUPPORTED
        (3, 4, HOST, 8, InvalidArgError),
        (3, 4, "<host mac=", 2, XMLParseError),
        (2, 4, HOST, 2, KvmnetError),  # delete a host that is not there
        (3, 4, HOST, api.VIR_NETWORK_UPDATE_AFFECT_LIVE, OperationInvalidError),
        (3, 1, "<bridge name='x'/>", 2, UnsupportedError),
    ]
    for command, section, frag, flags, err in cases:
        with pytest.raises(err):
            net.update(command, section, -1, frag, flags)
    assert path.read_bytes() == before


def test_destroy_of_inactive_network_is_refused(conn: Connection) -> None:
    net = conn.networkDefineXML(xml("a"))
    with pytest.raises(OperationInvalidError, match="not active"):
        net.destroy()
    with pytest.raises(OperationInvalidError, match="not active"):
        net.update(3, 4, -1, HOST, api.VIR_NETWORK_UPDATE_AFFECT_LIVE)
    assert [n.name() for n in conn.listAllNetworks(api.VIR_CONNECT_LIST_NETWORKS_INACTIVE)] == ["a"]


def test_bridge_name_missing(conn: Connection) -> None:
    # a <pf> (looked up at start): PCI addresses must be VFs of this host already at define
    net = conn.networkDefineXML("<network><name>h</name><forward mode='hostdev'>"
                                "<pf dev='eth9'/></forward></network>")
    with pytest.raises(KvmnetError, match="does not have a bridge name"):
        net.bridgeName()


def test_oversized_document(conn: Connection) -> None:
    with pytest.raises(XMLParseError, match="at most"):
        conn.networkDefineXML("<network>" + " " * (api.MAX_XML_BYTES + 1) + "</network>")


def test_closed_connection(conn: Connection) -> None:
    assert conn.isAlive()
    assert conn.close() == 0
    assert not conn.isAlive()
    with pytest.raises(InvalidArgError, match="closed"):
        conn.listAllNetworks()


def test_canonical_xml_assigns_nothing() -> None:
    text = api.canonicalNetworkXML(xml("c"))
    parsed = parse_network(text)
    assert parsed.uuid is None and parsed.bridge_name is None and parsed.mac is None


def test_listing_snapshot_expires(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    conn.networkDefineXML(xml("a"))
    (listed,) = conn.listAllNetworks()
    conn.networkLookupByName("a").setAutostart(True)
    assert not listed.autostart()  # answered from the listing, just taken
    monkeypatch.setattr(api.network, "SNAPSHOT_SECONDS", 0.0)  # where Network reads it
    assert listed.autostart()  # re-read once the snapshot is stale


def test_lookup_by_uuid_skips_damaged_files(conn: Connection) -> None:
    conn.networkDefineXML(xml("good", uuid=U1))
    (conn.store.paths.networks / "bad.xml").write_text("<network><name>bad")
    assert conn.networkLookupByUUIDString(U1).name() == "good"
