"""Stop route-change notifications from waking a dnsmasq that has no use for them.

Why: every dnsmasq opens an rtnetlink socket subscribed to the IPv4 and IPv6 route groups
(dnsmasq's netlink.c does so unconditionally), so each route the kernel adds or removes wakes
every dnsmasq in the namespace.  Starting one network adds a bridge address, and with it a
local, a broadcast and a prefix route; with a thousand networks that wakes a thousand
dnsmasq processes (~25 us of CPU each here), which costs ~20-30 ms of every ``net-start``
and ``net-destroy`` and makes their time grow with the number of networks.

dnsmasq also subscribes to address changes, and the address comes in the same burst as its
routes, so both must be filtered for the burst to wake nobody.

What dnsmasq does with a route notification: it resends a DNS query still waiting for an
upstream (meant for dial-on-demand uplinks) and re-reads resolv files.  kvmnet's dnsmasq
reads no resolv file (``no-resolv`` with a ``servers-file``), so only the resend is lost,
and an upstream query is retried by the guest's resolver anyway.  With an address
notification it re-reads the interfaces for what needs them: ``bind-dynamic``,
``local-service``, DHCP relays, and IPv6 (router advertisements, DHCPv6, constructed
ranges).  With ``bind-interfaces`` and IPv4 alone it needs none of that: DHCPv4 looks up the
interface's addresses per packet, and the DNS sockets are bound at start.  So address
notifications are filtered only for a configuration that uses none of those
(:func:`needs_address_changes`).

How: a classic BPF socket filter on dnsmasq's own rtnetlink socket drops those messages
before they are queued, so the kernel does not wake the process.  The
socket is reached with ``pidfd_getfd(2)`` (Linux 5.6; needs the right to ptrace dnsmasq,
which root has), the filter attached to that duplicate applies to the shared socket, and the
duplicate is closed again.  Nothing else of dnsmasq changes.  Where this cannot be done (an
older kernel, a ptrace restriction) dnsmasq simply keeps waking up: correct, only slower at
scale, so failures are logged at debug level and never fail a start.
"""
from __future__ import annotations

import _socket
import os
import struct

from kvmnet.host.rtnl import NETLINK_ROUTE, NLM_F_MULTI, RTM_DELADDR, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWROUTE
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

SYS_PIDFD_GETFD = 438  # the same number on every architecture with the generic syscall table
SO_ATTACH_FILTER = 26  # not in the socket module

# dnsmasq options that make it act on address changes (what its newaddress() serves)
_ADDRESS_OPTIONS = frozenset({"bind-dynamic", "local-service", "dhcp-relay", "enable-ra",
                              "ra-param"})
# options whose IPv6 (or constructor:IFACE) values do; their values then contain ':'
_IPV6_OPTIONS = frozenset({"dhcp-range", "listen-address"})
_INCLUDES = frozenset({"conf-file", "conf-dir", "conf-script"})

# classic BPF opcodes
_LD_H_ABS = 0x28  # A = 16-bit word at offset k, in network (big-endian) byte order
_JEQ_K = 0x15
_JSET_K = 0x45
_RET_K = 0x06
KEEP = 0xFFFFFFFF  # a socket filter returns how many bytes to keep: all of them


def _as_loaded(msg_type: int) -> int:
    """``nlmsg_type`` is in host byte order, but BPF loads big-endian: compare like with like."""
    return int.from_bytes(struct.pack("=H", msg_type), "big")


def route_filter(addresses: bool = False) -> bytes:
    """The filter program: drop a route change notification, and with ``addresses`` an
    address change notification too.

    Only notifications: a reply to dnsmasq's own dump request (it lists the addresses of its
    interfaces while it answers DHCP) has the same message types, and dropping it would leave
    dnsmasq waiting for it forever.  Dump replies carry NLM_F_MULTI; notifications never do.
    """
    drop = [RTM_NEWROUTE, RTM_DELROUTE] + ([RTM_NEWADDR, RTM_DELADDR] if addresses else [])
    n = len(drop)
    insns = [(_LD_H_ABS, 0, 0, 4)]  # nlmsg_type: after the 4-byte nlmsg_len
    for j, msg_type in enumerate(drop):
        insns.append((_JEQ_K, n - j, 0, _as_loaded(msg_type)))  # equal: to the flags test
    insns += [
        (_RET_K, 0, 0, KEEP),
        (_LD_H_ABS, 0, 0, 6),  # nlmsg_flags
        (_JSET_K, 1, 0, _as_loaded(NLM_F_MULTI)),  # part of a dump: keep
        (_RET_K, 0, 0, 0),  # a notification: drop
        (_RET_K, 0, 0, KEEP),
    ]
    return b"".join(struct.pack("=HBBI", *insn) for insn in insns)


def needs_address_changes(conf: str) -> bool:
    """Whether a dnsmasq configuration relies on address notifications (see above).

    Conservative: any option that acts on address changes, any IPv6 DHCP range or listen
    address (they contain ':'), or a ``constructor:`` range keeps them coming.
    """
    for line in conf.splitlines():
        key, _, value = line.strip().partition("=")
        if (key in _ADDRESS_OPTIONS or key in _INCLUDES  # includes: options it cannot see
                or (key in _IPV6_OPTIONS and ":" in value)):
            return True
    return False


def attach(sock: _socket.socket, addresses: bool = False) -> None:
    """Attach the filter to a socket object (``socket.socket`` or ``_socket.socket``)."""
    import ctypes

    code = route_filter(addresses)
    program = ctypes.create_string_buffer(code, len(code))  # alive until setsockopt returns
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }, native layout
    fprog = struct.pack("@HP", len(code) // 8, ctypes.addressof(program))
    sock.setsockopt(_socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def mute_route_changes(pid: int, addresses: bool = False) -> bool:
    """Attach the filter to the rtnetlink socket(s) of process ``pid``; True if done.

    ``addresses``: filter address changes too (only when :func:`needs_address_changes` is
    False for the process's configuration)."""
    import ctypes

    try:
        pidfd = os.pidfd_open(pid)
    except OSError as exc:
        log.debug("dnsmasq %d: route notifications not filtered: pidfd_open: %s", pid, exc)
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    muted = 0
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except OSError:
                continue  # closed meanwhile
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                log.debug("dnsmasq %d: route notifications not filtered: pidfd_getfd: %s",
                          pid, os.strerror(ctypes.get_errno()))
                return False
            sock = _socket.socket(fileno=fd)  # our duplicate: closing it leaves dnsmasq's
            try:
                if (sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_DOMAIN) == _socket.AF_NETLINK
                        and sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PROTOCOL)
                        == NETLINK_ROUTE):
                    attach(sock, addresses)
                    muted += 1
            finally:
                sock.close()
    except OSError as exc:
        log.debug("dnsmasq %d: route notifications not filtered: %s", pid, exc)
        return False
    finally:
        os.close(pidfd)
    if muted:
        log.debug("dnsmasq %d: %s notifications filtered out of its rtnetlink socket", pid,
                  "route and address" if addresses else "route")
    return muted > 0
