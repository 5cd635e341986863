"""Golden tests for kvmnet.network.firewall.nftables: pure text, no root needed.

The goldens pin the exact documents; the corpus test checks that what we render
means what libvirt's own nftables backend does for the same XML (accepted
subnets, connection-state restriction, masquerade port range, forward dev);
and, when running as root, ``nft -c`` validates every document inside a
throwaway network namespace.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from kvmnet.errors import InvalidArgError
from kvmnet.model.network import (
    Bridge,
    Dns,
    Forward,
    ForwardMode,
    IPDef,
    Nat,
    Network,
)
from kvmnet.network.firewall.nftables import (
    NetFirewall,
    chain_names,
    firewall_for,
    render_base,
    render_destroy,
    render_remove_all,
    render_start,
)
from kvmnet.xmlio.network import parse_network

BASE = dedent("""\
    # kvmnet base (idempotent)
    add table inet kvmnet { comment "kvmnet virtual networks; managed by kvmnet"; }
    add map inet kvmnet bridges { type ifname : verdict; }
    add set inet kvmnet host_in { type ifname . nf_proto . inet_proto . inet_service; }
    add set inet kvmnet host_out { type ifname . nf_proto . inet_proto . inet_service; }
    add map inet kvmnet nat_bridges { type ifname : verdict; }
    add chain inet kvmnet forward { type filter hook forward priority filter; policy accept; }
    flush chain inet kvmnet forward
    add rule inet kvmnet forward oifname vmap @bridges
    add rule inet kvmnet forward iifname vmap @bridges
    add chain inet kvmnet input { type filter hook input priority filter; policy accept; }
    flush chain inet kvmnet input
    add rule inet kvmnet input iifname . meta nfproto . meta l4proto . th dport @host_in counter accept
    add chain inet kvmnet output { type filter hook output priority filter; policy accept; }
    flush chain inet kvmnet output
    add rule inet kvmnet output oifname . meta nfproto . meta l4proto . th dport @host_out counter accept
    add chain inet kvmnet postrouting { type nat hook postrouting priority srcnat; policy accept; }
    flush chain inet kvmnet postrouting
    add rule inet kvmnet postrouting iifname vmap @nat_bridges
    add set inet kvmnet base_f652377a9997 { type ifname; }
    """)

BASE_BODY = BASE.splitlines()[1:]  # without the header comment

NAT_DEFAULT = NetFirewall("default", "virbr0", "nat", ("192.168.122.0/24",))

NAT_DEFAULT_START = (
    '# kvmnet: start network "default" (nat, bridge "virbr0")\n'
    + "\n".join(BASE_BODY) + "\n"
    + dedent("""\
    add chain inet kvmnet fwd_default_37a8eec1ce { comment "kvmnet network default"; }
    add chain inet kvmnet nat_default_37a8eec1ce { comment "kvmnet network default"; }
    flush chain inet kvmnet fwd_default_37a8eec1ce
    add rule inet kvmnet fwd_default_37a8eec1ce oifname "virbr0" iifname "virbr0" counter accept comment "same bridge"
    add rule inet kvmnet fwd_default_37a8eec1ce oifname "virbr0" ip daddr 192.168.122.0/24 ct state established,related counter accept
    add rule inet kvmnet fwd_default_37a8eec1ce oifname "virbr0" ip daddr 192.168.122.0/24 ct status dnat counter accept
    add rule inet kvmnet fwd_default_37a8eec1ce oifname "virbr0" counter reject
    add rule inet kvmnet fwd_default_37a8eec1ce ip saddr 192.168.122.0/24 counter accept
    add rule inet kvmnet fwd_default_37a8eec1ce counter reject
    flush chain inet kvmnet nat_default_37a8eec1ce
    add rule inet kvmnet nat_default_37a8eec1ce ip saddr 192.168.122.0/24 ip daddr 224.0.0.0/24 counter return
    add rule inet kvmnet nat_default_37a8eec1ce ip saddr 192.168.122.0/24 ip daddr 255.255.255.255 counter return
    add rule inet kvmnet nat_default_37a8eec1ce meta l4proto tcp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade to :1024-65535
    add rule inet kvmnet nat_default_37a8eec1ce meta l4proto udp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade to :1024-65535
    add rule inet kvmnet nat_default_37a8eec1ce ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade
    add element inet kvmnet bridges { "virbr0" : jump fwd_default_37a8eec1ce }
    add element inet kvmnet host_in { "virbr0" . ipv4 . udp . 67, "virbr0" . ipv4 . udp . 53, "virbr0" . ipv4 . tcp . 53 }
    add element inet kvmnet host_out { "virbr0" . ipv4 . udp . 68 }
    add element inet kvmnet nat_bridges { "virbr0" : jump nat_default_37a8eec1ce }
    """))

NAT_DEFAULT_DESTROY = (
    '# kvmnet: destroy network "default" (bridge "virbr0")\n'
    + "\n".join(line for line in BASE_BODY[:5]) + "\n"
    + dedent("""\
    add chain inet kvmnet fwd_default_37a8eec1ce { comment "kvmnet network default"; }
    add chain inet kvmnet nat_default_37a8eec1ce { comment "kvmnet network default"; }
    add element inet kvmnet bridges { "virbr0" : jump fwd_default_37a8eec1ce }
    add element inet kvmnet host_in { "virbr0" . ipv4 . udp . 67, "virbr0" . ipv4 . udp . 53, "virbr0" . ipv4 . tcp . 53 }
    add element inet kvmnet host_out { "virbr0" . ipv4 . udp . 68 }
    add element inet kvmnet nat_bridges { "virbr0" : jump nat_default_37a8eec1ce }
    delete element inet kvmnet bridges { "virbr0" : jump fwd_default_37a8eec1ce }
    delete element inet kvmnet host_in { "virbr0" . ipv4 . udp . 67, "virbr0" . ipv4 . udp . 53, "virbr0" . ipv4 . tcp . 53 }
    delete element inet kvmnet host_out { "virbr0" . ipv4 . udp . 68 }
    delete element inet kvmnet nat_bridges { "virbr0" : jump nat_default_37a8eec1ce }
    flush chain inet kvmnet fwd_default_37a8eec1ce
    delete chain inet kvmnet fwd_default_37a8eec1ce
    flush chain inet kvmnet nat_default_37a8eec1ce
    delete chain inet kvmnet nat_default_37a8eec1ce
    """))


def own_lines(document: str) -> str:
    """The lines of a start/destroy document that are not the shared base."""
    base = set(BASE.splitlines())
    return "".join(line + "\n" for line in document.splitlines()[1:] if line not in base)


# ------------------------------------------------------------------ goldens

def test_base_golden() -> None:
    assert render_base() == BASE


def test_nat_default_start_golden() -> None:
    assert render_start(NAT_DEFAULT) == NAT_DEFAULT_START


def test_nat_default_destroy_golden() -> None:
    assert render_destroy(NAT_DEFAULT) == NAT_DEFAULT_DESTROY


def test_fast_start_assumes_the_current_base() -> None:
    """Without the base, the document first touches the version marker (ENOENT if absent)."""
    fast = render_start(NAT_DEFAULT, base=False)
    assert fast.splitlines()[1] == "flush set inet kvmnet base_f652377a9997"
    assert not any(line in set(BASE_BODY) for line in fast.splitlines()[2:])
    assert fast.splitlines()[2:] == [
        line for line in render_start(NAT_DEFAULT).splitlines()[1:] if line not in set(BASE_BODY)]


def test_start_is_base_then_network() -> None:
    """The base comes first, whole and in order, so start alone sets up a fresh namespace."""
    lines = render_start(NAT_DEFAULT).splitlines()
    assert lines[1:1 + len(BASE_BODY)] == BASE_BODY


def test_route_golden() -> None:
    fw = NetFirewall("r", "virbr1", "route", ("192.168.122.0/24",))
    assert own_lines(render_start(fw)) == dedent("""\
        add chain inet kvmnet fwd_r_454349e422 { comment "kvmnet network r"; }
        flush chain inet kvmnet fwd_r_454349e422
        add rule inet kvmnet fwd_r_454349e422 oifname "virbr1" iifname "virbr1" counter accept comment "same bridge"
        add rule inet kvmnet fwd_r_454349e422 oifname "virbr1" ip daddr 192.168.122.0/24 counter accept
        add rule inet kvmnet fwd_r_454349e422 oifname "virbr1" counter reject
        add rule inet kvmnet fwd_r_454349e422 ip saddr 192.168.122.0/24 counter accept
        add rule inet kvmnet fwd_r_454349e422 counter reject
        add element inet kvmnet bridges { "virbr1" : jump fwd_r_454349e422 }
        add element inet kvmnet host_in { "virbr1" . ipv4 . udp . 67, "virbr1" . ipv4 . udp . 53, "virbr1" . ipv4 . tcp . 53 }
        add element inet kvmnet host_out { "virbr1" . ipv4 . udp . 68 }
        """)
    assert own_lines(render_destroy(fw)) == dedent("""\
        add chain inet kvmnet fwd_r_454349e422 { comment "kvmnet network r"; }
        add element inet kvmnet bridges { "virbr1" : jump fwd_r_454349e422 }
        add element inet kvmnet host_in { "virbr1" . ipv4 . udp . 67, "virbr1" . ipv4 . udp . 53, "virbr1" . ipv4 . tcp . 53 }
        add element inet kvmnet host_out { "virbr1" . ipv4 . udp . 68 }
        delete element inet kvmnet bridges { "virbr1" : jump fwd_r_454349e422 }
        delete element inet kvmnet host_in { "virbr1" . ipv4 . udp . 67, "virbr1" . ipv4 . udp . 53, "virbr1" . ipv4 . tcp . 53 }
        delete element inet kvmnet host_out { "virbr1" . ipv4 . udp . 68 }
        flush chain inet kvmnet fwd_r_454349e422
        delete chain inet kvmnet fwd_r_454349e422
        """)


def test_isolated_golden_with_ipv6() -> None:
    fw = NetFirewall("iso", "virbr2", "isolated", ("192.168.122.0/24",), ("2001:db8:ca2:2::/64",))
    assert own_lines(render_start(fw)) == dedent("""\
        add chain inet kvmnet fwd_iso_e0e4548df8 { comment "kvmnet network iso"; }
        flush chain inet kvmnet fwd_iso_e0e4548df8
        add rule inet kvmnet fwd_iso_e0e4548df8 oifname "virbr2" iifname "virbr2" counter accept comment "same bridge"
        add rule inet kvmnet fwd_iso_e0e4548df8 oifname "virbr2" counter reject
        add rule inet kvmnet fwd_iso_e0e4548df8 counter reject
        add element inet kvmnet bridges { "virbr2" : jump fwd_iso_e0e4548df8 }
        add element inet kvmnet host_in { "virbr2" . ipv4 . udp . 67, "virbr2" . ipv6 . udp . 547, "virbr2" . ipv4 . udp . 53, "virbr2" . ipv4 . tcp . 53, "virbr2" . ipv6 . udp . 53, "virbr2" . ipv6 . tcp . 53 }
        add element inet kvmnet host_out { "virbr2" . ipv4 . udp . 68, "virbr2" . ipv6 . udp . 546 }
        """)


def test_nat_without_nat_ipv6_routes_ipv6() -> None:
    """libvirt: IPv6 subnets of a NAT network are routed unless <nat ipv6='yes'>."""
    fw = NetFirewall("v6", "virbr3", "nat", ("192.168.122.1/24",), ("2001:db8:ca2:2::1/64",))
    text = own_lines(render_start(fw))
    assert dedent("""\
        add rule inet kvmnet fwd_v6_3e82860443 oifname "virbr3" ip daddr 192.168.122.0/24 ct state established,related counter accept
        add rule inet kvmnet fwd_v6_3e82860443 oifname "virbr3" ip daddr 192.168.122.0/24 ct status dnat counter accept
        add rule inet kvmnet fwd_v6_3e82860443 oifname "virbr3" ip6 daddr 2001:db8:ca2:2::/64 counter accept
        add rule inet kvmnet fwd_v6_3e82860443 oifname "virbr3" counter reject
        add rule inet kvmnet fwd_v6_3e82860443 ip saddr 192.168.122.0/24 counter accept
        add rule inet kvmnet fwd_v6_3e82860443 ip6 saddr 2001:db8:ca2:2::/64 counter accept
        add rule inet kvmnet fwd_v6_3e82860443 counter reject
        """) in text
    assert "ip6 saddr 2001:db8:ca2:2::/64 ip6 daddr" not in text  # no IPv6 masquerade


def test_nat_ipv6_and_port_range_golden() -> None:
    fw = NetFirewall("v6n", "virbr4", "nat", ("192.168.122.0/24",), ("2001:db8:ca2:2::/64",),
                     nat_ipv6=True, nat_port_range=(500, 1000))
    text = own_lines(render_start(fw))
    assert dedent("""\
        add rule inet kvmnet fwd_v6n_ff2107b73b oifname "virbr4" ip daddr 192.168.122.0/24 ct state established,related counter accept
        add rule inet kvmnet fwd_v6n_ff2107b73b oifname "virbr4" ip daddr 192.168.122.0/24 ct status dnat counter accept
        add rule inet kvmnet fwd_v6n_ff2107b73b oifname "virbr4" ip6 daddr 2001:db8:ca2:2::/64 ct state established,related counter accept
        add rule inet kvmnet fwd_v6n_ff2107b73b oifname "virbr4" ip6 daddr 2001:db8:ca2:2::/64 ct status dnat counter accept
        add rule inet kvmnet fwd_v6n_ff2107b73b oifname "virbr4" counter reject
        """) in text
    assert dedent("""\
        flush chain inet kvmnet nat_v6n_ff2107b73b
        add rule inet kvmnet nat_v6n_ff2107b73b ip saddr 192.168.122.0/24 ip daddr 224.0.0.0/24 counter return
        add rule inet kvmnet nat_v6n_ff2107b73b ip saddr 192.168.122.0/24 ip daddr 255.255.255.255 counter return
        add rule inet kvmnet nat_v6n_ff2107b73b meta l4proto tcp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade to :500-1000
        add rule inet kvmnet nat_v6n_ff2107b73b meta l4proto udp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade to :500-1000
        add rule inet kvmnet nat_v6n_ff2107b73b ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade
        add rule inet kvmnet nat_v6n_ff2107b73b ip6 saddr 2001:db8:ca2:2::/64 ip6 daddr ff02::/16 counter return
        add rule inet kvmnet nat_v6n_ff2107b73b meta l4proto tcp ip6 saddr 2001:db8:ca2:2::/64 ip6 daddr != 2001:db8:ca2:2::/64 counter masquerade to :500-1000
        add rule inet kvmnet nat_v6n_ff2107b73b meta l4proto udp ip6 saddr 2001:db8:ca2:2::/64 ip6 daddr != 2001:db8:ca2:2::/64 counter masquerade to :500-1000
        add rule inet kvmnet nat_v6n_ff2107b73b ip6 saddr 2001:db8:ca2:2::/64 ip6 daddr != 2001:db8:ca2:2::/64 counter masquerade
        add element inet kvmnet bridges { "virbr4" : jump fwd_v6n_ff2107b73b }
        """) in text


def test_nat_address_range_golden() -> None:
    fw = NetFirewall("rng", "virbr5", "nat", ("10.0.0.0/24",), nat_addr_range=("1.2.3.4", "1.2.3.10"),
                     nat_port_range=(500, 1000), dns=False, dhcp=False)
    assert own_lines(render_start(fw)) == dedent("""\
        add chain inet kvmnet fwd_rng_b1dc753bc8 { comment "kvmnet network rng"; }
        add chain inet kvmnet nat_rng_b1dc753bc8 { comment "kvmnet network rng"; }
        flush chain inet kvmnet fwd_rng_b1dc753bc8
        add rule inet kvmnet fwd_rng_b1dc753bc8 oifname "virbr5" iifname "virbr5" counter accept comment "same bridge"
        add rule inet kvmnet fwd_rng_b1dc753bc8 oifname "virbr5" ip daddr 10.0.0.0/24 ct state established,related counter accept
        add rule inet kvmnet fwd_rng_b1dc753bc8 oifname "virbr5" ip daddr 10.0.0.0/24 ct status dnat counter accept
        add rule inet kvmnet fwd_rng_b1dc753bc8 oifname "virbr5" counter reject
        add rule inet kvmnet fwd_rng_b1dc753bc8 ip saddr 10.0.0.0/24 counter accept
        add rule inet kvmnet fwd_rng_b1dc753bc8 counter reject
        flush chain inet kvmnet nat_rng_b1dc753bc8
        add rule inet kvmnet nat_rng_b1dc753bc8 ip saddr 10.0.0.0/24 ip daddr 224.0.0.0/24 counter return
        add rule inet kvmnet nat_rng_b1dc753bc8 ip saddr 10.0.0.0/24 ip daddr 255.255.255.255 counter return
        add rule inet kvmnet nat_rng_b1dc753bc8 meta l4proto tcp ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 counter snat ip to 1.2.3.4-1.2.3.10:500-1000
        add rule inet kvmnet nat_rng_b1dc753bc8 meta l4proto udp ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 counter snat ip to 1.2.3.4-1.2.3.10:500-1000
        add rule inet kvmnet nat_rng_b1dc753bc8 ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 counter snat ip to 1.2.3.4-1.2.3.10
        add element inet kvmnet bridges { "virbr5" : jump fwd_rng_b1dc753bc8 }
        add element inet kvmnet nat_bridges { "virbr5" : jump nat_rng_b1dc753bc8 }
        """)


def test_nat_single_address() -> None:
    fw = NetFirewall("one", "virbr5", "nat", ("10.0.0.0/24",), nat_addr_range=("1.2.3.4", "1.2.3.4"))
    text = render_start(fw)
    assert "counter snat ip to 1.2.3.4:1024-65535\n" in text
    assert "counter snat ip to 1.2.3.4\n" in text


def test_forward_dev_golden() -> None:
    fw = NetFirewall("dev", "virbr6", "nat", ("192.168.122.0/24",), forward_dev="enp0s7", tftp=True)
    assert own_lines(render_start(fw)) == dedent("""\
        add chain inet kvmnet fwd_dev_ef260e9aa3 { comment "kvmnet network dev"; }
        add chain inet kvmnet nat_dev_ef260e9aa3 { comment "kvmnet network dev"; }
        flush chain inet kvmnet fwd_dev_ef260e9aa3
        add rule inet kvmnet fwd_dev_ef260e9aa3 oifname "virbr6" iifname "virbr6" counter accept comment "same bridge"
        add rule inet kvmnet fwd_dev_ef260e9aa3 oifname "virbr6" iifname "enp0s7" ip daddr 192.168.122.0/24 ct state established,related counter accept
        add rule inet kvmnet fwd_dev_ef260e9aa3 oifname "virbr6" iifname "enp0s7" ip daddr 192.168.122.0/24 ct status dnat counter accept
        add rule inet kvmnet fwd_dev_ef260e9aa3 oifname "virbr6" counter reject
        add rule inet kvmnet fwd_dev_ef260e9aa3 ip saddr 192.168.122.0/24 oifname "enp0s7" counter accept
        add rule inet kvmnet fwd_dev_ef260e9aa3 counter reject
        flush chain inet kvmnet nat_dev_ef260e9aa3
        add rule inet kvmnet nat_dev_ef260e9aa3 ip saddr 192.168.122.0/24 ip daddr 224.0.0.0/24 oifname "enp0s7" counter return
        add rule inet kvmnet nat_dev_ef260e9aa3 ip saddr 192.168.122.0/24 ip daddr 255.255.255.255 oifname "enp0s7" counter return
        add rule inet kvmnet nat_dev_ef260e9aa3 meta l4proto tcp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 oifname "enp0s7" counter masquerade to :1024-65535
        add rule inet kvmnet nat_dev_ef260e9aa3 meta l4proto udp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 oifname "enp0s7" counter masquerade to :1024-65535
        add rule inet kvmnet nat_dev_ef260e9aa3 ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 oifname "enp0s7" counter masquerade
        add element inet kvmnet bridges { "virbr6" : jump fwd_dev_ef260e9aa3 }
        add element inet kvmnet host_in { "virbr6" . ipv4 . udp . 67, "virbr6" . ipv4 . udp . 53, "virbr6" . ipv4 . tcp . 53, "virbr6" . ipv4 . udp . 69 }
        add element inet kvmnet host_out { "virbr6" . ipv4 . udp . 68 }
        add element inet kvmnet nat_bridges { "virbr6" : jump nat_dev_ef260e9aa3 }
        """)


def test_open_renders_nothing() -> None:
    fw = NetFirewall("o", "virbr7", "open", ("192.168.122.0/24",))
    assert render_start(fw) == ""
    assert render_destroy(fw) == ""


def test_remove_all_is_idempotent_and_only_ours() -> None:
    assert render_remove_all() == "add table inet kvmnet\ndelete table inet kvmnet\n"


def test_destroy_removes_exactly_what_start_added() -> None:
    for fw in (NAT_DEFAULT,
               NetFirewall("x", "br-x", "route", ("10.1.0.0/16",), ("fd00::/64",), forward_dev="eth1"),
               NetFirewall("y", "br-y", "isolated"),
               NetFirewall("z", "br-z", "nat", ("10.2.0.0/24", "10.3.0.0/24"), ("fd01::/64",),
                           nat_ipv6=True, tftp=True)):
        start, destroy = render_start(fw), render_destroy(fw)
        added = {m.group(1) for m in re.finditer(r"^add element (.*)$", start, re.MULTILINE)}
        deleted = {m.group(1) for m in re.finditer(r"^delete element (.*)$", destroy, re.MULTILINE)}
        assert added == deleted
        made = set(re.findall(r"^add chain inet kvmnet ((?:fwd|nat)_\w+)", start, re.MULTILINE))
        gone = set(re.findall(r"^delete chain inet kvmnet (\w+)$", destroy, re.MULTILINE))
        assert made == gone and made


def test_duplicate_and_host_bit_subnets_are_normalised() -> None:
    fw = NetFirewall("d", "virbr9", "route", ("10.0.0.1/24", "10.0.0.0/24"), ("FD00::1/64",))
    text = render_start(fw)
    assert text.count("ip saddr 10.0.0.0/24 counter accept") == 1
    assert "ip6 saddr fd00::/64 counter accept" in text


# ------------------------------------------------------------ hostile names

HOSTILE = [
    'a"b',
    "x\ny",
    "; flush ruleset",
    "} delete table inet filter {",
    "$var #comment",
    "back\\slash",
    "ünïcødé-网络",
    "\U0001f600",
    "a b",
    "a_b",
    "n" * 300,
    "",
    "-",
    "\x00\x7f\t",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_network_names_stay_inside_quotes(name: str) -> None:
    fw = NetFirewall(name, "virbr0", "nat", ("192.168.122.0/24",), ("fd00::/64",), nat_ipv6=True)
    for doc in (render_start(fw), render_destroy(fw)):
        lines = doc.splitlines()
        # One command per line, each starting with a known verb: the name cannot add lines.
        assert all(re.match(r"(# kvmnet|add |flush |delete )", line) for line in lines), doc
        for line in lines:
            assert line.isascii() and line.isprintable()
            # Every double quote pairs up; comments hold no quote or backslash-escape breakers.
            assert line.count('"') % 2 == 0
            for comment in re.findall(r'comment ("[^"]*")', line):
                assert len(comment) - 2 <= 128
        fwd, nat = chain_names(name)
        for chain in (fwd, nat):
            assert re.fullmatch(r"(fwd|nat)_[A-Za-z0-9_]{0,12}_[0-9a-f]{10}", chain)
            assert len(chain) < 32


def test_names_that_sanitize_alike_get_different_chains() -> None:
    assert chain_names("a b") != chain_names("a_b")
    assert chain_names("x" * 20 + "1") != chain_names("x" * 20 + "2")
    names = {chain_names(f"net{i}")[0] for i in range(2000)}
    assert len(names) == 2000


def test_comment_escapes_the_real_name() -> None:
    fw = NetFirewall('we"ird\\name', "virbr0", "isolated")
    assert 'comment "kvmnet network we\\x22ird\\x5cname"' in render_start(fw)


# --------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, fragment", [
    ({"bridge": 'br"0'}, "bridge 'br\"0' contains '\"'"),
    ({"bridge": "br*"}, "contains '*'; an interface name may hold only"),
    ({"bridge": "averyveryverylongbridge"}, "at most 15 bytes"),
    ({"bridge": ""}, "bridge is empty"),
    ({"bridge": "br 0"}, "contains ' '"),
    ({"forward_dev": "eth/0"}, "forward dev 'eth/0'"),
    ({"ipv4_subnets": ("10.0.0.0/33",)}, "is not an IPv4 subnet"),
    ({"ipv4_subnets": ("fd00::/64",)}, "is not an IPv4 subnet"),
    ({"ipv6_subnets": ("10.0.0.0/8",)}, "is not an IPv6 subnet"),
    ({"nat_port_range": (0, 10)}, "port range 0-10 is invalid"),
    ({"nat_port_range": (2000, 1000)}, "port range 2000-1000 is invalid"),
    ({"nat_addr_range": ("fd00::1", "fd00::2")}, "is not an IPv4 address"),
    ({"nat_addr_range": ("1.2.3.10", "1.2.3.4")}, "swap start and end"),
    ({"mode": "bridge"}, "firewall mode 'bridge' is not one of"),
])
def test_bad_parameters_are_refused_with_a_fix(kwargs: dict[str, object], fragment: str) -> None:
    params: dict[str, object] = {"name": "bad", "bridge": "virbr0", "mode": "nat",
                                 "ipv4_subnets": ("10.0.0.0/24",)}
    params.update(kwargs)
    fw = NetFirewall(**params)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgError) as err:
        render_start(fw)
    assert fragment in str(err.value)
    assert "network 'bad'" in str(err.value)


# ------------------------------------------------------- from the model

def _net(**kw: object) -> Network:
    base: dict[str, object] = {"name": "n", "bridge": Bridge(name="virbr9")}
    base.update(kw)
    return Network(**base)  # type: ignore[arg-type]


def test_firewall_for_modes() -> None:
    ip4 = (IPDef(address="192.168.100.1", netmask="255.255.255.0"),)
    assert firewall_for(_net(forward=Forward(mode=ForwardMode.BRIDGE))) is None
    assert firewall_for(_net(forward=Forward(mode=ForwardMode.HOSTDEV))) is None
    fw = firewall_for(_net(ips=ip4))
    assert fw is not None and fw.mode == "isolated" and fw.ipv4_subnets == ("192.168.100.0/24",)
    fw = firewall_for(_net(forward=Forward(mode=ForwardMode.OPEN), ips=ip4))
    assert fw is not None and fw.mode == "open" and render_start(fw) == ""


def test_firewall_for_prefix_rules() -> None:
    fw = firewall_for(_net(ips=(IPDef(address="10.1.2.3"), IPDef(address="172.16.0.1"),
                                IPDef(address="192.168.5.1", prefix=0),
                                IPDef(address="fd00::1", family="ipv6"),
                                IPDef(address="2001:db8::1", prefix=48),
                                IPDef(address=None))))
    assert fw is not None
    # libvirt's classful defaults when no prefix/netmask; prefix 0 counts as "not given".
    assert fw.ipv4_subnets == ("10.0.0.0/8", "172.16.0.0/16", "192.168.5.0/24")
    assert fw.ipv6_subnets == ("fd00::/64", "2001:db8::/48")


def test_firewall_for_nat_details() -> None:
    net = _net(forward=Forward(mode=ForwardMode.NAT, dev="eth0",
                               nat=Nat(ipv6=True, address_start="1.2.3.4", port_start=500, port_end=1000)),
               ips=(IPDef(address="10.0.0.1", prefix=24, tftp_root="/srv/tftp"),
                    IPDef(address="fd00::1", prefix=64)),
               dns=Dns(enable=False))
    fw = firewall_for(net)
    assert fw == NetFirewall(name="n", bridge="virbr9", mode="nat", ipv4_subnets=("10.0.0.0/24",),
                             ipv6_subnets=("fd00::/64",), forward_dev="eth0",
                             nat_addr_range=("1.2.3.4", "1.2.3.4"), nat_port_range=(500, 1000),
                             nat_ipv6=True, dhcp=True, dns=False, tftp=True)


def test_firewall_for_needs_a_bridge_name() -> None:
    with pytest.raises(InvalidArgError, match="has no bridge name"):
        firewall_for(Network(name="nobr", ips=(IPDef(address="10.0.0.1", prefix=24),)))


def test_firewall_for_bad_netmask() -> None:
    with pytest.raises(InvalidArgError, match="not a valid subnet"):
        firewall_for(_net(ips=(IPDef(address="10.0.0.1", netmask="255.0.255.0"),)))


# ------------------------------------- meaning agrees with libvirt's corpus

def _libvirt_rules(path: Path) -> list[str]:
    text = path.read_text().replace("\\\n", "")
    return [line for line in text.splitlines() if line.startswith("nft ") and " rule " in line]


def _facts_libvirt(rules: list[str]) -> dict[str, set[str]]:
    facts: dict[str, set[str]] = {"out": set(), "in": set(), "in_est": set(), "masq": set(),
                                  "dev": set(), "same": set()}
    for r in rules:
        r = r.replace("'!='", "!=")
        if " guest_cross " in r:
            facts["same"].add(re.search(r"iif (\S+)", r).group(1))  # type: ignore[union-attr]
        elif " guest_output " in r and "saddr" in r:
            facts["out"].add(re.search(r"saddr (\S+)", r).group(1))  # type: ignore[union-attr]
        elif " guest_input " in r and "daddr" in r:
            key = "in_est" if "ct state" in r else "in"
            facts[key].add(re.search(r"daddr (\S+)", r).group(1))  # type: ignore[union-attr]
        elif " guest_nat " in r and "masquerade to" in r:
            m = re.search(r"saddr (\S+) .*masquerade to (\S+)", r)
            facts["masq"].add(f"{m.group(1)} {m.group(2)}")  # type: ignore[union-attr]
        for dev in re.findall(r"(?:oifname|iifname) (\S+)", r):
            facts["dev"].add(dev)
    return facts


def _facts_ours(doc: str) -> dict[str, set[str]]:
    facts: dict[str, set[str]] = {"out": set(), "in": set(), "in_est": set(), "masq": set(),
                                  "dev": set(), "same": set()}
    for line in doc.splitlines():
        if not line.startswith("add rule inet kvmnet ") or "ct status dnat" in line:
            # kvmnet's one addition: NAT networks accept DNATed connections (port forwards,
            # kvmnet.network.firewall.forwards); libvirt has no forwards
            continue
        if "same bridge" in line:
            facts["same"].add(re.search(r'oifname "([^"]+)"', line).group(1))  # type: ignore[union-attr]
        elif " fwd_" in line and "saddr" in line:
            facts["out"].add(re.search(r"saddr (\S+)", line).group(1))  # type: ignore[union-attr]
        elif " fwd_" in line and "daddr" in line:
            key = "in_est" if "ct state" in line else "in"
            facts[key].add(re.search(r"daddr (\S+)", line).group(1))  # type: ignore[union-attr]
        elif " nat_" in line and "masquerade to" in line:
            m = re.search(r"saddr (\S+) .*masquerade to (\S+)", line)
            facts["masq"].add(f"{m.group(1)} {m.group(2)}")  # type: ignore[union-attr]
        for dev in re.findall(r'(?:oifname|iifname) "([^"]+)"', line):
            if dev != "virbr0":
                facts["dev"].add(dev)
    return facts


def _firewall_cases() -> list[str]:
    from tests.conformance import conformance_dir
    base = conformance_dir()
    if base is None:
        return []
    folder = base / "tests" / "networkxml2firewalldata"
    return sorted(p.stem for p in folder.glob("*.xml"))


@pytest.mark.parametrize("case", _firewall_cases() or ["(corpus missing)"])
def test_meaning_matches_libvirt_nftables_backend(conformance: Path, case: str) -> None:
    folder = conformance / "tests" / "networkxml2firewalldata"
    net = parse_network((folder / f"{case}.xml").read_text())
    fw = firewall_for(net)
    assert fw is not None
    expected = _facts_libvirt(_libvirt_rules(folder / f"{case}-linux.nftables"))
    assert _facts_ours(render_start(fw)) == expected


# ------------------------------------------------- nft -c in a namespace

def _can_check() -> bool:
    import os
    return os.geteuid() == 0 and shutil.which("nft") is not None and shutil.which("ip") is not None


@pytest.fixture
def check_ns() -> Iterator[str]:
    if not _can_check():
        pytest.skip("nft -c needs root, nft and ip (it runs in a throwaway network namespace)")
    name = f"kvt-nftc-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def _nft_check(ns: str, doc: str) -> None:
    proc = subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-f", "-"], input=doc,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"nft -c refused:\n{proc.stderr}\n{doc}"


@pytest.mark.root
def test_nft_accepts_every_rendered_document(check_ns: str) -> None:
    fws = [
        NAT_DEFAULT,
        NetFirewall("r", "virbr1", "route", ("192.168.122.0/24",), ("2001:db8::/64",)),
        NetFirewall("iso", "virbr2", "isolated", ("192.168.122.0/24",), ("2001:db8:ca2:2::/64",)),
        NetFirewall("v6n", "virbr4", "nat", ("192.168.122.0/24", "192.168.128.0/24"),
                    ("2001:db8:ca2:2::/64",), nat_ipv6=True, nat_port_range=(500, 1000)),
        NetFirewall("rng", "virbr5", "nat", ("10.0.0.0/24",), nat_addr_range=("1.2.3.4", "1.2.3.10")),
        NetFirewall("dev", "virbr6", "nat", ("192.168.122.0/24",), forward_dev="enp0s7", tftp=True),
    ] + [NetFirewall(name, "virbr0", "nat", ("192.168.122.0/24",)) for name in HOSTILE]
    _nft_check(check_ns, render_base())
    for fw in fws:
        _nft_check(check_ns, render_start(fw))
        _nft_check(check_ns, render_destroy(fw))
    _nft_check(check_ns, render_remove_all())
