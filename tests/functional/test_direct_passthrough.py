"""macvtap passthrough ports and their parent device's settings (root; throwaway namespaces).

As libvirt does, a passthrough port saves its device's own MAC, sets the guest's MAC on the
device before the macvtap exists (the kernel gives a passthrough macvtap its device's MAC),
and puts the device's own MAC back once the macvtap is gone.  A user checks with ``ip link``:
while the port is plugged, the device and its macvtap carry the guest's MAC; after
``net-port-delete`` (or the clean-up of a kvmnet killed midway) the device has its own back.
veths in the host namespace of a :class:`KvEnv` stand in for the host's NICs.
"""
from __future__ import annotations

import json

from tests.functional.kvmnet_env import KvEnv, describe, kvenv, requires_kvmnet_root
from tests.functional.netns import NetNS
from tests.functional.test_direct import direct_network, macvtaps, nics, port_xml, record

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

GUEST = "52:54:00:ee:00:01"


def mac_of(ns: NetNS, dev: str) -> str:
    links = ns.ip_json("link", "show", "dev", dev)
    return str(links[0]["address"])


def test_the_device_carries_the_guests_mac_while_plugged_and_its_own_after(kvenv: KvEnv
                                                                          ) -> None:
    nics(kvenv, "eth1")
    own = mac_of(kvenv.host, "eth1")
    kvenv.start(direct_network("mvp", "passthrough", ["eth1"]))
    puuid, path = port_xml(kvenv, GUEST)
    kvenv.ok("net-port-create", "mvp", str(path))
    assert mac_of(kvenv.host, "eth1") == GUEST
    (tap, link), = macvtaps(kvenv.host).items()
    assert link["address"] == GUEST  # the guest's MAC, not the NIC's, as the guest needs
    assert link["linkinfo"]["info_data"]["mode"] == "passthru"
    saved = json.loads((kvenv.root / "run" / "kvmnet" / "ports" / "mvp" / f"{puuid}.json"
                        ).read_text())["steps"][0]
    assert saved["kind"] == "netconfig.restore" and saved["mac"] == own

    kvenv.ok("net-port-delete", "mvp", puuid)
    assert macvtaps(kvenv.host) == {}
    assert mac_of(kvenv.host, "eth1") == own

    # and a shared mode leaves the device's MAC alone
    kvenv.start(direct_network("mvv", "vepa", ["eth1"]))
    puuid, path = port_xml(kvenv, "52:54:00:ee:00:02")
    kvenv.ok("net-port-create", "mvv", str(path))
    assert mac_of(kvenv.host, "eth1") == own
    kvenv.ok("net-port-delete", "mvv", puuid)
    assert tap not in macvtaps(kvenv.host)


def test_a_kill_after_the_mac_step_leaves_a_journal_whose_cleanup_puts_it_back(kvenv: KvEnv
                                                                               ) -> None:
    nics(kvenv, "eth1")
    own = mac_of(kvenv.host, "eth1")
    kvenv.start(direct_network("mvk", "passthrough", ["eth1"]))
    for kind, made in (("netconfig.set", 0), ("macvtap.create", 1), ("macvtap.node", 1)):
        puuid, path = port_xml(kvenv, GUEST)
        proc = kvenv.kv("net-port-create", "mvk", str(path),
                        env={"KVMNET_FAULT_KILL_AFTER": kind})
        assert proc.returncode == -9, describe(proc)
        assert mac_of(kvenv.host, "eth1") == GUEST, kind  # changed, then killed
        assert len(macvtaps(kvenv.host)) == made, kind
        assert record(kvenv, "mvk", puuid)["dev"] == "eth1"
        kvenv.ok("net-port-delete", "mvk", puuid)
        assert mac_of(kvenv.host, "eth1") == own, kind
        assert macvtaps(kvenv.host) == {}, kind


def test_a_device_another_macvtap_holds_is_refused_before_its_mac_changes(kvenv: KvEnv
                                                                          ) -> None:
    nics(kvenv, "eth1")
    kvenv.host.ip("link", "add", "link", "eth1", "name", "other0", "type", "macvlan",
                  "mode", "bridge")
    own = mac_of(kvenv.host, "eth1")
    kvenv.start(direct_network("mvo", "passthrough", ["eth1"]))
    puuid, path = port_xml(kvenv, GUEST)
    proc = kvenv.kv("net-port-create", "mvo", str(path))
    assert proc.returncode == 1, describe(proc)
    assert proc.stderr.startswith("error: eth1 already carries other0: passthrough mode needs "
                                  "a device of its own"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert mac_of(kvenv.host, "eth1") == own
    assert macvtaps(kvenv.host) == {}
    assert not (kvenv.root / "run" / "kvmnet" / "ports" / "mvo" / f"{puuid}.json").exists()
