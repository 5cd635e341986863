"""Start, destroy, crash recovery, live updates, autostart and refused starts, on a real host.

"Clean" always means what a user would check by hand: no bridge link, nothing of the network in
``nft list table inet kvmnet``, no dnsmasq (the PID from NAME.pid is gone), no run-time files.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.functional.kvmnet_env import (
    BUSYBOX,
    IP,
    PATH_WITHOUT_SBIN,
    KvEnv,
    assert_one_error,
    describe,
    example,
    kvenv,
    lease_rows,
    requires_kvmnet_root,
    simple_network,
)

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

KILLED = (-9, 137)  # SIGKILL, directly or through a shell


def _assert_running(kvenv: KvEnv, name: str, bridge: str) -> int:
    """The network is up as a user sees it; returns its dnsmasq PID."""
    info = kvenv.info(name)
    assert info.get("Active") == "yes" and info.get("Bridge") == bridge, info
    assert kvenv.link_exists(bridge)
    table = kvenv.nft_table()
    assert table is not None and f'"{bridge}"' in table, table
    pid = kvenv.dnsmasq_pid(name)
    assert pid is not None and kvenv.dnsmasq_of(name) == [pid], (pid, kvenv.dnsmasq_processes())
    assert (kvenv.run_dir / f"{name}.json").exists()
    assert (kvenv.run_dir / f"{name}.xml").exists()
    return pid


# -- start / destroy ------------------------------------------------------------------------------
def test_destroy_leaves_nothing(kvenv: KvEnv) -> None:
    name = kvenv.start(example("default"))
    pid = _assert_running(kvenv, name, "virbr0")
    assert (kvenv.dnsmasq_dir / f"{name}.conf").exists()

    proc = kvenv.ok("net-destroy", name)
    assert f"Network {name} destroyed" in proc.stdout, describe(proc)
    kvenv.assert_clean(name, "virbr0", pid)
    info = kvenv.info(name)
    assert info.get("Active") == "no", info
    # and it starts again from the clean state
    kvenv.ok("net-start", name)
    _assert_running(kvenv, name, "virbr0")
    kvenv.ok("net-destroy", name)
    kvenv.assert_clean(name, "virbr0")


def test_cold_start_and_destroy_leave_typing_unimported(kvenv: KvEnv) -> None:
    # importing typing is ~4.5 ms of each cold net-start and net-destroy (kvmnet.tuples)
    name = kvenv.define(example("default"))
    code = ("import sys; sys.argv = ['kvmnet', '-q', *sys.argv[1:]]; "
            "from kvmnet.cli.entry import main; rc = main(); print(rc, 'typing' in sys.modules)")
    env = dict(os.environ, KVMNET_ROOT=str(kvenv.root))
    for verb in ("net-start", "net-destroy"):
        proc = subprocess.run([IP, "netns", "exec", kvenv.host.name, sys.executable, "-c", code,
                               verb, name], env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert proc.stdout.split() == ["0", "False"], describe(proc)
    kvenv.assert_clean(name, "virbr0")


def test_destroy_one_network_keeps_the_other(kvenv: KvEnv) -> None:
    kvenv.start(example("default"))
    kvenv.start(example("nat_net"))
    pid = kvenv.dnsmasq_pid("default")
    kvenv.ok("net-destroy", "default")
    kvenv.assert_clean("default", "virbr0", pid)
    _assert_running(kvenv, "nat_net", "virbr1")


def test_start_of_an_active_network_fails(kvenv: KvEnv) -> None:
    name = kvenv.start(example("default"))
    pid = kvenv.dnsmasq_pid(name)
    proc = kvenv.kv("net-start", name)
    assert_one_error(proc)
    assert _assert_running(kvenv, name, "virbr0") == pid  # untouched


def test_destroy_of_an_inactive_network_fails(kvenv: KvEnv) -> None:
    name = kvenv.define(example("default"))
    assert_one_error(kvenv.kv("net-destroy", name))


def test_transient_network_vanishes_after_destroy(kvenv: KvEnv) -> None:
    path = kvenv.write_xml("nat_net", example("nat_net"))
    proc = kvenv.ok("net-create", str(path))
    assert "nat_net" in proc.stdout, describe(proc)
    listing = kvenv.ok("net-list", "--all").stdout
    row = next((ln.split() for ln in listing.splitlines() if ln.split()[:1] == ["nat_net"]), None)
    assert row is not None and row[1] == "active" and row[-1] == "no", listing
    pid = _assert_running(kvenv, "nat_net", "virbr1")

    kvenv.ok("net-destroy", "nat_net")
    kvenv.assert_clean("nat_net", "virbr1", pid)
    assert "nat_net" not in kvenv.ok("net-list", "--all").stdout
    assert_one_error(kvenv.kv("net-info", "nat_net"))


def test_undefine_of_an_active_network_keeps_it_running_as_transient(kvenv: KvEnv) -> None:
    name = kvenv.start(example("default"))
    kvenv.ok("net-undefine", name)
    assert kvenv.info(name).get("Persistent") == "no"
    pid = _assert_running(kvenv, name, "virbr0")
    kvenv.ok("net-destroy", name)
    kvenv.assert_clean(name, "virbr0", pid)
    assert name not in kvenv.ok("net-list", "--all", "--name").stdout.split()


# -- crash recovery ------------------------------------------------------------------------------
@pytest.mark.parametrize("then", ["destroy", "restart"])
@pytest.mark.parametrize("kind", ["link", "nft", "files", "dnsmasq"])
def test_killed_start_converges(kvenv: KvEnv, kind: str, then: str) -> None:
    name = kvenv.define(example("default"))
    proc = kvenv.kv("net-start", name, env={"KVMNET_FAULT_KILL_AFTER": kind})
    assert proc.returncode in KILLED, describe(proc)
    # the step was taken before the kill (every kind comes after the bridge was created)
    assert kvenv.link_exists("virbr0"), kvenv.debug_state()
    if kind in ("nft", "files", "dnsmasq"):
        table = kvenv.nft_table()
        assert table is not None and '"virbr0"' in table, table
    if kind == "dnsmasq":
        assert kvenv.dnsmasq_of(name), kvenv.dnsmasq_processes()
    crashed_pids = kvenv.dnsmasq_of(name)
    assert kvenv.info(name).get("Active") == "no"

    if then == "restart":
        kvenv.ok("net-start", name)
        pid = _assert_running(kvenv, name, "virbr0")
        assert all(p not in kvenv.dnsmasq_of(name) for p in crashed_pids if p != pid)
        if kind in ("files", "dnsmasq"):  # left-over dnsmasq files or process must not hinder
            cli = kvenv.client("virbr0")
            assert kvenv.dhcp(cli).ip.startswith("192.168.122.")
        crashed_pids.append(pid)
    kvenv.ok("net-destroy", name)
    for pid in crashed_pids:
        kvenv.assert_clean(name, "virbr0", pid)
    kvenv.assert_clean(name, "virbr0")
    assert kvenv.info(name).get("Active") == "no"


# -- live update ---------------------------------------------------------------------------------
def test_live_dhcp_host_update_serves_new_clients(kvenv: KvEnv) -> None:
    name = kvenv.start(example("default"))
    mac = "52:54:00:aa:bb:02"
    old = kvenv.client("virbr0", tag="old")
    new = kvenv.client("virbr0", mac=mac, tag="new")  # plugged in now, asks only later
    old_lease = kvenv.dhcp(old)
    kvenv.wait_lease(name, old.mac)

    proc = kvenv.ok("net-update", name, "add", "ip-dhcp-host",
                    f"<host mac='{mac}' name='newvm' ip='192.168.122.77'/>", "--live")
    lease = kvenv.dhcp(new)
    assert lease.ip == "192.168.122.77", f"{lease.raw}\n{describe(proc)}"

    text = kvenv.wait_lease(name, mac)
    rows = lease_rows(text)
    assert any(old.mac in r and f"{old_lease.ip}/24" in r for r in rows), text
    assert any(mac in r and "192.168.122.77/24" in r for r in rows), text
    assert len(kvenv.dnsmasq_of(name)) == 1, kvenv.dnsmasq_processes()
    # live only: the persistent definition does not have it, the live one does
    assert "192.168.122.77" in kvenv.ok("net-dumpxml", name).stdout
    assert "192.168.122.77" not in kvenv.ok("net-dumpxml", name, "--inactive").stdout

    # DNS records added live are served at once (asked from the old client)
    kvenv.ok("net-update", name, "add", "dns-host",
             "<host ip='192.168.122.60'><hostname>added</hostname></host>", "--live")
    kvenv.ok("net-update", name, "add", "dns-txt",
             "<txt name='note' value='kvmnet-live-txt'/>", "--live")
    kvenv.ok("net-update", name, "add", "dns-srv",
             "<srv service='ldap' protocol='tcp' domain='example.test' target='dir.example.test'"
             " port='389' priority='10' weight='20'/>", "--live")
    for args, needle in ((["-type=a", "added"], "192.168.122.60"),
                         (["-type=txt", "note"], "kvmnet-live-txt"),
                         (["-type=srv", "_ldap._tcp.example.test"], "dir.example.test")):
        out = old.ns.run([BUSYBOX, "nslookup", *args, "192.168.122.1"], check=False, timeout=20)
        assert needle in out.stdout, f"{args}: {out.stdout}{out.stderr}"

    # whatever dnsmasq had to do for that, both guests' leases are still listed
    rows = lease_rows(kvenv.ok("net-dhcp-leases", name).stdout)
    assert any(old.mac in r for r in rows) and any(mac in r for r in rows), rows
    assert len(kvenv.dnsmasq_of(name)) == 1, kvenv.dnsmasq_processes()


# -- autostart -----------------------------------------------------------------------------------
def test_autostart_starts_marked_networks_only(kvenv: KvEnv) -> None:
    kvenv.define(example("default"))
    kvenv.define(example("nat_net"))
    kvenv.ok("net-autostart", "default")
    kvenv.ok("autostart")
    _assert_running(kvenv, "default", "virbr0")
    assert kvenv.info("nat_net").get("Active") == "no"
    assert not kvenv.link_exists("virbr1")
    # again: already running is fine
    kvenv.ok("autostart")
    assert len(kvenv.dnsmasq_of("default")) == 1


# -- net-plan ------------------------------------------------------------------------------------
def test_plan_prints_and_applies_nothing(kvenv: KvEnv) -> None:
    path = kvenv.write_xml("default", example("default"))
    for target in (str(path), "default"):
        if target == "default":
            kvenv.define(example("default"))
        whole = kvenv.ok("net-plan", target).stdout
        assert "virbr0" in whole and "192.168.122.1" in whole, whole
        sections = {
            "links": "virbr0",
            "addresses": "192.168.122.1/24",
            "nftables": "inet kvmnet",
            "dnsmasq-conf": "dhcp-range=192.168.122.2,192.168.122.254",
        }
        for section, needle in sections.items():
            out = kvenv.ok("net-plan", target, "--section", section).stdout
            assert needle in out, f"--section {section}:\n{out}"
        kvenv.ok("net-plan", target, "--section", "sysctls")
        kvenv.ok("net-plan", target, "--section", "dnsmasq-hosts")
        data = json.loads(kvenv.ok("net-plan", target, "--json").stdout)
        assert isinstance(data, dict) and "virbr0" in json.dumps(data), data
    assert not kvenv.link_exists("virbr0")
    assert kvenv.nft_table() is None
    assert kvenv.dnsmasq_processes() == {}
    assert kvenv.leftovers("default") == []
    assert kvenv.info("default").get("Active") == "no"


# -- refused starts ------------------------------------------------------------------------------
def _assert_refused(kvenv: KvEnv, proc: subprocess.CompletedProcess[str], name: str,
                    bridge: str) -> str:
    stderr = assert_one_error(proc)
    kvenv.assert_clean(name, bridge)
    assert kvenv.info(name).get("Active") == "no"
    return stderr


def test_refused_when_subnet_overlaps_another_interface(kvenv: KvEnv) -> None:
    # (a veth pair: the 'dummy' link type may not exist in the test kernel)
    kvenv.host.ip("link", "add", "other0", "type", "veth", "peer", "name", "other1")
    kvenv.host.ip("addr", "add", "192.168.122.200/24", "dev", "other0")
    name = kvenv.define(example("default"))
    stderr = _assert_refused(kvenv, kvenv.kv("net-start", name), name, "virbr0")
    assert "other0" in stderr or "192.168.122.0/24" in stderr, stderr
    addrs = kvenv.host.ip_json("-4", "addr", "show", "dev", "other0")[0]["addr_info"]
    assert [a["local"] for a in addrs] == ["192.168.122.200"]


@pytest.mark.parametrize("addr, proto", [
    ("0.0.0.0", "udp"), ("0.0.0.0", "tcp"), ("192.168.122.1", "udp"),
])
def test_refused_when_dns_port_is_taken(kvenv: KvEnv, addr: str, proto: str) -> None:
    holder = kvenv.hold_port(addr, 53, proto)
    try:
        name = kvenv.define(example("default"))
        stderr = _assert_refused(kvenv, kvenv.kv("net-start", name), name, "virbr0")
        assert "53" in stderr, stderr
        assert holder.poll() is None, "kvmnet must not touch the program holding the port"
    finally:
        holder.kill()
        holder.wait()
    # once the port is free the same network starts
    kvenv.ok("net-start", "default")
    _assert_running(kvenv, "default", "virbr0")


def test_refused_when_bridge_name_belongs_to_another_link(kvenv: KvEnv) -> None:
    # a bridge made by hand: kvmnet must neither adopt nor delete it
    kvenv.host.ip("link", "add", "virbr0", "type", "bridge")
    kvenv.host.ip("addr", "add", "198.51.100.1/24", "dev", "virbr0")
    before = kvenv.host.ip_json("-d", "addr", "show", "dev", "virbr0")[0]
    name = kvenv.define(example("default"))
    proc = kvenv.kv("net-start", name)
    stderr = assert_one_error(proc)
    assert "virbr0" in stderr, stderr
    # the foreign link is untouched; nothing of the network exists
    after = kvenv.host.ip_json("-d", "addr", "show", "dev", "virbr0")[0]
    assert after["linkinfo"]["info_kind"] == "bridge"
    assert after["addr_info"] == before["addr_info"] and after["operstate"] == before["operstate"]
    table = kvenv.nft_table()
    assert table is None or '"virbr0"' not in table, table
    assert kvenv.dnsmasq_processes() == {}
    assert kvenv.leftovers(name) == []
    assert kvenv.info(name).get("Active") == "no"


@pytest.mark.parametrize("case, xml", [
    # NAT with DHCP: dnsmasq and the firewall
    ("nat", example("default")),
    # open network: no firewall rules, only dnsmasq
    ("open", simple_network("opennet", "virbr0", "192.168.122", "open")),
])
def test_refused_when_dnsmasq_is_missing(kvenv: KvEnv, case: str, xml: str) -> None:
    name = kvenv.define(xml)
    proc = kvenv.kv("net-start", name, path=PATH_WITHOUT_SBIN)
    stderr = _assert_refused(kvenv, proc, name, "virbr0")
    assert "dnsmasq" in stderr, stderr
    # with the ordinary PATH it starts
    kvenv.ok("net-start", name)
    assert kvenv.link_exists("virbr0")


def test_without_nft_in_path_the_firewall_still_works_or_start_is_refused(kvenv: KvEnv) -> None:
    """kvmnet may drive nftables through libnftables in-process; then no nft program is needed.

    Either way the outcome must be whole: a started network with its firewall in place, or a
    refusal that names nft and leaves nothing behind.
    """
    xml = simple_network("quiet", "virbr0", "192.168.122", "nat", dhcp=False,
                         extra="  <dns enable='no'/>\n")
    name = kvenv.define(xml)
    proc = kvenv.kv("net-start", name, path=PATH_WITHOUT_SBIN)
    if proc.returncode == 0:
        table = kvenv.nft_table()
        assert table is not None and '"virbr0"' in table, table
        assert kvenv.info(name).get("Active") == "yes"
        assert kvenv.dnsmasq_processes() == {}  # no DHCP, no DNS: no dnsmasq at all
        kvenv.ok("net-destroy", name, path=PATH_WITHOUT_SBIN)
        kvenv.assert_clean(name, "virbr0")
    else:
        stderr = _assert_refused(kvenv, proc, name, "virbr0")
        assert "nft" in stderr and "dnsmasq" not in stderr, stderr


def test_refused_start_keeps_other_networks(kvenv: KvEnv) -> None:
    """A refused start (conflict with a running network) changes nothing of the running one."""
    kvenv.start(example("default"))
    pid = kvenv.dnsmasq_pid("default")
    clash = simple_network("clash", "virbr9", "192.168.122", "nat")
    name = kvenv.define(clash)
    _assert_refused(kvenv, kvenv.kv("net-start", name), name, "virbr9")
    assert _assert_running(kvenv, "default", "virbr0") == pid
    assert os.path.exists(f"/proc/{pid}")
