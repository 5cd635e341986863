"""Parsers of /proc/net/{tcp,tcp6,udp,udp6} (no root needed)."""
from __future__ import annotations

import ipaddress
import os
import socket

import pytest

from kvmnet.host import procnet
from kvmnet.host.procnet import ListeningSocket, conflicting_listeners, decode_address, parse, port_in_use

# Captured from a little-endian kernel: a TCP listener on 127.0.0.1:8080 with one accepted
# connection, [::]:53 listening, 0.0.0.0:67 and [::1]:5353 bound UDP sockets.
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 29148 2 00000000cd7c981d 100 0 0 10 0
   1: 0100007F:1F90 0100007F:ED46 01 00000000:00000000 00:00000000 00000000     0        0 0 1 00000000f3995d62 20 0 0 10 -1
   2: 0100007F:ED46 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 29149 2 00000000789c38d2 20 0 0 10 -1
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 29146 1 00000000950e62eb 100 0 0 10 0
"""
UDP = """\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  316: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 29150 2 000000004c1850b4 0
 9502: 010200C0:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   65534        0 28300 2 000000000e61d5ec 0
 9503: 010200C0:A001 0A0200C0:0035 01 00000000:00000000 00:00000000 00000000     0        0 28301 2 000000000e61d5ec 0
"""
UDP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 5602: 00000000000000000000000001000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 29147 2 00000000d226fbbc 0
 5603: B80D0120000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 29151 2 00000000d226fbbc 0
"""


def sample() -> list[ListeningSocket]:
    return [
        *parse(TCP, "tcp", "little"),
        *parse(TCP6, "tcp", "little"),
        *parse(UDP, "udp", "little"),
        *parse(UDP6, "udp", "little"),
    ]


def test_decode_ipv4_little_endian() -> None:
    assert decode_address("0100007F", "little") == "127.0.0.1"
    assert decode_address("010200C0", "little") == "192.0.2.1"
    assert decode_address("00000000", "little") == "0.0.0.0"


def test_decode_ipv4_big_endian() -> None:
    assert decode_address("7F000001", "big") == "127.0.0.1"


def test_decode_ipv6_word_order() -> None:
    # Each 32-bit word is byte-swapped on its own, words stay in order.
    assert decode_address("00000000000000000000000001000000", "little") == "::1"
    assert decode_address("B80D0120000000000000000001000000", "little") == "2001:db8::1"
    assert decode_address("20010DB8000000000000000000000001", "big") == "2001:db8::1"
    mapped = ipaddress.IPv6Address(decode_address("0000000000000000FFFF00000100007F", "little"))
    assert mapped.ipv4_mapped == ipaddress.IPv4Address("127.0.0.1")


def test_decode_rejects_bad_length() -> None:
    with pytest.raises(ValueError):
        decode_address("0100", "little")


def test_tcp_only_listeners() -> None:
    assert parse(TCP, "tcp", "little") == [ListeningSocket("127.0.0.1", 8080, "tcp", 4, 0, 29148)]
    assert parse(TCP6, "tcp", "little") == [ListeningSocket("::", 53, "tcp", 6, 0, 29146)]


def test_udp_bound_not_connected() -> None:
    got = parse(UDP, "udp", "little")
    assert [(s.address, s.port) for s in got] == [("0.0.0.0", 67), ("192.0.2.1", 53)]
    assert got[1].uid == 65534
    assert [(s.address, s.port, s.family) for s in parse(UDP6, "udp", "little")] == [
        ("::1", 5353, 6),
        ("2001:db8::1", 53, 6),
    ]


def test_garbage_and_headers_are_skipped() -> None:
    text = "nonsense\n\n   7: ZZZZ:0035 00000000:0000 07\n" + UDP
    assert len(parse(text, "udp", "little")) == 2


def test_port_in_use_specific_address() -> None:
    socks = sample()
    assert port_in_use(["192.0.2.1"], 53, "udp", socks)
    assert not port_in_use(["192.0.2.2"], 53, "udp", socks)
    assert port_in_use(["2001:db8::1"], 53, "udp", socks)
    assert not port_in_use(["2001:db8::2"], 53, "udp", socks)


def test_port_in_use_ipv4_wildcard() -> None:
    socks = sample()
    hits = conflicting_listeners(["192.168.122.1"], 67, "udp", socks)
    assert [(s.address, s.port) for s in hits] == [("0.0.0.0", 67)]
    # 0.0.0.0 does not cover IPv6 addresses
    assert not port_in_use(["fd00::1"], 67, "udp", socks)


def test_port_in_use_ipv6_wildcard_covers_both_families() -> None:
    socks = sample()
    assert port_in_use(["fd00::1"], 53, "tcp", socks)
    # bindv6only=0: a [::] listener also takes the IPv4 port
    assert port_in_use(["192.168.122.1"], 53, "tcp", socks)


def test_port_in_use_proto_and_port_must_match() -> None:
    socks = sample()
    assert not port_in_use(["127.0.0.1"], 8080, "udp", socks)
    assert port_in_use(["127.0.0.1"], 8080, "tcp", socks)
    assert not port_in_use(["127.0.0.1"], 8081, "tcp", socks)
    assert not port_in_use([], 53, "udp", socks)


def test_ipv4_mapped_listener_matches_ipv4_address() -> None:
    mapped = ListeningSocket("::ffff:192.0.2.1", 53, "udp", 6)
    assert port_in_use(["192.0.2.1"], 53, "udp", [mapped])
    assert not port_in_use(["192.0.2.9"], 53, "udp", [mapped])


def test_scoped_address_is_accepted() -> None:
    assert port_in_use(["fe80::1%virbr0"], 53, "udp", [ListeningSocket("fe80::1", 53, "udp", 6)])


def test_live_loopback_listener_is_seen() -> None:
    # A listener on an ephemeral loopback port of this namespace: no configuration is changed.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        listening = procnet.read_listening()
        assert any(x.port == port and x.address == "127.0.0.1" and x.proto == "tcp" for x in listening)
        assert port_in_use(["127.0.0.1"], port, "tcp")
        hit = conflicting_listeners(["127.0.0.1"], port, "tcp")[0]
        assert os.getpid() in procnet.socket_owners(hit.inode)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        assert port_in_use(["127.0.0.1"], port, "udp")
