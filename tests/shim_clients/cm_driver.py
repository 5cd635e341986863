"""A configuration-management style client of libvirt-python's network API (test driver).

Written the way a configuration-management module drives libvirt (look up, then define only
when absent; start; autostart; add a DHCP host live and to the config; read leases; stop;
undefine), with the "not found", "already exists" and refused paths on the way.  It uses
nothing but ``import libvirt``, so the same file runs against libvirt itself (the real
libvirt-python and a libvirt daemon) and against kvmnet (``kvmnet libvirt-shim`` on
``PYTHONPATH``); it prints one JSON document of ``[step, result]`` pairs, free of anything
that differs between runs (UUIDs, MACs), so that the two outputs can be compared.

usage: cm_driver.py URI NAME OCTET BRIDGE   (network NAME on 192.168.OCTET.0/24, bridge BRIDGE)
"""
from __future__ import annotations

import json
import sys
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

import libvirt  # type: ignore[import-not-found, unused-ignore]

CODES = {getattr(libvirt, n): n for n in dir(libvirt)
         if n.startswith("VIR_ERR_") and n not in ("VIR_ERR_NONE", "VIR_ERR_WARNING",
                                                    "VIR_ERR_ERROR")}
LIFECYCLE = {0: "defined", 1: "undefined", 2: "started", 3: "stopped"}


def network_xml(name: str, octet: int, bridge: str, uuid: str | None = None) -> str:
    head = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (f"<network><name>{name}</name>{head}<forward mode='nat'/>"
            f"<bridge name='{bridge}'/>"
            f"<ip address='192.168.{octet}.1' netmask='255.255.255.0'><dhcp>"
            f"<range start='192.168.{octet}.100' end='192.168.{octet}.200'/></dhcp></ip>"
            "</network>")


class Run:
    def __init__(self) -> None:
        self.steps: list[list[Any]] = []

    def step(self, label: str, func: Any) -> Any:
        try:
            result = func()
        except libvirt.libvirtError as exc:
            self.steps.append([label, {"error": CODES.get(exc.get_error_code(), "?"),
                                       "level": exc.get_error_level(),
                                       "has_message": bool(exc.get_error_message())}])
            return None
        self.steps.append([label, result])
        return result


def find(conn: Any, name: str) -> Any:
    """The configuration-management lookup: the network, or None when libvirt says not found."""
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            return None
        raise


def hosts(xml: str) -> list[dict[str, str]]:
    return [dict(h.attrib) for h in ET.fromstring(xml).iter("host")]


def nat_ports(xml: str) -> list[dict[str, str]]:
    return [dict(p.attrib) for p in ET.fromstring(xml).findall("./forward/nat/port")]


