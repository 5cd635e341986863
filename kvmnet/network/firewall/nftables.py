"""nftables documents for kvmnet's virtual networks: pure text, no I/O.

Layout
------
kvmnet owns exactly one table, ``table inet kvmnet``, and never touches any
other.  Four hooked chains dispatch through hash verdict maps and sets keyed by
bridge name, so a packet costs one or two hash lookups whatever the number of
networks::

    forward     (filter hook forward)  oifname vmap @bridges
                                       iifname vmap @bridges      -> fwd_<net>
    input       (filter hook input)    iifname . meta nfproto . meta l4proto . th dport
                                           @host_in accept
    output      (filter hook output)   oifname . meta nfproto . meta l4proto . th dport
                                           @host_out accept
    postrouting (nat hook postrouting) iifname vmap @nat_bridges  -> nat_<net>

Each network has one filter chain ``fwd_<net>`` holding its whole forwarding
policy, and NAT networks one ``nat_<net>`` chain.  The ``oifname`` lookup runs
first (libvirt checks FWX/FWI before FWO): a packet from network A into NAT
network B meets B's "established only" rule even though A would let it out,
and same-bridge traffic (bridge netfilter passes it through the forward hook)
is accepted there.  ``<net>`` is a sanitized prefix of the name plus 40 bits of
its SHA-256, so any network name gives a unique, safe identifier; the chain
comments carry the (escaped) real name.

NAT is dispatched on the input interface (postrouting sees it for forwarded
packets) and the ``nat_<net>`` chain then checks the source subnet as libvirt
does.  So NAT applies to traffic forwarded from the network's bridge; libvirt
matches the source subnet alone and would also rewrite a packet the host
itself sends from its bridge address to the outside, which nothing needs.

Why this shape: nft 1.0.6 re-reads the table's chains (and every element of
plain interval sets) on each run, and the kernel copies a concatenated interval
set on every change, so a start or stop costs in proportion to what must be
read.  Hash maps/sets and at most two small chains per network keep that cost
low at 1,000 networks (about 15 ms for a start or stop with one network
present, 30-40 ms with 1,000, on a 2-core test machine); a data-only design
with ``ifname . subnet`` interval sets measured five times slower to stop, and
``ip saddr`` interval maps for NAT made every run read all their elements too.

Transactions
------------
Starting a network is one ``nft -f`` document: the idempotent base (``add`` of
table, sets, maps and chains is a no-op when they exist; the hooked chains are
flushed and refilled with the same dispatch rules) followed by the network's
chains and elements.  Re-running a start document yields the same ruleset.

Destroying a network is one document that deletes exactly the elements and
chains that start added.  It is idempotent: each object is first ``add``-ed
(a no-op when present; nft 1.0.6 has no ``destroy`` command) and then deleted,
so destroying an already-clean network succeeds.  An ``add`` whose key belongs
to *another* network's chain fails rather than deleting that network's element.

When the last network goes away the table stays, with empty maps: it costs a
few lookups per packet, and keeping it avoids a read-then-delete race between
two networks stopping at once.  :func:`render_remove_all` deletes it on request.

Meaning per forward mode (libvirt's rules, in our own structure)
----------------------------------------------------------------
* every mode with a bridge except ``open``: guests may reach DHCP (udp 67;
  udp 547 with IPv6), DNS (udp/tcp 53) and TFTP (udp 69, when configured) on
  the host, the host may send DHCP replies (udp 68/546), and traffic between
  ports of the same bridge is accepted;
* ``nat``: out of the bridge only from the network's subnets, into the bridge
  only to its subnets and only for established/related connections, or (IPv4) for
  connections a DNAT made (the port forwards of :mod:`.forwards`); source NAT
  (masquerade, or SNAT to the ``<nat><address>`` range; the port range applies
  to TCP/UDP) for traffic leaving the subnet, except to 224.0.0.0/24 and
  255.255.255.255 (ff02::/16 for IPv6).  IPv6 subnets are NATed only with
  ``<nat ipv6='yes'>``; otherwise they are routed, as libvirt does;
* ``route``: like ``nat`` without the connection-state restriction and NAT;
* ``isolated``: only same-bridge traffic and the host services above;
* ``open``: no rules at all (empty documents).
``<forward dev=X>`` limits forwarding and NAT to interface X, as in libvirt.

Everything forwarded from or to a bridge that no rule accepts is rejected, for
IPv4 and IPv6 alike: a network without IPv6 subnets forwards no IPv6 (libvirt
leaves IPv6 unfiltered then; one inet table lets us be consistent).  The input
and output rules only accept; other traffic between guests and the host falls
to the base chains' accept policy, as with libvirt.  An accept here cannot
override a drop in another table (nftables evaluates every table).
"""
from __future__ import annotations

