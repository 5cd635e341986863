"""nftables documents for port forwards: pure text, no I/O.

Layout
------
Forwards live in a table of their own, ``table inet kvmnet_forwards``, beside the networks'
``inet kvmnet`` (:mod:`.nftables`), so that a host check can look at, and a watcher put
back, exactly the forwards.  Every forward of every network is an element of one map, so a
packet costs one hash lookup whatever the number of forwards, and adding or removing
forwards changes elements only (no rule), in one transaction::

    map dnat4     ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
                  (listen address . protocol . port : target . target port)
    map dnat6     the same with ipv6_addr (IPv6 listen address to a guest's IPv6 address)
    set hairpin   ipv4_addr . ifname, intervals (each IPv4 subnet of a network with
                  forwards . its bridge)
    set hairpin6  the same for the IPv6 subnets

    prerouting  (nat hook prerouting priority dstnat - 1)
                    dnat ip to ip daddr . meta l4proto . th dport map @dnat4
                    dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6
    output      (nat hook output priority -101)          the same, for the host's own
    postrouting (nat hook postrouting priority srcnat - 1)
                    ct status dnat ip saddr . oifname @hairpin masquerade
                    ct status dnat ip6 saddr . oifname @hairpin6 masquerade

One map per IP version because an nft map has one key type, and a DNAT never changes the
version (the model refuses a forward whose listen address and target differ in it).  Each
rule matches only its own version (``ip``/``ip6`` imply the protocol check), so a packet
still costs one map lookup.

Why each piece (each proven by tests/functional/test_forward_netns.py):

* ``prerouting`` at ``dstnat - 1``: of two NAT chains at one hook, the first to bind a
  connection wins; Docker's (and iptables-nft's) DNAT runs at ``dstnat``, so ours comes
  first whatever order the tables were loaded in.
* ``output``: the host's own connections to the listen address never pass prerouting.
  (nft names no ``dstnat`` priority for the output hook: -101 is the same number.)
* ``postrouting`` hairpin: a guest on the same bridge (or the target itself) connecting to
  the listen address is DNATed back onto the bridge it came from; without rewriting its
  source, the target would answer it directly, from an address it did not connect to.
  Masquerading to the bridge's address makes the replies come back through the host.
  The set limits that to clients on the subnet of the bridge the packet leaves by, so
  clients outside keep their own address.  It is keyed by source address, not by input
  interface: under bridge netfilter the DNATed packet is bridged, and the postrouting hook
  then sees no input interface.  (There the target's own port also needs the bridge's
  hairpin mode, which the tap plugger sets.)
* the networks' forward chains accept ``ct status dnat`` into a NAT network
  (:mod:`.nftables`): a forwarded connection is new, not "established".

Transactions
------------
:func:`render_start` is the base (idempotent: ``add`` of the table, map, set and chains, the
hooked chains flushed and refilled, a version marker) plus one network's elements;
with ``base=False`` it starts with ``flush set ... <marker>`` instead, which fails (changing
nothing) when the base is missing or stale -- the caller then applies the full document, as
for networks.  :func:`render_remove` deletes elements idempotently (each is ``add``-ed
first; nft 1.0.6 has no ``destroy``).  Keys are unique across networks: a key of another
network makes ``add element`` fail with "File exists", never overwrite.
"""
from __future__ import annotations

from kvmnet.config.values import ifname_problem
from kvmnet.errors import InvalidArgError
from kvmnet.model.forward import PortForward

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from hashlib import sha256
else:
    try:
        from _sha256 import sha256  # CPython <= 3.11 (no OpenSSL import: see .nftables)
    except ImportError:  # pragma: no cover - 3.12 renamed it
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256

TABLE = "kvmnet_forwards"
FAMILY = "inet"
_T = f"{FAMILY} {TABLE}"
#: per IP version: (nft's word for its header, its address type, the DNAT map, the hairpin set)
VERSIONS: dict[int, tuple[str, str, str, str]] = {
    4: ("ip", "ipv4_addr", "dnat4", "hairpin"),
    6: ("ip6", "ipv6_addr", "dnat6", "hairpin6"),
}
_DNAT = tuple(f"dnat {fam} to {fam} daddr . meta l4proto . th dport map @{dnat}"
              for fam, _addr, dnat, _hairpin in VERSIONS.values())
_MASQUERADE = tuple(f"ct status dnat {fam} saddr . oifname @{hairpin} masquerade"
                    for fam, _addr, _dnat, hairpin in VERSIONS.values())
#: the hooked chains and their rules (one per IP version): the per-packet cost, whatever
#: the forwards
CHAINS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("prerouting", "type nat hook prerouting priority dstnat - 1; policy accept;", _DNAT),
    ("output", "type nat hook output priority -101; policy accept;", _DNAT),
    ("postrouting", "type nat hook postrouting priority srcnat - 1; policy accept;",
     _MASQUERADE),
)


