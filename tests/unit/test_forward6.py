"""IPv6 port forwards without root: the validation table (model and verbs), the XML, the nft
documents (golden) and the live change step.

A forward stays in one IP version: an IPv6 listen address of the host to a guest's IPv6
address inside one of the network's IPv6 subnets, rendered into ``dnat6``/``hairpin6`` of
the same ``inet kvmnet_forwards`` table as the IPv4 ones (tests/unit/test_forward.py).
"""
from __future__ import annotations

import io
import json
import os
import socket
from pathlib import Path

import pytest

from kvmnet.api import makeForward
from kvmnet.cli.main import main
from kvmnet.errors import InvalidArgError
from kvmnet.model.forward import PortForward, describe, forward_problems, subnets
from kvmnet.model.frozen import replace
from kvmnet.network.firewall.forwards import documents, render_base
from kvmnet.network.forwards import change_step
from kvmnet.xmlio.network import format_network, parse_network

NS = "https://kvmnet.dev/xmlns/network/1"
LISTEN = "2001:db8:5::7"
TARGET = "fd00:100::10"
WEB6 = PortForward(LISTEN, "tcp", ((80, 80), (443, 443)), TARGET, ((8080, 8080), (8443, 8443)))
DNS6 = PortForward(LISTEN, "udp", ((53, 53),), "fd00:100::11")
WEB4 = PortForward("203.0.113.5", "tcp", ((80, 80),), "192.168.100.10", ((8080, 8080),))


def netxml(name: str = "pf", v4: str = "192.168.100", v6: str | None = "fd00:100:",
           forwards: str = "") -> str:
    head = f"<network xmlns:kvmnet='{NS}'>" if forwards else "<network>"
    six = f"  <ip family='ipv6' address='{v6}:1' prefix='64'/>\n" if v6 else ""
    return (f"{head}\n  <name>{name}</name>\n  <forward mode='nat'/>\n"
            f"  <bridge name='virbr-{name}'/>\n"
            f"  <ip address='{v4}.1' netmask='255.255.255.0'/>\n{six}{forwards}</network>\n")


FORWARDS_XML = (
    "  <kvmnet:forwards>\n"
    f"    <kvmnet:forward address='{LISTEN}' protocol='tcp' ports='80,443' target='{TARGET}' "
    "targetPorts='8080,8443'/>\n"
    "    <kvmnet:forward address='203.0.113.5' protocol='tcp' ports='80' "
    "target='192.168.100.10' targetPorts='8080'/>\n"
    "  </kvmnet:forwards>\n")


# -- model: the validation table ----------------------------------------------------------------
def test_a_mixed_definition_is_valid_and_round_trips() -> None:
    net = parse_network(netxml(forwards=FORWARDS_XML))
    assert net.forwards == (WEB6, WEB4)
    assert forward_problems(net) == []
    assert [str(s) for s in subnets(net)] == ["192.168.100.0/24", "fd00:100::/64"]
    assert [str(s) for s in subnets(net, 6)] == ["fd00:100::/64"]
    text = format_network(net)
    assert text.endswith(FORWARDS_XML + "</network>\n")
    assert parse_network(text) == net


def test_xml_addresses_are_stored_canonical() -> None:
    xml = netxml(forwards="  <kvmnet:forwards>\n    <kvmnet:forward address='2001:DB8:5:0::7' "
                 "protocol='tcp' ports='22' target='FD00:100:0:0::10'/>\n"
                 "  </kvmnet:forwards>\n")
    fwd = parse_network(xml).forwards[0]
    assert (fwd.address, fwd.target, fwd.version) == (LISTEN, TARGET, 6)


