"""DHCP and DNS of started virtual networks, seen from a real client (busybox udhcpc/nslookup).

Each test has its own host namespace, so the cookbook subnets never clash with anything.
"""
from __future__ import annotations

import ipaddress
import json
import os
import shutil
import tempfile

import pytest

from tests.functional.kvmnet_env import (
    BUSYBOX,
    KvEnv,
    describe,
    example,
    json_mentions,
    kvenv,
    lease_rows,
    requires_kvmnet_root,
    with_dhcp_extra,
    with_element,
)

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]  # the fixture, imported for pytest

LEASE_COLUMNS = ("Expiry Time", "MAC address", "Protocol", "IP address", "Hostname",
                 "Client ID or DUID")


def _in_range(ip: str, first: str, last: str) -> bool:
    a = ipaddress.IPv4Address
    return a(first) <= a(ip) <= a(last)


@pytest.mark.parametrize("example_name, bridge, gateway, first, last", [
    ("default", "virbr0", "192.168.122.1", "192.168.122.2", "192.168.122.254"),
    ("nat_net", "virbr1", "10.10.10.1", "10.10.10.2", "10.10.10.254"),
])
def test_cookbook_network_hands_out_leases(kvenv: KvEnv, example_name: str, bridge: str,
                                           gateway: str, first: str, last: str) -> None:
    name = kvenv.start(example(example_name))
    info = kvenv.info(name)
    assert info.get("Active") == "yes" and info.get("Bridge") == bridge, info
    addrs = kvenv.host.ip_json("-4", "addr", "show", "dev", bridge)[0]["addr_info"]
    assert [(a["local"], a["prefixlen"]) for a in addrs] == [(gateway, 24)]

    one = kvenv.client(bridge, tag="one")
    two = kvenv.client(bridge, tag="two")
    lease1, lease2 = kvenv.dhcp_all([(one, "guest-one"), (two, "guest-two")])
    for lease in (lease1, lease2):
        assert _in_range(lease.ip, first, last), lease.raw
        assert lease.prefixlen == 24 and lease.router == gateway, lease.raw
    assert lease1.ip != lease2.ip

    text = kvenv.wait_lease(name, one.mac)
    text = kvenv.wait_lease(name, two.mac)
    header = next(ln for ln in text.splitlines() if ln.strip())
    positions = [header.find(col) for col in LEASE_COLUMNS]
    assert -1 not in positions and positions == sorted(positions), text
    rows = lease_rows(text)
    assert len(rows) == 2, text
    for client, lease, host in ((one, lease1, "guest-one"), (two, lease2, "guest-two")):
        row = next((r for r in rows if client.mac in (w.lower() for w in r)), None)
        assert row is not None, text
        assert f"{lease.ip}/24" in row and "ipv4" in row and host in row, text

    # --mac keeps only that client's lease
    proc = kvenv.leases(name, "--mac", one.mac)
    assert proc.returncode == 0, describe(proc)
    rows = lease_rows(proc.stdout)
    assert len(rows) == 1 and f"{lease1.ip}/24" in rows[0], proc.stdout
    proc = kvenv.leases(name, "--mac", "52:54:00:ff:ff:ff")
    assert proc.returncode == 0 and lease_rows(proc.stdout) == [], describe(proc)

    # --json parses and carries the same leases
    proc = kvenv.leases(name, "--json")
    assert proc.returncode == 0, describe(proc)
    data = json.loads(proc.stdout)
    assert isinstance(data, list) and len(data) == 2, proc.stdout
    assert any(json_mentions(e, one.mac, lease1.ip) for e in data), proc.stdout
    assert any(json_mentions(e, two.mac, lease2.ip) for e in data), proc.stdout