import ipaddress
import re

# Cold net-define precompiles the start program through this module: typing (~3 ms) and
# hashlib's OpenSSL binding (_hashlib, ~2.5 ms) are a twentieth of it.  The builtin sha256
# gives the same digests (free of complexity: two imports).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from hashlib import sha256
    from typing import Literal

    Mode = Literal["nat", "route", "isolated", "open"]
else:
    try:
        from _sha256 import sha256  # CPython <= 3.11
    except ImportError:  # pragma: no cover - 3.12 renamed it
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256

from kvmnet.config.values import ifname_problem
from kvmnet.errors import InvalidArgError
from kvmnet.model.addr import ip_network
from kvmnet.model.frozen import frozen
from kvmnet.model.modes import mode_of
from kvmnet.model.network import IPDef, Network

TABLE = "kvmnet"
FAMILY = "inet"
_T = f"{FAMILY} {TABLE}"

_MODES: tuple[str, ...] = ("nat", "route", "isolated", "open")

_SERVICE = "ifname . nf_proto . inet_proto . inet_service"

# Named sets and maps: (kind, name, declaration body).
_DECLS: tuple[tuple[str, str, str], ...] = (
    ("map", "bridges", "type ifname : verdict;"),
    ("set", "host_in", f"type {_SERVICE};"),
    ("set", "host_out", f"type {_SERVICE};"),
    ("map", "nat_bridges", "type ifname : verdict;"),
)

_SVC = "meta nfproto . meta l4proto . th dport"

# The hooked chains and their dispatch rules.
_BASE_CHAINS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("forward", "type filter hook forward priority filter; policy accept;",
     ("oifname vmap @bridges", "iifname vmap @bridges")),
    ("input", "type filter hook input priority filter; policy accept;",
     (f"iifname . {_SVC} @host_in counter accept",)),
    ("output", "type filter hook output priority filter; policy accept;",
     (f"oifname . {_SVC} @host_out counter accept",)),
    ("postrouting", "type nat hook postrouting priority srcnat; policy accept;",
     ("iifname vmap @nat_bridges",)),
)

# Destinations that keep their source address (libvirt: multicast and broadcast
# must reach the local segment unchanged).
_NO_NAT_V4: tuple[str, ...] = ("224.0.0.0/24", "255.255.255.255")
_NO_NAT_V6: tuple[str, ...] = ("ff02::/16",)

_COMMENT_MAX = 128  # NFTNL_UDATA_COMMENT_MAXLEN
# Interface names: kvmnet.config.values.ifname_problem, the rule define applies
# (only characters the kernel, dnsmasq and nft all read literally).


@frozen
class NetFirewall:
    """The plain parameters that decide one network's firewall.

    Subnets are prefixes as text (``192.168.122.0/24``); host bits are allowed
    and dropped.  ``nat_port_range`` applies to TCP and UDP only, as in libvirt;
    ``nat_addr_range`` (IPv4) switches from masquerade to SNAT.  ``forward_dev``
    restricts forwarding and NAT to one outgoing interface (``<forward dev>``).
    """

    name: str
    bridge: str
    mode: Mode
    ipv4_subnets: tuple[str, ...] = ()
    ipv6_subnets: tuple[str, ...] = ()
    forward_dev: str | None = None
    nat_addr_range: tuple[str, str] | None = None
    nat_port_range: tuple[int, int] = (1024, 65535)
    nat_ipv6: bool = False
    dhcp: bool = True
    dns: bool = True
    tftp: bool = False


