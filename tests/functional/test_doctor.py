"""kvmnet doctor with real firewalls: hosts set up as Docker, ufw, firewalld and NixOS set them up.

Each test runs a real NAT network (kvmnet net-start in the host namespace), a "guest" namespace
on its bridge and an "outside" namespace with a TCP server.  It sets up the host's firewall with
the real iptables or nft commands those tools run (their chains, policies and rules), then
checks what a user would: the guest's traffic is blocked, doctor says where and exits 1; after
``doctor --fix`` the traffic passes and doctor exits 0; after ``doctor --fix --undo`` it is
blocked again; and ``net-destroy`` leaves none of doctor's rules behind.
"""
from __future__ import annotations

import json
import os

import pytest

from tests.functional.kvmnet_env import (
    BUSYBOX,
    WAN_IP,
    Client,
    KvEnv,
    describe,
    kvenv,
    requires_kvmnet_root,
    simple_network,
)

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

NET = "dnet"
BRIDGE = "virbr7"
SUBNET = "192.168.170"


def _setup(kvenv: KvEnv, dhcp_first: bool = True) -> tuple[Client, str]:
    """A NAT network with a guest (leased when ``dhcp_first``) and the outside; the host's
    default route goes to the outside namespace."""
    kvenv.start(simple_network(NET, BRIDGE, SUBNET, "nat"))
    wan = kvenv.wan()
    kvenv.host.ip("route", "add", "default", "via", WAN_IP)
    kvenv.tcp_server(wan)
    cli = kvenv.client(BRIDGE)
    if dhcp_first:
        lease = kvenv.dhcp(cli)
        assert kvenv.connect(cli.ns, WAN_IP) == f"ok {lease.ip}", "the path works before"
    return cli, wan.name


def _sh(kvenv: KvEnv, script: str) -> None:
    kvenv.host.run(["sh", "-euc", script])


def _doctor(kvenv: KvEnv, *args: str) -> tuple[int, dict[str, object]]:
    proc = kvenv.kv("doctor", *args, "--json", timeout=120)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, describe(proc)
    return proc.returncode, json.loads(proc.stdout)


def _codes(report: dict[str, object]) -> list[str]:
    return [f["code"] for f in report["findings"]]  # type: ignore[attr-defined,index]


# A udhcpc script that only reports: a failed try must not take the guest's address away.
REPORT_ONLY = '#!/bin/sh\n[ "$1" = bound ] && echo LEASE "$ip"\nexit 0\n'


def _leases(kvenv: KvEnv, cli: Client) -> bool:
    """Whether the guest gets a DHCP lease now (busybox udhcpc, two tries)."""
    script = kvenv.root / "report-only.sh"
    if not script.exists():
        script.write_text(REPORT_ONLY)
        script.chmod(0o755)
    p = cli.ns.run([BUSYBOX, "udhcpc", "-i", cli.ifname, "-n", "-q", "-f", "-t", "2", "-T", "1",
                    "-A", "1", "-s", str(script)], check=False, timeout=30)
    return p.returncode == 0 and "LEASE" in p.stdout


def _tagged(kvenv: KvEnv) -> str:
    """Every kvmnet-tagged rule in the host namespace's firewalls."""
    out = []
    for argv in (["iptables-nft-save"], ["iptables-legacy-save"], ["nft", "list", "ruleset"]):
        proc = kvenv.host.run(argv, check=False)
        out += [ln for ln in proc.stdout.splitlines() if "kvmnet: network" in ln]
    return "\n".join(out)


DOCKER = """
{ipt} -N DOCKER
{ipt} -N DOCKER-USER
{ipt} -N DOCKER-ISOLATION-STAGE-1
{ipt} -N DOCKER-ISOLATION-STAGE-2
{ipt} -P FORWARD DROP
{ipt} -A FORWARD -j DOCKER-USER
{ipt} -A FORWARD -j DOCKER-ISOLATION-STAGE-1
{ipt} -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
{ipt} -A FORWARD -o docker0 -j DOCKER
{ipt} -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
{ipt} -A FORWARD -i docker0 -o docker0 -j ACCEPT
{ipt} -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
{ipt} -A DOCKER-ISOLATION-STAGE-1 -j RETURN
{ipt} -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
{ipt} -A DOCKER-ISOLATION-STAGE-2 -j RETURN
{ipt} -A DOCKER-USER -j RETURN
{ipt} -t nat -N DOCKER
{ipt} -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
"""