def _declarations() -> list[str]:
    lines = [f'add table {_T} {{ comment "kvmnet port forwards; managed by kvmnet"; }}']
    for _fam, addr, dnat, _hairpin in VERSIONS.values():
        lines.append(f"add map {_T} {dnat} {{ type {addr} . inet_proto . inet_service : "
                     f"{addr} . inet_service; }}")
    for _fam, addr, _dnat, hairpin in VERSIONS.values():
        lines.append(f"add set {_T} {hairpin} {{ type {addr} . ifname; flags interval; }}")
    return lines


def _base_lines() -> list[str]:
    lines = _declarations()
    for name, hook, rules in CHAINS:
        lines += [f"add chain {_T} {name} {{ {hook} }}", f"flush chain {_T} {name}"]
        lines += [f"add rule {_T} {name} {rule}" for rule in rules]
    return lines


def base_marker() -> str:
    """The empty set whose presence says "this version's base is installed"."""
    return "base_" + sha256("\n".join(_base_lines()).encode()).hexdigest()[:12]


def render_base() -> str:
    return "\n".join(_base_lines() + [f"add set {_T} {base_marker()} {{ type ifname; }}"]) + "\n"


def _bridge(bridge: str) -> str:
    problem = ifname_problem(bridge, "bridge")
    if problem is not None:
        raise InvalidArgError(f"port forwards: {problem}")
    return f'"{bridge}"'


def map_elements(forwards: Iterable[PortForward], *, values: bool = True) -> list[str]:
    """``address . proto . port : target . port`` for each listen port (keys only without
    ``values``)."""
    out: list[str] = []
    for f in forwards:
        for port, tport in f.pairs():
            key = f"{f.address} . {f.protocol} . {port}"
            out.append(f"{key} : {f.target} . {tport}" if values else key)
    return out


def _elements(verb: str, name: str, items: Sequence[str]) -> list[str]:
    return [f"{verb} element {_T} {name} {{ {', '.join(items)} }}"] if items else []


def _version(address: str) -> int:
    # the model's addresses are canonical text: a colon means IPv6 (no ipaddress import)
    return 6 if ":" in address else 4


def _maps(forwards: Iterable[PortForward]) -> list[tuple[str, list[PortForward]]]:
    """(map name, its forwards) per IP version, IPv4 first."""
    return [(dnat, [f for f in forwards if f.version == version])
            for version, (_fam, _addr, dnat, _hp) in VERSIONS.items()]


def _hairpins(bridge: str, subnets: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(hairpin set, its ``subnet . bridge`` elements) per IP version, IPv4 first."""
    br = _bridge(bridge)
    return [(hairpin, [f"{s} . {br}" for s in subnets if _version(s) == version])
            for version, (_fam, _addr, _dnat, hairpin) in VERSIONS.items()]


def render_add(bridge: str, subnets: Sequence[str], forwards: Sequence[PortForward], *,
               base: bool = True) -> str:
    """Install ``forwards`` of the network on ``bridge`` (one transaction); see module doc."""
    lines = [f"# kvmnet: port forwards into bridge {bridge}"]
    if base:
        lines += _base_lines() + [f"add set {_T} {base_marker()} {{ type ifname; }}"]
    else:
        lines.append(f"flush set {_T} {base_marker()}")
    for name, items in _hairpins(bridge, subnets):
        lines += _elements("add", name, items)
    for name, fwds in _maps(forwards):
        lines += _elements("add", name, map_elements(fwds))
    return "\n".join(lines) + "\n"


def render_remove(bridge: str, subnets: Sequence[str], forwards: Sequence[PortForward], *,
                  hairpin: bool) -> str:
    """Remove ``forwards`` (and with ``hairpin`` the bridge's hairpin entries), idempotently."""
    lines = [f"# kvmnet: remove port forwards into bridge {bridge}"] + _declarations()
    pairs = [(name, map_elements(fwds), map_elements(fwds, values=False))
             for name, fwds in _maps(forwards)]
    if hairpin:
        pairs += [(name, items, items) for name, items in _hairpins(bridge, subnets)]
    for name, full, keys in pairs:
        lines += _elements("add", name, full) + _elements("delete", name, keys)
    return "\n".join(lines) + "\n"


def render_remove_all() -> str:
    """Delete the forwards table and everything in it (idempotent); nothing else."""
    return f"add table {_T}\ndelete table {_T}\n"


def documents(bridge: str, subnets: Sequence[str],
              forwards: Sequence[PortForward]) -> tuple[str, str, str]:
    """(full start, fast start, destroy) documents of one network's forwards; ``subnets``:
    the network's subnets, IPv4 and IPv6 (``192.168.122.0/24``, ``fd00:1::/64``)."""
    return (render_add(bridge, subnets, forwards),
            render_add(bridge, subnets, forwards, base=False),
            render_remove(bridge, subnets, forwards, hairpin=True))