# ------------------------------------------------------------------ naming

def chain_stem(name: str) -> str:
    """``<sanitized>_<hash>``: unique per network name and safe in an nft identifier.

    40 bits of SHA-256 keep 1,000 networks collision-free in practice; the
    readable part is only for people; chain names stay under the 32
    characters older kernels allow.
    """
    digest = sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    readable = re.sub(r"[^A-Za-z0-9]", "_", name)[:12]
    return f"{readable}_{digest}"


def chain_names(name: str) -> tuple[str, str]:
    """(filter chain, NAT chain) names of network ``name``."""
    stem = chain_stem(name)
    return f"fwd_{stem}", f"nat_{stem}"


def _quote(text: str) -> str:
    """An nft quoted string holding text; nft has no escapes, so we spell them out.

    Quotes, backslashes, control and non-ASCII characters become ``\\xNN`` /
    ``\\uNNNN``; the result is cut to nft's 128-character comment limit.
    """
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\' or code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code > 0x7E:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    body = "".join(out)
    if len(body) > _COMMENT_MAX:
        body = body[: _COMMENT_MAX - 3] + "..."
    return f'"{body}"'


def _ifname(value: str, what: str, net: str) -> str:
    problem = ifname_problem(value, what)
    if problem is not None:
        raise InvalidArgError(f"network '{net}': {problem}")
    return f'"{value}"'


# ---------------------------------------------------------------- checking

@frozen
class _Checked:
    """A NetFirewall with every value validated and normalised for rendering."""

    fw: NetFirewall
    fwd: str
    nat: str
    bridge: str  # quoted
    dev: str | None  # quoted
    v4: tuple[str, ...]  # as given, without duplicates
    v6: tuple[str, ...]


def _subnets(values: Sequence[str], version: int, net: str) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        try:
            parsed = ipaddress.ip_network(value, strict=False)
        except ValueError:
            parsed = None
        if parsed is None or parsed.version != version:
            example = "192.168.122.0/24" if version == 4 else "2001:db8::/64"
            raise InvalidArgError(f"network '{net}': '{value}' is not an IPv{version} subnet; "
                                  f"give it as address/prefix, e.g. {example}")
        text = str(parsed)
        if text not in out:
            out.append(text)
    return tuple(out)


def _check(fw: NetFirewall) -> _Checked:
    if fw.mode not in _MODES:
        raise InvalidArgError(f"network '{fw.name}': firewall mode '{fw.mode}' is not one of "
                              f"{', '.join(_MODES)}")
    v4 = _subnets(fw.ipv4_subnets, 4, fw.name)
    v6 = _subnets(fw.ipv6_subnets, 6, fw.name)
    low, high = fw.nat_port_range
    if not 0 < low <= high <= 65535:
        raise InvalidArgError(f"network '{fw.name}': NAT port range {low}-{high} is invalid; "
                              "give 1 <= start <= end <= 65535")
    if fw.nat_addr_range is not None:
        for addr in fw.nat_addr_range:
            try:
                ok = ipaddress.ip_address(addr).version == 4
            except ValueError:
                ok = False
            if not ok:
                raise InvalidArgError(f"network '{fw.name}': NAT address '{addr}' is not an IPv4 "
                                      "address; <nat><address> takes IPv4 start/end addresses")
        first, last = (ipaddress.IPv4Address(a) for a in fw.nat_addr_range)
        if first > last:
            raise InvalidArgError(f"network '{fw.name}': NAT address range {first}-{last} ends "
                                  "before it starts; swap start and end")
    fwd, nat = chain_names(fw.name)
    return _Checked(
        fw=fw,
        fwd=fwd,
        nat=nat,
        bridge=_ifname(fw.bridge, "bridge", fw.name),
        dev=_ifname(fw.forward_dev, "forward dev", fw.name) if fw.forward_dev else None,
        v4=v4,
        v6=v6,
    )


