"""Define-time assignment (UUID, virbrN, MAC) and conflicts, as libvirt's networkDefineXML."""
from __future__ import annotations

import re
import uuid as uuidlib
from pathlib import Path

import pytest

from kvmnet.config.define import (
    Other,
    assign,
    define,
    free_bridge_name,
    prepare,
    random_mac,
)
from kvmnet.config.store import Layout, Peek, Store, peek_xml
from kvmnet.errors import ConflictError, InvalidArgError, ValidationError
from kvmnet.model.network import Bridge, Forward, ForwardMode, Network

MAC_RE = re.compile(r"^52:54:00(:[0-9a-f]{2}){3}$")
U1 = "11111111-2222-4333-8444-555555555555"
U2 = "11111111-2222-4333-8444-666666666666"


def nat(name: str = "n", **kw: object) -> Network:
    return Network(name=name, forward=Forward(mode=ForwardMode.NAT), **kw)  # type: ignore[arg-type]


def other(name: str, bridge: str | None, uuid: str | None = None, owns: bool = True) -> Other:
    return Other(name=name, uuid=uuid, bridge=bridge, owns_bridge=owns)


def test_uuid_assigned_when_missing_and_kept_when_given() -> None:
    got = assign(nat(), [])
    assert got.uuid is not None and uuidlib.UUID(got.uuid).version == 4
    assert assign(nat(uuid=U1), []).uuid == U1


def test_lowest_free_virbr() -> None:
    others = [other("a", "virbr0"), other("b", "virbr2"), other("c", "br-x")]
    assert assign(nat(), others).bridge_name == "virbr1"
    assert assign(nat(), []).bridge_name == "virbr0"


def test_bridge_counted_from_any_mode() -> None:
    # libvirt's virNetworkObjBridgeInUse looks at every network's bridge name
    others = [other("host", "virbr0", owns=False)]
    assert assign(nat(), others).bridge_name == "virbr1"


@pytest.mark.parametrize("mode", [ForwardMode.NAT, ForwardMode.ROUTE, ForwardMode.OPEN])
def test_bridge_and_mac_for_owning_modes(mode: ForwardMode) -> None:
    got = assign(Network(name="n", forward=Forward(mode=mode)), [])
    assert got.bridge_name == "virbr0"
    assert got.mac is not None and MAC_RE.match(got.mac)


def test_isolated_network_gets_bridge_and_mac() -> None:
    got = assign(Network(name="iso"), [])
    assert got.bridge_name == "virbr0" and got.mac is not None and MAC_RE.match(got.mac)


def test_given_values_are_kept_and_bridge_attributes_survive() -> None:
    net = nat(bridge=Bridge(name=None, stp=False, delay=5), mac="52:54:00:aa:bb:cc")
    got = assign(net, [])
    assert got.bridge == Bridge(name="virbr0", stp=False, delay=5)
    assert got.mac == "52:54:00:aa:bb:cc"


def test_no_bridge_or_mac_for_device_modes() -> None:
    for mode in (ForwardMode.BRIDGE, ForwardMode.PRIVATE, ForwardMode.VEPA,
                 ForwardMode.PASSTHROUGH, ForwardMode.HOSTDEV):
        got = assign(Network(name="d", forward=Forward(mode=mode, dev="eth0")), [])
        assert got.bridge is None and got.mac is None, mode


def test_random_mac_is_random_and_local() -> None:
    macs = {random_mac() for _ in range(50)}
    assert len(macs) > 45 and all(MAC_RE.match(m) for m in macs)


def test_bridge_template() -> None:
    others = [other("a", "lab0"), other("b", "lab1")]
    assert assign(nat(bridge=Bridge(name="lab%d")), others).bridge_name == "lab2"
    # libvirt stops at virbr255; kvmnet goes on while the name fits in 15 bytes
    assert free_bridge_name("virbr%d", [f"virbr{i}" for i in range(255)]) == "virbr255"
    assert free_bridge_name("virbr%d", [f"virbr{i}" for i in range(1000)]) == "virbr1000"
    with pytest.raises(ConflictError, match="no free bridge name"):
        free_bridge_name("abcdefghijklm%d", [f"abcdefghijklm{i}" for i in range(100)])


def test_templated_bridge_too_long() -> None:
    with pytest.raises(InvalidArgError, match="at most 15 bytes"):
        assign(nat(bridge=Bridge(name="averylongbrname%d")), [])


def test_name_exists_with_other_uuid() -> None:
    prev = [Peek("n", U1, "nat", "virbr0", None)]
    with pytest.raises(ConflictError, match=f"already exists with uuid {U1}") as exc:
        assign(nat(uuid=U2), [], prev)
    assert "leave <uuid>" in str(exc.value)


def test_uuid_used_by_another_name() -> None:
    with pytest.raises(ConflictError, match="already used by network 'a'"):
        assign(nat(uuid=U1.upper()), [other("a", "virbr0", U1)])


