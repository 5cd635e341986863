"""Golden tests of the OVS port step (kvmnet/engine/steps/ovsdb.py): what it says it does, in
ovs-vsctl's shell form, its JSON round trip, and its journalled undo, through the recording
host (no root, no Open vSwitch)."""
from __future__ import annotations

from kvmnet.engine.executor import Context
from kvmnet.engine.recording import RecordingHost
from kvmnet.engine.step import Step, undo_class
from kvmnet.engine.steps.ovsdb import AddOvsPort


def _step(**extra: object) -> AddOvsPort:
    return AddOvsPort(bridge="ovsbr0", port="vnet0", **extra)


def test_a_plain_port() -> None:
    assert _step().describe() == "ovs-vsctl --may-exist add-port ovsbr0 vnet0"


def test_a_guest_port_as_libvirt_adds_it() -> None:
    step = _step(tag=42, iface_external_ids={
        "iface-id": "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d", "iface-status": "active",
        "attached-mac": "52:54:00:12:34:56", "vm-id": "c7a5fdbd-edaf-9455-926a-d65c16db1809"},
        external_ids={"kvmnet-owner": "guest1"}, wait=False)
    assert step.describe() == (
        "ovs-vsctl --no-wait --may-exist add-port ovsbr0 vnet0 tag=42 "
        "external_ids:kvmnet-owner=guest1 -- set Interface vnet0 "
        "'external_ids:attached-mac=\"52:54:00:12:34:56\"' "
        "'external_ids:iface-id=\"5d744f21-ba4a-4d6e-bdb2-30a35ff3207d\"' "
        "external_ids:iface-status=active "
        "'external_ids:vm-id=\"c7a5fdbd-edaf-9455-926a-d65c16db1809\"'")


def test_trunks_policing_and_qos() -> None:
    # libvirt's <bandwidth><inbound average='1000' burst='100'/><outbound average='1000'
    # peak='2000' burst='256'/></bandwidth> on a tap: outbound policed, inbound shaped
    step = _step(trunks=[20, 10], vlan_mode="native-untagged", ingress_policing_rate=8000,
                 ingress_policing_burst=2048,
                 qos={"min_rate": 8000000, "max_rate": 16000000, "burst": 819200},
                 qos_external_ids={"vm-id": "c7a5fdbd-edaf-9455-926a-d65c16db1809",
                                   "ifname": "vnet0"},
                 db="unix:/tmp/db.sock", may_exist=False)
    ids = ("external_ids:ifname=vnet0 "
           "'external_ids:vm-id=\"c7a5fdbd-edaf-9455-926a-d65c16db1809\"'")
    conf = "other_config:min-rate=8000000 other_config:burst=819200 other_config:max-rate=16000000"
    assert step.describe() == (
        "ovs-vsctl --db=unix:/tmp/db.sock add-port ovsbr0 vnet0 trunks=10,20 "
        "vlan_mode=native-untagged -- set Interface vnet0 ingress_policing_rate=8000 "
        f"ingress_policing_burst=2048 -- set Port vnet0 qos=@qos {ids} -- --id=@qos create QoS "
        f"type=linux-htb {conf} queues:0=@q {ids} -- --id=@q create Queue {conf} {ids}")


def test_libvirt_rates_in_ovs_units() -> None:
    from kvmnet.host.ovsnames import libvirt_policing, libvirt_tx_qos

    assert libvirt_tx_qos(1000, 2000, 256) == {"min_rate": 8000000, "max_rate": 16000000,
                                               "burst": 2097152}
    assert libvirt_tx_qos(1000) == {"min_rate": 8000000, "max_rate": None, "burst": None}
    assert libvirt_policing(1000, 256) == (8000, 2048)


def test_json_round_trip_and_the_journalled_undo() -> None:
    step = _step(tag=7, iface_external_ids={"iface-id": "x"})
    again = Step.from_json(step.to_json())
    assert again == step and again.describe() == step.describe()
    host = RecordingHost()
    ctx = Context(host)
    entry = step.undo_record(ctx)
    assert entry == {"kind": "ovsdb.port", "port": "vnet0", "bridge": "ovsbr0", "db": None}
    host.perform(step, ctx)
    handler = undo_class(entry["kind"])
    assert handler is not None
    host.revert(handler, entry, ctx)
    assert host.log == [step.describe(), "ovs-vsctl --if-exists del-port ovsbr0 vnet0"]
    assert host.leftovers() == []
