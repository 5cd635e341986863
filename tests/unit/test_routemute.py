"""The socket filter that keeps other networks' route (and address) changes from waking a
dnsmasq: run here on a small classic-BPF interpreter (no root; the kernel runs the same
program in tests/functional/test_host_dnsmasq.py)."""
from __future__ import annotations

import struct

import pytest

from kvmnet.host.routemute import needs_address_changes, route_filter

NEWADDR, DELADDR, NEWROUTE, DELROUTE, NEWLINK, DONE = 20, 21, 24, 25, 16, 3
MULTI, CREATE = 0x2, 0x400


def run_bpf(program: bytes, packet: bytes) -> int:
    """What the kernel's classic BPF returns for ``packet`` (the opcodes route_filter uses)."""
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x28:  # ld h [k], big-endian
            acc = int.from_bytes(packet[k:k + 2], "big")
        elif code == 0x15:  # jeq #k
            pc += jt if acc == k else jf
        elif code == 0x45:  # jset #k
            pc += jt if acc & k else jf
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        pc += 1


def message(msg_type: int, flags: int = 0) -> bytes:
    return struct.pack("=IHHII", 16 + 8, msg_type, flags, 0, 0) + bytes(8)


@pytest.mark.parametrize("addresses", [False, True])
@pytest.mark.parametrize("msg_type, flags, routes_only, with_addresses", [
    (NEWROUTE, 0, "drop", "drop"),  # notifications of route changes
    (DELROUTE, 0, "drop", "drop"),
    (NEWROUTE, CREATE, "drop", "drop"),  # as `ip route add` makes them
    (NEWADDR, 0, "keep", "drop"),  # address changes: only with addresses=True
    (DELADDR, 0, "keep", "drop"),
    (NEWADDR, MULTI, "keep", "keep"),  # a reply to dnsmasq's own address dump: always kept
    (NEWROUTE, MULTI, "keep", "keep"),
    (NEWLINK, 0, "keep", "keep"),
    (DONE, MULTI, "keep", "keep"),
])
def test_filter_drops_notifications_only(addresses: bool, msg_type: int, flags: int,
                                         routes_only: str, with_addresses: str) -> None:
    verdict = run_bpf(route_filter(addresses), message(msg_type, flags))
    expected = with_addresses if addresses else routes_only
    assert (verdict == 0) == (expected == "drop"), verdict


@pytest.mark.parametrize("conf, needs", [
    (("strict-order\nbind-interfaces\ninterface=virbr0\n"
      "dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0\nno-resolv\n"), False),
    ("bind-dynamic\ninterface=virbr0\n", True),
    ("bind-interfaces\ndhcp-range=2001:db8::10,2001:db8::ff,64\n", True),
    ("bind-interfaces\nenable-ra\n", True),
    ("dhcp-range=::,constructor:virbr0,ra-only\n", True),
    ("listen-address=fe80::1\n", True),
    ("listen-address=192.168.122.1\n", False),
    ("local-service\n", True),
    ("conf-dir=/etc/dnsmasq.d\n", True),
])
def test_address_changes_stay_for_what_needs_them(conf: str, needs: bool) -> None:
    assert needs_address_changes(conf) is needs