def test_host_reservation_is_honoured(kvenv: KvEnv) -> None:
    mac = "52:54:00:12:34:56"
    xml = with_dhcp_extra(example("default"), f"<host mac='{mac}' name='resv' ip='192.168.122.42'/>")
    name = kvenv.start(xml)
    reserved = kvenv.client("virbr0", mac=mac, tag="resv")
    other = kvenv.client("virbr0", tag="other")
    lease, other_lease = kvenv.dhcp_all([(reserved, None), (other, None)])
    assert lease.ip == "192.168.122.42" and lease.prefixlen == 24, lease.raw
    assert other_lease.ip != "192.168.122.42"

    kvenv.wait_lease(name, mac)
    proc = kvenv.leases(name, "--mac", mac)
    rows = lease_rows(proc.stdout)
    assert len(rows) == 1 and "192.168.122.42/24" in rows[0], describe(proc)


def test_dns_hosts_resolve_through_the_networks_dnsmasq(kvenv: KvEnv) -> None:
    xml = with_element(example("default"),
                       "<dns><host ip='192.168.122.50'><hostname>web</hostname>"
                       "<hostname>files</hostname></host></dns>")
    kvenv.start(xml)
    cli = kvenv.client("virbr0", tag="dns")
    lease = kvenv.dhcp(cli)
    assert lease.dns.split()[:1] == ["192.168.122.1"], lease.raw
    for host in ("web", "files"):
        proc = cli.ns.run([BUSYBOX, "nslookup", "-type=a", host, "192.168.122.1"], check=False,
                          timeout=20)
        assert "192.168.122.50" in proc.stdout, f"{host}: {proc.stdout}{proc.stderr}"


def _lease_fields(raw: str) -> dict[str, str]:
    return dict(w.split("=", 1) for w in raw.split()[1:] if "=" in w)


def test_pxe_boot_file_comes_over_dhcp_and_tftp(kvenv: KvEnv) -> None:
    """<tftp root> and <bootp file> for real: the client's lease names the boot file and the
    next server, and busybox tftp fetches the file from the network's dnsmasq."""
    # dnsmasq serves TFTP as 'nobody': the root must be readable by it (pytest's tmp is 0700)
    root = tempfile.mkdtemp(prefix="kvmnet-tftp-")
    try:
        os.chmod(root, 0o755)
        payload = os.urandom(3000)  # several 512-byte TFTP blocks
        with open(os.path.join(root, "pxelinux.0"), "wb") as f:
            f.write(payload)
        os.chmod(os.path.join(root, "pxelinux.0"), 0o644)
        xml = example("default").replace("<dhcp>", f"<tftp root='{root}'/>\n    <dhcp>", 1)
        xml = with_dhcp_extra(xml, "<bootp file='pxelinux.0'/>")
        kvenv.start(xml)
        cli = kvenv.client("virbr0", tag="pxe")
        lease = kvenv.dhcp(cli)
        fields = _lease_fields(lease.raw)
        assert fields.get("boot_file") == "pxelinux.0", lease.raw
        assert fields.get("siaddr") == "192.168.122.1", lease.raw
        fetched = os.path.join(root, "fetched")
        got = cli.ns.run([BUSYBOX, "tftp", "-g", "-r", "pxelinux.0", "-l", fetched,
                          "192.168.122.1"], check=False, timeout=20)
        assert got.returncode == 0, got.stderr
        with open(fetched, "rb") as f:
            assert f.read() == payload
        missing = cli.ns.run([BUSYBOX, "tftp", "-g", "-r", "nothere", "-l", "/dev/null",
                              "192.168.122.1"], check=False, timeout=20)
        assert missing.returncode != 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_dnsmasq_options_reach_the_client(kvenv: KvEnv) -> None:
    """<dnsmasq:options> lines go into the network's dnsmasq as they are: an NTP server
    option set only there shows up in the client's lease."""
    xml = example("default").replace(
        "<network>", "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>", 1)
    xml = with_element(xml, "<dnsmasq:options><dnsmasq:option "
                            "value='dhcp-option=option:ntp-server,192.168.122.9'/></dnsmasq:options>")
    kvenv.start(xml)
    lease = kvenv.dhcp(kvenv.client("virbr0", tag="ntp"))
    assert _lease_fields(lease.raw).get("ntpsrv") == "192.168.122.9", lease.raw