@pytest.mark.parametrize("backend", ["nft", "legacy"])
def test_docker_forward_drop_is_found_fixed_and_undone(kvenv: KvEnv, backend: str) -> None:
    cli, _ = _setup(kvenv)
    _sh(kvenv, DOCKER.format(ipt=f"iptables-{backend}"))
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail"), "Docker's FORWARD policy drops"

    rc, report = _doctor(kvenv)
    assert rc == 1, report
    assert "forward-drop" in _codes(report), report
    found = [f for f in report["findings"] if f["code"] == "forward-drop"]  # type: ignore[union-attr,index]
    assert "chain FORWARD (Docker)" in found[0]["where"], found
    assert "-I DOCKER-USER -i virbr7 -j ACCEPT" in found[0]["remedy"], found
    assert found[0]["proof"].startswith("traced packet"), found
    if backend == "nft":  # the trace names the chain whose policy dropped it
        assert "ip filter FORWARD: policy drop" in found[0]["proof"], found

    rc, report = _doctor(kvenv, "--fix")
    assert rc == 0, report
    assert len(report["added"]) == 2 and all("DOCKER-USER" in c for c in report["added"])  # type: ignore[arg-type]
    assert kvenv.connect(cli.ns, WAN_IP).startswith("ok"), _tagged(kvenv)
    rules = kvenv.host.run([f"iptables-{backend}", "-S", "DOCKER-USER"]).stdout
    assert f'kvmnet: network {NET}: from the guests' in rules, rules
    assert "-P FORWARD DROP" in kvenv.host.run([f"iptables-{backend}", "-S", "FORWARD"]).stdout

    rc, again = _doctor(kvenv, "--fix")  # idempotent: nothing more is added
    assert rc == 0 and again["added"] == [], again

    rc, report = _doctor(kvenv, "--fix", "--undo")
    assert rc == 0 and len(report["removed"]) == 2, report
    assert _tagged(kvenv) == ""
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail"), "blocked again after --undo"
    assert _doctor(kvenv)[0] == 1

    _doctor(kvenv, "--fix")
    assert _tagged(kvenv) != ""
    kvenv.ok("net-destroy", NET)
    assert _tagged(kvenv) == "", "net-destroy removes doctor's rules"
    assert "-A DOCKER-USER -j RETURN" in kvenv.host.run(
        [f"iptables-{backend}", "-S", "DOCKER-USER"]).stdout, "Docker's own rules stay"


# Docker 29's nftables backend (moby's nftablesdoc "new daemon"), with the filter-FORWARD
# policy it sets when it turned IPv4 forwarding on itself.
DOCKER_NFT = """
table ip docker-bridges {
  map filter-forward-in-jumps { type ifname : verdict; elements = { "docker0" : jump filter-forward-in__docker0 }; }
  map filter-forward-out-jumps { type ifname : verdict; elements = { "docker0" : jump filter-forward-out__docker0 }; }
  chain filter-forward-in__docker0 {
    ct state established,related counter accept
    iifname "docker0" counter accept comment "ICC"
    counter drop comment "UNPUBLISHED PORT DROP"
  }
  chain filter-forward-out__docker0 {
    ct state established,related counter accept
    counter accept comment "OUTGOING"
  }
  chain filter-FORWARD {
    type filter hook forward priority filter; policy drop;
    oifname vmap @filter-forward-in-jumps
    iifname vmap @filter-forward-out-jumps
  }
  chain nat-POSTROUTING {
    type nat hook postrouting priority srcnat; policy accept;
    oifname != "docker0" ip saddr 172.17.0.0/16 counter masquerade comment "MASQUERADE"
  }
}
"""


