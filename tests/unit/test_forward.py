"""Port forwards without root: the model's rules, the XML, the nft documents (golden), the
start plan, and the verbs on an inactive network (whose changes touch only the store)."""
from __future__ import annotations

import io
import json
import os
import socket
from pathlib import Path

import pytest

from kvmnet.cli.main import main
from kvmnet.engine.steps.forwards import ForwardsTransaction
from kvmnet.errors import XMLParseError
from kvmnet.model.forward import (
    PortForward,
    PortSpecError,
    count_problem,
    forward_problems,
    parse_ports,
)
from kvmnet.model.frozen import replace
from kvmnet.network.firewall.forwards import (
    documents,
    render_add,
    render_base,
    render_remove,
)
from kvmnet.network.forwards import change_step
from kvmnet.xmlio.network import format_network, parse_network

NS = "https://kvmnet.dev/xmlns/network/1"
WEB = PortForward("203.0.113.5", "tcp", ((80, 80), (443, 443)), "192.168.100.10",
                  ((8080, 8080), (8443, 8443)))
DNS = PortForward("203.0.113.5", "udp", ((5000, 5002),), "192.168.100.11", ((53, 53),))


def netxml(name: str = "pf", subnet: str = "192.168.100", mode: str = "nat",
           forwards: str = "") -> str:
    head = f"<network xmlns:kvmnet='{NS}'>" if forwards else "<network>"
    return (f"{head}\n  <name>{name}</name>\n  <forward mode='{mode}'/>\n"
            f"  <bridge name='virbr-{name}'/>\n"
            f"  <ip address='{subnet}.1' netmask='255.255.255.0'/>\n{forwards}</network>\n")


FORWARDS_XML = (
    "  <kvmnet:forwards>\n"
    "    <kvmnet:forward address='203.0.113.5' protocol='tcp' ports='80,443' "
    "target='192.168.100.10' targetPorts='8080,8443'/>\n"
    "    <kvmnet:forward address='203.0.113.5' protocol='udp' ports='5000-5002' "
    "target='192.168.100.11' targetPorts='53'/>\n"
    "  </kvmnet:forwards>\n")


# -- model ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "ranges"), [
    ("80", ((80, 80),)), ("80,443", ((80, 80), (443, 443))), ("8000-8010", ((8000, 8010),)),
    ("1,10-12", ((1, 1), (10, 12))),
])
def test_port_lists(text: str, ranges: tuple[tuple[int, int], ...]) -> None:
    assert parse_ports(text) == ranges


@pytest.mark.parametrize(("text", "says"), [
    ("", "not a port list"), ("80-", "not a port list"), ("http", "not a port list"),
    ("0", "1 to 65535"), ("65536", "1 to 65535"), ("90-80", "write 80-90"),
])
def test_bad_port_lists(text: str, says: str) -> None:
    with pytest.raises(PortSpecError, match=says):
        parse_ports(text)


def test_ranges_map_one_to_one_or_many_to_one() -> None:
    assert WEB.pairs() == [(80, 8080), (443, 8443)]
    assert DNS.pairs() == [(5000, 53), (5001, 53), (5002, 53)]
    same = PortForward("203.0.113.5", "tcp", ((22, 23),), "192.168.100.10")
    assert same.pairs() == [(22, 22), (23, 23)]
    bad = replace(DNS, target_ports=((53, 54),))
    assert "3 listen ports (5000-5002) but 2 target ports (53-54)" in (count_problem(bad) or "")
    assert "twice" in (count_problem(replace(DNS, ports=((1, 2), (2, 3)))) or "")


def _net(**kw: object) -> object:
    return replace(parse_network(netxml()), **kw)