def test_same_name_same_uuid_replaces_and_inherits() -> None:
    prev = [Peek("n", U1, "nat", "virbr4", "52:54:00:01:02:03")]
    got = assign(nat(uuid=U1), [other("a", "virbr0")], prev)
    assert (got.uuid, got.bridge_name, got.mac) == (U1, "virbr4", "52:54:00:01:02:03")
    got = assign(nat(), [], prev)  # no uuid given: keep the network's identity
    assert got.uuid == U1


def test_inherited_bridge_not_used_when_taken_or_not_owned() -> None:
    prev = [Peek("n", U1, "nat", "virbr4", None)]
    assert assign(nat(), [other("a", "virbr4")], prev).bridge_name == "virbr0"
    prev = [Peek("n", U1, "bridge", "br0", "52:54:00:01:02:03")]
    got = assign(nat(), [], prev)
    assert got.bridge_name == "virbr0" and got.mac != "52:54:00:01:02:03"


def test_bridge_name_in_use() -> None:
    with pytest.raises(ConflictError, match="bridge name 'virbr0' is already used by network 'a'"):
        assign(nat(bridge=Bridge(name="virbr0")), [other("a", "virbr0")])


def test_bridge_mode_networks_may_share_a_host_bridge_but_not_an_owned_one() -> None:
    br = Network(name="b", forward=Forward(mode=ForwardMode.BRIDGE), bridge=Bridge(name="br0"))
    assert assign(br, [other("host2", "br0", owns=False)]).bridge_name == "br0"
    with pytest.raises(ConflictError, match="creates"):
        assign(br, [other("natnet", "br0", owns=True)])


# -- through the store ------------------------------------------------------------------

XML = """<network>
  <name>{name}</name>
  {uuid}
  <forward mode='nat'/>
  {bridge}
  <ip address='{net}.1' netmask='255.255.255.0'>
    <dhcp><range start='{net}.2' end='{net}.254'/></dhcp>
  </ip>
</network>
"""


def xml(name: str, net: str = "192.168.100", uuid: str = "", bridge: str = "") -> str:
    return XML.format(name=name, net=net, uuid=f"<uuid>{uuid}</uuid>" if uuid else "",
                      bridge=f"<bridge name='{bridge}'/>" if bridge else "")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(Layout(tmp_path))


def stored(store: Store, name: str) -> Peek:
    text = store.read_config(name)
    assert text is not None
    return peek_xml(text)


def test_define_stores_assigned_values(store: Store) -> None:
    net = define(store, xml("one"))
    p = stored(store, "one")
    assert (p.uuid, p.bridge, p.mac) == (net.uuid, "virbr0", net.mac)
    assert p.mac is not None and MAC_RE.match(p.mac)
    define(store, xml("two", "192.168.101"))
    assert stored(store, "two").bridge == "virbr1"
    store.delete_config("one")
    define(store, xml("three", "192.168.102"))
    assert stored(store, "three").bridge == "virbr0"  # freed names are reused, lowest first


def test_redefine_keeps_identity(store: Store) -> None:
    first = define(store, xml("one"))
    define(store, xml("filler", "192.168.109"))
    again = define(store, xml("one", "192.168.120"))
    assert (again.uuid, again.bridge_name, again.mac) == (first.uuid, first.bridge_name, first.mac)
    assert "192.168.120.1" in (store.read_config("one") or "")


def test_define_conflicts_leave_store_alone(store: Store) -> None:
    define(store, xml("one", uuid=U1, bridge="virbr0"))
    before = store.read_config("one")
    with pytest.raises(ConflictError):
        define(store, xml("one", uuid=U2))
    with pytest.raises(ConflictError):
        define(store, xml("two", "192.168.101", uuid=U1))
    with pytest.raises(ConflictError):
        define(store, xml("two", "192.168.101", bridge="virbr0"))
    assert store.read_config("one") == before
    assert [e.name for e in store.entries()] == ["one"]


def test_transient_network_counts_for_conflicts(store: Store) -> None:
    store.write_status("live", xml("live", uuid=U1, bridge="virbr0"))
    assert define(store, xml("new", "192.168.101")).bridge_name == "virbr1"
    with pytest.raises(ConflictError):
        define(store, xml("other", "192.168.102", uuid=U1))
    # defining the transient network's own name and uuid makes it persistent
    net = define(store, xml("live"))
    assert net.uuid == U1 and net.bridge_name == "virbr0"


def test_prepare_validates_without_assigning() -> None:
    net = prepare(xml("p"))
    assert net.uuid is None and net.bridge_name is None and net.mac is None
    with pytest.raises(ValidationError):
        prepare(xml("p").replace("192.168.100.254", "10.0.0.254"))
    with pytest.raises(InvalidArgError, match="starts with '.'"):
        prepare(xml(".hidden"))


def test_damaged_file_does_not_block_defines_and_can_be_repaired(store: Store) -> None:
    store.paths.networks.mkdir(parents=True)
    (store.paths.networks / "broken.xml").write_text("<network><name>broken")
    assert define(store, xml("fine")).bridge_name == "virbr0"
    net = define(store, xml("broken", "192.168.101"))  # redefining repairs it
    assert stored(store, "broken").uuid == net.uuid