def test_dockers_own_nftables_table(kvenv: KvEnv) -> None:
    cli, _ = _setup(kvenv)
    kvenv.host.run(["nft", "-f", "-"], input=DOCKER_NFT)
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail")
    rc, report = _doctor(kvenv)
    # bridge-nf too where bridge netfilter is on: guest-to-guest traffic meets the same policy
    assert rc == 1 and _codes(report)[0] == "forward-drop", report
    assert set(_codes(report)) <= {"forward-drop", "bridge-nf"}, report
    found = report["findings"][0]  # type: ignore[index]
    assert found["where"] == "nftables table ip docker-bridges, chain filter-FORWARD (Docker)"
    assert found["proof"].endswith("ip docker-bridges filter-FORWARD: policy drop"), found
    assert "--bridge-accept-fwmark" in found["remedy"], found
    rc, report = _doctor(kvenv, "--fix")
    assert rc == 0, report
    assert kvenv.connect(cli.ns, WAN_IP).startswith("ok")
    listing = kvenv.host.run(["nft", "list", "chain", "ip", "docker-bridges", "filter-FORWARD"])
    assert "policy drop" in listing.stdout and f"kvmnet: network {NET}" in listing.stdout
    _doctor(kvenv, "--fix", "--undo")
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail")
    assert _tagged(kvenv) == ""


UFW = """
ipt=iptables-nft
for c in ufw-before-logging-input ufw-before-logging-forward ufw-before-input ufw-before-forward \
         ufw-after-input ufw-after-forward ufw-after-logging-input ufw-after-logging-forward \
         ufw-reject-input ufw-reject-forward ufw-track-input ufw-track-forward ufw-user-input \
         ufw-user-forward ufw-not-local; do $ipt -N $c; done
$ipt -P INPUT DROP
$ipt -P FORWARD DROP
for c in before-logging-input before-input after-input after-logging-input reject-input \
         track-input; do $ipt -A INPUT -j ufw-$c; done
for c in before-logging-forward before-forward after-forward after-logging-forward \
         reject-forward track-forward; do $ipt -A FORWARD -j ufw-$c; done
$ipt -A ufw-before-input -i lo -j ACCEPT
$ipt -A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
$ipt -A ufw-before-input -m conntrack --ctstate INVALID -j DROP
$ipt -A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT
$ipt -A ufw-before-input -p udp --sport 67 --dport 68 -j ACCEPT
$ipt -A ufw-before-input -j ufw-not-local
$ipt -A ufw-before-input -j ufw-user-input
$ipt -A ufw-not-local -m addrtype --dst-type LOCAL -j RETURN
$ipt -A ufw-not-local -m addrtype --dst-type BROADCAST -j RETURN
$ipt -A ufw-not-local -j DROP
$ipt -A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
$ipt -A ufw-before-forward -p icmp --icmp-type echo-request -j ACCEPT
$ipt -A ufw-before-forward -j ufw-user-forward
$ipt -A ufw-user-input -p tcp --dport 22 -j ACCEPT
$ipt -A ufw-after-input -p udp --dport 137 -j ufw-skip-to-policy-input 2>/dev/null || true
"""


def test_ufw_default_deny_routed_and_incoming(kvenv: KvEnv) -> None:
    cli, _ = _setup(kvenv)
    _sh(kvenv, UFW)
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail")
    assert not _leases(kvenv, cli), "ufw's INPUT policy drops DHCP"

    rc, report = _doctor(kvenv)
    assert rc == 1
    assert {"forward-drop", "input-drop"} <= set(_codes(report)), report
    assert all("(ufw)" in f["where"] for f in report["findings"]  # type: ignore[union-attr]
               if f["code"] in ("forward-drop", "input-drop")), report

    rc, report = _doctor(kvenv, "--fix")
    assert rc == 0, report
    assert _leases(kvenv, cli), "DHCP passes after --fix"
    assert kvenv.connect(cli.ns, WAN_IP).startswith("ok")
    assert "-P INPUT DROP" in kvenv.host.run(["iptables-nft", "-S", "INPUT"]).stdout

    _doctor(kvenv, "--fix", "--undo")
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail")
    assert not _leases(kvenv, cli)


