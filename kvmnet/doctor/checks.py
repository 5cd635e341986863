"""From what was read and traced to findings: pure, so each host shape is tested without a host.

:func:`findings` judges one network.  A traced probe (:mod:`kvmnet.doctor.probe`) decides
whether a path is blocked: one that passed clears every rule that merely looks like a drop
(a DROP policy with accepts before it is fine); one that was dropped names the chain, and the
fix goes into the hooked chain of that table (Docker's ``DOCKER-USER`` when the drop is in
iptables and that chain exists, since Docker rebuilds ``FORWARD``).  When a probe could not
run (no route out, no bridge), the rules as read decide: every hooked chain with a drop policy
on that path is a finding, unless kvmnet's tagged accepts are already in it.
"""
from __future__ import annotations

import shlex

from kvmnet.doctor.model import (
    BRIDGE_NF,
    FIREWALLD_ZONE,
    FORWARD_DROP,
    FORWARDING_OFF,
    INPUT_DROP,
    IPTABLES_LEGACY,
    IPV6_FORWARDING,
    LINK_MTU,
    MTU,
    NFT,
    RP_FILTER,
    SYSCTL,
    Chain,
    DropPoint,
    Finding,
    FixRule,
    FixSetting,
    HostState,
    NetPaths,
    Probe,
)

TAG = "kvmnet: network "
_TRUSTING_ZONES = ("trusted", "libvirt")


def tag(net: str, what: str) -> str:
    """A fix rule's comment: names the network (nft keeps 128 bytes of a comment)."""
    name = net if len(net.encode()) <= 64 else net.encode()[:64].decode("utf-8", "ignore") + "..."
    return f"{TAG}{name}: {what}"


def forward_rules(net: NetPaths, backend: str, family: str, table: str,
                  chain: str) -> tuple[FixRule, ...]:
    """The two accepts that open the forward path: in from the bridge; out to it when the
    packet is a reply or a port forward (DNAT)."""
    br = net.bridge
    if backend == NFT:
        return (FixRule(NFT, family, table, chain, ("iifname", f'"{br}"', "accept"),
                        tag(net.name, "from the guests")),
                FixRule(NFT, family, table, chain,
                        ("oifname", f'"{br}"', "ct", "state", "established,related", "accept"),
                        tag(net.name, "replies to the guests")),
                FixRule(NFT, family, table, chain,
                        ("oifname", f'"{br}"', "ct", "status", "dnat", "accept"),
                        tag(net.name, "port forwards to the guests")))
    return (FixRule(backend, "ip", "filter", chain, ("-i", br, "-j", "ACCEPT"),
                    tag(net.name, "from the guests")),
            FixRule(backend, "ip", "filter", chain,
                    ("-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT",
                     "-j", "ACCEPT"), tag(net.name, "replies and port forwards to the guests")))


def input_rules(net: NetPaths, backend: str, family: str, table: str,
                chain: str) -> tuple[FixRule, ...]:
    """Accepts for the guests' DHCP and DNS to the host, on the bridge only."""
    br = net.bridge
    if backend == NFT:
        return (FixRule(NFT, family, table, chain,
                        ("iifname", f'"{br}"', "udp", "dport", "{", "53,", "67", "}", "accept"),
                        tag(net.name, "DHCP and DNS from the guests")),
                FixRule(NFT, family, table, chain,
                        ("iifname", f'"{br}"', "tcp", "dport", "53", "accept"),
                        tag(net.name, "DNS over TCP from the guests")))
    return (FixRule(backend, "ip", "filter", chain,
                    ("-i", br, "-p", "udp", "-m", "multiport", "--dports", "53,67", "-j",
                     "ACCEPT"), tag(net.name, "DHCP and DNS from the guests")),
            FixRule(backend, "ip", "filter", chain,
                    ("-i", br, "-p", "tcp", "--dport", "53", "-j", "ACCEPT"),
                    tag(net.name, "DNS over TCP from the guests")))


def _iptables(host: HostState, backend: str) -> dict[str, Chain]:
    return {c.name: c for c in host.chains if c.backend == backend}


def _who(host: HostState, chain: Chain) -> str:
    if chain.backend == NFT:
        return chain.who
    names = _iptables(host, chain.backend)
    if "DOCKER-USER" in names or "DOCKER" in names:
        return "Docker"
    if any(n.startswith("ufw-") for n in names):
        return "ufw"
    return ""


def _has_tag(chain: Chain | None, net: str) -> bool:
    return chain is not None and any(f"{TAG}{net}:" in rule for rule in chain.rules)