def test_forward_rules_of_a_definition() -> None:
    ok = parse_network(netxml(forwards=FORWARDS_XML))
    assert forward_problems(ok) == []
    cases = [
        (replace(WEB, address="192.168.100.50"), "inside the network's subnet 192.168.100.0/24"),
        (replace(WEB, target="10.0.0.5"), "outside the network's IPv4 subnets (192.168.100.0/24)"),
        (replace(WEB, target="192.168.100.0"), "network address of 192.168.100.0/24"),
        (replace(WEB, target="192.168.100.255"), "broadcast address of 192.168.100.0/24"),
        (replace(WEB, address="127.0.0.1"), "not a unicast address"),
        (replace(WEB, address="0.0.0.0"), "not a unicast address"),
    ]
    for fwd, says in cases:
        problems = forward_problems(replace(ok, forwards=(fwd,)))
        assert len(problems) == 1 and says in problems[0], (fwd, problems)
    overlap = replace(WEB, ports=((443, 444),), target_ports=())
    problems = forward_problems(replace(ok, forwards=(WEB, overlap)))
    assert len(problems) == 1 and "overlaps forward tcp 203.0.113.5:80,443" in problems[0]
    assert "on tcp port 443" in problems[0]
    # udp and tcp on the same port do not overlap
    assert forward_problems(replace(ok, forwards=(WEB, replace(WEB, protocol="udp")))) == []
    routed = parse_network(netxml(mode="route", forwards=FORWARDS_XML))
    assert forward_problems(routed) == [
        "port forwards need a NAT network (forward mode 'nat', not 'route'); remove the forwards"]


# -- XML ------------------------------------------------------------------------------------
def test_xml_round_trip_in_kvmnet_namespace() -> None:
    net = parse_network(netxml(forwards=FORWARDS_XML))
    assert net.forwards == (WEB, DNS)
    text = format_network(net)
    assert text.startswith(f"<network xmlns:kvmnet='{NS}'>\n")
    assert text.endswith(FORWARDS_XML + "</network>\n")
    assert parse_network(text) == net
    plain = format_network(replace(net, forwards=()))
    assert "kvmnet" not in plain.replace("virbr-pf", "")


def test_target_ports_equal_to_ports_are_left_out() -> None:
    xml = netxml(forwards="  <kvmnet:forwards>\n    <kvmnet:forward address='203.0.113.5' "
                 "protocol='tcp' ports='22' target='192.168.100.10' targetPorts='22'/>\n"
                 "  </kvmnet:forwards>\n")
    net = parse_network(xml)
    assert net.forwards[0].target_ports == ()
    assert "targetPorts" not in format_network(net)


@pytest.mark.parametrize(("attrs", "says"), [
    ("protocol='tcp' ports='80' target='192.168.100.10'", "needs a 'address' attribute"),
    ("address='fe80::1%eth0' protocol='tcp' ports='80' target='192.168.100.10'",
     "invalid IP address"),
    ("address='203.0.113.5' protocol='sctp' ports='80' target='192.168.100.10'", "'sctp'"),
    ("address='203.0.113.5' protocol='tcp' ports='80-' target='192.168.100.10'", "port list"),
    ("address='203.0.113.5' protocol='tcp' ports='80' target='x'", "invalid IP address"),
])
def test_bad_forward_elements_name_their_path(attrs: str, says: str) -> None:
    xml = netxml(forwards=f"  <kvmnet:forwards>\n    <kvmnet:forward {attrs}/>\n"
                 "  </kvmnet:forwards>\n")
    with pytest.raises(XMLParseError, match=says) as err:
        parse_network(xml)
    assert "/network/kvmnet:forwards/kvmnet:forward[1]" in str(err.value)


# -- nft documents (golden) --------------------------------------------------------------------
BASE = """\
add table inet kvmnet_forwards { comment "kvmnet port forwards; managed by kvmnet"; }
add map inet kvmnet_forwards dnat4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
add map inet kvmnet_forwards dnat6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
add set inet kvmnet_forwards hairpin { type ipv4_addr . ifname; flags interval; }
add set inet kvmnet_forwards hairpin6 { type ipv6_addr . ifname; flags interval; }
add chain inet kvmnet_forwards prerouting { type nat hook prerouting priority dstnat - 1; policy accept; }
flush chain inet kvmnet_forwards prerouting
add rule inet kvmnet_forwards prerouting dnat ip to ip daddr . meta l4proto . th dport map @dnat4
add rule inet kvmnet_forwards prerouting dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6
add chain inet kvmnet_forwards output { type nat hook output priority -101; policy accept; }
flush chain inet kvmnet_forwards output
add rule inet kvmnet_forwards output dnat ip to ip daddr . meta l4proto . th dport map @dnat4
add rule inet kvmnet_forwards output dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6
add chain inet kvmnet_forwards postrouting { type nat hook postrouting priority srcnat - 1; policy accept; }
flush chain inet kvmnet_forwards postrouting
add rule inet kvmnet_forwards postrouting ct status dnat ip saddr . oifname @hairpin masquerade
add rule inet kvmnet_forwards postrouting ct status dnat ip6 saddr . oifname @hairpin6 masquerade
"""
ELEMENTS = """\
add element inet kvmnet_forwards hairpin { 192.168.100.0/24 . "virbr-pf" }
add element inet kvmnet_forwards dnat4 { 203.0.113.5 . tcp . 80 : 192.168.100.10 . 8080, \
203.0.113.5 . tcp . 443 : 192.168.100.10 . 8443, 203.0.113.5 . udp . 5000 : 192.168.100.11 . 53, \
203.0.113.5 . udp . 5001 : 192.168.100.11 . 53, 203.0.113.5 . udp . 5002 : 192.168.100.11 . 53 }
"""
SUBNETS = ["192.168.100.0/24"]