V6_CASES = [
    # (listen, target, what the one problem says)
    ("fe80::1", TARGET, "listen address fe80::1 is link-local"),
    ("ff02::1", TARGET, "listen address ff02::1 is not a unicast address"),
    ("::1", TARGET, "listen address ::1 is not a unicast address"),
    ("::", TARGET, "listen address :: is not a unicast address"),
    ("::ffff:203.0.113.5", TARGET,
     "IPv4-mapped IPv6 address; write the IPv4 address itself (203.0.113.5)"),
    ("fd00:100::99", TARGET,
     "listen address fd00:100::99 is inside the network's subnet fd00:100::/64"),
    (LISTEN, "fd00:200::10", ("target fd00:200::10 is outside the network's IPv6 subnets "
                              "(fd00:100::/64); give the guest's address on this network")),
    (LISTEN, "fe80::5054:ff:fe00:1", "outside the network's IPv6 subnets (fd00:100::/64)"),
    (LISTEN, "fd00:100::",
     "target fd00:100:: is the subnet-router anycast address of fd00:100::/64"),
    (LISTEN, "192.168.100.10", (f"listen address {LISTEN} is IPv6 but target 192.168.100.10 "
                                "is IPv4; a forward rewrites the destination, not the IP "
                                "version")),
    ("203.0.113.5", TARGET, f"listen address 203.0.113.5 is IPv4 but target {TARGET} is IPv6"),
]


@pytest.mark.parametrize(("listen", "target", "says"), V6_CASES)
def test_ipv6_forward_rules_of_a_definition(listen: str, target: str, says: str) -> None:
    net = parse_network(netxml())
    fwd = replace(WEB6, address=listen, target=target)
    problems = forward_problems(replace(net, forwards=(fwd,)))
    assert len(problems) == 1 and says in problems[0], problems
    assert problems[0].startswith(f"forward {describe(fwd)}: ")


def test_target_of_a_network_without_ipv6_says_to_add_one() -> None:
    net = parse_network(netxml(v6=None))
    problems = forward_problems(replace(net, forwards=(WEB6,)))
    assert problems == [(f"forward {describe(WEB6)}: target {TARGET} is outside the "
                         "network's IPv6 subnets (none); add an IPv6 <ip> to the network, or "
                         "give the guest's address in one of its subnets")]


def test_the_last_address_of_a_subnet_is_a_guest_in_ipv6() -> None:
    # no broadcast address in IPv6; and a /127's both addresses are usable (RFC 6164)
    net = parse_network(netxml())
    last = replace(WEB6, target="fd00:100::ffff:ffff:ffff:ffff")
    assert forward_problems(replace(net, forwards=(last,))) == []


def test_overlaps_are_per_address_not_per_version() -> None:
    net = parse_network(netxml())
    overlap = replace(WEB6, ports=((443, 443),), target_ports=())
    problems = forward_problems(replace(net, forwards=(WEB6, overlap)))
    assert len(problems) == 1 and f"overlaps forward tcp [{LISTEN}]:80,443" in problems[0]
    assert forward_problems(replace(net, forwards=(WEB6, DNS6, WEB4))) == []


def test_describe_brackets_ipv6_addresses() -> None:
    assert describe(WEB6) == f"tcp [{LISTEN}]:80,443 -> [{TARGET}]:8080,8443"
    assert describe(WEB4) == "tcp 203.0.113.5:80 -> 192.168.100.10:8080"


@pytest.mark.parametrize(("listen", "target", "says"), [
    ("fe80::1%eth0", TARGET, "listen address 'fe80::1%eth0' is not an IP address"),
    (LISTEN, "fd00::1%eth0", "target address 'fd00::1%eth0' is not an IP address"),
    ("fe80::1", TARGET, "is link-local"),
    ("203.0.113.5", TARGET, "is IPv4 but target fd00:100::10 is IPv6"),
    (LISTEN, "192.168.100.10", "is IPv6 but target 192.168.100.10 is IPv4"),
])
def test_make_forward_refuses_at_once(listen: str, target: str, says: str) -> None:
    with pytest.raises(InvalidArgError, match=None) as err:
        makeForward(listen, "tcp", "80", target)
    assert says in str(err.value)


def test_make_forward_stores_canonical_text() -> None:
    fwd = makeForward("2001:DB8:5:0:0::7", "tcp", "80", "FD00:100::0:10")
    assert (fwd.address, fwd.target) == (LISTEN, TARGET)


