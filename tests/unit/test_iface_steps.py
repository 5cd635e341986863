"""Golden step lists of the interface converge (iface-bridge's start), and its undo, on the
recording host: no root.  :func:`kvmnet.iface.bridging.converge_steps` is pure: the steps of
"from this live state to that one", in the order that keeps the host reachable, each holding
the value it replaces; the executor runs them with a journal whose undo puts everything back.
"""
from __future__ import annotations

import json
from pathlib import Path

from kvmnet.engine.executor import Context, run, undo
from kvmnet.engine.journal import Journal
from kvmnet.engine.recording import RecordingHost
from kvmnet.engine.step import Step
from kvmnet.host.nltypes import Address, Route
from kvmnet.iface.bridging import LinkState, LiveState, converge_steps, drop_link, move_l3, plan_start
from kvmnet.xmlio.interface import parse_interface

MAC = "52:54:00:aa:bb:01"
BRIDGE = """<interface type='bridge' name='virbr2'><start mode='onboot'/>
  <bridge stp='on' delay='0'><interface type='ethernet' name='eth1'/></bridge>
</interface>"""


def host() -> LiveState:
    """eth1 carries the host's addresses and routes (as test_iface_bridge's uplink)."""
    return LiveState(
        links={"lo": LinkState("lo", up=True), "eth1": LinkState("eth1", mac=MAC, mtu=1500)},
        addresses=[Address("eth1", "10.9.0.1", 24, 4), Address("eth1", "2001:db8:9::1", 64, 6),
                   Address("eth1", "fe80::1", 64, 6)],
        routes=[Route("0.0.0.0", 0, "10.9.0.2", "eth1", None, 4),
                Route("10.9.0.0", 24, None, "eth1", None, 4),
                Route("198.51.100.0", 24, "10.9.0.3", "eth1", 5, 4),
                Route("::", 0, "2001:db8:9::2", "eth1", 1024, 6)])


START = [
    (f"ip link add virbr2 address {MAC} type bridge stp_state 0 forward_delay 0 "
    "&& ip link set virbr2 up"),
    "ip addr add 10.9.0.1/24 dev virbr2",
    "ip addr add 2001:db8:9::1/64 dev virbr2 nodad",
    "ip link set eth1 master virbr2",
    "ip link set dev virbr2 type bridge stp_state 1 forward_delay 0",
    "ip route del 198.51.100.0/24 via 10.9.0.3 dev eth1 metric 5",
    "ip route add 198.51.100.0/24 via 10.9.0.3 dev virbr2 metric 5",
    "ip route del 0.0.0.0/0 via 10.9.0.2 dev eth1",
    "ip route add 0.0.0.0/0 via 10.9.0.2 dev virbr2",
    "ip -6 route del ::/0 via 2001:db8:9::2 dev eth1 metric 1024",
    "ip -6 route add ::/0 via 2001:db8:9::2 dev virbr2 metric 1024",
    "ip addr del 10.9.0.1/24 dev eth1",
    "ip addr del 2001:db8:9::1/64 dev eth1",
]
UNDO = [
    "ip addr add 2001:db8:9::1/64 dev eth1 nodad",
    "ip addr add 10.9.0.1/24 dev eth1",
    "ip -6 route del ::/0 via 2001:db8:9::2 dev virbr2 metric 1024",
    "ip -6 route add ::/0 via 2001:db8:9::2 dev eth1 metric 1024",
    "ip route del 0.0.0.0/0 via 10.9.0.2 dev virbr2",
    "ip route add 0.0.0.0/0 via 10.9.0.2 dev eth1",
    "ip route del 198.51.100.0/24 via 10.9.0.3 dev virbr2 metric 5",
    "ip route add 198.51.100.0/24 via 10.9.0.3 dev eth1 metric 5",
    "ip link set dev virbr2 type bridge stp_state 0",
    "ip link set eth1 nomaster",
    "ip addr del 2001:db8:9::1/64 dev virbr2",
    "ip addr del 10.9.0.1/24 dev virbr2",
    "ip link del virbr2",
]


def test_bridging_a_nic_golden_and_its_undo(tmp_path: Path) -> None:
    cur = host()
    plan = plan_start(parse_interface(BRIDGE), cur)
    steps, problems = converge_steps(cur, plan.target, deletable=set())
    assert problems == [] and plan.precreate == []
    assert [s.describe() for s in steps] == START
    rec = RecordingHost()
    journal = Journal(tmp_path / "journal.json", "virbr2")
    run(steps, journal, Context(rec))
    assert rec.log == START
    rec.log.clear()
    assert undo(journal, Context(rec)) == []
    assert rec.log == UNDO
    assert rec.leftovers() == []


def test_unbridging_deletes_the_bridge_and_its_undo_makes_it_again(tmp_path: Path) -> None:
    cur = host()
    bridged = plan_start(parse_interface(BRIDGE), cur).target
    target = bridged.copy()
    move_l3(target, "virbr2", "eth1")
    drop_link(target, "virbr2")
    bridged.links["virbr2"] = LinkState("virbr2", kind="bridge", mac=MAC, mtu=1500, stp=True,
                                        forward_delay_cs=0)
    steps, _ = converge_steps(bridged, target, deletable={"virbr2"})
    lines = [s.describe() for s in steps]
    assert lines[:2] == ["ip addr add 10.9.0.1/24 dev eth1",
                         "ip addr add 2001:db8:9::1/64 dev eth1 nodad"]
    assert lines[2] == "ip link del virbr2"  # at once: its addresses and routes go with it
    rec = RecordingHost()
    journal = Journal(tmp_path / "journal.json", "virbr2")
    run(steps, journal, Context(rec))
    rec.log.clear()
    assert undo(journal, Context(rec)) == []
    (relink,) = [text for text in rec.log if text.startswith("ip link add virbr2")]
    assert relink.splitlines() == [
        (f"ip link add virbr2 address {MAC} mtu 1500 type bridge stp_state 0 forward_delay 0 "
        "&& ip link set virbr2 up"),
        "ip link set eth1 master virbr2",
        "ip addr add 10.9.0.1/24 dev virbr2",
        "ip addr add 2001:db8:9::1/64 dev virbr2 nodad",
        "ip route add 0.0.0.0/0 via 10.9.0.2 dev virbr2",
        "ip route add 198.51.100.0/24 via 10.9.0.3 dev virbr2 metric 5",
        "ip -6 route add ::/0 via 2001:db8:9::2 dev virbr2 metric 1024",
    ]


def test_interface_steps_round_trip_through_json() -> None:
    cur = host()
    steps, _ = converge_steps(cur, plan_start(parse_interface(BRIDGE), cur).target,
                              deletable=set())
    for step in steps:
        assert Step.from_json(json.loads(json.dumps(step.to_json()))) == step
