"""nftables documents for port forwards: pure text, no I/O.

Layout
------
Forwards live in a table of their own, ``table inet kvmnet_forwards``, beside the networks'
``inet kvmnet`` (:mod:`.nftables`), so that a host check can look at, and a watcher put
back, exactly the forwards.  Every forward of every network is an element of one map, so a
packet costs one hash lookup whatever the number of forwards, and adding or removing
forwards changes elements only (no rule), in one transaction::

    map dnat4    ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
                 (listen address . protocol . port : target . target port)
    set hairpin  ipv4_addr . ifname, intervals (each IPv4 subnet of a network with
                 forwards . its bridge)

    prerouting  (nat hook prerouting priority dstnat - 1)
                    dnat ip to ip daddr . meta l4proto . th dport map @dnat4
    output      (nat hook output priority -101)          the same, for the host's own
    postrouting (nat hook postrouting priority srcnat - 1)
                    ct status dnat ip saddr . oifname @hairpin masquerade

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
MAP = "dnat4"
HAIRPIN = "hairpin"
#: the hooked chains and their one rule each: the per-packet cost, whatever the forwards
CHAINS: tuple[tuple[str, str, str], ...] = (
    ("prerouting", "type nat hook prerouting priority dstnat - 1; policy accept;",
     f"dnat ip to ip daddr . meta l4proto . th dport map @{MAP}"),
    ("output", "type nat hook output priority -101; policy accept;",
     f"dnat ip to ip daddr . meta l4proto . th dport map @{MAP}"),
    ("postrouting", "type nat hook postrouting priority srcnat - 1; policy accept;",
     f"ct status dnat ip saddr . oifname @{HAIRPIN} masquerade"),
)


def _declarations() -> list[str]:
    return [
        f'add table {_T} {{ comment "kvmnet port forwards; managed by kvmnet"; }}',
        (f"add map {_T} {MAP} {{ type ipv4_addr . inet_proto . inet_service : "
        "ipv4_addr . inet_service; }"),
        f"add set {_T} {HAIRPIN} {{ type ipv4_addr . ifname; flags interval; }}",
    ]


def _base_lines() -> list[str]:
    lines = _declarations()
    for name, hook, rule in CHAINS:
        lines += [f"add chain {_T} {name} {{ {hook} }}", f"flush chain {_T} {name}",
                  f"add rule {_T} {name} {rule}"]
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


def _hairpin(bridge: str, subnets: Sequence[str]) -> list[str]:
    br = _bridge(bridge)
    return [f"{subnet} . {br}" for subnet in subnets]


def render_add(bridge: str, subnets: Sequence[str], forwards: Sequence[PortForward], *,
               base: bool = True) -> str:
    """Install ``forwards`` of the network on ``bridge`` (one transaction); see module doc."""
    lines = [f"# kvmnet: port forwards into bridge {bridge}"]
    if base:
        lines += _base_lines() + [f"add set {_T} {base_marker()} {{ type ifname; }}"]
    else:
        lines.append(f"flush set {_T} {base_marker()}")
    lines += _elements("add", HAIRPIN, _hairpin(bridge, subnets))
    lines += _elements("add", MAP, map_elements(forwards))
    return "\n".join(lines) + "\n"


def render_remove(bridge: str, subnets: Sequence[str], forwards: Sequence[PortForward], *,
                  hairpin: bool) -> str:
    """Remove ``forwards`` (and with ``hairpin`` the bridge's hairpin entries), idempotently."""
    lines = [f"# kvmnet: remove port forwards into bridge {bridge}"] + _declarations()
    pairs = [(MAP, map_elements(forwards), map_elements(forwards, values=False))]
    if hairpin:
        pairs.append((HAIRPIN, _hairpin(bridge, subnets), _hairpin(bridge, subnets)))
    for name, full, keys in pairs:
        lines += _elements("add", name, full) + _elements("delete", name, keys)
    return "\n".join(lines) + "\n"


def render_remove_all() -> str:
    """Delete the forwards table and everything in it (idempotent); nothing else."""
    return f"add table {_T}\ndelete table {_T}\n"


def documents(bridge: str, subnets: Sequence[str],
              forwards: Sequence[PortForward]) -> tuple[str, str, str]:
    """(full start, fast start, destroy) documents of one network's forwards; ``subnets``:
    the network's IPv4 subnets (``192.168.122.0/24``)."""
    return (render_add(bridge, subnets, forwards),
            render_add(bridge, subnets, forwards, base=False),
            render_remove(bridge, subnets, forwards, hairpin=True))