FIREWALLD = """
table inet firewalld {
  chain filter_INPUT {
    type filter hook input priority filter + 10; policy accept;
    ct state { established, related } accept
    ct status dnat accept
    iifname "lo" accept
    ct state invalid drop
    jump filter_INPUT_ZONES
    reject with icmpx admin-prohibited
  }
  chain filter_FORWARD {
    type filter hook forward priority filter + 10; policy accept;
    ct state { established, related } accept
    ct status dnat accept
    iifname "lo" accept
    ct state invalid drop
    jump filter_FORWARD_ZONES
    reject with icmpx admin-prohibited
  }
  chain filter_INPUT_ZONES {
    iifname "vwan" goto filter_IN_public
    goto filter_IN_public
  }
  chain filter_FORWARD_ZONES {
    iifname "vwan" goto filter_FWD_public
    goto filter_FWD_public
  }
  chain filter_IN_public {
    jump filter_IN_public_allow
    meta l4proto { icmp, ipv6-icmp } accept
  }
  chain filter_IN_public_allow {
    tcp dport 22 accept
    ip6 daddr fe80::/64 udp dport 546 accept
  }
  chain filter_FWD_public {
    jump filter_FWD_public_allow
  }
  chain filter_FWD_public_allow {
    oifname "vwan" iifname "vwan" accept
  }
}
"""


def test_firewalld_without_a_zone_for_the_bridge(kvenv: KvEnv) -> None:
    cli, _ = _setup(kvenv)
    kvenv.host.run(["nft", "-f", "-"], input=FIREWALLD)
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail")
    assert not _leases(kvenv, cli)

    rc, report = _doctor(kvenv)
    assert rc == 1
    codes = _codes(report)
    assert {"forward-drop", "input-drop", "firewalld-zone"} <= set(codes), report
    fwd = next(f for f in report["findings"] if f["code"] == "forward-drop")  # type: ignore[union-attr]
    assert "inet firewalld filter_FORWARD" in fwd["proof"] and "reject" in fwd["proof"], fwd
    assert "firewall-cmd" in fwd["remedy"], fwd

    rc, report = _doctor(kvenv, "--fix")
    assert rc == 0, report
    assert kvenv.connect(cli.ns, WAN_IP).startswith("ok")
    assert _leases(kvenv, cli)

    _doctor(kvenv, "--fix", "--undo")
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail")
    assert _tagged(kvenv) == ""


NIXOS = """
table inet nixos-fw {
  chain rpfilter {
    type filter hook prerouting priority mangle + 10; policy drop;
    meta nfproto ipv4 udp sport . udp dport { 67 . 68, 68 . 67 } accept comment "DHCPv4 client/server"
    fib saddr . mark . iif oif exists accept
    jump rpfilter-allow
  }
  chain rpfilter-allow {
  }
  chain input {
    type filter hook input priority filter; policy drop;
    iifname { "lo" } accept comment "trusted interfaces"
    ct state vmap { invalid : drop, established : accept, related : accept, new : jump input-allow, untracked : jump input-allow }
    tcp flags syn / fin,syn,rst,ack log prefix "refused connection: " level info
  }
  chain input-allow {
    tcp dport { 22 } accept
    icmp type echo-request accept comment "allow ping"
    icmpv6 type != { nd-redirect, 139 } accept comment "Accept all ICMPv6 messages except redirects and node information queries (type 139).  See RFC 4890, section 4.4."
    ip6 daddr fe80::/64 udp dport 546 accept comment "DHCPv6 client"
  }
}
"""


def test_nixos_input_policy_drops_dhcp_and_dns(kvenv: KvEnv) -> None:
    cli, _ = _setup(kvenv)
    kvenv.host.run(["nft", "-f", "-"], input=NIXOS)
    assert not _leases(kvenv, cli), "NixOS's input policy drops DHCP"
    assert kvenv.connect(cli.ns, f"{SUBNET}.1", 53).startswith("fail"), "and DNS"
    assert kvenv.connect(cli.ns, WAN_IP).startswith("ok"), "forwarding is not filtered"

    rc, report = _doctor(kvenv)
    assert rc == 1
    found = [f for f in report["findings"] if f["code"] == "input-drop"]  # type: ignore[union-attr]
    assert found and "nixos-fw" in found[0]["where"], report
    assert "inet nixos-fw input: policy drop" in found[0]["proof"], found
    assert "trustedInterfaces" in found[0]["remedy"], found
    assert "forward-drop" not in _codes(report), report

    rc, report = _doctor(kvenv, "--fix")
    assert rc == 0, report
    assert _leases(kvenv, cli)
    assert kvenv.connect(cli.ns, f"{SUBNET}.1", 53).startswith("ok"), "DNS (TCP) passes too"

    _doctor(kvenv, "--fix", "--undo")
    assert not _leases(kvenv, cli)


