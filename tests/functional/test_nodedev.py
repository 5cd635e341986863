"""Node devices on this machine's real sysfs, inside a network namespace with a veth.

``ip netns exec`` mounts a sysfs of the namespace, so ``class/net`` shows the namespace's
interfaces (a veth, lo) and not the machine's; the PCI devices are the machine's own.  Only
reads run here: detaching a real device would take it from the machine.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from tests.conformance import conformance_dir
from tests.functional.netns import NetNS, netns, requires_root, veth

pytestmark = requires_root
__all__ = ["netns"]


def kv(ns: NetNS, root: Path, *args: str, check: bool = True) -> str:
    env = ["env", "-u", "KVMNET_SYSFS", f"KVMNET_ROOT={root}"]
    return ns.run([*env, sys.executable, "-m", "kvmnet", *args], check=check).stdout


def test_nodedev_list_shows_the_namespace_devices_for_real(
        netns: Callable[[str], NetNS], tmp_path: Path) -> None:
    a, b = netns("nda"), netns("ndb")
    veth(a, "vnd0", b, "vnd1")
    mac = a.ip_json("link", "show", "vnd0")[0]["address"]
    net_dev = "net_vnd0_" + mac.replace(":", "_")
    names = kv(a, tmp_path, "nodedev-list").split()
    assert names[0] == "computer" and names == sorted(names)
    assert {net_dev, "net_lo_00_00_00_00_00_00"} <= set(names)
    assert not [n for n in names if n.startswith("net_") and n not in
                (net_dev, "net_lo_00_00_00_00_00_00")], names  # nothing of another namespace
    pci = sorted(os.listdir("/sys/bus/pci/devices"))
    assert [n for n in names if n.startswith("pci_")] == [
        "pci_" + p.replace(":", "_").replace(".", "_") for p in pci]
    assert kv(a, tmp_path, "nodedev-list", "--cap", "net").split() == sorted(
        [net_dev, "net_lo_00_00_00_00_00_00"])
    tree = kv(a, tmp_path, "nodedev-list", "--tree").splitlines()
    assert tree[:2] == ["computer", "  |"] and f"  +- {net_dev}" in tree

    xml = kv(a, tmp_path, "nodedev-dumpxml", net_dev)
    doc = etree.fromstring(xml.encode())
    assert doc.findtext("parent") == "computer"
    assert doc.findtext("capability/interface") == "vnd0"
    assert doc.findtext("capability/address") == mac
    assert doc.find("capability/link").get("state") == "up"
    base = conformance_dir()
    if base is not None:
        rng = etree.RelaxNG(etree.parse(str(base / "src/conf/schemas/nodedev.rng")))
        for name in (net_dev, "computer", *[n for n in names if n.startswith("pci_")][:3]):
            out = kv(a, tmp_path, "nodedev-dumpxml", name)
            assert rng.validate(etree.fromstring(out.encode())), (name, rng.error_log)

    info = kv(a, tmp_path, "nodedev-info", net_dev)
    assert info.splitlines()[:2] == [f"Name:           {net_dev}", "Parent:         computer"]


def test_nodedev_detach_of_a_veth_is_refused(netns: Callable[[str], NetNS],
                                             tmp_path: Path) -> None:
    a, b = netns("ndc"), netns("ndd")
    veth(a, "vnd2", b, "vnd3")
    mac = a.ip_json("link", "show", "vnd2")[0]["address"]
    p = a.run(["env", f"KVMNET_ROOT={tmp_path}", sys.executable, "-m", "kvmnet",
               "nodedev-detach", "net_vnd2_" + mac.replace(":", "_")], check=False)
    assert p.returncode == 1
    assert p.stderr.startswith("error: node device 'net_vnd2_") and "not a PCI device" in p.stderr
    with pytest.raises(AssertionError):  # unknown names fail too, with the hint
        kv(a, tmp_path, "nodedev-dumpxml", "net_nothere_00_00_00_00_00_00")