def _label(chain: Chain) -> str:
    if chain.backend == NFT:
        return f"nftables table {chain.family} {chain.table}, chain {chain.name}"
    return f"{chain.backend} chain {chain.name}"


def _hint(host: HostState, who: str, net: NetPaths, path: str) -> str:
    br = net.bridge
    if who == "ufw":
        return (f"; with ufw: 'ufw route allow in on {br}' and 'ufw route allow out on {br}'"
                if path == "forward" else f"; with ufw: 'ufw allow in on {br} to any port 53' "
                f"and 'ufw allow in on {br} to any port 67 proto udp'")
    if who == "firewalld":
        zone = "libvirt" if any(z == "libvirt" for _, z in host.firewalld_zones) else "trusted"
        return (f"; with firewalld: 'firewall-cmd --permanent --zone={zone} --add-interface={br}"
                f" && firewall-cmd --reload'")
    if who == "Docker" and path == "forward" and host.chains and any(
            c.backend == NFT and c.table.startswith("docker") for c in host.chains):
        return ("; Docker (nftables backend) sets this policy when it had to turn forwarding "
                "on itself: set net.ipv4.ip_forward=1 before Docker starts, or mark the "
                "guests' packets and start Docker with --bridge-accept-fwmark")
    if who == "NixOS's firewall":
        return f'; on NixOS: networking.firewall.trustedInterfaces = [ "{br}" ];'
    return ""


def _fix_chain(host: HostState, drop: DropPoint, hook: str) -> Chain:
    """The chain a fix for ``drop`` goes into (see the module docstring)."""
    if drop.backend == NFT:
        for c in host.chains:
            if (c.backend, c.family, c.table, c.name) == (NFT, drop.family, drop.table, drop.base):
                return c
        return Chain(NFT, drop.family, drop.table, drop.base, hook, None)
    builtin = Chain(drop.backend, "ip", "filter", hook.upper(), hook, None)
    return _legacy_target(host, builtin, hook)


def _rules_for(net: NetPaths, chain: Chain, path: str) -> tuple[FixRule, ...]:
    make = forward_rules if path == "forward" else input_rules
    return make(net, chain.backend, chain.family, chain.table, chain.name)


def _dropping(host: HostState, hook: str) -> list[Chain]:
    """Hooked chains on ``hook`` (IPv4 traffic) whose policy drops."""
    return [c for c in host.chains if c.hook == hook and c.policy == "drop"
            and c.family in ("ip", "inet")]


def _finding(net: NetPaths, host: HostState, chain: Chain, path: str, what: str,
             proof: str, where: str | None = None) -> Finding:
    code = FORWARD_DROP if path == "forward" else INPUT_DROP
    who = _who(host, chain)
    rules = _rules_for(net, chain, path)
    remedy = ("add accepts for the bridge before the drop: "
              + "; ".join(r.command() for r in rules)
              + " ('kvmnet doctor " + shlex.quote(net.name) + " --fix' adds them, tagged)"
              + _hint(host, who, net, path))
    label = where or _label(chain)
    return Finding(net.name, code, label + (f" ({who})" if who else ""), what, remedy, proof,
                   rules)


_WHAT = {
    "forward": "guests on {br} cannot reach the outside (traffic forwarded from {br} is dropped)",
    "dhcp": "guests on {br} get no DHCP lease (DHCP to the host is dropped)",
    "dns": "guests on {br} cannot resolve names (DNS to the host is dropped)",
}


def findings(net: NetPaths, host: HostState, probes: list[Probe]) -> list[Finding]:
    """Every foreign drop point on ``net``'s guest paths, with its remedy and proof."""
    out: list[Finding] = []
    by_path = {p.path: p for p in probes}
    paths = [p for p, wanted in (("forward", net.forwards), ("dhcp", net.dhcp),
                                 ("dns", net.dns and net.gateway is not None)) if wanted]
    for path in paths:
        hook = "forward" if path == "forward" else "input"
        what = _WHAT[path].format(br=net.bridge)
        probe = by_path.get(path)
        if probe is not None and probe.passed:
            continue
        if probe is not None and probe.passed is False:
            proof = f"traced packet ({probe.packet}): "
            if probe.drop is not None:
                chain = _fix_chain(host, probe.drop, hook)
                out.append(_finding(net, host, chain, path, what,
                                    proof + probe.drop.text(), where=_label_drop(probe.drop)))
                continue
            legacy = [c for c in _dropping(host, hook) if c.backend == IPTABLES_LEGACY]
            legacy = legacy or [c for c in host.chains if c.backend == IPTABLES_LEGACY
                                and c.hook == hook and c.rules]
            for chain in legacy:
                out.append(_finding(net, host, _legacy_target(host, chain, hook), path, what,
                                    proof + (probe.note or "dropped outside nftables"),
                                    where=_label(chain)))
            explained = any(bridge == net.bridge for bridge, _ in host.route_errors) or (
                path == "forward" and host.sysctl("net.ipv4.ip_forward") == "0")
            if not legacy and not explained:
                out.append(Finding(net.name, FORWARD_DROP, "outside nftables", what,
                                   "check iptables-legacy-save, ebtables and the routing table",
                                   proof + (probe.note or "")))
            continue
        note = f" (no traced packet: {probe.note})" if probe is not None and probe.note else ""
        for chain in _dropping(host, hook):
            target = (_legacy_target(host, chain, hook) if chain.backend != NFT else chain)
            if _has_tag(target, net.name):
                continue
            out.append(_finding(net, host, target, path, what,
                                f"read: {_label(chain)} has policy drop{note}",
                                where=_label(chain)))
    return _dedupe(out + _ipv6_drops(net, host)) + settings(net, host, by_path)