# -- nft documents (golden) --------------------------------------------------------------------
def test_mixed_start_documents_golden() -> None:
    full, fast, destroy = documents("virbr-pf", ["192.168.100.0/24", "fd00:100::/64"],
                                    (WEB6, WEB4, DNS6))
    base = render_base()
    marker = base.splitlines()[-1].split()[4]
    elements = (
        'add element inet kvmnet_forwards hairpin { 192.168.100.0/24 . "virbr-pf" }\n'
        'add element inet kvmnet_forwards hairpin6 { fd00:100::/64 . "virbr-pf" }\n'
        "add element inet kvmnet_forwards dnat4 { 203.0.113.5 . tcp . 80 : 192.168.100.10 . "
        "8080 }\n"
        "add element inet kvmnet_forwards dnat6 { 2001:db8:5::7 . tcp . 80 : fd00:100::10 . "
        "8080, 2001:db8:5::7 . tcp . 443 : fd00:100::10 . 8443, 2001:db8:5::7 . udp . 53 : "
        "fd00:100::11 . 53 }\n")
    head = "# kvmnet: port forwards into bridge virbr-pf\n"
    assert full == head + base + elements
    assert fast == head + f"flush set inet kvmnet_forwards {marker}\n" + elements
    assert "add rule inet kvmnet_forwards prerouting dnat ip6 to ip6 daddr . meta l4proto . " \
        "th dport map @dnat6\n" in base
    assert "add rule inet kvmnet_forwards postrouting ct status dnat ip6 saddr . oifname " \
        "@hairpin6 masquerade\n" in base
    declarations = "".join(base.splitlines(True)[:5])
    assert destroy == (
        "# kvmnet: remove port forwards into bridge virbr-pf\n" + declarations
        + elements.splitlines(True)[2]
        + "delete element inet kvmnet_forwards dnat4 { 203.0.113.5 . tcp . 80 }\n"
        + elements.splitlines(True)[3]
        + "delete element inet kvmnet_forwards dnat6 { 2001:db8:5::7 . tcp . 80, "
        "2001:db8:5::7 . tcp . 443, 2001:db8:5::7 . udp . 53 }\n"
        + elements.splitlines(True)[0]
        + 'delete element inet kvmnet_forwards hairpin { 192.168.100.0/24 . "virbr-pf" }\n'
        + elements.splitlines(True)[1]
        + 'delete element inet kvmnet_forwards hairpin6 { fd00:100::/64 . "virbr-pf" }\n')


def test_live_change_of_an_ipv6_forward_touches_dnat6_only() -> None:
    nets = ["192.168.100.0/24", "fd00:100::/64"]
    step = change_step("virbr-pf", nets, (WEB4,), (WEB4, DNS6))
    assert step.fast is not None
    added = [ln for ln in step.fast.splitlines() if ln.startswith("add element")]
    assert added[-1] == ("add element inet kvmnet_forwards dnat6 { 2001:db8:5::7 . udp . 53 : "
                         "fd00:100::11 . 53 }")
    assert not any(" dnat4 " in ln for ln in added)
    gone = change_step("virbr-pf", nets, (WEB4, DNS6), (WEB4,))
    assert [ln for ln in gone.document.splitlines() if ln.startswith("delete")] == [
        "delete element inet kvmnet_forwards dnat6 { 2001:db8:5::7 . udp . 53 }"]


def test_start_plan_renders_ipv6_forwards(tmp_path: Path) -> None:
    from kvmnet.network.compile import start_steps
    from kvmnet.paths import Paths

    steps = start_steps(parse_network(netxml(forwards=FORWARDS_XML)), Paths(tmp_path))
    fwd = next(s for s in steps if s.kind == "forwards")
    doc = json.dumps(fwd.to_json())
    assert "2001:db8:5::7 . tcp . 443 : fd00:100::10 . 8443" in doc
    assert 'fd00:100::/64 . \\"virbr-pf\\"' in doc


# -- the verbs on an inactive network (store only) --------------------------------------------
def cli(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--root", str(root), *args], stdout=out, stderr=err, stdin=io.StringIO(""))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name, v4, v6 in (("pf", "192.168.100", "fd00:100:"), ("other", "192.168.101",
                                                                "fd00:101:")):
        (tmp_path / f"{name}.xml").write_text(netxml(name, v4, v6))
        assert cli(tmp_path, "net-define", str(tmp_path / f"{name}.xml"))[0] == 0
    return tmp_path