def _marker() -> str:
    return render_base().splitlines()[-1].split()[4]


def test_start_documents_golden() -> None:
    full, fast, destroy = documents("virbr-pf", SUBNETS, (WEB, DNS))
    head = "# kvmnet: port forwards into bridge virbr-pf\n"
    assert full == head + BASE + f"add set inet kvmnet_forwards {_marker()} {{ type ifname; }}\n" \
        + ELEMENTS
    assert fast == head + f"flush set inet kvmnet_forwards {_marker()}\n" + ELEMENTS
    assert destroy == (
        "# kvmnet: remove port forwards into bridge virbr-pf\n" + BASE.splitlines(True)[0]
        + "".join(BASE.splitlines(True)[1:5]) + ELEMENTS.splitlines(True)[1]
        + "delete element inet kvmnet_forwards dnat4 { 203.0.113.5 . tcp . 80, 203.0.113.5 . "
        "tcp . 443, 203.0.113.5 . udp . 5000, 203.0.113.5 . udp . 5001, 203.0.113.5 . udp . "
        "5002 }\n" + ELEMENTS.splitlines(True)[0]
        + 'delete element inet kvmnet_forwards hairpin { 192.168.100.0/24 . "virbr-pf" }\n')


def test_per_packet_rules_do_not_grow_with_forwards() -> None:
    many = PortForward("203.0.113.5", "tcp", ((10000, 10999),), "192.168.100.10")
    one = render_add("virbr-pf", SUBNETS, [WEB])
    thousand = render_add("virbr-pf", SUBNETS, [many])

    def rules(doc: str) -> list[str]:
        return [ln for ln in doc.splitlines() if ln.startswith("add rule")]

    # one rule per hooked chain and IP version, each matching only its own version
    assert rules(one) == rules(thousand) and len(rules(one)) == 6
    assert thousand.count(" : 192.168.100.10 . ") == 1000
    assert "add rule" not in render_remove("virbr-pf", SUBNETS, [many], hairpin=True)


def test_live_change_is_one_transaction_of_element_changes() -> None:
    step = change_step("virbr-pf", SUBNETS, (WEB,), (WEB, DNS))
    assert isinstance(step, ForwardsTransaction)
    assert "delete element" not in step.document and "192.168.100.11 . 53" in step.document
    assert step.fast is not None and "add rule" not in step.fast
    # the undo covers the old and the new forwards until the journal is narrowed
    assert "203.0.113.5 . tcp . 80," in (step.destroy or "")
    assert "203.0.113.5 . udp . 5000" in (step.destroy or "")
    gone = change_step("virbr-pf", SUBNETS, (WEB, DNS), (DNS,))
    assert gone.fast is None and "add rule" not in gone.document
    assert "delete element inet kvmnet_forwards dnat4 { 203.0.113.5 . tcp . 80, " \
        "203.0.113.5 . tcp . 443 }" in gone.document
    assert "delete element inet kvmnet_forwards hairpin" not in gone.document
    last = change_step("virbr-pf", SUBNETS, (DNS,), ())
    assert "delete element inet kvmnet_forwards hairpin" in last.document
    step_json = step.to_json()
    assert step_json["kind"] == "forwards" and json.loads(json.dumps(step_json)) == step_json


def test_start_plan_has_a_forwards_step_after_the_network_nft(tmp_path: Path) -> None:
    from kvmnet.network.compile import start_steps
    from kvmnet.paths import Paths

    paths = Paths(tmp_path)
    kinds = [s.kind for s in start_steps(parse_network(netxml(forwards=FORWARDS_XML)), paths)]
    assert kinds.index("forwards") == kinds.index("nft") + 1
    assert "forwards" not in [s.kind for s in start_steps(parse_network(netxml()), paths)]


