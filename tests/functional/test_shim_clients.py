"""Unmodified libvirt-python programs against kvmnet, in namespaces (root).

Each driver in tests/shim_clients/ uses nothing but ``import libvirt``; here it runs in a
subprocess inside the test's host namespace with only ``PYTHONPATH=$(kvmnet libvirt-shim)``
(and the test's ``KVMNET_ROOT``) set.  The configuration-management driver's results must be
the ones libvirt 9.0 gave for the same steps in the libvirt lab
(``cm_driver.libvirt-9.0.json``, recorded by ``tests/lab/shim_compare.sh``, which also runs the
driver against both side by side); the inventory drivers' results are checked against what
the namespace holds (a real DHCP lease from busybox udhcpc, the links ``ip`` shows).
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from tests.functional.kvmnet_env import (
    IP,
    KVMNET,
    PYTHON,
    REPO,
    KvEnv,
    kvenv,
    requires_kvmnet_root,
    simple_network,
)

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]  # the fixture, imported for pytest

CLIENTS = REPO / "tests" / "shim_clients"
LEASE_KEYS = {"iface", "expirytime", "type", "mac", "iaid", "ipaddr", "prefix", "hostname",
              "clientid"}


def run_client(kvenv: KvEnv, script: str, *args: str) -> Any:
    """Run a driver as a libvirt-python program would run: only PYTHONPATH points at kvmnet."""
    shim = subprocess.run([KVMNET, "libvirt-shim"], capture_output=True, text=True,
                          check=True).stdout.strip()
    env = {**os.environ, "PYTHONPATH": shim, "KVMNET_ROOT": str(kvenv.root)}
    proc = subprocess.run([IP, "netns", "exec", kvenv.host.name, PYTHON, str(CLIENTS / script),
                           *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert proc.returncode == 0, f"{script}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


def test_configuration_management_client_gets_libvirts_results(kvenv: KvEnv) -> None:
    expected = json.loads((CLIENTS / "cm_driver.libvirt-9.0.json").read_text())
    got = run_client(kvenv, "cm_driver.py", "network:///system", "cmnet", "151", "virbr51")
    assert [step for step, _ in got] == [step for step, _ in expected]
    different = [(step, mine, libvirts) for (step, mine), (_, libvirts) in zip(got, expected)
                 if mine != libvirts]
    assert not different, "\n".join(f"{s}: kvmnet {m!r}, libvirt {lv!r}" for s, m, lv in different)
    # and the host holds nothing of it any more (the driver stopped and undefined everything)
    assert not kvenv.link_exists("virbr51") and kvenv.dnsmasq_processes() == {}


def test_inventory_client_reads_a_real_lease(kvenv: KvEnv) -> None:
    name = kvenv.start(simple_network("leasenet", "virbr61", "192.168.161", "nat"))
    client = kvenv.client("virbr61", mac="52:54:00:61:00:01")
    lease = kvenv.dhcp(client, hostname="guest61")
    kvenv.wait_lease(name, client.mac)
    before = int(time.time())

    out = run_client(kvenv, "netinfo.py", "network:///system", name)
    [net] = out["networks"]
    assert net["name"] == name and net["bridge"] == "virbr61" and net["uuid_bytes"] == 16
    assert [net["active"], net["persistent"], net["autostart"]] == [1, 1, 0]
    assert out["counts"] == [1, 0]
    [got] = out["leases"]
    assert set(got) == LEASE_KEYS
    values = {k: v for k, (v, _type) in got.items()}
    types = {k: t for k, (_v, t) in got.items()}
    assert values["ipaddr"] == lease.ip and values["prefix"] == lease.prefixlen == 24
    assert values["mac"] == client.mac and values["hostname"] == "guest61"
    assert values["iface"] == "virbr61" and values["type"] == 0  # VIR_IP_ADDR_TYPE_IPV4
    assert values["expirytime"] > before and values["iaid"] is None
    assert types["expirytime"] == types["type"] == types["prefix"] == "int"
    assert types["ipaddr"] == types["mac"] == types["iface"] == "str"

    assert run_client(kvenv, "netinfo.py", "network:///system", name,
                      "52:54:00:61:00:99")["leases"] == []
    assert len(run_client(kvenv, "netinfo.py", "network:///system", name,
                          client.mac.upper())["leases"]) == 1


def test_interface_client_sees_the_namespaces_links(kvenv: KvEnv) -> None:
    kvenv.host.ip("link", "add", "shimup", "type", "veth", "peer", "name", "shimdown")
    kvenv.host.ip("link", "set", "shimup", "up")
    links = {ln["ifname"]: ln for ln in kvenv.host.ip_json("link", "show")}

    out = run_client(kvenv, "ifaces.py", "network:///system")
    rows = {r["name"]: r for r in out["interfaces"]}
    assert set(rows) == set(links)
    for ifname, row in rows.items():
        assert row["mac"] == links[ifname]["address"]
        assert row["active"] == int("UP" in links[ifname]["flags"])
        assert (row["xml_root"], row["xml_name"], row["by_name"]) == ("interface", ifname, ifname)
    assert rows["shimup"]["by_mac"] == "shimup" and rows["shimdown"]["by_mac"] == "shimdown"
    assert "shimup" in out["active"] and "shimdown" in out["inactive"]
    assert out["counts"] == [len(out["active"]), len(out["inactive"])]
    assert out["missing"] == 57  # VIR_ERR_NO_INTERFACE



PORT_XML = """<networkport>
  <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>
  <owner><name>guest71</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner>
  <mac address='52:54:00:71:00:01'/>
</networkport>
"""


def test_port_client_creates_lists_and_deletes_a_port(kvenv: KvEnv) -> None:
    name = kvenv.start(simple_network("portnet", "virbr71", "192.168.171", "nat"))
    path = kvenv.write_xml("port", PORT_XML)
    before = {ln["ifname"] for ln in kvenv.host.ip_json("link", "show")}

    out = run_client(kvenv, "ports.py", "network:///system", name, str(path))
    uuid = "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"
    assert (out["uuid"], out["uuid_bytes"], out["network"], out["listed"]) == (uuid, 16, name, [uuid])
    assert out["xml"] == {"root": "networkport", "owner": "guest71", "mac": "52:54:00:71:00:01",
                          "plug": "network"}
    assert out["by_bytes"] == uuid
    assert out["set_parameters"] == 3  # VIR_ERR_NO_SUPPORT: bandwidth is set at creation only
    assert (out["delete"], out["listed_after"], out["lookup_after"]) == (0, [], 107)  # NO_NETWORK_PORT
    # kvmnet's port is plugged (libvirt's is only a reservation): its tap went with it
    assert {ln["ifname"] for ln in kvenv.host.ip_json("link", "show")} == before
