"""The bridged-network recipe on a real (namespaced) host: iface-bridge / iface-unbridge.

``host`` (kvmnet runs here) has ``eth1`` = 10.9.0.1/24 + 2001:db8:9::1/64, a default route
via the peer, a static route and an IPv6 default route; ``peer`` is the other end of the veth.
A pinger in ``peer`` sends an ICMP echo every 20 ms to the host's address while the verbs run,
so the tests measure how long connectivity is lost.  Everything happens inside namespaces the
tests create.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.functional.kvmnet_env import (
    IP,
    KVMNET,
    PYTHON,
    KvEnv,
    assert_one_error,
    describe,
    kvenv,
    requires_kvmnet_root,
)
from tests.functional.netns import NetNS, netns, veth

pytestmark = requires_kvmnet_root
__all__ = ["kvenv", "netns"]

HOST_IP, PEER_IP, REMOTE = "10.9.0.1", "10.9.0.2", "203.0.113.9"
NF_KEYS = ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables")

# Sends an ICMP echo every INTERVAL seconds for DURATION seconds; prints "ready", then one JSON
# line: how many were sent and answered, which sequence numbers were lost, the longest gap.
PINGER = r"""
import json, os, select, socket, struct, sys, time
dst, duration, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xFFFF
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b)); t = (t >> 16) + (t & 0xFFFF)
    return ~(t + (t >> 16)) & 0xFFFF
sent, got = {}, {}
start = time.monotonic(); seq = 0; nxt = start
print("ready", flush=True)
while time.monotonic() - start < duration + 1.0:
    now = time.monotonic()
    if now >= nxt and now - start < duration:
        body = b"kvmnet-pinger!"
        pkt = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + body
        pkt = struct.pack("!BBHHH", 8, 0, csum(pkt), ident, seq) + body
        s.sendto(pkt, (dst, 0)); sent[seq] = now; seq += 1; nxt += interval
    r, _, _ = select.select([s], [], [], max(0.0, min(nxt - time.monotonic(), 0.05)))
    if r:
        data = s.recv(2048); ihl = (data[0] & 0xF) * 4
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident and rseq in sent:
            got.setdefault(rseq, time.monotonic())
lost = sorted(set(sent) - set(got)); run = best = 0; prev = None
for q in lost:
    run = run + 1 if prev is not None and q == prev + 1 else 1; best = max(best, run); prev = q
print(json.dumps({"sent": len(sent), "received": len(got), "lost": lost,
                  "max_gap_s": round(best * interval, 3)}), flush=True)
