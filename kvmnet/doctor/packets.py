"""The test frames ``kvmnet doctor`` sends into a bridge: plain bytes, built here without I/O.

Each frame is what a guest would send on its first try (a TCP SYN to the outside, a DHCP
request, a DNS query to the gateway), with a source port that marks it as the probe's: the
trace rule and the end-of-hook drop rule of :mod:`kvmnet.doctor.probe` match on it, so the
probe never reaches a real service or leaves the host.
"""
from __future__ import annotations

import socket
import struct

PAYLOAD = b"kvmnet-doctor-probe"
PROBE_MAC = bytes.fromhex("02006b766d6e")  # locally administered: 02:00:"kvmn"
ETH_IPV4 = 0x0800
TCP = 6
UDP = 17


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _ipv4(src: str, dst: str, proto: int, body: bytes) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0x6b76, 0, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + body


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, length)


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = PAYLOAD) -> bytes:
    """An IPv4 UDP packet (checksummed)."""
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    csum = checksum(_pseudo(src, dst, UDP, len(seg)) + seg) or 0xFFFF
    return _ipv4(src, dst, UDP, seg[:6] + struct.pack("!H", csum) + seg[8:])


def tcp_syn(src: str, dst: str, sport: int, dport: int) -> bytes:
    """An IPv4 TCP SYN (no options, checksummed): a connection's first packet."""
    seg = struct.pack("!HHIIBBHHH", sport, dport, 0x6b766d6e, 0, 5 << 4, 0x02, 64240, 0, 0)
    csum = checksum(_pseudo(src, dst, TCP, len(seg)) + seg)
    return _ipv4(src, dst, TCP, seg[:16] + struct.pack("!H", csum) + seg[18:])


def ethernet(dst_mac: str, packet: bytes, src_mac: bytes = PROBE_MAC) -> bytes:
    return bytes.fromhex(dst_mac.replace(":", "")) + src_mac + struct.pack("!H", ETH_IPV4) + packet


BROADCAST = "ff:ff:ff:ff:ff:ff"
