"""Hot-plugging macvtap (``direct``) NICs into a running QEMU guest (root; in namespaces).

SLOW: one tiny test guest boot (TCG here).  The set-up is :func:`tests.functional.
test_direct_guests.lan`'s: the host namespace's ``nic0`` and ``nic1`` are veths into a LAN
namespace whose bridge has a DHCP server (dnsmasq).  The guest starts with a macvtap on
``nic0``; then, while it runs:

* ``attach-interface hd direct nic1 --mac M --live``: a macvtap on ``nic1`` with the guest's
  MAC (vepa, libvirt's default), its descriptor handed to QEMU over QMP; the guest sees a new
  NIC and the LAN's dnsmasq leases it an address; ``detach-interface`` takes the NIC out of
  the guest and deletes the macvtap;
* the same through a macvtap network (``attach-interface hd network mvb``);
* kvmnet killed midway (``KVMNET_FAULT_KILL_AFTER``): after QEMU took the NIC, the next
  command finishes the hot-plug (the guest keeps its NIC, detach works); before, the next
  command takes the macvtap back;
* the NIC the guest started with is detached the same way.
"""
from __future__ import annotations

import re
import signal
import time
from pathlib import Path

from tests.functional.guest_image import GuestImage, requires_guests, tiny_guest
from tests.functional.kvmnet_env import KvEnv, describe, kvenv, requires_kvmnet_root
from tests.functional.test_direct_guests import lan
from tests.functional.test_guests import MARK, Guest, guest_xml

pytestmark = [*requires_kvmnet_root, *requires_guests]
__all__ = ["kvenv", "tiny_guest"]

HOTPLUG_TIMEOUT = 90.0  # the guest's watcher, udhcpc and TCG on a busy machine


def markers(g: Guest, pattern: str) -> list[re.Match[str]]:
    return list(re.finditer(re.escape(MARK) + " " + pattern, g.console_text()))


def wait_nth(g: Guest, pattern: str, n: int) -> re.Match[str]:
    """The ``n``th (1-based) console marker matching ``pattern`` (a NIC named eth1 comes
    and goes more than once)."""
    deadline = time.monotonic() + HOTPLUG_TIMEOUT
    while True:
        found = markers(g, pattern)
        if len(found) >= n:
            return found[n - 1]
        if time.monotonic() > deadline:
            raise AssertionError(f"marker /{pattern}/ seen {len(found)} times, wanted {n}; "
                                 f"console log:\n{g.console_text()[-3000:]}\n"
                                 + g.env.debug_state())
        time.sleep(0.2)


def rows(env: KvEnv, dom: str) -> list[list[str]]:
    """domiflist's rows: interface, type, source, model, MAC."""
    out = env.ok("domiflist", dom).stdout
    return [ln.split() for ln in out.splitlines()[2:] if ln.strip()]


def macvtaps_on(env: KvEnv, dev: str) -> list[dict[str, object]]:
    return [link for link in env.host.ip_json("-d", "link", "show") or []
            if link.get("link") == dev]


def attach_and_lease(env: KvEnv, g: Guest, leases: Path, args: list[str], mac: str,
                     n: int) -> str:
    """Attach a NIC; returns its macvtap once the guest saw it and the LAN leased it."""
    t0 = time.monotonic()
    proc = env.ok("attach-interface", g.name, *args, "--mac", mac, "--live")
    print(f"\nattach-interface {' '.join(args)}: {time.monotonic() - t0:.2f} s (the command)")
    assert proc.stdout == "Interface attached successfully\n\n", describe(proc)
    (row,) = [r for r in rows(env, g.name) if r[4] == mac]
    link = env.host.ip_json("-d", "link", "show", row[0])[0]
    assert link["address"] == mac and link["link"] == "nic1"
    assert link["linkinfo"]["info_kind"] == "macvtap"
    assert wait_nth(g, r"nic (eth\d) added mac (\S+)", n)[2] == mac
    ip = wait_nth(g, r"lease (192\.168\.77\.\S+) dev eth1", n)[1]
    assert re.search(rf"^\S+ {mac} {re.escape(ip)} ", leases.read_text(), re.MULTILINE), \
        leases.read_text()
    return str(row[0])


def detach(env: KvEnv, g: Guest, itype: str, mac: str, tap: str, n: int) -> None:
    proc = env.ok("detach-interface", g.name, itype, "--mac", mac, "--live")
    assert proc.stdout == "Interface detached successfully\n\n", describe(proc)
    assert not env.link_exists(tap), env.debug_state()
    assert [r[4] for r in rows(env, g.name)] != [] and mac not in [r[4] for r in
                                                                   rows(env, g.name)]
    wait_nth(g, r"nic eth1 removed", n)
    assert macvtaps_on(env, "nic1") == []


