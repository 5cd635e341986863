"""Guest ports on real networks: taps plugged into started kvmnet networks, in namespaces.

Everything runs in the namespaces of :mod:`tests.functional.kvmnet_env` (the ``host``
namespace plays the KVM host).  The Python API (:mod:`kvmnet.port.ports`) runs inside the host
namespace through ``NetNS.call``; the CLI through ``kvenv.kv``.

A tap has no peer until QEMU opens it, so packet tests either open the tap the way QEMU does
(``TUNSETIFF`` by name, then frames through the file descriptor) or attach the host end of a
veth with exactly the same plumbing (``plug(..., device=...)``) and put its other end in a client
namespace.  Where this kernel lacks a feature a port asks for (sfq, the tc police action, bridge
VLAN filtering), the test checks the clear refusal and that nothing was left instead.
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from kvmnet.model.network import Bandwidth, Rate, Vlan, VlanTag
from kvmnet.port import ports
from tests.functional.kvmnet_env import (
    BUSYBOX,
    KvEnv,
    assert_one_error,
    describe,
    kvenv,
    requires_kvmnet_root,
)
from tests.functional.netns import NetNS, veth

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

OWNER = "d54df46f-1ab5-4a22-8618-4560ef5fac2c"
GUEST_MAC = "52:54:00:12:34:56"


def nat(name: str = "pn", bridge: str = "virbr-p", subnet: str = "192.168.131",
        extra: str = "", bridge_extra: str = "") -> str:
    """A NAT network without DHCP and with STP off (ports forward at once)."""
    return (f"<network>\n  <name>{name}</name>\n  <forward mode='nat'/>\n"
            f"  <bridge name='{bridge}' stp='off'{bridge_extra}/>\n{extra}"
            f"  <ip address='{subnet}.1' netmask='255.255.255.0'/>\n</network>\n")


def api(kvenv: KvEnv, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func(conn, *args, **kwargs)`` inside the host namespace; a KvmnetError comes back as
    ``("error", class name, message)``, a result as ``("ok", value)``."""
    root = str(kvenv.root)

    def run() -> Any:
        import kvmnet
        from kvmnet.errors import KvmnetError

        conn = kvmnet.open(root)
        conn.notify = lambda text: None  # type: ignore[method-assign]
        try:
            return ("ok", func(conn, *args, **kwargs))
        except KvmnetError as exc:
            return ("error", type(exc).__name__, str(exc))

    return kvenv.host.call(run)


def plug(kvenv: KvEnv, network: str | None, **kwargs: Any) -> Any:
    """ports.plug, insisting on success; returns the PortInfo."""
    kwargs.setdefault("mac", GUEST_MAC)
    result = api(kvenv, ports.plug, network, **kwargs)
    assert result[0] == "ok", result
    return result[1]


def plug_error(kvenv: KvEnv, network: str | None, **kwargs: Any) -> tuple[str, str]:
    kwargs.setdefault("mac", GUEST_MAC)
    result = api(kvenv, ports.plug, network, **kwargs)
    assert result[0] == "error", result
    return result[1], result[2]


def call(kvenv: KvEnv, name: str, *args: Any, **kwargs: Any) -> Any:
    result = api(kvenv, getattr(ports, name), *args, **kwargs)
    assert result[0] == "ok", result
    return result[1]


def link(kvenv: KvEnv, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = kvenv.host.ip_json("-d", "link", "show", "dev", name)
    return data[0]


def brport(kvenv: KvEnv, name: str) -> dict[str, Any]:
    out = kvenv.host.run(["bridge", "-d", "-j", "link", "show", "dev", name]).stdout
    data: list[dict[str, Any]] = json.loads(out)
    return data[0]


def links(kvenv: KvEnv) -> set[str]:
    return {d["ifname"] for d in kvenv.host.ip_json("link", "show")}


def records(kvenv: KvEnv) -> list[str]:
    base = kvenv.root / "run" / "kvmnet" / "ports"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) \
        if base.is_dir() else []


def assert_no_port_left(kvenv: KvEnv, before: set[str] | None = None) -> None:
    taps = {n for n in links(kvenv) if n.startswith("vnet")} - (before or set())
    assert not taps, f"taps left: {taps}"
    assert records(kvenv) == [], records(kvenv)


