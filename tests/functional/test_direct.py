"""macvtap ("direct") networks with real macvtaps, no guests (root; inside throwaway namespaces).

The host namespace of a :class:`KvEnv` plays the KVM host; veths stand in for its NICs.  What a
user checks: ports become macvtaps on the pool's devices in the network's mode with the guest's
MAC, each with a private device node that opens *its own* macvtap (even when 50 plug at once,
and even when another namespace's macvtap has the same ifindex, hence the same ``/dev/tapN``);
the live XML's ``connections``; passthrough's exclusive devices; a kvmnet killed mid-plug
leaves nothing that deleting the port does not remove.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

from tests.functional.kvmnet_env import IP, KVMNET, KvEnv, describe, kvenv, requires_kvmnet_root
from tests.functional.netns import NetNS

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

TUNGETIFF = 0x800454D2  # linux/if_tun.h: the name of the link a tap descriptor is attached to


def direct_network(name: str, mode: str, devs: list[str], extra: str = "") -> str:
    ifaces = "".join(f"<interface dev='{d}'/>" for d in devs)
    return (f"<network><name>{name}</name><forward mode='{mode}'>{ifaces}</forward>{extra}"
            "</network>")


def nics(env: KvEnv, *names: str) -> None:
    """Host NICs: veths whose peers stay in the host namespace too (up, no addresses)."""
    for n in names:
        env.host.ip("link", "add", n, "type", "veth", "peer", "name", f"{n}p")
        env.host.ip("link", "set", n, "up")
        env.host.ip("link", "set", f"{n}p", "up")


def port_xml(env: KvEnv, mac: str, owner: str = "g") -> tuple[str, Path]:
    puuid = str(uuid.uuid4())
    path = env.write_xml(f"port-{puuid}", (
        f"<networkport><uuid>{puuid}</uuid><owner><name>{owner}</name>"
        f"<uuid>{uuid.uuid4()}</uuid></owner><mac address='{mac}'/></networkport>"))
    return puuid, path


def record(env: KvEnv, net: str, puuid: str) -> dict[str, object]:
    data = json.loads((env.root / "run" / "kvmnet" / "ports" / net / f"{puuid}.json").read_text())
    info = data["info"]
    assert isinstance(info, dict)
    return info


def macvtaps(ns: NetNS) -> dict[str, dict[str, object]]:
    links = ns.ip_json("-d", "link", "show") or []
    return {link["ifname"]: link for link in links
            if link.get("linkinfo", {}).get("info_kind") == "macvtap"}


def attached_to(node: str) -> str:
    """The macvtap a device node opens (TUNGETIFF on the open descriptor)."""
    fd = os.open(node, os.O_RDWR | os.O_CLOEXEC)
    try:
        reply = fcntl.ioctl(fd, TUNGETIFF, b"\0" * 40)
    finally:
        os.close(fd)
    return reply[:16].split(b"\0", 1)[0].decode()


def _attached_in(ns: NetNS, nodes: list[str]) -> list[str]:
    return ns.call(lambda: [attached_to(n) for n in nodes])


def test_bridge_pool_least_used_connections_and_unplug(kvenv: KvEnv) -> None:
    nics(kvenv, "eth1", "eth2")
    kvenv.start(direct_network("mvb", "bridge", ["eth1", "eth2"]))
    ports = []
    for i in range(3):
        puuid, path = port_xml(kvenv, f"52:54:00:aa:00:0{i + 1}")
        kvenv.ok("net-port-create", "mvb", str(path))
        ports.append(puuid)
    recs = [record(kvenv, "mvb", p) for p in ports]
    assert [r["dev"] for r in recs] == ["eth1", "eth2", "eth1"]  # least used, then pool order
    links = macvtaps(kvenv.host)
    for i, r in enumerate(recs):
        link = links[str(r["tap"])]
        assert link["link"] == r["dev"]
        assert link["address"] == f"52:54:00:aa:00:0{i + 1}"  # the guest's MAC, as it must be
        assert link["linkinfo"]["info_data"]["mode"] == "bridge"
        assert "UP" in link["flags"]
    assert _attached_in(kvenv.host, [str(r["node"]) for r in recs]) == [r["tap"] for r in recs]

    live = kvenv.ok("net-dumpxml", "mvb").stdout
    assert "<network connections='3'>" in live
    assert "<interface dev='eth1' connections='2'/>" in live
    assert "<interface dev='eth2' connections='1'/>" in live
    assert "connections" not in kvenv.ok("net-dumpxml", "--inactive", "mvb").stdout

    kvenv.ok("net-port-delete", "mvb", ports[0])
    assert str(recs[0]["tap"]) not in macvtaps(kvenv.host)
    assert not os.path.exists(str(recs[0]["node"]))
    live = kvenv.ok("net-dumpxml", "mvb").stdout
    assert "<interface dev='eth1' connections='1'/>" in live, live
    # the next port goes on the least used device again: eth1 (1) before eth2 (1), pool order
    puuid, path = port_xml(kvenv, "52:54:00:aa:00:09")
    kvenv.ok("net-port-create", "mvb", str(path))
    assert record(kvenv, "mvb", puuid)["dev"] == "eth1"


def test_passthrough_takes_devices_exclusively_and_says_when_none_is_left(kvenv: KvEnv) -> None:
    nics(kvenv, "eth1", "eth2")
    kvenv.start(direct_network("mvp", "passthrough", ["eth1", "eth2"]))
    made = []
    for i in range(2):
        puuid, path = port_xml(kvenv, f"52:54:00:bb:00:0{i + 1}")
        kvenv.ok("net-port-create", "mvp", str(path))
        made.append(record(kvenv, "mvp", puuid))
    assert sorted(str(r["dev"]) for r in made) == ["eth1", "eth2"]
    assert {link["linkinfo"]["info_data"]["mode"] for link in macvtaps(kvenv.host).values()} \
        == {"passthru"}
    before = sorted(macvtaps(kvenv.host))
    _, path = port_xml(kvenv, "52:54:00:bb:00:03")
    proc = kvenv.kv("net-port-create", "mvp", str(path))
    assert proc.returncode == 1, describe(proc)
    assert proc.stderr.startswith("error: network 'mvp' has no free device left: passthrough "
                                  "gives each guest a device of its own"), proc.stderr
    assert sorted(macvtaps(kvenv.host)) == before  # nothing changed
    assert len(kvenv.ok("net-port-list", "mvp").stdout.split("\n")) == len(made) + 4


def test_fifty_concurrent_plugs_each_open_their_own_macvtap(kvenv: KvEnv) -> None:
    """50 ports plugged at once: 50 macvtaps, 50 private nodes, each opening its own macvtap
    -- also where another namespace's macvtap has the same ifindex (so the same /dev/tapN)."""
    nics(kvenv, "eth1")
    kvenv.start(direct_network("mv50", "bridge", ["eth1"]))
    env = dict(os.environ, KVMNET_ROOT=str(kvenv.root))
    procs, uuids = [], []
    for i in range(50):
        puuid, path = port_xml(kvenv, f"52:54:00:cc:00:{i:02x}", owner=f"g{i}")
        uuids.append(puuid)
        procs.append(subprocess.Popen([IP, "netns", "exec", kvenv.host.name, KVMNET,
                                       "net-port-create", "mv50", str(path)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out + err
    recs = [record(kvenv, "mv50", u) for u in uuids]
    taps = [str(r["tap"]) for r in recs]
    assert len(set(taps)) == 50 and set(taps) <= set(macvtaps(kvenv.host))
    nodes = [str(r["node"]) for r in recs]
    assert len({os.stat(n).st_rdev for n in nodes}) == 50
    assert _attached_in(kvenv.host, nodes) == taps
    assert "<interface dev='eth1' connections='50'/>" in kvenv.ok("net-dumpxml", "mv50").stdout

    # another namespace's macvtap with the ifindex of one of ours: /dev/tapN is shared
    other = kvenv._ns("other")
    other.ip("link", "add", "o1", "type", "veth", "peer", "name", "o2")
    index = int(recs[0]["ifindex"])  # type: ignore[call-overload]
    other.ip("link", "add", "link", "o1", "name", "omv", "index", str(index), "type", "macvtap")
    major, minor = other.run(["cat", f"/sys/class/net/omv/macvtap/tap{index}/dev"]
                             ).stdout.strip().split(":")
    theirs, ours = os.makedev(int(major), int(minor)), os.stat(nodes[0]).st_rdev
    assert theirs != ours
    # two devices, one name in the shared /dev: it can only be one of them
    assert os.stat(f"/dev/tap{index}").st_rdev in (theirs, ours)
    assert _attached_in(kvenv.host, [nodes[0]]) == [taps[0]]

    failures = kvenv.kv("net-port-delete", "mv50", uuids[0])
    assert failures.returncode == 0, describe(failures)
    for u in uuids[1:]:
        kvenv.ok("net-port-delete", "mv50", u)
    assert macvtaps(kvenv.host) == {}
    assert [p.name for p in (kvenv.root / "run" / "kvmnet" / "macvtap").iterdir()] == []


def test_killed_plug_leaves_nothing_after_port_delete(kvenv: KvEnv) -> None:
    nics(kvenv, "eth1")
    kvenv.start(direct_network("mvk", "vepa", ["eth1"]))
    for kind in ("macvtap.create", "macvtap.node"):
        puuid, path = port_xml(kvenv, "52:54:00:dd:00:01")
        proc = kvenv.kv("net-port-create", "mvk", str(path),
                        env={"KVMNET_FAULT_KILL_AFTER": kind})
        assert proc.returncode == -9, describe(proc)
        assert len(macvtaps(kvenv.host)) == 1, kind  # left behind by the killed plug
        kvenv.ok("net-port-delete", "mvk", puuid)
        assert macvtaps(kvenv.host) == {}, kind
        left = list((kvenv.root / "run" / "kvmnet" / "macvtap").iterdir())
        assert left == [], (kind, left)


def test_bad_pool_device_is_refused_at_start_and_plug(kvenv: KvEnv) -> None:
    kvenv.define(direct_network("mvx", "private", ["nosuch0"]))
    proc = kvenv.kv("net-start", "mvx")
    assert proc.returncode == 1 and proc.stderr.startswith("error: "), describe(proc)
    assert "nosuch0" in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert re.search(r"mvx\s+inactive", kvenv.ok("net-list", "--all").stdout)