def _stored(root: Path, name: str = "pf") -> str:
    return cli(root, "net-dumpxml", name, "--inactive")[1]


def test_add_list_remove_an_ipv6_forward(root: Path) -> None:
    rc, out, err = cli(root, "net-forward-add", "pf", "2001:DB8:5::7", "tcp", "80,443",
                       TARGET, "8080,8443")
    assert (rc, err) == (0, ""), err
    assert out == (f"Added forward tcp [{LISTEN}]:80,443 -> [{TARGET}]:8080,8443 to network "
                   "pf persistent config\n\n")
    assert (f"<kvmnet:forward address='{LISTEN}' protocol='tcp' ports='80,443' "
            f"target='{TARGET}' targetPorts='8080,8443'/>") in _stored(root)
    rc, out, _ = cli(root, "net-forward-list", "pf", "--json")
    assert json.loads(out) == [{"listen_address": LISTEN, "protocol": "tcp", "ports": "80,443",
                                "target_address": TARGET, "target_ports": "8080,8443"}]
    # any spelling of the address names the forward
    rc, out, err = cli(root, "net-forward-remove", "pf", "2001:db8:5:0::7", "tcp", "80,443")
    assert (rc, err) == (0, ""), err
    assert out.startswith("Removed forward tcp [2001:db8:5:0::7]:80,443 from network pf")
    assert "kvmnet:forward" not in _stored(root)


@pytest.mark.parametrize(("args", "says"), [
    (("fd00:101::7", "tcp", "80", TARGET),
     "listen address fd00:101::7 is inside subnet fd00:101::/64 of network 'other'"),
    (("fd00:100::7", "tcp", "80", TARGET),
     "listen address fd00:100::7 is inside subnet fd00:100::/64 of network 'pf'"),
    ((LISTEN, "tcp", "80", "fd00:101::10"), "outside the network's IPv6 subnets"),
    ((LISTEN, "tcp", "90", TARGET), "of network 'other' already listens there"),
    ((LISTEN, "tcp", "80", "fd00:100::"), "subnet-router anycast address"),
    (("fe80::1", "tcp", "80", TARGET), "is link-local"),
    (("ff05::2", "tcp", "80", TARGET), "not a unicast address"),
    (("203.0.113.5", "tcp", "80", TARGET), "is IPv4 but target fd00:100::10 is IPv6"),
    ((LISTEN, "tcp", "80", "192.168.100.10"), "is IPv6 but target 192.168.100.10 is IPv4"),
])
def test_ipv6_refusals_change_nothing(root: Path, args: tuple[str, ...], says: str) -> None:
    assert cli(root, "net-forward-add", "other", LISTEN, "tcp", "90", "fd00:101::5",
               "--config")[0] == 0
    before = (_stored(root), _stored(root, "other"))
    rc, out, err = cli(root, "net-forward-add", "pf", *args)
    assert rc == 1 and out.strip() == "" and err.count("\n") == 1 and err.startswith("error: "), err
    assert says in err, err
    assert (_stored(root), _stored(root, "other")) == before


def test_remove_of_an_unknown_ipv6_forward_lists_the_forwards(root: Path) -> None:
    cli(root, "net-forward-add", "pf", LISTEN, "udp", "53", TARGET)
    rc, _, err = cli(root, "net-forward-remove", "pf", LISTEN, "tcp", "53")
    assert rc == 1, err
    assert (f"no forward listening on tcp [{LISTEN}]:53 (its forwards: udp [{LISTEN}]:53 -> "
            f"[{TARGET}]:53)") in err, err


def test_a_process_listening_on_the_ipv6_wildcard_is_named(root: Path) -> None:
    with socket.socket(socket.AF_INET6) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(("::", 0))
        s.listen(1)
        port = s.getsockname()[1]
        rc, _, err = cli(root, "net-forward-add", "pf", LISTEN, "tcp", str(port), TARGET)
    assert rc == 1, err
    assert f"tcp port {port} on :: is already in use by PID {os.getpid()}" in err, err
    assert LISTEN not in _stored(root)