# -- plugging ------------------------------------------------------------------------------------
def test_plug_makes_a_tap_as_libvirt(kvenv: KvEnv) -> None:
    name = kvenv.start(nat(extra="  <mtu size='1400'/>\n"))
    info = plug(kvenv, name, owner_name="vm1", owner_uuid=OWNER)
    assert (info.tap, info.bridge, info.network, info.mtu) == ("vnet0", "virbr-p", name, 1400)
    assert (info.mac, info.tap_mac) == (GUEST_MAC, "fe:54:00:12:34:56")

    d = link(kvenv, "vnet0")
    assert d["linkinfo"]["info_kind"] == "tun"
    data = d["linkinfo"]["info_data"]
    assert (data["type"], data["persist"], data["vnet_hdr"], data["user"]) == (
        "tap", True, True, "root")
    assert d["address"] == "fe:54:00:12:34:56" and d["mtu"] == 1400
    assert d["master"] == "virbr-p" and "UP" in d["flags"]
    assert brport(kvenv, "vnet0")["isolated"] is False

    assert records(kvenv) == [f"{name}/{info.uuid}.json", f"{name}/{info.uuid}.xml"]
    xml = call(kvenv, "port_xml", name, info.uuid)
    assert "<name>vm1</name>" in xml and f"<uuid>{OWNER}</uuid>" in xml
    assert f"<mac address='{GUEST_MAC}'/>" in xml
    assert "<plug type='network' bridge='virbr-p'/>" in xml
    assert [p.uuid for p in call(kvenv, "list_ports", name)] == [info.uuid]

    call(kvenv, "unplug", info.uuid)
    assert "vnet0" not in links(kvenv)
    assert_no_port_left(kvenv)


def test_first_free_vnet_and_chosen_names(kvenv: KvEnv) -> None:
    name = kvenv.start(nat())
    infos = [plug(kvenv, name, mac=f"52:54:00:00:00:0{i}") for i in range(1, 4)]
    assert [i.tap for i in infos] == ["vnet0", "vnet1", "vnet2"]
    call(kvenv, "unplug", infos[1].uuid)
    assert plug(kvenv, name, mac="52:54:00:00:00:09").tap == "vnet1"
    assert plug(kvenv, name, tap_name="guesttap0").tap == "guesttap0"
    assert link(kvenv, "guesttap0")["master"] == "virbr-p"

    before = records(kvenv)
    kind, message = plug_error(kvenv, name, tap_name="vnet0")
    assert kind == "ConflictError" and "already exists" in message, message
    assert records(kvenv) == before
    assert link(kvenv, "vnet0")["master"] == "virbr-p"  # the existing tap is untouched


def test_guest_mac_starting_with_fe(kvenv: KvEnv) -> None:
    name = kvenv.start(nat())
    info = plug(kvenv, name, mac="FE:54:00:AA:BB:CC")
    assert info.mac == "fe:54:00:aa:bb:cc" and info.tap_mac == "fa:54:00:aa:bb:cc"
    assert link(kvenv, info.tap)["address"] == "fa:54:00:aa:bb:cc"


def _qemu_like_arp(tap: str, guest_mac: str, guest_ip: str, bridge_ip: str,
                   multi_queue: bool) -> dict[str, Any]:
    """Open ``tap`` by name as QEMU does, send an ARP request from the guest and wait for the
    host's reply through the tap (runs inside the host namespace)."""
    flags = 0x0002 | 0x1000 | (0x0100 if multi_queue else 0)  # IFF_TAP|IFF_NO_PI[|MULTI_QUEUE]
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH22x", tap.encode(), flags))
        mac = bytes.fromhex(guest_mac.replace(":", ""))
        spa = bytes(int(x) for x in guest_ip.split("."))
        tpa = bytes(int(x) for x in bridge_ip.split("."))
        frame = (b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
                 + mac + spa + b"\x00" * 6 + tpa)
        os.write(fd, frame)
        reply = None
        for _ in range(50):
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                os.write(fd, frame)
                continue
            data = os.read(fd, 2048)
            if data[12:14] == b"\x08\x06" and data[20:22] == b"\x00\x02" and data[28:32] == tpa:
                reply = data
                break
        fdb = subprocess.run(["bridge", "-j", "fdb", "show", "dev", tap], capture_output=True,
                             text=True, check=True).stdout
        oper = json.loads(subprocess.run(["ip", "-j", "link", "show", "dev", tap],
                                         capture_output=True, text=True,
                                         check=True).stdout)[0]["operstate"]
    finally:
        os.close(fd)
    return {"reply_to": reply[:6].hex(":") if reply else None,
            "reply_from": reply[22:28].hex(":") if reply else None, "fdb": json.loads(fdb),
            "operstate": oper}