"""


# -- helpers shared with test_iface.py ------------------------------------------------------------
def uplink(kvenv: KvEnv, peer: NetNS, ifname: str = "eth1") -> None:
    """``ifname`` in host <-> ``eth0`` in peer, addressed and routed as the module says."""
    veth(kvenv.host, ifname, peer, "eth0")
    h = kvenv.host
    h.ip("addr", "add", f"{HOST_IP}/24", "dev", ifname)
    h.ip("addr", "add", "2001:db8:9::1/64", "dev", ifname, "nodad")
    h.ip("route", "add", "default", "via", PEER_IP)
    h.ip("route", "add", "198.51.100.0/24", "via", "10.9.0.3", "metric", "5")
    h.ip("-6", "route", "add", "default", "via", "2001:db8:9::2")
    peer.ip("addr", "add", f"{PEER_IP}/24", "dev", "eth0")
    peer.ip("addr", "add", "10.9.0.3/24", "dev", "eth0")
    peer.ip("addr", "add", "2001:db8:9::2/64", "dev", "eth0", "nodad")
    peer.ip("addr", "add", f"{REMOTE}/32", "dev", "lo")  # reachable only via the default route


def l3_state(ns: NetNS) -> dict[str, Any]:
    """Links (kind, master, MAC, up), addresses and main-table routes, comparable as a whole."""
    links = {}
    for link in ns.ip_json("-d", "link", "show"):
        kind = (link.get("linkinfo") or {}).get("info_kind")
        links[link["ifname"]] = (kind, link.get("master"), link.get("address"),
                                 "UP" in link.get("flags", []))
    addrs = sorted((a["ifname"], i["local"], i["prefixlen"]) for a in ns.ip_json("addr", "show")
                   for i in a.get("addr_info", []) if not i["local"].startswith("fe80:"))
    routes = sorted((r["dst"], r.get("gateway", ""), r.get("dev", ""), r.get("metric", 0))
                    for fam in ("-4", "-6") for r in ns.ip_json(fam, "route", "show")
                    if not r["dst"].startswith("fe80:"))
    return {"links": links, "addresses": addrs, "routes": routes}


def definitions(kvenv: KvEnv) -> dict[str, str]:
    d = kvenv.root / "etc" / "kvmnet" / "interfaces"
    return {p.name: p.read_text() for p in sorted(d.glob("*.xml"))} if d.is_dir() else {}


def nf_values(ns: NetNS) -> list[str]:
    out = ns.run(["sh", "-c", "cat " + " ".join(f"/proc/sys/net/bridge/{k}" for k in NF_KEYS)])
    return out.stdout.split()


def kv_input(kvenv: KvEnv, text: str, *args: str, timeout: float = 60) -> \
        subprocess.CompletedProcess[str]:
    """kvmnet in the host namespace with ``text`` on its stdin."""
    env = dict(os.environ, KVMNET_ROOT=str(kvenv.root))
    return subprocess.run([IP, "netns", "exec", kvenv.host.name, KVMNET, *args], input=text,
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)


class Pinger:
    def __init__(self, ns: NetNS, dst: str, duration: float, interval: float = 0.02) -> None:
        self.interval = interval
        self.proc = ns.popen([PYTHON, "-u", "-c", PINGER, dst, str(duration), str(interval)])
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def result(self) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return data


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


@pytest.fixture
def peer(kvenv: KvEnv, netns: Callable[[str], NetNS]) -> NetNS:
    ns = netns("peer")
    uplink(kvenv, ns)
    return ns


def assert_bridged(kvenv: KvEnv) -> None:
    s = l3_state(kvenv.host)
    assert s["links"]["virbr2"][0] == "bridge", s
    assert s["links"]["eth1"][1] == "virbr2", s
    assert s["links"]["virbr2"][2] == s["links"]["eth1"][2]  # the bridge took eth1's MAC
    assert ("virbr2", HOST_IP, 24) in s["addresses"]
    assert ("virbr2", "2001:db8:9::1", 64) in s["addresses"]
    assert not [a for a in s["addresses"] if a[0] == "eth1"], s["addresses"]
    assert ("default", PEER_IP, "virbr2", 0) in s["routes"], s["routes"]
    assert ("198.51.100.0/24", "10.9.0.3", "virbr2", 5) in s["routes"], s["routes"]
    assert ("default", "2001:db8:9::2", "virbr2", 1024) in s["routes"], s["routes"]
    assert not [r for r in s["routes"] if r[2] == "eth1"], s["routes"]


# -- the recipe ---------------------------------------------------------------------------------------
def test_bridge_and_unbridge_keep_connectivity(kvenv: KvEnv, peer: NetNS) -> None:
    before = l3_state(kvenv.host)
    pinger = Pinger(peer, HOST_IP, duration=4.0)
    time.sleep(0.8)
    proc = kvenv.ok("iface-bridge", "eth1", "virbr2")
    assert proc.stdout == ("Created bridge virbr2 with attached device eth1\n"
                           "Bridge interface virbr2 started\n\n"), describe(proc)
    assert_bridged(kvenv)
    info = kvenv.host.ip_json("-d", "link", "show", "virbr2")[0]["linkinfo"]["info_data"]
    assert info["stp_state"] == 1
    # the moved default route works: REMOTE is only reachable through it
    kvenv.host.run(["busybox", "ping", "-c", "1", "-W", "2", REMOTE])
    xml = kvenv.ok("iface-dumpxml", "virbr2", "--inactive").stdout
    assert "<bridge stp='on' delay='0'>" in xml and "<interface type='ethernet' name='eth1'>" in xml
    assert f"<ip address='{HOST_IP}' prefix='24'/>" in xml and "<route gateway='10.9.0.2'/>" in xml
    assert list(definitions(kvenv)) == ["virbr2.xml"]
    time.sleep(0.8)
    proc = kvenv.ok("iface-unbridge", "virbr2")
    assert proc.stdout == ("Device eth1 un-attached from bridge virbr2\n"
                           "Interface eth1 started\n\n"), describe(proc)
    result = pinger.result()
    assert l3_state(kvenv.host) == before  # exactly as it was: bridge gone, all back on eth1
    assert list(definitions(kvenv)) == ["eth1.xml"]
    assert "<interface type='ethernet' name='eth1'>" in definitions(kvenv)["eth1.xml"]
    print(f"\niface-bridge + iface-unbridge under a 20 ms ping: sent {result['sent']}, "
          f"lost {len(result['lost'])} {result['lost']}, longest gap {result['max_gap_s']} s")
    assert result["received"] >= result["sent"] - 3, result
    assert result["max_gap_s"] <= 0.1, result


def test_confirm_timeout_rolls_back_by_itself(kvenv: KvEnv, peer: NetNS) -> None:
    kvenv.host.run(["sh", "-c", "for k in " + " ".join(NF_KEYS)
                    + "; do echo 1 > /proc/sys/net/bridge/$k; done"])
    before = l3_state(kvenv.host)
    pinger = Pinger(peer, HOST_IP, duration=4.5)
    proc = kvenv.ok("iface-bridge", "eth1", "virbr2", "--no-netfilter", "--confirm-timeout", "2")
    assert "rolled back in 2 seconds unless confirmed with 'kvmnet iface-commit'" in proc.stdout
    assert "Bridge netfilter calls turned off" in proc.stdout
    guard = kvenv.root / "run" / "kvmnet" / "interfaces" / "guard.pid"
    pid = int(guard.read_text().split()[0])
    assert f"(guard PID {pid})" in proc.stdout and not pid_gone(pid)
    assert_bridged(kvenv)
    assert nf_values(kvenv.host) == ["0", "0", "0"]
    wait_for(lambda: not kvenv.link_exists("virbr2"), 10, "the guard to roll back")
    wait_for(lambda: pid_gone(pid), 5, "the guard to exit")
    assert l3_state(kvenv.host) == before
    assert nf_values(kvenv.host) == ["1", "1", "1"]
    assert definitions(kvenv) == {}
    assert not guard.exists()
    assert not (kvenv.root / "run" / "kvmnet" / "interfaces" / "transaction.json").exists()
    result = pinger.result()
    print(f"\nbridge + automatic rollback under a 20 ms ping: lost {len(result['lost'])}, "
          f"longest gap {result['max_gap_s']} s")
    assert result["max_gap_s"] <= 0.1, result
    # nothing is left to confirm
    assert "no network config change transaction is open" in \
        assert_one_error(kvenv.kv("iface-commit"))


def test_confirm_timeout_commit_keeps_the_change(kvenv: KvEnv, peer: NetNS) -> None:
    kvenv.ok("iface-bridge", "eth1", "virbr2", "--confirm-timeout", "2")
    pid = int((kvenv.root / "run/kvmnet/interfaces/guard.pid").read_text().split()[0])
    proc = kvenv.ok("iface-commit")
    assert proc.stdout == "Network config change transaction committed\n\n"
    wait_for(lambda: pid_gone(pid), 5, "the guard to be stopped")
    time.sleep(2.5)  # past the timeout: nothing may happen any more
    assert_bridged(kvenv)
    assert list(definitions(kvenv)) == ["virbr2.xml"]


def test_confirm_answers(kvenv: KvEnv, peer: NetNS) -> None:
    before = l3_state(kvenv.host)
    proc = kv_input(kvenv, "n\n", "iface-bridge", "eth1", "virbr2", "--confirm")
    assert "Keep this configuration?" in proc.stdout
    assert "declined and has been rolled back" in assert_one_error(proc)
    assert l3_state(kvenv.host) == before and definitions(kvenv) == {}
    proc = kv_input(kvenv, "", "iface-bridge", "eth1", "virbr2", "--confirm")  # no answer (EOF)
    assert "not confirmed within 120 seconds" in assert_one_error(proc)
    assert l3_state(kvenv.host) == before and definitions(kvenv) == {}
    proc = kv_input(kvenv, "y\n", "iface-bridge", "eth1", "virbr2", "--confirm",
                    "--confirm-timeout", "30")
    assert proc.returncode == 0 and "Configuration accepted." in proc.stdout, describe(proc)
    assert_bridged(kvenv)
    assert not (kvenv.root / "run/kvmnet/interfaces/guard.pid").exists()


# -- bad input: a clear error, exit 1, nothing changed -------------------------------------------------
def test_bad_input_changes_nothing(kvenv: KvEnv, peer: NetNS, tmp_path: Path) -> None:
    veth(kvenv.host, "eth2", peer, "eth9")
    kvenv.ok("iface-bridge", "eth1", "virbr2", "--no-stp")
    mac = kvenv.ok("iface-mac", "eth1").stdout.strip()
    dup = kvenv.write_xml("dup", f"<interface type='ethernet' name='eth2'><mac address='{mac}'/>"
                                 "</interface>")
    broken = kvenv.write_xml("broken", "<interface type='ethernet' name='eth2'><mtu")
    looped = kvenv.write_xml("looped", "<interface type='bridge' name='br5'><bridge>"
                                       "<interface type='ethernet' name='lo'/></bridge></interface>")
    cases = [
        (("iface-bridge", "lo", "br5"), "loopback device lo cannot be attached"),
        (("iface-bridge", "eth2", "eth2"), "a bridge cannot be attached to itself"),
        (("iface-bridge", "virbr2", "virbr2"), "a bridge cannot be attached to itself"),
        (("iface-bridge", "nosuch0", "br5"), "interface 'nosuch0' not found"),
        (("iface-bridge", "eth1", "br5"), "'eth1' is already attached to 'virbr2'"),
        (("iface-bridge", "virbr2", "br5"), "virbr2 is already a bridge"),
        (("iface-bridge", "eth2", "virbr2"), "network device virbr2 already exists"),
        (("iface-unbridge", "eth2"), "device eth2 is not a bridge"),
        (("iface-start", "nosuch0"), "interface 'nosuch0' not found"),
        (("iface-define", str(dup)), (f"MAC address {mac} is already used by the definition of "
                                     "interface 'virbr2'")),
        (("iface-define", str(broken)), "not well-formed XML"),
        (("iface-define", str(looped)), "loopback device lo cannot be part of bridge 'br5'"),
    ]
    before, defs = l3_state(kvenv.host), definitions(kvenv)
    for args, message in cases:
        stderr = assert_one_error(kvenv.kv(*args))
        assert message in stderr, (args, stderr)
        assert l3_state(kvenv.host) == before, args
        assert definitions(kvenv) == defs, args


def test_unbridge_refuses_a_bridge_in_use(kvenv: KvEnv, peer: NetNS) -> None:
    """As virsh: iface-unbridge refuses a bridge that still holds other ports or carries an
    active network, naming them, and changes nothing; the hint for a port in another bridge is
    brctl's delif, not iface-unbridge."""
    kvenv.ok("iface-bridge", "eth1", "virbr2", "--no-stp")
    veth(kvenv.host, "eth2", peer, "eth9")
    kvenv.host.ip("link", "set", "eth2", "master", "virbr2")
    before, defs = l3_state(kvenv.host), definitions(kvenv)
    stderr = assert_one_error(kvenv.kv("iface-unbridge", "virbr2"))
    assert ("bridge virbr2 is in use (it still holds port eth2 besides eth1): iface-unbridge "
            "would cut them off; take it out ('kvmnet bridge delif virbr2 eth2') first; "
            "nothing was changed") in stderr, stderr
    assert (l3_state(kvenv.host), definitions(kvenv)) == (before, defs)

    stderr = assert_one_error(kvenv.kv("iface-bridge", "eth2", "br5"))
    assert "detach it first ('kvmnet bridge delif virbr2 eth2')" in stderr, stderr
    assert "iface-unbridge" not in stderr
    kvenv.host.ip("link", "set", "eth2", "nomaster")

    kvenv.start("<network>\n  <name>lan</name>\n  <forward mode='bridge'/>\n"
                "  <bridge name='virbr2'/>\n</network>\n")
    before = l3_state(kvenv.host)
    stderr = assert_one_error(kvenv.kv("iface-unbridge", "virbr2"))
    assert ("bridge virbr2 is in use (active network 'lan' runs on it): iface-unbridge would "
            "cut them off; stop it ('kvmnet net-destroy lan') first") in stderr, stderr
    assert (l3_state(kvenv.host), definitions(kvenv)) == (before, defs)
    kvenv.ok("net-destroy", "lan")
    kvenv.ok("iface-unbridge", "virbr2")