def test_clean_namespace_reports_nothing(kvenv: KvEnv) -> None:
    _setup(kvenv)
    proc = kvenv.kv("doctor", timeout=120)
    assert proc.returncode == 0, describe(proc)
    assert "nothing wrong found" in proc.stdout and "network '" not in proc.stdout, proc.stdout
    rc, report = _doctor(kvenv)
    assert rc == 0 and report["findings"] == [], report
    assert all(p["passed"] for p in report["probes"]), report  # type: ignore[union-attr,index]


def test_forwarding_off_and_low_uplink_mtu(kvenv: KvEnv) -> None:
    cli, _ = _setup(kvenv)
    kvenv.host.run(["sysctl", "-qw", "net.ipv4.ip_forward=0"])
    kvenv.host.ip("link", "set", "vwan", "mtu", "1400")
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail")
    rc, report = _doctor(kvenv)
    assert rc == 1
    assert {"forwarding-off", "mtu"} <= set(_codes(report)), report
    mtu = next(f for f in report["findings"] if f["code"] == "mtu")  # type: ignore[union-attr]
    assert "1400" in mtu["where"] and "<mtu size='1400'/>" in mtu["remedy"], mtu

    rc, report = _doctor(kvenv, "--fix")
    assert rc == 0, report
    assert report["added"] == ["sysctl -w net.ipv4.ip_forward=1",
                               f"ip link set dev {BRIDGE} mtu 1400"], report
    assert kvenv.connect(cli.ns, WAN_IP).startswith("ok"), "forwarding is back"
    assert _read(kvenv, "/proc/sys/net/ipv4/ip_forward") == "1"
    assert _read(kvenv, f"/sys/class/net/{BRIDGE}/mtu") == "1400"

    rc, report = _doctor(kvenv, "--fix", "--undo")
    assert rc == 0 and len(report["removed"]) == 2, report
    assert kvenv.connect(cli.ns, WAN_IP).startswith("fail"), "blocked again after --undo"
    assert _read(kvenv, "/proc/sys/net/ipv4/ip_forward") == "0"
    assert _read(kvenv, f"/sys/class/net/{BRIDGE}/mtu") == "1500"
    assert {"forwarding-off", "mtu"} <= set(_codes(_doctor(kvenv)[1]))

    kvenv.host.ip("link", "set", "vwan", "mtu", "1500")
    assert _doctor(kvenv, "--fix")[0] == 0
    kvenv.ok("net-destroy", NET)
    assert _read(kvenv, "/proc/sys/net/ipv4/ip_forward") == "0", "net-destroy takes it back"


def _read(kvenv: KvEnv, path: str) -> str:
    return kvenv.host.run(["cat", path]).stdout.strip()


def test_strict_rp_filter_is_found_by_the_kernels_route_lookup(kvenv: KvEnv) -> None:
    _setup(kvenv)
    # a route (a VPN's, say) that sends part of the guests' subnet elsewhere: under strict
    # reverse path filtering, packets from those addresses arriving on the bridge are dropped
    kvenv.host.ip("route", "add", f"{SUBNET}.192/26", "via", WAN_IP)
    kvenv.host.run(["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"])
    rc, report = _doctor(kvenv)
    assert rc == 1 and _codes(report) == ["rp-filter"], report
    found = report["findings"][0]  # type: ignore[index]
    assert "ip route get" in found["proof"] and "Invalid argument" in found["proof"], found
    rp = f"net.ipv4.conf.{BRIDGE}.rp_filter"
    before = _read(kvenv, f"/proc/sys/net/ipv4/conf/{BRIDGE}/rp_filter")

    rc, report = _doctor(kvenv, "--fix")
    assert rc == 0 and report["added"] == [f"sysctl -w {rp}=2"], report
    assert _read(kvenv, "/proc/sys/net/ipv4/conf/all/rp_filter") == "1", "'all' is left alone"
    rc, report = _doctor(kvenv, "--fix", "--undo")
    assert rc == 0 and len(report["removed"]) == 1, report
    assert _read(kvenv, f"/proc/sys/net/ipv4/conf/{BRIDGE}/rp_filter") == before
    assert _codes(_doctor(kvenv)[1]) == ["rp-filter"], "strict again after --undo"

    kvenv.host.run(["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2"])
    assert _doctor(kvenv)[0] == 0, "loose mode, as the remedy says, clears it"