@pytest.mark.parametrize("multi_queue", [False, True], ids=["single", "multi-queue"])
def test_qemu_can_open_the_tap_by_name(kvenv: KvEnv, multi_queue: bool) -> None:
    """Real frames: a guest's ARP request through the tap gets the bridge's reply back."""
    name = kvenv.start(nat())
    info = plug(kvenv, name, multi_queue=multi_queue)
    got = kvenv.host.call(_qemu_like_arp, info.tap, GUEST_MAC, "192.168.131.50",
                          "192.168.131.1", multi_queue)
    bridge_mac = link(kvenv, "virbr-p")["address"]
    assert got["reply_to"] == GUEST_MAC and got["reply_from"] == bridge_mac, got
    assert got["operstate"] == "UP"
    assert any(e["mac"] == GUEST_MAC for e in got["fdb"]), got["fdb"]


# -- isolation ----------------------------------------------------------------------------------------
def test_isolated_flag_from_network_and_port(kvenv: KvEnv) -> None:
    name = kvenv.start(nat(extra="  <port isolated='yes'/>\n"))
    iso = plug(kvenv, name)
    assert iso.isolated and brport(kvenv, iso.tap)["isolated"] is True
    assert "<port isolated='yes'/>" in call(kvenv, "port_xml", name, iso.uuid)
    own = plug(kvenv, name, mac="52:54:00:00:00:02", isolated=False)
    assert not own.isolated and brport(kvenv, own.tap)["isolated"] is False


def _client(kvenv: KvEnv, tag: str, host_end: str, ip: str) -> tuple[NetNS, str]:
    ns = kvenv._ns(tag)
    veth(kvenv.host, host_end, ns, "eth0", up=False)
    ns.ip("addr", "add", f"{ip}/24", "dev", "eth0")
    ns.ip("link", "set", "eth0", "up")
    mac: str = ns.ip_json("link", "show", "eth0")[0]["address"]
    return ns, mac


def _pings(ns: NetNS, ip: str) -> bool:
    return ns.run([BUSYBOX, "ping", "-c", "2", "-W", "1", ip], check=False).returncode == 0


def test_isolated_ports_cannot_talk_to_each_other(kvenv: KvEnv) -> None:
    """Veth ends attached exactly like taps: isolated <-> isolated is cut, the rest flows."""
    name = kvenv.start(nat())
    a, mac_a = _client(kvenv, "isoa", "vpa", "192.168.131.11")
    b, mac_b = _client(kvenv, "isob", "vpb", "192.168.131.12")
    _c, mac_c = _client(kvenv, "open", "vpc", "192.168.131.13")
    orig = link(kvenv, "vpa")["address"]
    pa = plug(kvenv, name, mac=mac_a, device="vpa", isolated=True)
    plug(kvenv, name, mac=mac_b, device="vpb", isolated=True)
    plug(kvenv, name, mac=mac_c, device="vpc")
    assert not pa.created and link(kvenv, "vpa")["master"] == "virbr-p"
    assert [brport(kvenv, p)["isolated"] for p in ("vpa", "vpb", "vpc")] == [True, True, False]

    assert _pings(a, "192.168.131.13") and _pings(b, "192.168.131.13")
    assert _pings(a, "192.168.131.1")  # the host (bridge) is reachable
    assert not _pings(a, "192.168.131.12") and not _pings(b, "192.168.131.11")

    call(kvenv, "unplug", pa.uuid)
    d = link(kvenv, "vpa")  # an adopted device stays, detached and as it was
    assert "master" not in d and d["address"] == orig
    assert not _pings(a, "192.168.131.13")


# -- bandwidth ------------------------------------------------------------------------------------------
INBOUND_PG = ("  <portgroup name='slow' default='yes'>\n    <bandwidth>\n"
              "      <inbound average='1000' peak='4000' burst='1024'/>\n"
              "    </bandwidth>\n  </portgroup>\n")