def _nat_subnets(c: _Checked) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(IPv4, IPv6) subnets that are source-NATed."""
    if c.fw.mode != "nat":
        return (), ()
    return c.v4, (c.v6 if c.fw.nat_ipv6 else ())


# ------------------------------------------------------------------- rules

def _fwd_rules(c: _Checked) -> list[str]:
    """The network's forwarding policy; reached with oifname or iifname = bridge."""
    br, dev, mode = c.bridge, c.dev, c.fw.mode
    rules = [f"oifname {br} iifname {br} counter accept comment \"same bridge\""]
    subnets = (("ip", c.v4), ("ip6", c.v6)) if mode in ("nat", "route") else ()
    src = f" iifname {dev}" if dev else ""
    for fam, nets in subnets:
        natted = mode == "nat" and (fam == "ip" or c.fw.nat_ipv6)
        state = " ct state established,related" if natted else ""
        for n in nets:
            rules.append(f"oifname {br}{src} {fam} daddr {n}{state} counter accept")
            if natted:
                # port forwards (kvmnet.network.firewall.forwards) start new connections
                # (IPv6 only needs it with <nat ipv6='yes'>: else IPv6 is routed, all new)
                rules.append(f"oifname {br}{src} {fam} daddr {n} ct status dnat counter accept")
    rules.append(f"oifname {br} counter reject")
    # From here on the packet came in from the bridge and leaves elsewhere.
    out = f" oifname {dev}" if dev else ""
    for fam, nets in subnets:
        rules += [f"{fam} saddr {n}{out} counter accept" for n in nets]
    rules.append("counter reject")
    return rules


def _nat_rules(c: _Checked) -> list[str]:
    """Source NAT for packets forwarded from the bridge (reached through @nat_bridges)."""
    rules: list[str] = []
    out = f" oifname {c.dev}" if c.dev else ""
    low, high = c.fw.nat_port_range
    ports = f":{low}-{high}"
    v4, v6 = _nat_subnets(c)
    for fam, subnets, keep in (("ip", v4, _NO_NAT_V4), ("ip6", v6, _NO_NAT_V6)):
        for subnet in subnets:
            match = f"{fam} saddr {subnet}"
            rules += [f"{match} {fam} daddr {dest}{out} counter return" for dest in keep]
            leaving = f"{match} {fam} daddr != {subnet}{out} counter"
            # One rule per protocol, as libvirt's -p tcp / -p udp rules: "{ tcp, udp }" would
            # be an anonymous set per network, which every later nft transaction lists again.
            if fam == "ip" and c.fw.nat_addr_range is not None:
                first, last = c.fw.nat_addr_range
                addrs = first if first == last else f"{first}-{last}"
                rules += [f"meta l4proto {proto} {leaving} snat ip to {addrs}{ports}"
                          for proto in ("tcp", "udp")]
                rules.append(f"{leaving} snat ip to {addrs}")
            else:
                rules += [f"meta l4proto {proto} {leaving} masquerade to {ports}"
                          for proto in ("tcp", "udp")]
                rules.append(f"{leaving} masquerade")
    return rules


def _services_in(c: _Checked) -> list[tuple[str, str, int]]:
    """Host services the guests may use (the input policy accepts the rest anyway)."""
    fams = ["ipv4"] + (["ipv6"] if c.v6 else [])
    svc: list[tuple[str, str, int]] = []
    if c.fw.dhcp:
        svc.append(("ipv4", "udp", 67))
        if c.v6:
            svc.append(("ipv6", "udp", 547))
    if c.fw.dns:
        svc += [(fam, proto, 53) for fam in fams for proto in ("udp", "tcp")]
    if c.fw.tftp:
        svc.append(("ipv4", "udp", 69))
    return svc