def _ipv6_drops(net: NetPaths, host: HostState) -> list[Finding]:
    """nftables ``ip6`` forward chains that drop by policy, for a network with IPv6.

    The traced probe is IPv4 and the other hooked chains doctor reads see IPv4 (``ip``,
    ``inet``), so a drop policy in an ``ip6`` table -- which stops the guests' IPv6 and the
    network's IPv6 port forwards while IPv4 works -- is judged by the rules as read, as
    without a probe: a finding unless kvmnet's tagged accepts are in it.
    """
    if not (net.forwards and net.ipv6):
        return []
    what = (f"guests on {net.bridge} get no IPv6 forwarded (IPv6 traffic from or to "
            f"{net.bridge} is dropped, IPv6 port forwards included)")
    return [_finding(net, host, chain, "forward", what,
                     f"read: {_label(chain)} has policy drop (IPv6 is not traced)")
            for chain in host.chains
            if chain.backend == NFT and chain.family == "ip6" and chain.hook == "forward"
            and chain.policy == "drop" and not _has_tag(chain, net.name)]


def _label_drop(drop: DropPoint) -> str:
    if drop.backend == NFT:
        return f"nftables table {drop.family} {drop.table}, chain {drop.chain}"
    return f"{drop.backend} chain {drop.chain}"


def _legacy_target(host: HostState, chain: Chain, hook: str) -> Chain:
    """An iptables fix's chain: Docker's DOCKER-USER when FORWARD jumps to it (Docker keeps
    that chain's rules and puts its jump first), else the built-in chain of the hook."""
    names = _iptables(host, chain.backend)
    builtin = names.get(hook.upper(), chain)
    if hook == "forward" and "DOCKER-USER" in names and "-j DOCKER-USER" in builtin.rules:
        return names["DOCKER-USER"]
    return builtin


def _dedupe(items: list[Finding]) -> list[Finding]:
    """One finding per (code, place): DHCP and DNS dropped by one chain are one problem."""
    seen: dict[tuple[str, str], Finding] = {}
    for f in items:
        key = (f.code, f.where)
        if key not in seen:
            seen[key] = f
    return list(seen.values())