def test_inbound_limit_is_htb_on_the_tap(kvenv: KvEnv) -> None:
    name = kvenv.start(nat(extra=INBOUND_PG))
    info = plug(kvenv, name)
    qdiscs = json.loads(kvenv.host.run(["tc", "-j", "qdisc", "show", "dev", info.tap]).stdout)
    root = [q for q in qdiscs if q.get("root")]
    assert root and root[0]["kind"] == "htb" and root[0]["handle"] == "1:", qdiscs
    classes = kvenv.host.run(["tc", "-d", "class", "show", "dev", info.tap]).stdout
    # 1000 kB/s = 8 Mbit/s, peak 4000 kB/s = 32 Mbit/s, burst 1024 kB, libvirt's quantum
    assert "class htb 1:1 root" in classes and "rate 8Mbit ceil 32Mbit" in classes, classes
    assert "burst 1Mb" in classes and "quantum 85" in classes, classes
    has_sfq = any(q["kind"] == "sfq" and q["handle"] == "2:" for q in qdiscs)
    assert has_sfq != ("sfq" in info.skipped), (qdiscs, info.skipped)
    filters = kvenv.host.run(["tc", "filter", "show", "dev", info.tap, "parent", "1:"]).stdout
    assert ("fw" in filters) != ("fw" in info.skipped), (filters, info.skipped)
    assert "<inbound average='1000' peak='4000' burst='1024'/>" in call(
        kvenv, "port_xml", name, info.uuid)

    call(kvenv, "unplug", info.uuid)
    assert kvenv.host.run(["tc", "qdisc", "show", "dev", info.tap], check=False).returncode != 0
    assert_no_port_left(kvenv)


def test_outbound_limit_is_policed_or_clearly_refused(kvenv: KvEnv) -> None:
    name = kvenv.start(nat())
    bw = Bandwidth(outbound=Rate(average=128, burst=256))
    result = api(kvenv, ports.plug, name,
                 mac=GUEST_MAC, bandwidth=bw)
    if result[0] == "error":  # this kernel has no tc police action
        assert result[1] == "UnsupportedError" and "police" in result[2], result
        assert "outbound" in result[2]
        assert_no_port_left(kvenv)
        return
    info = result[1]
    qdiscs = kvenv.host.run(["tc", "qdisc", "show", "dev", info.tap]).stdout
    assert "ingress ffff:" in qdiscs, qdiscs
    filters = kvenv.host.run(["tc", "filter", "show", "dev", info.tap, "ingress"]).stdout
    assert "police" in filters and "rate 1024Kbit" in filters, filters


# -- VLANs, MAC table ------------------------------------------------------------------------------
def test_vlan_needs_bridge_vlan_filtering(kvenv: KvEnv) -> None:
    name = kvenv.start(nat())
    vlan = Vlan(tags=(VlanTag(10),))
    kind, message = plug_error(kvenv, name, vlan=vlan)
    assert kind == "OperationInvalidError" and "VLAN filtering off" in message, message
    assert_no_port_left(kvenv)

    result = api(kvenv, ports.plug, name,
                 mac=GUEST_MAC, vlan=vlan, vlan_filtering=True)
    if result[0] == "error":  # a kernel without CONFIG_BRIDGE_VLAN_FILTERING
        assert result[1] == "UnsupportedError" and "VLAN filtering" in result[2], result
        assert_no_port_left(kvenv)
        return
    info = result[1]
    shown = json.loads(kvenv.host.run(["bridge", "-j", "vlan", "show", "dev", info.tap]).stdout)
    vlans = shown[0]["vlans"]
    assert [v["vlan"] for v in vlans] == [10], vlans
    assert set(vlans[0].get("flags", [])) == {"PVID", "Egress Untagged"}, vlans


def test_mac_table_manager_libvirt(kvenv: KvEnv) -> None:
    name = kvenv.start(nat(bridge_extra=" macTableManager='libvirt'"))
    info = plug(kvenv, name)
    port = brport(kvenv, info.tap)
    assert port["learning"] is False and port["flood"] is False, port
    fdb = json.loads(kvenv.host.run(["bridge", "-j", "fdb", "show", "dev", info.tap]).stdout)
    assert any(e["mac"] == GUEST_MAC for e in fdb), fdb
    assert "macTableManager='libvirt'" in call(kvenv, "port_xml", name, info.uuid)


# -- host bridges ----------------------------------------------------------------------------------
def test_bridge_mode_network_and_plain_bridge(kvenv: KvEnv) -> None:
    kvenv.host.ip("link", "add", "br-lan", "type", "bridge")
    name = kvenv.start("<network>\n  <name>lan</name>\n  <forward mode='bridge'/>\n"
                       "  <bridge name='br-lan'/>\n</network>\n")
    info = plug(kvenv, name)
    assert info.plug_type == "bridge" and link(kvenv, info.tap)["master"] == "br-lan"
    assert "<plug type='bridge' bridge='br-lan'/>" in call(kvenv, "port_xml", name, info.uuid)

    direct = plug(kvenv, None, bridge="br-lan", mac="52:54:00:00:00:07", owner_uuid=OWNER)
    assert direct.network is None and link(kvenv, direct.tap)["master"] == "br-lan"
    assert [p.uuid for p in call(kvenv, "list_ports", None)] == [direct.uuid]
    assert f".bridge/{direct.uuid}.xml" in records(kvenv)

    kind, message = plug_error(kvenv, None, bridge="br-nope")
    assert kind == "NotFoundError" and "does not exist" in message
    kind, message = plug_error(kvenv, None, bridge="lo")
    assert kind == "InvalidArgError" and "not a Linux bridge" in message

    assert call(kvenv, "unplug_owner", OWNER) == [direct.uuid]
    assert direct.tap not in links(kvenv)