def test_direct_nic_hotplug_lease_unplug_and_kills(kvenv: KvEnv,
                                                   tiny_guest: GuestImage) -> None:
    leases = lan(kvenv)
    kvenv.start("<network><name>mvb</name><forward mode='bridge'><interface dev='nic1'/>"
                "</forward></network>")
    g = Guest(kvenv, "hd")
    g.define(guest_xml("hd", tiny_guest, "<interface type='direct'><source dev='nic0' "
                       "mode='bridge'/></interface>"))
    g.start()
    g.wait_marker(r"lease 192\.168\.77\.\S+ dev eth0")
    g.wait_marker("ready", 60)

    # a host device that is not there: one clear error, nothing changed
    journal = (kvenv.root / "run" / "kvmnet" / "guests" / "hd.json").read_text()
    proc = kvenv.kv("attach-interface", "hd", "direct", "nosuch0", "--live")
    assert proc.returncode == 1 and proc.stderr == (
        "error: device nosuch0 does not exist in this network namespace; fix <source "
        "dev=...> of the guest's interface\n"), describe(proc)
    assert (kvenv.root / "run" / "kvmnet" / "guests" / "hd.json").read_text() == journal
    assert len(rows(kvenv, "hd")) == 1

    # a domain's own <interface type='direct'>, vepa by default
    mac = "52:54:00:77:01:01"
    t0 = time.monotonic()
    tap = attach_and_lease(kvenv, g, leases, ["direct", "nic1"], mac, 1)
    print(f"\nattach-interface direct to the guest's lease on it: {time.monotonic() - t0:.2f} s")
    assert kvenv.host.ip_json("-d", "link", "show", tap)[0]["linkinfo"]["info_data"][
        "mode"] == "vepa"
    live = kvenv.ok("dumpxml", "hd").stdout
    assert f"<mac address='{mac}'/>" in live and "<source dev='nic1' portid=" in live
    detach(kvenv, g, "direct", mac, tap, 1)

    # through a macvtap network: its mode (bridge), its connection count
    mac2 = "52:54:00:77:01:02"
    tap = attach_and_lease(kvenv, g, leases, ["network", "mvb"], mac2, 2)
    assert kvenv.host.ip_json("-d", "link", "show", tap)[0]["linkinfo"]["info_data"][
        "mode"] == "bridge"
    assert "<interface dev='nic1' connections='1'/>" in kvenv.ok("net-dumpxml", "mvb").stdout
    detach(kvenv, g, "network", mac2, tap, 2)
    assert "connections=" not in kvenv.ok("net-dumpxml", "mvb").stdout

    # killed once QEMU took the NIC, before kvmnet wrote it down: the next command finishes
    mac3 = "52:54:00:77:01:03"
    proc = kvenv.kv("attach-interface", "hd", "direct", "nic1", "--mac", mac3, "--live",
                    env={"KVMNET_FAULT_KILL_AFTER": "qemu.nic"})
    assert proc.returncode == -signal.SIGKILL, describe(proc)
    (row,) = [r for r in rows(kvenv, "hd") if r[4] == mac3]  # finished by domiflist
    assert wait_nth(g, r"nic (eth\d) added mac (\S+)", 3)[2] == mac3
    detach(kvenv, g, "direct", mac3, row[0], 3)

    # killed once the macvtap was made, before QEMU had it: the next command takes it back
    proc = kvenv.kv("attach-interface", "hd", "direct", "nic1", "--mac", mac3, "--live",
                    env={"KVMNET_FAULT_KILL_AFTER": "macvtap.create"})
    assert proc.returncode == -signal.SIGKILL, describe(proc)
    assert len(macvtaps_on(kvenv, "nic1")) == 1  # left by the killed command
    assert mac3 not in [r[4] for r in rows(kvenv, "hd")]
    assert macvtaps_on(kvenv, "nic1") == []
    assert len(markers(g, r"nic (eth\d) added")) == 3  # the guest never saw it

    # the NIC the guest started with comes out the same way
    ((tap0, _, _, _, mac0),) = rows(kvenv, "hd")
    proc = kvenv.ok("detach-interface", "hd", "direct", "--mac", mac0, "--live")
    assert rows(kvenv, "hd") == [] and not kvenv.link_exists(tap0), describe(proc)
    wait_nth(g, r"nic eth0 removed", 1)
    kvenv.ok("destroy", "hd")
    assert macvtaps_on(kvenv, "nic0") == [] and macvtaps_on(kvenv, "nic1") == []
