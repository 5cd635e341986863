"""A passthrough macvtap port's parent device, without root: the golden step lists of its
plug and unplug through the recording host (the device's own MAC saved, the guest's set,
then put back after the macvtap is gone), a kill at every change, and the undo's policy when
the MAC was changed meanwhile."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest

from kvmnet.engine.executor import Context
from kvmnet.engine.recording import NIC_MAC, Killed, RecordingHost
from kvmnet.engine.steps.netconfig import RestoreNetConfig, SetNetConfig
from kvmnet.errors import HostError, OperationInvalidError, UnsupportedError
from kvmnet.host import tap as taps
from kvmnet.model.frozen import replace
from kvmnet.model.network import Vlan, VlanTag
from kvmnet.model.port import NetworkPort, Plug, PlugType
from kvmnet.port.plugs import macvtap as plugger
from kvmnet.port.plugs.base import PlugOptions, load_record

UUID = "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"
GUEST = "52:54:00:12:34:56"
CREATE = (f"ip link add link eth1 name macvtap%d address {GUEST} type macvtap mode passthru\n"
          "ip link set dev macvtap%d up")
NODE = (f"mknod -m 600 /run/kvmnet/macvtap/{UUID} c $(cut -d: -f1 /sys/class/net/macvtap%d/"
        "macvtap/tap$(cat /sys/class/net/macvtap%d/ifindex)/dev) $(cut -d: -f2 "
        "/sys/class/net/macvtap%d/macvtap/tap$(cat /sys/class/net/macvtap%d/ifindex)/dev)")


@pytest.fixture(autouse=True)
def _links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(taps, "ifindex", lambda name: 7 if name.startswith("eth") else None)
    monkeypatch.setattr(taps, "get_mtu", lambda name: 1500)
    monkeypatch.setattr(plugger, "node_dir", lambda dirs: Path(dirs[0]) / "macvtap")
    (tmp_path / "sys").mkdir()
    monkeypatch.setenv("KVMNET_SYSFS", str(tmp_path / "sys"))  # no VFs: plain devices


def port(mode: str = "passthrough", vlan: Vlan | None = None) -> NetworkPort:
    return replace(NetworkPort(uuid=UUID, owner_name="vm", owner_uuid=UUID, mac=GUEST,
                               vlan=vlan), plug=Plug(type=PlugType.DIRECT, mode=mode))


def plug(directory: Path, host: RecordingHost, p: NetworkPort | None = None) -> None:
    plugger.make(None, directory / "ports", p or port(), "mv",  # type: ignore[arg-type]
                 PlugOptions(pool=("eth1",), state_dirs=("/run/kvmnet",)), host)


def unplug(directory: Path, host: RecordingHost) -> None:
    saved = load_record(directory / "ports", UUID)
    assert saved is not None
    plugger.MacvtapPlugger().unplug(None, saved, host=host)  # type: ignore[arg-type]


def test_plug_sets_the_guests_mac_on_the_device_first_and_unplug_puts_its_own_back(
        tmp_path: Path) -> None:
    (tmp_path / "ports").mkdir()
    host = RecordingHost()
    plug(tmp_path, host)
    assert host.log == [f"ip link set dev eth1 address {GUEST}", CREATE, NODE]
    saved = load_record(tmp_path / "ports", UUID)
    assert saved is not None
    assert saved["undo"][0] == {"kind": "netconfig.restore", "dev": "eth1", "mac": NIC_MAC,
                                "guest_mac": GUEST, "vf": None}
    host.log.clear()
    unplug(tmp_path, host)
    # the macvtap goes first (it holds the device), then the device's own MAC comes back
    assert host.log == ["ip link del macvtap%d", f"ip link set dev eth1 address {NIC_MAC}",
                        f"rm -f /run/kvmnet/macvtap/{UUID}"]
    assert host.leftovers() == []


def test_describe_shows_the_mac_step_and_shared_modes_have_none() -> None:
    opts = PlugOptions(pool=("eth1",), state_dirs=("/run/kvmnet",))
    lines = plugger.MacvtapPlugger().describe(port(), opts)
    assert lines[0] == f"ip link set dev eth1 address {GUEST}"
    for mode in ("bridge", "private", "vepa"):
        shared = plugger.MacvtapPlugger().describe(port(mode), opts)
        assert not any(" address " in line and "link add" not in line for line in shared)
        assert shared[0].startswith("ip link add link eth1 ")


RESTORE = f"ip link set dev eth1 address {NIC_MAC}"


@pytest.mark.parametrize("kill_at, undone", [
    (1, [RESTORE]),  # killed setting the MAC: journalled first, so put back all the same
    (2, ["ip link del macvtap%d", RESTORE]),
    (3, ["ip link del macvtap%d", RESTORE, f"rm -f /run/kvmnet/macvtap/{UUID}"]),
])
def test_a_kill_at_any_change_leaves_a_journal_that_puts_the_mac_back(
        tmp_path: Path, kill_at: int, undone: list[str]) -> None:
    (tmp_path / "ports").mkdir()
    host = RecordingHost()
    host.kill_at = kill_at
    with pytest.raises(Killed):
        plug(tmp_path, host)
    # the next command (net-port-delete, a guest's clean-up) runs the journal left behind
    later = RecordingHost()
    later.present = dict(host.present)
    unplug(tmp_path, later)
    assert later.log == undone
    assert later.leftovers() == []


def test_a_vlan_on_a_plain_device_or_a_trunk_is_refused_before_anything_changes(
        tmp_path: Path) -> None:
    step = SetNetConfig(dev="eth1", mac=GUEST, vlan=42)
    with pytest.raises(OperationInvalidError, match="only be set on an SR-IOV VF, but "
                       "passthrough device eth1 is not a VF"):
        step.apply(Context(RecordingHost()))
    (tmp_path / "ports").mkdir()
    host = RecordingHost()
    trunk = Vlan(tags=(VlanTag(id=10), VlanTag(id=20)), trunk=True)
    with pytest.raises(UnsupportedError, match="takes one VLAN tag, not a trunk"):
        plug(tmp_path, host, port(vlan=trunk))
    assert host.log == []


@pytest.mark.parametrize("now, notice", [
    (GUEST, None),  # as the port left it
    ("52:54:00:99:99:99", ("eth1's MAC 52:54:00:99:99:99 was changed while the guest had "
                           f"the device; putting back its own MAC {NIC_MAC}, as libvirt does")),
])
def test_restore_puts_the_devices_own_mac_back_whatever_it_is_now(now: str,
                                                                   notice: str | None) -> None:
    host = RecordingHost()
    host.macs["eth1"] = now
    said: list[str] = []
    entry = {"kind": "netconfig.restore", "dev": "eth1", "mac": NIC_MAC, "guest_mac": GUEST,
             "vf": None}
    RestoreNetConfig.undo(entry, Context(host, say=said.append))
    assert host.log == [f"ip link set dev eth1 address {NIC_MAC}"]
    assert said == ([notice] if notice else [])
    host.log.clear()
    RestoreNetConfig.undo(entry, Context(host, say=said.append))  # again: nothing to do
    assert host.log == []


def test_restore_on_a_device_that_is_gone_has_nothing_to_do() -> None:
    """Through the real host adapter: a read of a link this namespace does not have."""
    from kvmnet.engine.host import Host

    entry = {"kind": "netconfig.restore", "dev": "kvmnetnosuch0", "mac": NIC_MAC,
             "guest_mac": GUEST, "vf": None}
    RestoreNetConfig.undo(entry, Context(Host()))  # no error: gone, with its settings


class RefusingHost(RecordingHost):
    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code

    def link_set_mac(self, ifname: str, mac: str) -> None:
        raise HostError(f"ip link set {ifname} address {mac} failed", "ip link set", self.code)


@pytest.mark.parametrize("code, vf, words", [
    (errno.EBUSY, None, "its driver cannot change the MAC while it is up; take it down first"),
    (errno.EADDRNOTAVAIL, {"pf": "eth0", "index": 3}, "its PF eth0 has set an administrative MAC for VF 3"),
    (errno.EPERM, {"pf": "eth0", "index": 3}, "its PF eth0 does not let VF 3 change its own MAC"),
])
def test_a_device_refusing_the_mac_says_why_and_what_to_do(
        monkeypatch: pytest.MonkeyPatch, code: int, vf: dict[str, object] | None,
        words: str) -> None:
    from kvmnet.host import macvtap

    monkeypatch.setattr(macvtap, "refuse_uppers", lambda dev: None)
    step = SetNetConfig(dev="eth1", mac=GUEST, vf=vf)
    with pytest.raises(HostError) as info:
        step.apply(Context(RefusingHost(code)))
    assert str(info.value).startswith(
        f"passthrough device eth1 cannot take the guest's MAC {GUEST}: {words}")