def _services_out(c: _Checked) -> list[tuple[str, str, int]]:
    svc: list[tuple[str, str, int]] = []
    if c.fw.dhcp:
        svc.append(("ipv4", "udp", 68))
        if c.v6:
            svc.append(("ipv6", "udp", 546))
    return svc


def _elements(c: _Checked) -> list[tuple[str, str]]:
    """(set or map, element) pairs that hook network ``c`` into the shared dispatch."""
    br = c.bridge
    elems = [("bridges", f"{br} : jump {c.fwd}")]
    elems += [("host_in", f"{br} . {f} . {p} . {n}") for f, p, n in _services_in(c)]
    elems += [("host_out", f"{br} . {f} . {p} . {n}") for f, p, n in _services_out(c)]
    if _has_nat(c):
        elems.append(("nat_bridges", f"{br} : jump {c.nat}"))
    return elems


def _has_nat(c: _Checked) -> bool:
    return any(_nat_subnets(c))


# ---------------------------------------------------------------- documents

def _table() -> str:
    return f"add table {_T} {{ comment {_quote('kvmnet virtual networks; managed by kvmnet')}; }}"


def _declarations() -> list[str]:
    return [f"add {kind} {_T} {name} {{ {decl} }}" for kind, name, decl in _DECLS]


def _base_chains() -> list[str]:
    lines: list[str] = []
    for name, hook, rules in _BASE_CHAINS:
        lines.append(f"add chain {_T} {name} {{ {hook} }}")
        lines.append(f"flush chain {_T} {name}")
        lines.extend(f"add rule {_T} {name} {rule}" for rule in rules)
    return lines


def _element_commands(verb: str, elems: Iterable[tuple[str, str]]) -> list[str]:
    """One command per set or map, elements in first-seen order."""
    grouped: dict[str, list[str]] = {}
    for name, elem in elems:
        grouped.setdefault(name, []).append(elem)
    return [f"{verb} element {_T} {name} {{ {', '.join(items)} }}" for name, items in grouped.items()]


def _own_chains(c: _Checked) -> list[str]:
    return [c.fwd, c.nat] if _has_nat(c) else [c.fwd]


def _declare_chains(c: _Checked) -> list[str]:
    note = _quote(f"kvmnet network {c.fw.name}")
    return [f"add chain {_T} {chain} {{ comment {note}; }}" for chain in _own_chains(c)]


def render_base() -> str:
    """The idempotent base: table, maps, sets, the hooked chains and the version marker."""
    lines = ["# kvmnet base (idempotent)"] + _base_lines() + [_marker_line()]
    return "\n".join(lines) + "\n"


def base_marker() -> str:
    """Name of the empty set that says "the base of this kvmnet version is installed".

    It changes whenever the base (declarations or hooked rules) changes, so a
    table left by another kvmnet version never passes for a current one.
    """
    text = "\n".join(_base_lines())
    return "base_" + sha256(text.encode()).hexdigest()[:12]


def _base_lines() -> list[str]:
    return [_table()] + _declarations() + _base_chains()


def _marker_line() -> str:
    return f"add set {_T} {base_marker()} {{ type ifname; }}"


def render_start(fw: NetFirewall, *, base: bool = True) -> str:
    """One atomic document that installs network ``fw``, and the base (idempotently).

    With ``base=False`` the document assumes the current base is installed:
    it starts by flushing the (empty) :func:`base_marker` set, so it fails
    with ENOENT -- changing nothing -- when the base is missing or stale, and
    the caller then applies the full document.  Skipping the base matters for
    speed: re-adding the hooked rules deletes the old ones, and every
    transaction that deletes rules waits for an RCU grace period (4-30 ms
    here), also delaying the next transaction.  Empty for ``open`` networks:
    they have no rules at all.
    """
    c = _check(fw)
    if fw.mode == "open":
        return ""
    lines = [f"# kvmnet: start network {_quote(fw.name)} ({fw.mode}, bridge {c.bridge})"]
    if base:
        lines += _base_lines() + [_marker_line()]
    else:
        lines.append(f"flush set {_T} {base_marker()}")
    lines += _declare_chains(c)
    for chain, rules in ((c.fwd, _fwd_rules(c)), (c.nat, _nat_rules(c))):
        if rules:
            lines.append(f"flush chain {_T} {chain}")
            lines.extend(f"add rule {_T} {chain} {rule}" for rule in rules)
    lines += _element_commands("add", _elements(c))
    return "\n".join(lines) + "\n"