def _int(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() else 0


def settings(net: NetPaths, host: HostState, probes: dict[str, Probe]) -> list[Finding]:
    """Kernel settings and link facts that break the guests' paths."""
    out: list[Finding] = []
    br = net.bridge
    if net.forwards and host.sysctl("net.ipv4.ip_forward") == "0":
        out.append(Finding(net.name, FORWARDING_OFF, "sysctl net.ipv4.ip_forward = 0",
                           f"the host forwards nothing: guests on {br} cannot reach the outside",
                           "sysctl -w net.ipv4.ip_forward=1 (and 'net.ipv4.ip_forward = 1' in "
                           "/etc/sysctl.d/ to keep it; 'kvmnet net-start' sets it, something "
                           "turned it off again; 'kvmnet doctor --fix' sets it back)",
                           "read: /proc/sys/net/ipv4/ip_forward",
                           change=(FixSetting(SYSCTL, "net.ipv4.ip_forward", "1", "0"),)))
    if net.forwards and net.ipv6 and host.sysctl(IPV6_FORWARDING) == "0":
        out.append(Finding(net.name, FORWARDING_OFF, f"sysctl {IPV6_FORWARDING} = 0",
                           f"the host forwards no IPv6: guests on {br} cannot reach the outside "
                           "over IPv6",
                           f"sysctl -w {IPV6_FORWARDING}=1 (and '{IPV6_FORWARDING} = 1' in "
                           "/etc/sysctl.d/ to keep it; 'kvmnet net-start' sets it, something "
                           "turned it off again; 'kvmnet doctor --fix' sets it back, keeping "
                           "router advertisements on the interfaces that use them, as "
                           "net-start does)", "read: /proc/sys/net/ipv6/conf/all/forwarding",
                           change=(FixSetting(SYSCTL, IPV6_FORWARDING, "1", "0"),)))
    forward = probes.get("forward")
    if (host.sysctl("net.bridge.bridge-nf-call-iptables") == "1"
            and not (forward is not None and forward.passed)):
        for chain in _dropping(host, "forward"):
            target = _legacy_target(host, chain, "forward") if chain.backend != NFT else chain
            if _has_tag(target, net.name):
                continue
            rules = _rules_for(net, target, "forward")[:1]
            out.append(Finding(
                net.name, BRIDGE_NF, f"{_label(chain)} with bridge-nf-call-iptables = 1",
                f"traffic between guests on {br} is bridged through the host's FORWARD hook "
                f"and dropped by {_label(chain)}",
                f"accept it from the bridge: {rules[0].command()} ('kvmnet doctor --fix' adds "
                "it); or, if nothing on this host needs bridge netfilter: sysctl -w "
                "net.bridge.bridge-nf-call-iptables=0",
                "read: /proc/sys/net/bridge/bridge-nf-call-iptables and the chain's policy",
                rules))
    br_rp = f"net.ipv4.conf.{br.replace('.', '/')}.rp_filter"
    strict = max(_int(host.sysctl("net.ipv4.conf.all.rp_filter")), _int(host.sysctl(br_rp))) == 1
    for bridge, answer in host.route_errors:
        # the kernel refuses a source that fails the reverse path check with EINVAL (EXDEV
        # inside); with forwarding off the answer is "No route to host" instead
        if bridge == br and strict and ("Invalid argument" in answer or "cross-device" in answer):
            out.append(Finding(
                net.name, RP_FILTER, f"rp_filter on {br}",
                f"strict reverse path filtering drops packets arriving on {br} from guest "
                "addresses that the host routes elsewhere",
                # the kernel applies max(all, dev): loose mode on kvmnet's own bridge is
                # enough, whatever 'all' (the host's policy, left alone) says
                f"sysctl -w {br_rp}=2 (loose mode on {br} only; the larger of "
                "net.ipv4.conf.all.rp_filter and the interface's value applies, so 'all' can "
                "stay as it is; 'kvmnet doctor --fix' sets it)",
                f"the kernel's route lookup for a guest's packet: {answer}",
                change=(FixSetting(SYSCTL, br_rp, "2", host.sysctl(br_rp) or "0"),)))
    uplink_mtu, bridge_mtu = host.mtu(host.uplink), host.mtu(br)
    if net.forwards and uplink_mtu and bridge_mtu and uplink_mtu < bridge_mtu:
        out.append(Finding(
            net.name, MTU, f"MTU {uplink_mtu} on uplink {host.uplink} < {bridge_mtu} on {br}",
            f"large packets from guests on {br} are dropped or fragmented on the way out "
            "(broken path MTU: connections that stall after the handshake)",
            f"give the network the uplink's MTU: <mtu size='{uplink_mtu}'/> ('kvmnet net-edit "
            f"{shlex.quote(net.name)}', then restart it), or raise {host.uplink}'s MTU "
            f"('kvmnet doctor --fix' lowers {br}'s MTU to {uplink_mtu} until the network "
            "stops)",
            f"read: ip link ({host.uplink} mtu {uplink_mtu}, {br} mtu {bridge_mtu})",
            change=(FixSetting(LINK_MTU, br, str(uplink_mtu), str(bridge_mtu)),)))
    if host.has_firewalld:
        zone = dict(host.firewalld_zones).get(br)
        if zone not in _TRUSTING_ZONES and any(p.passed is not True for p in probes.values()):
            where = (f"firewalld: {br} is in zone '{zone}'" if zone else
                     f"firewalld: {br} is in no zone (the default zone's rules apply)")
            out.append(Finding(
                net.name, FIREWALLD_ZONE, where,
                f"firewalld rejects the guests' traffic on {br} that its zone does not allow",
                f"firewall-cmd --permanent --zone=libvirt --add-interface={br} (or "
                f"--zone=trusted without libvirt's zone) && firewall-cmd --reload",
                "read: firewalld's table inet firewalld (filter_INPUT_ZONES)"))
    return out
