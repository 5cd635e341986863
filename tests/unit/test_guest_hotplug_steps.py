"""Golden step lists of hot-plugging a macvtap (``direct``) NIC into a running guest and
taking it out again, on the recording host (no root, no QEMU), and the convergence of a
hot-plug whose kvmnet was killed midway.

The macvtap hangs on ``lo``: the plug checks that its device exists in this namespace, and
``lo`` is in every one; the recording host makes nothing on it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from kvmnet.engine.executor import Context
from kvmnet.engine.recording import Killed
from kvmnet.engine.step import Step, step_class
from kvmnet.engine.steps.qemu import AddNic, RemoveNic
from kvmnet.errors import HostError, UnsupportedError
from kvmnet.guests import qemu
from kvmnet.model.domain import Interface
from tests.unit.test_guest_steps import GUEST_UUID, RUN, Env

MAC = "52:54:00:00:00:0d"
QMP = f"{RUN}/{GUEST_UUID}.qmp"
PORT = "00000000-0000-4000-8000-000000000003"  # the third uuid: after g1's two ports
NODE = f"$NODE_DIR/{PORT}"


def direct() -> Interface:
    return Interface(type="direct", source_dev="lo", mac=MAC, model="virtio")


def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """g1 running on the recording host, its live definition written for real (hot-plug
    reads it)."""
    env = Env(tmp_path, monkeypatch)
    perform = env.host.perform

    def write_files_too(step: Step, ctx: Context) -> None:
        perform(step, ctx)
        if step.kind == "files":
            step.apply(ctx)

    monkeypatch.setattr(env.host, "perform", write_files_too)
    env.runner.start("g1")
    env.host.log.clear()
    return env


def vhost_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu, "VHOST_NET", "/nonexistent/vhost-net")


def attach_lines(env: Env) -> list[str]:
    return [ln for ln in env.log() if not ln.startswith("# the switches took")]


def test_attach_direct_live_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vhost_off(monkeypatch)
    env = started(tmp_path, monkeypatch)
    env.runner.attach_interface("g1", direct(), live=True, config=False)
    lines = attach_lines(env)
    # the macvtap and its private device node (the port's own journal), then QEMU gets the
    # node's descriptor, the backend on it (no /dev/vhost-net: vhost off), the device
    assert lines[:3] == [
        f"ip link add link lo name macvtap%d address {MAC} type macvtap mode vepa",
        "ip link set dev macvtap%d up",
        f"# and its device node (port {PORT})"]
    assert lines[3:] == [
        (f'# QMP {QMP}: getfd {{"fdname": "fd-net2"}}  # {NODE} opened read-write, sent '
         "with SCM_RIGHTS"),
        (f'# QMP {QMP}: netdev_add {{"fd": "fd-net2", "id": "hostnet2", "type": "tap", '
         '"vhost": false}'),
        (f'# QMP {QMP}: device_add {{"driver": "virtio-net-pci", "id": "net2", '
         f'"mac": "{MAC}", "netdev": "hostnet2"}}'),
    ]
    live = env.runner.live_domain("g1")
    assert live is not None
    nic = live.interface_by_mac(MAC)
    assert nic is not None and (nic.type, nic.source_dev, nic.alias, nic.port_id) == (
        "direct", "lo", "net2", PORT)
    journal = env.journal()
    assert journal is not None and "hotplug" not in journal["info"]
    assert PORT in journal["info"]["ports"]

    env.host.log.clear()
    env.runner.detach_interface("g1", "direct", MAC, live=True, config=False)
    assert env.log()[:2] == [
        f'# QMP {QMP}: device_del {{"id": "net2"}}  # then wait for DEVICE_DELETED (up to 30 s)',
        f'# QMP {QMP}: netdev_del {{"id": "hostnet2"}}',
    ]
    assert env.log()[2].startswith("ip link del")  # the macvtap goes with its port
    live = env.runner.live_domain("g1")
    assert live is not None and live.interface_by_mac(MAC) is None
    env.runner.destroy("g1")
    assert env.host.leftovers() == []


def test_qemu_refusing_the_device_unplugs_the_macvtap(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    env = started(tmp_path, monkeypatch)
    perform = env.host.perform

    def refuse(step: Step, ctx: Context) -> None:
        if step.kind == "qemu.nic":
            raise HostError("QEMU refused device_add: Bus 'pci.0' does not support hotplugging")
        perform(step, ctx)

    monkeypatch.setattr(env.host, "perform", refuse)
    with pytest.raises(HostError, match="device_add"):
        env.runner.attach_interface("g1", direct(), live=True, config=False)
    assert env.log()[-1].startswith("ip link del")  # the macvtap made for it went again
    live = env.runner.live_domain("g1")
    assert live is not None and live.interface_by_mac(MAC) is None
    journal = env.journal()
    assert journal is not None and "hotplug" not in journal["info"]
    assert PORT not in journal["info"]["ports"]
    env.runner.destroy("g1")
    assert env.host.leftovers() == []


def test_attach_killed_at_each_change_converges(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed at each change of a hot-plug, the next command on the guest takes it back
    (QEMU never got the device: the recording host's QEMU never has one), and a destroy
    then leaves nothing."""
    env = started(tmp_path / "count", monkeypatch)
    env.runner.attach_interface("g1", direct(), live=True, config=False)
    total = len(env.host.log)
    assert total == 3  # the port (macvtap and node), its settling, qemu.nic
    for k in range(1, total + 1):
        env = started(tmp_path / f"k{k}", monkeypatch)
        env.host.kill_at, env.host.changes = k, 0
        with pytest.raises(Killed):
            env.runner.attach_interface("g1", direct(), live=True, config=False)
        env.host.kill_at = None
        journal = env.journal()
        assert journal is not None and journal["info"]["hotplug"]["port"] == PORT
        live = env.runner.live_domain("g1")  # the next command settles it
        assert live is not None and live.interface_by_mac(MAC) is None
        journal = env.journal()
        assert journal is not None and "hotplug" not in journal["info"], k
        assert [s for s in journal["steps"] if s.get("uuid") == PORT] == [], k
        env.runner.destroy("g1")
        assert env.host.leftovers() == [], k


