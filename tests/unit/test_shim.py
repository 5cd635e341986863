"""kvmnet's libvirt-python compatible module, without root: what needs no host change.

Definitions, lookups, lists, autostart, errors with libvirt's codes (the codes libvirt 9.0 gave
for the same mistakes in the libvirt lab, see tests/shim_clients/cm_driver.libvirt-9.0.json),
read-only connections, events, and the NO_SUPPORT answer for libvirt-python's other methods.
Starting networks is in tests/functional/test_shim_clients.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kvmnet.compat import module as libvirt
from kvmnet.compat import names
from kvmnet.compat.errors import libvirtError

REPO = Path(__file__).resolve().parents[2]
KVMNET = REPO / ".venv" / "bin" / "kvmnet"

NET = ("<network><name>{name}</name><forward mode='nat'/><bridge name='{bridge}'/>"
       "<ip address='192.168.{octet}.1' netmask='255.255.255.0'/></network>")


def net_xml(name: str = "n1", bridge: str = "virbr5", octet: int = 150) -> str:
    return NET.format(name=name, bridge=bridge, octet=octet)


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"kvmnet://{tmp_path}"


@pytest.fixture
def conn(uri: str) -> Any:
    c = libvirt.open(uri)
    yield c
    c.close()


def code_of(func: Any, *args: Any) -> int | None:
    with pytest.raises(libvirtError) as info:
        func(*args)
    assert info.value.get_error_message()
    return info.value.get_error_code()


# -- the module ---------------------------------------------------------------------------------
def test_import_libvirt_with_the_printed_folder_on_pythonpath(tmp_path: Path) -> None:
    folder = subprocess.run([str(KVMNET), "libvirt-shim"], capture_output=True, text=True,
                            check=True).stdout.strip()
    prog = ("import libvirt; c = libvirt.open('kvmnet://' + __import__('sys').argv[1]); "
            "print(libvirt.__file__.startswith(__import__('sys').argv[2]), c.listNetworks(), "
            "libvirt.VIR_ERR_NO_NETWORK, issubclass(libvirt.libvirtError, Exception))")
    env = {**os.environ, "PYTHONPATH": folder}
    out = subprocess.run([sys.executable, "-c", prog, str(tmp_path), folder], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "[]", "43", "True"]


@pytest.mark.parametrize("good", ["qemu:///system", "network:///system", "kvmnet:///", None, ""])
def test_system_uris_open_kvmnets_default_root(good: str | None, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVMNET_ROOT", str(tmp_path))
    c = libvirt.open(good)
    assert c.api.paths.root == tmp_path and c.isAlive() == 1
    assert c.getURI() == (good or c.api.getURI())


@pytest.mark.parametrize("bad", ["xen:///system", "qemu+ssh://host/system", "qemu:///session",
                                 "test:///default", "kvmnet://host/x"])
def test_other_uris_are_refused_as_libvirt_refuses_them(bad: str) -> None:
    assert code_of(libvirt.open, bad) == libvirt.VIR_ERR_NO_CONNECT


def test_versions(conn: Any) -> None:
    assert libvirt.getVersion() == conn.getLibVersion() == 9_000_000
    assert isinstance(conn.getVersion(), int) and conn.getVersion() > 0
    assert libvirt.virEventRegisterDefaultImpl() == 0 and libvirt.virInitialize() == 0


# -- networks --------------------------------------------------------------------------------------
def test_define_lookup_list_undefine(conn: Any) -> None:
    assert code_of(conn.networkLookupByName, "n1") == libvirt.VIR_ERR_NO_NETWORK
    net = conn.networkDefineXML(net_xml())
    assert isinstance(net, libvirt.virNetwork) and net.connect() is conn
    assert (net.isActive(), net.isPersistent(), net.autostart()) == (0, 1, 0)
    assert all(type(v) is int for v in (net.isActive(), net.isPersistent(), net.autostart()))
    raw = net.UUID()
    assert isinstance(raw, bytes) and len(raw) == 16 and raw.hex() == net.UUIDString().replace("-", "")
    assert conn.networkLookupByUUID(raw).name() == "n1"
    assert conn.networkLookupByUUIDString(net.UUIDString()) == net
    assert net.bridgeName() == "virbr5"
    assert (conn.listNetworks(), conn.listDefinedNetworks()) == ([], ["n1"])
    assert (conn.numOfNetworks(), conn.numOfDefinedNetworks()) == (0, 1)
    assert [n.name() for n in conn.listAllNetworks(libvirt.VIR_CONNECT_LIST_NETWORKS_INACTIVE)] == ["n1"]
    assert conn.listAllNetworks(libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE) == []
    assert net.setAutostart(1) == 0 and net.autostart() == 1
    assert net.undefine() == 0
    assert code_of(net.isActive) == libvirt.VIR_ERR_NO_NETWORK
    assert code_of(net.undefine) == libvirt.VIR_ERR_NO_NETWORK


def test_error_codes_are_libvirts_for_the_same_mistakes(conn: Any) -> None:
    net = conn.networkDefineXML(net_xml())
    assert code_of(conn.networkDefineXML, "<network><name>x</name>") == libvirt.VIR_ERR_XML_DETAIL
    assert code_of(conn.networkDefineXML, "<network/>") == libvirt.VIR_ERR_NO_NAME
    assert code_of(conn.networkDefineXML, "<network><name>m</name><forward mode='natt'/></network>") \
        == libvirt.VIR_ERR_CONFIG_UNSUPPORTED
    assert code_of(conn.networkDefineXML, net_xml().replace(
        "<name>n1</name>", "<name>n1</name><uuid>0f0e0d0c-0b0a-0908-0706-050403020100</uuid>")) \
        == libvirt.VIR_ERR_OPERATION_FAILED
    assert code_of(conn.networkDefineXML, net_xml("n2")) == libvirt.VIR_ERR_INTERNAL_ERROR  # bridge
    assert code_of(conn.networkCreateXML, net_xml()) == libvirt.VIR_ERR_OPERATION_FAILED
    assert code_of(net.destroy) == libvirt.VIR_ERR_OPERATION_INVALID
    host = "<host mac='52:54:00:00:00:10' ip='192.168.150.10'/>"
    assert code_of(net.update, 3, 4, -1, host, libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE) \
        == libvirt.VIR_ERR_OPERATION_INVALID
    assert code_of(net.update, 3, 99, -1, host, 0) == libvirt.VIR_ERR_OPERATION_UNSUPPORTED
    assert code_of(conn.listAllNetworks, 1 << 20) == libvirt.VIR_ERR_INVALID_ARG
    assert code_of(net.XMLDesc, 4) == libvirt.VIR_ERR_INVALID_ARG


def test_a_config_update_shows_in_the_inactive_xml(conn: Any) -> None:
    net = conn.networkDefineXML(net_xml().replace(
        "/></network>", "><dhcp><range start='192.168.150.2' end='192.168.150.9'/></dhcp></ip></network>"))
    host = "<host mac='52:54:00:00:00:10' name='web' ip='192.168.150.10'/>"
    assert net.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                      libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, host,
                      libvirt.VIR_NETWORK_UPDATE_AFFECT_CURRENT) == 0
    assert "name='web'" in net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
    assert code_of(net.update, libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                   libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, host, 0) \
        == libvirt.VIR_ERR_OPERATION_INVALID


def test_read_only_connections_refuse_changes(uri: str, conn: Any) -> None:
    conn.networkDefineXML(net_xml())
    ro = libvirt.openReadOnly(uri)
    net = ro.networkLookupByName("n1")
    assert net.isActive() == 0 and "<name>n1</name>" in net.XMLDesc(0)
    for call, args in ((ro.networkDefineXML, (net_xml("n3", "virbr7", 152),)),
                       (ro.networkCreateXML, (net_xml("n3", "virbr7", 152),)),
                       (net.create, ()), (net.destroy, ()), (net.undefine, ()),
                       (net.setAutostart, (1,)), (net.update, (3, 4, -1, "<host/>", 0))):
        assert code_of(call, *args) == libvirt.VIR_ERR_OPERATION_DENIED
    rw = libvirt.openAuth(uri, None, 0)
    assert code_of(libvirt.openAuth(uri, None, libvirt.VIR_CONNECT_RO).networkDefineXML,
                   net_xml("n4", "virbr8", 153)) == libvirt.VIR_ERR_OPERATION_DENIED
    assert rw.networkLookupByName("n1").setAutostart(1) == 0
    assert conn.networkLookupByName("n1").autostart() == 1


# -- errors -----------------------------------------------------------------------------------------
def test_libvirt_error_has_every_accessor_and_tells_the_handler(conn: Any) -> None:
    heard: list[tuple[Any, tuple[Any, ...]]] = []
    assert libvirt.registerErrorHandler(lambda ctx, err: heard.append((ctx, err)), "ctx") == 0
    try:
        with pytest.raises(libvirtError) as info:
            conn.networkLookupByName("nope")
    finally:
        libvirt.registerErrorHandler(None, None)
    e = info.value
    assert (e.get_error_code(), e.get_error_domain(), e.get_error_level()) == (
        libvirt.VIR_ERR_NO_NETWORK, libvirt.VIR_FROM_NETWORK, libvirt.VIR_ERR_ERROR)
    assert "nope" in (e.get_error_message() or "") and str(e) == e.get_error_message()
    assert e.get_str1() == "%s" and e.get_str2() == e.get_error_message() and e.get_str3() is None
    assert (e.get_int1(), e.get_int2()) == (-1, -1)
    assert heard == [("ctx", e.err)]
    assert libvirt.virGetLastError() == e.err and libvirt.virGetLastErrorCode() == 43
    assert libvirt.virGetLastErrorDomain() == 19 and "nope" in libvirt.virGetLastErrorMessage()
    libvirt.virResetLastError()
    assert libvirt.virGetLastError() is None
    own = libvirtError("raised by a client")  # libvirt-python's constructor: no error record
    assert str(own) == "raised by a client" and own.get_error_code() is None


# -- events ------------------------------------------------------------------------------------------
def test_lifecycle_events_of_this_connection_reach_the_callbacks(conn: Any, uri: str) -> None:
    seen: list[tuple[str, int, int, Any]] = []
    mine: list[str] = []
    cb_all = conn.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,
                                          lambda c, n, ev, d, o: seen.append((n.name(), ev, d, o)),
                                          "opaque")
    net = conn.networkDefineXML(net_xml())
    conn.networkEventRegisterAny(net, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,
                                 lambda c, n, ev, d, o: mine.append(n.name()), None)
    conn.networkDefineXML(net_xml("other", "virbr9", 160))
    other = libvirt.open(uri)  # another connection's changes go to its own callbacks
    other.networkLookupByName("other").undefine()
    net.undefine()
    assert libvirt.virEventRunDefaultImpl() == 0
    assert seen == [("n1", libvirt.VIR_NETWORK_EVENT_DEFINED, 0, "opaque"),
                    ("other", libvirt.VIR_NETWORK_EVENT_DEFINED, 0, "opaque"),
                    ("n1", libvirt.VIR_NETWORK_EVENT_UNDEFINED, 0, "opaque")]
    assert mine == ["n1", "n1"]  # only n1's: its definition (queued before) and undefinition
    assert conn.networkEventDeregisterAny(cb_all) == 0
    assert code_of(conn.networkEventDeregisterAny, cb_all) == libvirt.VIR_ERR_INVALID_ARG
    assert code_of(conn.networkEventRegisterAny, None, 7, print, None) == libvirt.VIR_ERR_INVALID_ARG


# -- what kvmnet does not do: NO_SUPPORT, never AttributeError -----------------------------------
@pytest.mark.parametrize(("cls", "methods"), [
    (libvirt.virConnect, names.CONNECT), (libvirt.virNetwork, names.NETWORK),
    (libvirt.virNetworkPort, names.NETWORK_PORT), (libvirt.virInterface, names.INTERFACE),
    (libvirt.virDomain, names.DOMAIN)])
def test_every_libvirt_python_method_name_answers(conn: Any, cls: type, methods: frozenset[str]) -> None:
    obj = {libvirt.virConnect: lambda: conn,
           libvirt.virNetwork: lambda: conn.networkDefineXML(net_xml()),
           libvirt.virNetworkPort: lambda: libvirt.virNetworkPort(
               conn.networkDefineXML(net_xml()), "0f0e0d0c-0b0a-0908-0706-050403020100"),
           libvirt.virInterface: lambda: libvirt.virInterface(conn, "lo"),
           libvirt.virDomain: lambda: libvirt.virDomain(conn, None)}[cls]()
    implemented = {m for m in methods if m in vars(cls) or any(m in vars(b) for b in cls.__mro__[1:-1])}
    for name in sorted(methods - implemented):
        with pytest.raises(libvirtError) as info:
            getattr(obj, name)()
        assert info.value.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT, name
        assert name[:1].upper() + name[1:] in str(info.value)
    with pytest.raises(AttributeError):
        obj.noSuchLibvirtMethod  # noqa: B018 - the lookup is the test


def test_node_devices_go_to_kvmnets_nodedev_calls_or_answer_no_support(conn: Any) -> None:
    if hasattr(conn.api, "listAllDevices"):  # a build with kvmnet's node-device calls
        devices = conn.listAllDevices(0)
        assert devices and all(isinstance(d, libvirt.virNodeDevice) for d in devices)
        assert all(d.name() and d.XMLDesc(0).startswith("<device") for d in devices)
        return
    assert code_of(conn.listAllDevices, 0) == libvirt.VIR_ERR_NO_SUPPORT
    assert code_of(conn.nodeDeviceLookupByName, "net_lo_00_00_00_00_00_00") == libvirt.VIR_ERR_NO_SUPPORT
    assert code_of(conn.nodeDeviceCreateXML, "<device/>", 0) == libvirt.VIR_ERR_NO_SUPPORT


def test_module_functions_kvmnet_lacks_answer_no_support() -> None:
    assert code_of(libvirt.virEventAddTimeout, 1, print, None) == libvirt.VIR_ERR_NO_SUPPORT
    with pytest.raises(AttributeError):
        libvirt.noSuchFunction  # noqa: B018


# -- the domain subset (kvmnet's QEMU runner; starting guests is in its functional tests) -------
def test_domains_define_lookup_xml_list_undefine(conn: Any, tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"")
    uuid = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
    dom = conn.defineXML(f"""<domain type='qemu'><name>g1</name><uuid>{uuid}</uuid>
      <memory unit='MiB'>64</memory><os><type>hvm</type><kernel>{kernel}</kernel></os>
      <devices><interface type='network'><source network='default'/></interface></devices>
      </domain>""")
    assert isinstance(dom, libvirt.virDomain) and dom.name() == "g1"
    assert (dom.isActive(), dom.isPersistent()) == (0, 1)
    assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, 1]
    assert conn.lookupByUUIDString(uuid).name() == conn.lookupByUUID(dom.UUID()).name() == "g1"
    assert "<name>g1</name>" in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert [d.name() for d in conn.listAllDomains(0)] == ["g1"]
    assert (conn.listDefinedDomains(), conn.listDomainsID(), conn.numOfDomains()) == (["g1"], [], 0)
    assert code_of(dom.interfaceAddresses, 0) == libvirt.VIR_ERR_OPERATION_INVALID  # not running
    assert code_of(dom.suspend) == libvirt.VIR_ERR_NO_SUPPORT
    assert dom.undefine() == 0
    assert code_of(conn.lookupByName, "g1") == libvirt.VIR_ERR_NO_DOMAIN