def test_bridge_killed_after_each_step_converges(kvenv: KvEnv, peer: NetNS) -> None:
    """kvmnet killed right after each step of an iface-bridge (KVMNET_FAULT_KILL_AFTER): the
    next iface-start rolls the half-made change back from its journal, then starts the bridge;
    iface-unbridge then leaves the host exactly as it was."""
    before = l3_state(kvenv.host)
    journal = kvenv.root / "run" / "kvmnet" / "interfaces" / "journal.json"
    for kind in ("iface.bridge", "iface.addr_add", "iface.master", "iface.stp",
                 "iface.route_del", "iface.route_add", "iface.addr_del"):
        proc = kvenv.kv("iface-bridge", "eth1", "virbr2", env={"KVMNET_FAULT_KILL_AFTER": kind})
        assert proc.returncode == -9, describe(proc)
        assert journal.exists(), kind
        kvenv.ok("iface-start", "virbr2")
        assert not journal.exists(), kind
        assert_bridged(kvenv)
        kvenv.ok("iface-unbridge", "virbr2")
        assert l3_state(kvenv.host) == before, f"after a kill after {kind}"


def test_unbridge_killed_after_each_step_converges(kvenv: KvEnv, peer: NetNS) -> None:
    """The same for iface-unbridge: the next iface-unbridge rolls the half-made change back
    (a deleted bridge is made again, with its port, addresses and routes), then finishes."""
    before = l3_state(kvenv.host)
    for kind in ("iface.addr_add", "iface.delete", "iface.route_add"):
        kvenv.ok("iface-bridge", "eth1", "virbr2")
        proc = kvenv.kv("iface-unbridge", "virbr2", env={"KVMNET_FAULT_KILL_AFTER": kind})
        assert proc.returncode == -9, describe(proc)
        kvenv.ok("iface-unbridge", "virbr2")
        assert l3_state(kvenv.host) == before, f"after a kill after {kind}"


def test_stp_goes_off_with_a_zero_delay_on_a_running_bridge(kvenv: KvEnv, peer: NetNS) -> None:
    """A running STP bridge restarted from a definition with STP off and delay 0: STP goes off
    first (the kernel refuses a delay outside 2..30 s while STP runs)."""
    kvenv.ok("iface-bridge", "eth1", "virbr2")
    xml = kvenv.ok("iface-dumpxml", "virbr2", "--inactive").stdout
    off = kvenv.write_xml("virbr2", xml.replace("<bridge stp='on' delay='0'>",
                                                "<bridge stp='off' delay='0'>"))
    kvenv.ok("iface-define", str(off))
    kvenv.ok("iface-start", "virbr2")
    info = kvenv.host.ip_json("-d", "link", "show", "virbr2")[0]["linkinfo"]["info_data"]
    assert info["stp_state"] == 0 and info["forward_delay"] == 0, info
    assert_bridged(kvenv)