def test_attach_killed_after_qemu_took_the_nic_is_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QEMU has the device but the live definition was not written: the next command writes
    it (the guest has the NIC), and detach then takes it out."""
    env = started(tmp_path, monkeypatch)
    real_write = env.runner.store.write_status

    def killed_write(name: str, text: str) -> None:  # killed once QMP had done its part
        raise Killed("before the live definition")

    monkeypatch.setattr(env.runner.store, "write_status", killed_write)
    with pytest.raises(Killed):
        env.runner.attach_interface("g1", direct(), live=True, config=False)
    monkeypatch.setattr(env.runner.store, "write_status", real_write)
    monkeypatch.setattr(env.host, "qemu_devices", lambda qmp: {"net0", "net1", "net2"})
    live = env.runner.live_domain("g1")
    assert live is not None
    nic = live.interface_by_mac(MAC)
    assert nic is not None and nic.alias == "net2" and nic.port_id == PORT
    journal = env.journal()
    assert journal is not None and PORT in journal["info"]["ports"]
    env.runner.detach_interface("g1", "direct", MAC, live=True, config=False)
    env.runner.destroy("g1")
    assert env.host.leftovers() == []


def test_hostdev_interface_is_refused_live(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    env = started(tmp_path, monkeypatch)
    vf = Interface(type="hostdev", pci_address="0000:01:10.0", mac=MAC, managed=True)
    with pytest.raises(UnsupportedError, match="restart the guest"):
        env.runner.attach_interface("g1", vf, live=True, config=False)
    assert env.log() == []  # nothing changed


def test_hotplug_steps_round_trip_through_json() -> None:
    steps: list[Step] = [
        AddNic(qmp="/q", netdev={"type": "tap", "id": "hostnet1", "vhost": True},
               device={"driver": "e1000", "id": "net1", "mac": MAC}, node="/n"),
        AddNic(qmp="/q", netdev={"type": "tap", "id": "hostnet1", "ifname": "vnet3"},
               device={"driver": "e1000", "id": "net1", "mac": MAC}),
        RemoveNic(qmp="/q", alias="net1", netdev="hostnet1", mac=MAC, timeout=30.0),
    ]
    for step in steps:
        assert Step.from_json(step.to_json()) == step
        assert step_class(step.kind) is type(step)
    assert steps[1].describe().splitlines()[0] == (
        '# QMP /q: netdev_add {"id": "hostnet1", "ifname": "vnet3", "type": "tap"}')


def test_attach_and_detach_device_xml_live(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """libvirt-python's attachDeviceFlags/detachDeviceFlags with an <interface
    type='direct'> take the same way (the shim's attachDevice is AFFECT_LIVE)."""
    from kvmnet.guests import VIR_DOMAIN_AFFECT_LIVE, Guests

    env = started(tmp_path, monkeypatch)
    guests = Guests(env.conn)
    guests.runner = env.runner
    dom = guests.lookupByName("g1")
    xml = f"<interface type='direct'><mac address='{MAC}'/><source dev='lo'/></interface>"
    assert dom.attachDeviceFlags(xml, VIR_DOMAIN_AFFECT_LIVE) == 0
    assert any(line.startswith(f"# QMP {QMP}: getfd") for line in env.log())
    live = dom.definition(False)
    nic = live.interface_by_mac(MAC)
    assert nic is not None and nic.type == "direct" and nic.port_id == PORT
    assert dom.detachDeviceFlags(xml, VIR_DOMAIN_AFFECT_LIVE) == 0
    live = dom.definition(False)
    assert live.interface_by_mac(MAC) is None
    env.runner.destroy("g1")
    assert env.host.leftovers() == []

