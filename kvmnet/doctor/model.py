"""What ``kvmnet doctor`` knows and says, as plain frozen data (no I/O).

* :class:`NetPaths`: one active network's guest paths (its bridge, subnets, gateway, whether
  guests need DHCP/DNS from the host and forwarding to the outside);
* :class:`Chain` and :class:`HostState`: the host's firewalls and settings as read;
* :class:`DropPoint` and :class:`Probe`: where a traced test packet died, or that it passed;
* :class:`FixRule`: one accept rule ``--fix`` adds (tagged with the network's name);
* :class:`FixSetting`: one kernel setting or link MTU ``--fix`` changes back (its old value kept);
* :class:`Finding`: one foreign drop point, what it breaks, the remedy, the proof.
"""
from __future__ import annotations

from kvmnet.model.frozen import frozen

# Finding codes, one per kind of problem.
FORWARD_DROP = "forward-drop"  # a firewall drops traffic forwarded from or to the bridge
INPUT_DROP = "input-drop"  # a firewall drops the guests' DHCP or DNS to the host
FORWARDING_OFF = "forwarding-off"  # net.ipv4.ip_forward is 0
BRIDGE_NF = "bridge-nf"  # bridged traffic goes through a dropping FORWARD chain
RP_FILTER = "rp-filter"  # reverse path filtering drops the guests' packets
MTU = "mtu"  # the uplink's MTU is lower than the bridge's
FIREWALLD_ZONE = "firewalld-zone"  # the bridge is in no firewalld zone, or a restrictive one

# Where a fix rule goes.
IPTABLES_NFT = "iptables-nft"
IPTABLES_LEGACY = "iptables-legacy"
NFT = "nft"


@frozen
class NetPaths:
    name: str
    bridge: str
    mode: str  # nat, route, open, isolated
    subnets: tuple[str, ...]  # IPv4, as prefixes
    gateway: str | None  # the bridge's IPv4 address
    dhcp: bool
    dns: bool
    ipv6: bool = False  # it has IPv6 addresses (its start needs IPv6 forwarding too)

    @property
    def forwards(self) -> bool:
        return self.mode in ("nat", "route", "open")


@frozen
class Chain:
    """A chain of any firewall: ``backend`` is iptables-nft, iptables-legacy or nft."""

    backend: str
    family: str  # nft family; "ip" for iptables
    table: str
    name: str
    hook: str | None  # forward, input...; None for a regular chain
    policy: str | None  # "drop", "accept"; None for a regular chain
    rules: tuple[str, ...] = ()  # as the tool prints them (iptables -S, or nft's JSON text)

    @property
    def who(self) -> str:
        """The tool that made this chain, as far as its names tell."""
        if self.backend == NFT:
            return {"firewalld": "firewalld", "nixos-fw": "NixOS's firewall"}.get(
                self.table, "Docker" if self.table.startswith("docker") else "")
        return ""


@frozen
class HostState:
    chains: tuple[Chain, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()  # (key, value) as read; absent keys left out
    mtus: tuple[tuple[str, int], ...] = ()  # (link, MTU) of the bridges and the uplink
    uplink: str | None = None  # the default route's device
    route_errors: tuple[tuple[str, str], ...] = ()  # (bridge, kernel's answer) of a failed lookup
    firewalld_zones: tuple[tuple[str, str], ...] = ()  # (interface, zone) from firewalld's table
    has_firewalld: bool = False

    def sysctl(self, key: str) -> str | None:
        return dict(self.sysctls).get(key)

    def mtu(self, link: str | None) -> int | None:
        return dict(self.mtus).get(link) if link else None


@frozen
class DropPoint:
    backend: str
    family: str
    table: str
    base: str  # the hooked chain the packet entered
    chain: str  # the chain whose rule or policy dropped it
    verdict: str  # the trace's words: "policy drop", "rule ... (verdict drop)"

    def text(self) -> str:
        where = self.chain if self.chain == self.base else f"{self.chain} (from {self.base})"
        return f"{self.family} {self.table} {where}: {self.verdict}"


@frozen
class Probe:
    """One traced test packet: ``passed`` True (it reached the end of its hook), False (it was
    dropped: ``drop`` says where, when nftables saw it), None (not sent: ``note`` says why)."""

    path: str  # "forward", "dhcp", "dns"
    packet: str  # what was sent, for people
    passed: bool | None
    drop: DropPoint | None = None
    note: str = ""
    trace: tuple[str, ...] = ()


@frozen
class FixRule:
    backend: str
    family: str
    table: str
    chain: str
    rule: tuple[str, ...]  # iptables spec words, or nft rule words
    comment: str  # the tag: "kvmnet: network NET ..."

    def command(self) -> str:
        """The command a person would type to add it."""
        import shlex

        if self.backend == NFT:
            return (f"nft insert rule {self.family} {self.table} {self.chain} "
                    f"{' '.join(self.rule)} comment {shlex.quote(chr(34) + self.comment + chr(34))}")
        return shlex.join([self.backend, "-I", self.chain, *self.rule, "-m", "comment",
                           "--comment", self.comment])


IPV6_FORWARDING = "net.ipv6.conf.all.forwarding"

SYSCTL = "sysctl"  # a FixSetting's kinds
LINK_MTU = "mtu"


@frozen
class FixSetting:
    """A host setting ``--fix`` changes: a sysctl (``target`` its dotted key) or the MTU of
    kvmnet's own bridge (``target`` the bridge).  ``old`` is the value read, which the undo
    restores when the setting is still ``value``."""

    kind: str  # SYSCTL or LINK_MTU
    target: str
    value: str
    old: str

    def command(self) -> str:
        if self.kind == LINK_MTU:
            return f"ip link set dev {self.target} mtu {self.value}"
        return f"sysctl -w {self.target}={self.value}"


@frozen
class Finding:
    network: str
    code: str
    where: str  # the drop point, as people name it
    what: str  # what it breaks
    remedy: str  # the exact change that lets the traffic through
    proof: str = ""  # a traced packet, or what was read
    fix: tuple[FixRule, ...] = ()  # the rules --fix adds
    change: tuple[FixSetting, ...] = ()  # the settings --fix changes (neither: fixed by hand)

    def to_json(self) -> dict[str, object]:
        return {"network": self.network, "code": self.code, "where": self.where,
                "what": self.what, "remedy": self.remedy, "proof": self.proof,
                "fix": [r.command() for r in self.fix] + [c.command() for c in self.change]}


@frozen
class Report:
    """One doctor run: the networks checked, what their probes showed, what is wrong, and
    what ``--fix`` or ``--undo`` changed."""

    networks: tuple[str, ...] = ()
    probes: tuple[tuple[str, Probe], ...] = ()  # (network, probe)
    findings: tuple[Finding, ...] = ()
    added: tuple[str, ...] = ()  # commands --fix ran
    removed: tuple[str, ...] = ()  # commands --undo ran, or that cleared a killed doctor's probe
    unfixed: tuple[str, ...] = ()  # why --fix left a finding to a person (firewalld zones...)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok, "networks": list(self.networks),
            "findings": [f.to_json() for f in self.findings],
            "probes": [{"network": net, "path": p.path, "packet": p.packet, "passed": p.passed,
                        "drop": p.drop.text() if p.drop else None, "note": p.note}
                       for net, p in self.probes],
            "added": list(self.added), "removed": list(self.removed),
            "unfixed": list(self.unfixed),
        }