# -- the verbs on an inactive network (store only) --------------------------------------------
def cli(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--root", str(root), *args], stdout=out, stderr=err, stdin=io.StringIO(""))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name, subnet in (("pf", "192.168.100"), ("other", "192.168.101")):
        (tmp_path / f"{name}.xml").write_text(netxml(name, subnet))
        assert cli(tmp_path, "net-define", str(tmp_path / f"{name}.xml"))[0] == 0
    return tmp_path


def _stored(root: Path, name: str = "pf") -> str:
    return cli(root, "net-dumpxml", name, "--inactive")[1]


def test_add_list_remove_on_an_inactive_network(root: Path) -> None:
    rc, out, err = cli(root, "net-forward-add", "pf", "203.0.113.5", "tcp", "80,443",
                       "192.168.100.10", "8080,8443")
    assert (rc, err) == (0, ""), err
    assert out == ("Added forward tcp 203.0.113.5:80,443 -> 192.168.100.10:8080,8443 to network "
                   "pf persistent config\n\n")
    assert "<kvmnet:forward address='203.0.113.5' protocol='tcp' ports='80,443'" in _stored(root)
    rc, out, _ = cli(root, "net-forward-list", "pf", "--json")
    assert json.loads(out) == [{"listen_address": "203.0.113.5", "protocol": "tcp",
                                "ports": "80,443", "target_address": "192.168.100.10",
                                "target_ports": "8080,8443"}]
    rc, out, _ = cli(root, "net-forward-list", "pf")
    assert out.splitlines()[2].split() == ["203.0.113.5", "tcp", "80,443", "192.168.100.10",
                                           "8080,8443"]
    assert cli(root, "net-forward-remove", "pf", "203.0.113.5", "tcp", "80,443")[0] == 0
    assert "kvmnet" not in _stored(root).replace("virbr-pf", "")


@pytest.mark.parametrize(("args", "says"), [
    (("192.168.101.7", "tcp", "80", "192.168.100.10"),
     "listen address 192.168.101.7 is inside subnet 192.168.101.0/24 of network 'other'"),
    (("203.0.113.5", "tcp", "80", "192.168.101.10"), "outside the network's IPv4 subnets"),
    (("203.0.113.5", "tcp", "80-82", "192.168.100.10", "1,2"), "3 listen ports"),
    (("203.0.113.5", "tcp", "90", "192.168.100.10"), "of network 'other' already listens there"),
    (("203.0.113.5", "icmp", "90", "192.168.100.10"), "protocol 'icmp' is not tcp or udp"),
    (("2001:db8::1", "tcp", "90", "192.168.100.10"),
     "listen address 2001:db8::1 is IPv6 but target 192.168.100.10 is IPv4"),
    (("203.0.113.5", "tcp", "90", "192.168.100.10", "--live"), "is not active"),
])
def test_refusals_change_nothing(root: Path, args: tuple[str, ...], says: str) -> None:
    assert cli(root, "net-forward-add", "other", "203.0.113.5", "tcp", "90", "192.168.101.5",
               "--config")[0] == 0
    before = (_stored(root), _stored(root, "other"))
    rc, out, err = cli(root, "net-forward-add", "pf", *args)
    assert rc == 1 and out.strip() == "" and err.count("\n") == 1 and err.startswith("error: "), err
    assert says in err, err
    assert (_stored(root), _stored(root, "other")) == before


def test_a_listening_process_is_named(root: Path) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen(1)
        port = s.getsockname()[1]
        rc, _, err = cli(root, "net-forward-add", "pf", "203.0.113.5", "tcp", str(port),
                         "192.168.100.10")
    assert rc == 1, err
    with open(f"/proc/{os.getpid()}/comm") as f:
        comm = f.read().strip()
    assert f"tcp port {port} on 0.0.0.0 is already in use by PID {os.getpid()} ({comm})" in err
    assert "kvmnet:forward" not in _stored(root)


def test_remove_of_an_unknown_forward_lists_the_forwards(root: Path) -> None:
    cli(root, "net-forward-add", "pf", "203.0.113.5", "udp", "53", "192.168.100.10")
    rc, _, err = cli(root, "net-forward-remove", "pf", "203.0.113.5", "tcp", "53")
    assert rc == 1 and "its forwards: udp 203.0.113.5:53 -> 192.168.100.10:53" in err, err