def test_bridge_netfilter_sends_guest_to_guest_traffic_through_forward(kvenv: KvEnv) -> None:
    cli, _ = _setup(kvenv)
    other = kvenv.client(BRIDGE, tag="cli2")
    lease = kvenv.dhcp(other)
    kvenv.host.run(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"])
    _sh(kvenv, "iptables-nft -P FORWARD DROP")
    inbound = kvenv.tcp_server(other.ns, port=9091)
    assert inbound.exists()
    assert kvenv.connect(cli.ns, lease.ip, 9091).startswith("fail"), "bridged, then dropped"

    rc, report = _doctor(kvenv)
    assert rc == 1 and "bridge-nf" in _codes(report), report
    rc, report = _doctor(kvenv, "--fix")
    assert rc == 0, report
    assert kvenv.connect(cli.ns, lease.ip, 9091).startswith("ok")
    _doctor(kvenv, "--fix", "--undo")
    assert kvenv.connect(cli.ns, lease.ip, 9091).startswith("fail")


def test_doctor_bad_input(kvenv: KvEnv) -> None:
    proc = kvenv.kv("doctor", "nosuchnet")
    assert proc.returncode == 1 and proc.stderr.startswith("error: network 'nosuchnet' not found")
    proc = kvenv.kv("doctor", "--undo")
    assert proc.returncode == 2 and "--undo goes with --fix" in proc.stderr


def _probe_debris(kvenv: KvEnv) -> tuple[list[str], list[str]]:
    """The probe tables ("family name") and probe links in the host namespace."""
    tables = [line.split(None, 1)[1] for line in
              kvenv.host.run(["nft", "list", "tables"]).stdout.splitlines()
              if "kvmnet_probe_" in line]
    links = json.loads(kvenv.host.run(["ip", "-j", "link", "show"]).stdout)
    return tables, [str(link["ifname"]) for link in links
                    if str(link["ifname"]).startswith("kvdp")]


def _nft_monitors(kvenv: KvEnv) -> list[str]:
    """The ``nft monitor`` processes running in the host namespace."""
    out = []
    for pid in kvenv.host.run(["ip", "netns", "pids", kvenv.host.name]).stdout.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"nft", b"monitor"]:
            out.append(pid)
    return out


def test_a_doctor_killed_mid_probe_leaves_debris_the_next_one_removes(kvenv: KvEnv) -> None:
    _setup(kvenv)
    proc = kvenv.kv("doctor", env={"KVMNET_FAULT_KILL_AFTER": "doctor.probe"}, timeout=120)
    assert proc.returncode == -9, describe(proc)
    tables, links = _probe_debris(kvenv)
    assert len(tables) == 2, tables
    dead = tables[0].rsplit("_", 1)[1]
    assert tables == [f"inet kvmnet_probe_{dead}", f"bridge kvmnet_probe_{dead}"]
    assert sorted(links) == [f"kvdp{dead}", f"kvdp{dead}b"], "the veth pair, on the bridge"
    assert _nft_monitors(kvenv) == [], "its 'nft monitor trace' ended with it"
    # a doctor still running (this test's process stands in for one): its probe stays
    live = f"kvmnet_probe_{os.getpid()}"
    kvenv.host.run(["nft", "add", "table", "inet", live])

    proc = kvenv.kv("doctor", timeout=120)
    assert proc.returncode == 0, describe(proc)
    assert f"removed: nft delete table inet kvmnet_probe_{dead}\n" in proc.stdout
    assert f"removed: nft delete table bridge kvmnet_probe_{dead}\n" in proc.stdout
    assert f"removed: ip link del kvdp{dead}\n" in proc.stdout
    assert _probe_debris(kvenv) == ([f"inet {live}"], [])
    kvenv.host.run(["nft", "delete", "table", "inet", live])