# -- unplugging -------------------------------------------------------------------------------------
def test_unplug_owner_many_and_network(kvenv: KvEnv) -> None:
    name = kvenv.start(nat())
    mine = [plug(kvenv, name, mac=f"52:54:00:00:01:0{i}", owner_uuid=OWNER) for i in range(3)]
    other = [plug(kvenv, name, mac=f"52:54:00:00:02:0{i}") for i in range(4)]
    assert sorted(call(kvenv, "unplug_owner", OWNER)) == sorted(p.uuid for p in mine)
    assert not {p.tap for p in mine} & links(kvenv)
    assert call(kvenv, "unplug_many", [other[0].uuid, other[1].uuid]) == []
    assert len(call(kvenv, "list_ports", name)) == 2

    # net-destroy takes the bridge away; the ports' cleanup removes the rest
    kvenv.ok("net-destroy", name)
    assert call(kvenv, "unplug_network", name) == []
    assert_no_port_left(kvenv)
    assert call(kvenv, "unplug_network", name) == []  # idempotent


def test_bad_input_leaves_nothing(kvenv: KvEnv) -> None:
    name = kvenv.start(nat())
    kvenv.define(nat(name="idle", bridge="virbr-i", subnet="192.168.132"))
    before = links(kvenv)
    for network, kwargs, kind, needle in [
        ("nope", {}, "NotFoundError", "no network"),
        ("idle", {}, "OperationInvalidError", "not active"),
        (name, {"mac": "52:54:00:00:00"}, "InvalidArgError", "invalid MAC"),
        (name, {"mac": "33:33:00:00:00:01"}, "InvalidArgError", "multicast"),
        (name, {"portgroup": "gold"}, "InvalidArgError", "no portgroup 'gold'"),
        (name, {"tap_name": "lo"}, "ConflictError", "already exists"),
    ]:
        got = plug_error(kvenv, network, **kwargs)
        assert got[0] == kind and needle in got[1], (network, kwargs, got)
    assert links(kvenv) == before
    assert records(kvenv) == []


# -- CLI -----------------------------------------------------------------------------------------------
PORT_XML = """<networkport>
  <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>
  <owner>
    <name>memtest</name>
    <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>
  </owner>
  <group>web1</group>
  <mac address='52:54:00:7b:35:93'/>
  <rxfilters trustGuest='yes'/>
</networkport>
"""
PORT_UUID = "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"


def test_net_port_cli(kvenv: KvEnv) -> None:
    name = kvenv.start(nat(extra="  <portgroup name='web1'/>\n"))
    path = kvenv.write_xml("port", PORT_XML)
    proc = kvenv.ok("net-port-create", name, str(path))
    assert proc.stdout == f"Network port {PORT_UUID} created\n\n", describe(proc)
    assert link(kvenv, "vnet0")["address"] == "fe:54:00:7b:35:93"

    proc = kvenv.ok("net-port-list", name)
    assert proc.stdout == (" UUID\n" + "-" * 39 + f"\n {PORT_UUID}\n\n"), describe(proc)
    assert kvenv.ok("net-port-list", name, "--uuid").stdout == f"{PORT_UUID}\n\n"
    rows = json.loads(kvenv.ok("net-port-list", name, "--json").stdout)
    assert [(r["uuid"], r["tap"], r["owner_name"], r["group"]) for r in rows] == [
        (PORT_UUID, "vnet0", "memtest", "web1")]

    xml = kvenv.ok("net-port-dumpxml", name, PORT_UUID).stdout
    assert xml == PORT_XML.replace(
        "</networkport>\n", "  <plug type='network' bridge='virbr-p'/>\n</networkport>\n\n")

    proc = kvenv.ok("net-port-delete", name, PORT_UUID)
    assert proc.stdout == f"Network port {PORT_UUID} deleted\n\n", describe(proc)
    assert kvenv.ok("net-port-list", name).stdout == " UUID\n" + "-" * 7 + "\n\n"
    assert_no_port_left(kvenv)