def render_destroy(fw: NetFirewall) -> str:
    """One atomic document that removes what :func:`render_start` added for ``fw``.

    Idempotent: each element and chain is ``add``-ed first, so deleting what is
    already gone is not an error.  Empty for ``open`` networks.
    """
    c = _check(fw)
    if fw.mode == "open":
        return ""
    elems = _elements(c)
    lines = [f"# kvmnet: destroy network {_quote(fw.name)} (bridge {c.bridge})", _table()]
    lines += _declarations() + _declare_chains(c)
    lines += _element_commands("add", elems) + _element_commands("delete", elems)
    for chain in _own_chains(c):
        lines.append(f"flush chain {_T} {chain}")
        lines.append(f"delete chain {_T} {chain}")
    return "\n".join(lines) + "\n"


def render_remove_all() -> str:
    """Delete kvmnet's table and everything in it (idempotent); nothing else is touched."""
    return f"add table {_T}\ndelete table {_T}\n"


# ------------------------------------------------------------ from a model

def _ip_subnet(ip: IPDef, net_name: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not ip.address:
        return None
    subnet = ip_network(ip)
    if subnet is None:
        raise InvalidArgError(
            f"network '{net_name}': <ip address='{ip.address}'> with netmask "
            f"'{ip.netmask}' / prefix '{ip.prefix}' is not a valid subnet; fix the <ip> element"
        )
    return subnet


def firewall_for(net: Network) -> NetFirewall | None:
    """The firewall parameters of ``net``, or None when its mode has no kvmnet bridge.

    Like libvirt, the DHCP ports are opened whether or not ``<dhcp>`` is
    configured (dnsmasq may serve static hosts or relays); DNS unless
    ``<dns enable='no'>``; TFTP when an IPv4 ``<ip>`` has ``<tftp root>``.
    """
    # the mode's fact (kvmnet.model.modes); render_start checks it is a Mode
    mode: Mode | None = mode_of(net).firewall  # type: ignore[assignment]
    if mode is None:
        return None
    if not net.bridge_name:
        raise InvalidArgError(f"network '{net.name}' has no bridge name; define it first so "
                              "that kvmnet assigns one, or give <bridge name='...'/>")
    v4: list[str] = []
    v6: list[str] = []
    tftp = False
    for ip in net.ips:
        subnet = _ip_subnet(ip, net.name)
        if subnet is None:
            continue
        (v4 if subnet.version == 4 else v6).append(str(subnet))
        tftp = tftp or (subnet.version == 4 and bool(ip.tftp_root))
    fwd = net.forward
    nat = fwd.nat if fwd is not None else None
    addr_range: tuple[str, str] | None = None
    ports = (1024, 65535)
    if mode == "nat" and nat is not None:
        if nat.address_start:
            addr_range = (nat.address_start, nat.address_end or nat.address_start)
        if nat.port_start or nat.port_end:
            ports = (nat.port_start or 1024, nat.port_end or 65535)
    dev = fwd.dev if fwd is not None and mode in ("nat", "route") else None
    return NetFirewall(
        name=net.name,
        bridge=net.bridge_name,
        mode=mode,
        ipv4_subnets=tuple(v4),
        ipv6_subnets=tuple(v6),
        forward_dev=dev or None,
        nat_addr_range=addr_range,
        nat_port_range=ports,
        nat_ipv6=bool(mode == "nat" and nat is not None and nat.ipv6),
        dhcp=True,
        dns=not (net.dns is not None and net.dns.enable is False),
        tftp=tftp,
    )
