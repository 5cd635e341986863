"""Traced test packets: proof of where the host drops a guest's traffic, not a reading of rules.

For one network, :func:`probe_network` puts a short-lived port on its bridge
(:class:`kvmnet.host.probeport.ProbePort`) and a table of kvmnet's own that

* marks the probe's packets for tracing as soon as they arrive (``meta nftrace set 1`` in a
  prerouting chain at priority -1000, before conntrack and every other table), and
* drops them at the very end of the forward and input hooks (priority 2147483000, after every
  other table's chains), so that a probe that got through everything never reaches a service
  or leaves the host; a bridge-family chain keeps broadcasts off the guests' ports.

It then sends what a guest sends first: a TCP SYN to the outside (192.0.2.1, TEST-NET-1: the
route the host would use for any outside address), a DHCP request and a DNS query to the
gateway, and reads ``nft monitor trace``: a probe that reached the end chain passed; one that
did not was dropped, at the first ``policy drop`` or ``(verdict drop)`` the trace shows, or
outside nftables (iptables-legacy, the kernel) when the trace shows none.  Everything is
removed again before it returns.
"""
from __future__ import annotations

import os

from kvmnet.doctor import packets
from kvmnet.doctor.model import NetPaths, Probe
from kvmnet.doctor.readers import trace_outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.host.nftmonitor import Monitor
    from kvmnet.host.probeport import ProbePort

OUTSIDE = "192.0.2.1"  # TEST-NET-1 (RFC 5737): routed like any outside address
END_PRIORITY = 2147483000
FORWARD_PORT = 443
ATTEMPTS = 4
WAIT = 0.7  # seconds per attempt for the trace to show the end or a drop


def probe_table_name() -> str:
    return f"kvmnet_probe_{os.getpid()}"


def render_probe_table(table: str, bridge: str, sports: tuple[int, ...]) -> str:
    """The probe's own nftables tables (pure)."""
    ports = ", ".join(str(p) for p in sports)
    mac = ":".join(f"{b:02x}" for b in packets.PROBE_MAC)
    match = f'iifname "{bridge}" meta l4proto {{ tcp, udp }} th sport {{ {ports} }}'
    return (
        f"table inet {table} {{\n"
        f"  chain pre {{ type filter hook prerouting priority -1000; policy accept;\n"
        f"    {match} meta nftrace set 1\n  }}\n"
        f"  chain fwd_end {{ type filter hook forward priority {END_PRIORITY}; policy accept;\n"
        f"    {match} drop\n  }}\n"
        f"  chain in_end {{ type filter hook input priority {END_PRIORITY}; policy accept;\n"
        f"    {match} drop\n  }}\n"
        f"}}\n"
        f"table bridge {table} {{\n"
        f"  chain guests {{ type filter hook forward priority -1000; policy accept;\n"
        f"    ether saddr {mac} drop\n  }}\n"
        f"}}\n")


def _packets(net: NetPaths, sports: tuple[int, ...],
             bridge_mac: str) -> list[tuple[str, str, str, bytes, int]]:
    """(path, end chain, description, frame, source port) of each probe this network needs."""
    import ipaddress

    out = []
    subnet = ipaddress.ip_network(net.subnets[0], strict=False) if net.subnets else None
    src = str(subnet.broadcast_address - 1) if subnet is not None else None
    if net.forwards and src is not None:
        frame = packets.ethernet(bridge_mac, packets.tcp_syn(src, OUTSIDE, sports[0],
                                                             FORWARD_PORT))
        out.append(("forward", "fwd_end", f"TCP SYN {src} -> {OUTSIDE}:{FORWARD_PORT}", frame,
                    sports[0]))
    if net.dhcp and src is not None:
        frame = packets.ethernet(packets.BROADCAST, packets.udp(
            "0.0.0.0", "255.255.255.255", sports[1], 67))
        out.append(("dhcp", "in_end", "DHCP request 0.0.0.0 -> 255.255.255.255:67", frame,
                    sports[1]))
    if net.dns and src is not None and net.gateway:
        frame = packets.ethernet(bridge_mac, packets.udp(src, net.gateway, sports[2], 53))
        out.append(("dns", "in_end", f"DNS query {src} -> {net.gateway}:53", frame, sports[2]))
    return out


def probe_network(net: NetPaths) -> list[Probe]:
    """Send and trace this network's probes; a probe that cannot be sent says why."""
    import random

    from kvmnet.errors import KvmnetError
    from kvmnet.host import nftables
    from kvmnet.host.nftmonitor import Monitor
    from kvmnet.host.probeport import ProbePort, link_mac

    base = random.randrange(61000, 61990, 3)
    sports = (base, base + 1, base + 2)
    mac = link_mac(net.bridge)
    if mac is None:
        return [Probe("forward", "", None, note=f"bridge {net.bridge} does not exist")]
    plan = _packets(net, sports, mac)
    if not plan:
        return []
    table = probe_table_name()
    results: list[Probe] = []
    try:
        nftables.apply(render_probe_table(table, net.bridge, sports))
        with Monitor("trace") as monitor, ProbePort(net.bridge) as port:
            monitor.collect(0.2)  # nft subscribes to the trace group before it prints anything
            for path, end, what, frame, sport in plan:
                results.append(_one(monitor, port, table, path, end, what, frame, sport))
    except KvmnetError as exc:
        done = {p.path for p in results}
        results += [Probe(path, what, None, note=str(exc)) for path, _, what, _, _ in plan
                    if path not in done]
    finally:
        # nft 1.0.6 has no 'destroy': add-then-delete removes it whether it exists or not
        nftables.apply(f"add table inet {table}\ndelete table inet {table}\n"
                       f"add table bridge {table}\ndelete table bridge {table}\n")
    return results


def _one(monitor: Monitor, port: ProbePort, table: str, path: str, end: str, what: str,
         frame: bytes, sport: int) -> Probe:
    import time

    lines: list[str] = []
    for _ in range(ATTEMPTS):
        port.send(frame)
        got: list[str] = []
        deadline = time.monotonic() + WAIT
        while (left := deadline - time.monotonic()) > 0:
            got += monitor.lines(left)
            reached, drop = trace_outcome(got, table, end, sport)
            if reached or drop is not None:
                break
        lines += got
        if reached:
            return Probe(path, what, True, trace=tuple(lines))
        if drop is not None:
            return Probe(path, what, False, drop=drop, trace=tuple(lines))
        if any(f" {table} pre " in line and f" sport {sport} " in line for line in got):
            # traced on arrival, never reached the end, no nftables drop: dropped elsewhere
            return Probe(path, what, False, trace=tuple(lines),
                         note="dropped outside nftables (iptables-legacy, or the kernel)")
    return Probe(path, what, None, trace=tuple(lines),
                 note="the probe was never traced (no trace events arrived)")