def test_net_port_cli_errors(kvenv: KvEnv) -> None:
    name = kvenv.start(nat(extra="  <portgroup name='web1'/>\n"))
    kvenv.define(nat(name="idle", bridge="virbr-i", subnet="192.168.132"))
    good = kvenv.write_xml("good", PORT_XML)
    kvenv.ok("net-port-create", name, str(good), "--tap", "guest0")
    before = (links(kvenv), records(kvenv))

    bad_mac = kvenv.write_xml("badmac", PORT_XML.replace("52:54:00:7b:35:93", "52:54:00:7b:35"))
    plugged = kvenv.write_xml("plugged", PORT_XML.replace(
        "</networkport>", "<plug type='network' bridge='virbr-p'/></networkport>"))
    other = kvenv.write_xml("other", PORT_XML.replace(PORT_UUID,
                                                      "6d744f21-ba4a-4d6e-bdb2-30a35ff3207d"))
    for args, needle in [
        (("net-port-create", "nope", str(good)), "network not found"),
        (("net-port-create", "idle", str(good)), "not active"),
        (("net-port-create", name, str(bad_mac)), "invalid MAC address"),
        (("net-port-create", name, str(plugged)), "remove <plug>"),
        (("net-port-create", name, str(good)), "already exists"),
        (("net-port-create", name, str(other), "--tap", "guest0"), "already exists"),
        (("net-port-create", name, str(kvenv.root / "missing.xml")), "no such file"),
        (("net-port-dumpxml", name, "6d744f21-ba4a-4d6e-bdb2-30a35ff3207d"), "port not found"),
        (("net-port-dumpxml", name, "not-a-uuid"), "not a port UUID"),
        (("net-port-delete", "idle", PORT_UUID), "port not found"),
        (("net-port-list", "nope"), "network not found"),
    ]:
        stderr = assert_one_error(kvenv.kv(*args))
        assert needle in stderr, (args, stderr)
    assert (links(kvenv), records(kvenv)) == before
    assert kvenv.ok("net-port-delete", name, PORT_UUID)
    assert "guest0" not in links(kvenv)
    assert_no_port_left(kvenv)


def test_unplug_after_the_tap_vanished(kvenv: KvEnv) -> None:
    """A port whose tap was deleted by hand is still unplugged cleanly (records go)."""
    name = kvenv.start(nat())
    info = plug(kvenv, name)
    kvenv.host.ip("link", "del", info.tap)
    call(kvenv, "unplug", info.uuid)
    assert_no_port_left(kvenv)


# -- network restarts (issue 11: better than libvirt) ----------------------------------------------
KEEP_NET = nat(name="kn", bridge_extra=" macTableManager='libvirt'",
               extra="  <port isolated='yes'/>\n" + INBOUND_PG.replace("slow", "web1"))


def _port_state(kvenv: KvEnv, tap: str) -> tuple[Any, ...]:
    """What a port has on its tap and its bridge port: master, isolated, learning, the
    guest's static FDB entry, the htb root qdisc."""
    d = link(kvenv, tap)
    master = d.get("master")
    port = brport(kvenv, tap) if master else {}
    fdb = json.loads(kvenv.host.run(["bridge", "-j", "fdb", "show", "dev", tap]).stdout)
    qdiscs = json.loads(kvenv.host.run(["tc", "-j", "qdisc", "show", "dev", tap]).stdout)
    return (master, port.get("isolated"), port.get("learning"),
            sorted(e["mac"] for e in fdb if e.get("state") != "permanent" and master),
            [q["kind"] for q in qdiscs if q.get("root")])