def main(uri: str, name: str, octet: int, bridge: str) -> list[list[Any]]:
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.open(uri)
    events: list[list[Any]] = []
    conn.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,
                                 lambda _c, net, ev, detail, _o: events.append(
                                     [net.name(), LIFECYCLE.get(ev, ev), detail]), None)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True).start()

    r = Run()
    xml = network_xml(name, octet, bridge)
    host = f"<host mac='52:54:00:aa:00:10' name='web' ip='192.168.{octet}.10'/>"
    host2 = f"<host mac='52:54:00:aa:00:10' name='web' ip='192.168.{octet}.11'/>"
    missing = f"<host mac='52:54:00:aa:00:99' ip='192.168.{octet}.99'/>"
    add, modify, delete = (libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                           libvirt.VIR_NETWORK_UPDATE_COMMAND_MODIFY,
                           libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE)
    dhcp_host = libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST
    live_config = libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG

    # -- present: define when absent ------------------------------------------------------
    r.step("lookup absent", lambda: find(conn, name) is None)
    r.step("lookup absent raw", lambda: conn.networkLookupByName(name).name())
    r.step("define", lambda: conn.networkDefineXML(xml).name())
    net = find(conn, name)
    r.step("lookup present", lambda: net is not None)
    r.step("define again, same uuid", lambda: conn.networkDefineXML(
        network_xml(name, octet, bridge, net.UUIDString())).name())
    r.step("define same name, other uuid", lambda: conn.networkDefineXML(
        network_xml(name, octet, bridge, "0f0e0d0c-0b0a-0908-0706-050403020100")).name())
    r.step("state inactive", lambda: [net.isActive(), net.isPersistent(), net.autostart()])
    r.step("int types", lambda: [type(v).__name__ for v in
                                 (net.isActive(), net.isPersistent(), net.autostart())])
    r.step("by uuid string", lambda: conn.networkLookupByUUIDString(net.UUIDString()).name())
    r.step("by uuid bytes", lambda: conn.networkLookupByUUID(net.UUID()).name())
    r.step("uuid bytes", lambda: [type(net.UUID()).__name__, len(net.UUID())])
    r.step("bridge name", lambda: net.bridgeName())
    r.step("live update inactive", lambda: net.update(add, dhcp_host, -1, host,
                                                      libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE))
    r.step("destroy inactive", lambda: net.destroy())
    r.step("in defined list", lambda: name in conn.listDefinedNetworks())
    # -- autostart and start ----------------------------------------------------------------
    r.step("set autostart", lambda: net.setAutostart(1))
    r.step("autostart", lambda: net.autostart())
    r.step("start", lambda: net.create())
    r.step("start again", lambda: net.create())
    r.step("state active", lambda: [net.isActive(), net.isPersistent(), net.autostart()])
    r.step("in active list", lambda: [name in conn.listNetworks(),
                                      name in conn.listDefinedNetworks()])
    r.step("list all active persistent", lambda: name in [n.name() for n in conn.listAllNetworks(
        libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE | libvirt.VIR_CONNECT_LIST_NETWORKS_PERSISTENT)])
    r.step("list all inactive", lambda: name in [n.name() for n in conn.listAllNetworks(
        libvirt.VIR_CONNECT_LIST_NETWORKS_INACTIVE)])
    r.step("live nat ports", lambda: nat_ports(net.XMLDesc(0)))
    r.step("config nat ports", lambda: nat_ports(net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)))
    # -- a DHCP host, live and in the config ----------------------------------------------------
    r.step("add host", lambda: net.update(add, dhcp_host, -1, host, live_config))
    r.step("hosts live", lambda: hosts(net.XMLDesc(0)))
    r.step("hosts config", lambda: hosts(net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)))
    r.step("add host again", lambda: net.update(add, dhcp_host, -1, host, live_config))
    r.step("modify host (current)", lambda: net.update(
        modify, dhcp_host, -1, host2, libvirt.VIR_NETWORK_UPDATE_AFFECT_CURRENT))
    r.step("hosts live after modify", lambda: hosts(net.XMLDesc(0)))
    r.step("delete missing host", lambda: net.update(delete, dhcp_host, -1, missing, live_config))
    r.step("unknown section", lambda: net.update(add, 99, -1, host, live_config))
    r.step("leases", lambda: net.DHCPLeases())
    r.step("leases of a mac", lambda: net.DHCPLeases("52:54:00:aa:00:10"))
    # -- mistakes -----------------------------------------------------------------------------
    r.step("malformed xml", lambda: conn.networkDefineXML("<network><name>x</name>"))
    r.step("missing name", lambda: conn.networkDefineXML("<network><bridge name='vb9'/></network>"))
    r.step("unknown forward mode", lambda: conn.networkDefineXML(
        "<network><name>fm</name><forward mode='natt'/></network>"))
    r.step("subnet in use", lambda: conn.networkCreateXML(
        network_xml(name + "-b", octet, bridge + "b")).name())
    r.step("create existing name", lambda: conn.networkCreateXML(xml).name())
    ro = libvirt.openReadOnly(uri)
    r.step("read-only define", lambda: ro.networkDefineXML(network_xml(name + "-c", 250, "vbc")))
    r.step("read-only lookup", lambda: ro.networkLookupByName(name).isActive())
    ro.close()
    # -- absent: stop and undefine -------------------------------------------------------------
    r.step("destroy", lambda: net.destroy())
    r.step("destroy again", lambda: net.destroy())
    r.step("state stopped", lambda: [net.isActive(), net.isPersistent()])
    r.step("hosts kept in config", lambda: hosts(net.XMLDesc(0)))
    r.step("undefine", lambda: net.undefine())
    r.step("lookup after undefine", lambda: find(conn, name) is None)
    r.step("handle after undefine", lambda: net.isActive())
    r.step("undefine again", lambda: net.undefine())
    # -- transient ----------------------------------------------------------------------------
    t = r.step("create transient", lambda: conn.networkCreateXML(xml) and None)
    tnet = find(conn, name)
    r.step("transient state", lambda: [tnet.isActive(), tnet.isPersistent()])
    r.step("transient autostart", lambda: tnet.setAutostart(1))
    r.step("transient destroy", lambda: tnet.destroy())
    r.step("transient gone", lambda: find(conn, name) is None)
    del t

    # events come from the event loop (libvirt: from the daemon): wait for the 7 the steps
    # cause, then a moment for any the steps should not have caused
    deadline = time.monotonic() + 10
    while len(events) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    stop.set()
    r.steps.append(["events", events])
    conn.close()
    return r.steps


if __name__ == "__main__":
    uri, name, octet, bridge = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    json.dump(main(uri, name, octet, bridge), sys.stdout, indent=1)
    print()