def test_net_restart_keeps_ports_with_their_settings(kvenv: KvEnv) -> None:
    """net-destroy takes the ports off the bridge but keeps taps and records; net-start plugs
    them back with isolation, static MAC table, VLAN and bandwidth; a veth client's pings to
    the gateway resume; net-dumpxml counts the plugged ports (connections='N')."""
    name = kvenv.start(KEEP_NET)
    kvenv.ok("net-port-create", name, str(kvenv.write_xml("port", PORT_XML)))
    ns, mac = _client(kvenv, "keep", "vpk", "192.168.131.21")
    veth_port = plug(kvenv, name, mac=mac, device="vpk", isolated=False, owner_uuid=OWNER)
    vlan = Vlan(tags=(VlanTag(10),))
    tagged = api(kvenv, ports.plug, name, mac="52:54:00:00:0a:0a", vlan=vlan,
                 vlan_filtering=True)
    has_vlans = tagged[0] == "ok"  # else a kernel without bridge VLAN filtering
    plugged = {"vnet0": (PORT_UUID, "52:54:00:7b:35:93")}
    if has_vlans:
        plugged[tagged[1].tap] = (tagged[1].uuid, "52:54:00:00:0a:0a")
    before = {tap: _port_state(kvenv, tap) for tap in plugged}
    assert before["vnet0"] == ("virbr-p", True, False, ["52:54:00:7b:35:93"], ["htb"]), before
    assert _pings(ns, "192.168.131.1")
    count = 2 + has_vlans
    files = records(kvenv)

    kvenv.ok("net-destroy", name)
    assert not kvenv.link_exists("virbr-p")
    for tap in [*plugged, "vpk"]:
        d = link(kvenv, tap)  # kept, off any bridge, and down: no frame reaches the host
        assert "master" not in d and "UP" not in d["flags"], d
    assert _port_state(kvenv, "vnet0")[4] == ["htb"]  # tc lives on the tap
    assert records(kvenv) == files
    kept = call(kvenv, "list_ports", name)
    assert len(kept) == count and all(p.kept for p in kept), kept
    assert "connections" not in kvenv.ok("net-dumpxml", name).stdout
    assert not _pings(ns, "192.168.131.1")

    kvenv.ok("net-start", name)
    after = {tap: _port_state(kvenv, tap) for tap in plugged}
    assert after == before
    assert link(kvenv, "vpk")["master"] == "virbr-p" and not brport(kvenv, "vpk")["isolated"]
    assert all("UP" in link(kvenv, tap)["flags"] for tap in [*plugged, "vpk"])
    if has_vlans:
        shown = json.loads(kvenv.host.run(["bridge", "-j", "vlan", "show", "dev",
                                           tagged[1].tap]).stdout)
        assert [v["vlan"] for v in shown[0]["vlans"]] == [10], shown
    assert _pings(ns, "192.168.131.1")  # traffic flows again through the new bridge
    assert not any(p.kept for p in call(kvenv, "list_ports", name))
    assert f"<network connections='{count}'>" in kvenv.ok("net-dumpxml", name).stdout

    # the ports still go the usual ways
    kvenv.ok("net-port-delete", name, PORT_UUID)
    assert call(kvenv, "unplug_owner", OWNER) == [veth_port.uuid]
    assert not kvenv.link_exists("vnet0") and "master" not in link(kvenv, "vpk")


def test_live_xml_counts_connections(kvenv: KvEnv) -> None:
    """libvirt's <network connections='N'> in the live XML, from the plugged ports; none in
    the inactive XML or without ports."""
    name = kvenv.start(nat())
    assert "connections" not in kvenv.ok("net-dumpxml", name).stdout
    first = plug(kvenv, name)
    plug(kvenv, name, mac="52:54:00:00:00:02")
    assert "<network connections='2'>\n" in kvenv.ok("net-dumpxml", name).stdout
    assert "connections" not in kvenv.ok("net-dumpxml", name, "--inactive").stdout
    call(kvenv, "unplug", first.uuid)
    assert "<network connections='1'>\n" in kvenv.ok("net-dumpxml", name).stdout
    kvenv.ok("net-destroy", name)  # the port is kept, but not connected to anything
    assert "connections" not in kvenv.ok("net-dumpxml", name).stdout


def test_kept_port_whose_tap_vanished_is_dropped_at_start(kvenv: KvEnv) -> None:
    name = kvenv.start(nat())
    gone = plug(kvenv, name, owner_name="vm-gone")
    stays = plug(kvenv, name, mac="52:54:00:00:00:02", owner_name="vm-stays")
    kvenv.ok("net-destroy", name)
    kvenv.host.ip("link", "del", gone.tap)  # its guest stopped behind kvmnet's back
    proc = kvenv.ok("net-start", name)
    assert f"dropped 1 stale guest port(s): {gone.uuid} (its tap {gone.tap} is gone)" \
        in proc.stderr, describe(proc)
    assert [p.uuid for p in call(kvenv, "list_ports", name)] == [stays.uuid]
    assert link(kvenv, stays.tap)["master"] == "virbr-p"

    # a plug that never finished (a crash before its XML was written) goes at start, tap too
    kvenv.ok("net-destroy", name)
    (kvenv.root / "run/kvmnet/ports" / name / f"{stays.uuid}.xml").unlink()
    proc = kvenv.ok("net-start", name)
    assert f"{stays.uuid} (its plug never finished)" in proc.stderr, describe(proc)
    assert_no_port_left(kvenv)


def test_keeping_converges_after_an_interrupted_restart(kvenv: KvEnv) -> None:
    """A net-destroy killed after its ports step, or a net-start killed while plugging ports
    back: the next net-destroy and net-start bring every port back on the bridge."""
    from kvmnet.port import keep as port_keep
    from kvmnet.port.plugs import tap_bridge as port_host

    name = kvenv.start(nat())
    a = plug(kvenv, name)
    b = plug(kvenv, name, mac="52:54:00:00:00:02")
    assert api(kvenv, port_keep.keep_network, name) == ("ok", None)  # then killed
    assert "master" not in link(kvenv, a.tap) and "master" not in link(kvenv, b.tap)
    kvenv.ok("net-destroy", name)
    kvenv.ok("net-start", name)
    assert [link(kvenv, p.tap)["master"] for p in (a, b)] == ["virbr-p", "virbr-p"]

    def half_replugged(conn: Any) -> None:  # b was put back, a not yet: then killed
        from kvmnet.host.netlink import Netlink

        directory = ports.port_dir(conn, name)
        rec = ports.load_record(directory, a.uuid)
        assert rec is not None
        rec["kept"] = True
        port_host.save(directory / f"{a.uuid}.json", rec)
        with Netlink() as nl:
            port_host.detach(nl, rec)

    kvenv.host.call(lambda: half_replugged(__import__("kvmnet").open(str(kvenv.root))))
    assert "master" not in link(kvenv, a.tap)
    kvenv.ok("net-destroy", name)
    kvenv.ok("net-start", name)
    assert [link(kvenv, p.tap)["master"] for p in (a, b)] == ["virbr-p", "virbr-p"]
    assert "<network connections='2'>" in kvenv.ok("net-dumpxml", name).stdout


def test_undefined_network_leaves_kept_ports_with_their_guests(kvenv: KvEnv) -> None:
    """net-undefine of a network holding kept ports says so; the ports go when their owner
    stops; a network of the same name plugs the others back in when it starts."""
    name = kvenv.start(nat())
    first = plug(kvenv, name, owner_name="guest1", owner_uuid=OWNER)
    kvenv.ok("net-port-create", name, str(kvenv.write_xml("port", PORT_XML.replace(
        "<group>web1</group>\n", "").replace(OWNER, "5d744f21-0000-4d6e-bdb2-30a35ff3207d"))))
    kvenv.ok("net-destroy", name)
    proc = kvenv.ok("net-undefine", name)
    assert (f"network '{name}' undefined; 2 guest port(s) ({first.tap} of guest1, vnet1 of "
            "memtest) stay with their guests until they stop") in proc.stderr, describe(proc)
    assert "Network pn has been undefined" in proc.stdout
    assert kvenv.link_exists(first.tap) and kvenv.link_exists("vnet1")

    assert call(kvenv, "unplug_owner", OWNER) == [first.uuid]  # its guest stops
    assert not kvenv.link_exists(first.tap)
    assert kvenv.ok("net-port-list", name, "--uuid").stdout == f"{PORT_UUID}\n\n"

    kvenv.start(nat())  # the same name again: the kept port is plugged back in
    assert link(kvenv, "vnet1")["master"] == "virbr-p"
    assert "<network connections='1'>" in kvenv.ok("net-dumpxml", name).stdout
    kvenv.ok("net-port-delete", name, PORT_UUID)
    assert_no_port_left(kvenv)


def test_transient_network_keeps_ports_until_created_again(kvenv: KvEnv) -> None:
    """A transient network is gone once destroyed: its ports are kept all the same (it says
    so), and net-create of the same name plugs them back in."""
    path = kvenv.write_xml("tn", nat(name="tn"))
    kvenv.ok("net-create", str(path))
    info = plug(kvenv, "tn", owner_name="vm1")
    proc = kvenv.ok("net-destroy", "tn")
    assert (f"network 'tn' destroyed; 1 guest port(s) ({info.tap} of vm1) stay with their "
            "guests until they stop") in proc.stderr, describe(proc)
    assert kvenv.kv("net-info", "tn").returncode == 1  # the network is gone, the port is not
    assert "master" not in link(kvenv, info.tap)
    kvenv.ok("net-create", str(path))
    assert link(kvenv, info.tap)["master"] == "virbr-p"
    assert [p.uuid for p in call(kvenv, "list_ports", "tn")] == [info.uuid]
