"""Live host interface state: capture it, and converge the host to a wanted state.

Every live change of the ``iface-*`` verbs -- starting a definition, turning a NIC into a
bridge and back, rolling a transaction back -- is expressed as a *target* :class:`LiveState`
(links with their master, MTU and up/down state; addresses; routes; a few sysctls).
:func:`converge_steps` computes the engine steps (:mod:`kvmnet.engine.steps.iface`) that take
the host there, each holding the value it replaces; :func:`converge` runs them with the one
executor (journalled, undone on failure) or, for a rollback to a snapshot, best effort.  One
routine, used everywhere, means one carefully ordered sequence that keeps connectivity while
layer-3 configuration moves between a NIC and a bridge:

1. create missing bridges, with STP still off and the MAC of the port that carries the
   addresses (peers' ARP caches stay valid), and set MTUs;
2. add the new addresses (IPv6 without DAD) while the old ones still exist, so the host keeps
   answering on the address the whole time;
3. change masters: enslave/release ports that carry the addresses first;
4. turn STP on only now: a port enslaved while STP is off is forwarding at once and stays so
   when STP starts, instead of blocking for 2 x forward delay (>= 4 s) -- other ports are
   enslaved after STP is on and go through listening/learning as STP intends;
5. move routes: for each route that has to appear, first delete the route it replaces (same
   destination and metric, e.g. the default route on the old device), then add it;
6. delete the old addresses, then the links that must go, then set sysctls and up/down.

Links are deleted only when they are in the caller's ``deletable`` set (links kvmnet created,
or the bridge the user asked to remove).  IPv6 link-local addresses, kernel-made subnet routes
and the loopback device are never touched: the kernel manages them.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kvmnet.engine.steps.iface import STP_MAX_CS, STP_MIN_CS
from kvmnet.errors import KvmnetError
from kvmnet.host import sysctl
from kvmnet.host.netlink import Address, Netlink, Route
from kvmnet.model.addr import classful_prefix
from kvmnet.model.interface import InterfaceDef

if TYPE_CHECKING:
    from kvmnet.engine.journal import Journal
    from kvmnet.engine.step import Step

#: The bridge netfilter switches (exist only while br_netfilter is loaded).
BRIDGE_NF_KEYS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
                  "net.bridge.bridge-nf-call-arptables")
#: The kernel's default bridge forward delay (15 s).
DEFAULT_FORWARD_DELAY_CS = 1500


@dataclass(frozen=True)
class LinkState:
    name: str
    kind: str | None = None
    mac: str | None = None
    mtu: int | None = None
    up: bool = True
    master: str | None = None
    stp: bool | None = None
    forward_delay_cs: int | None = None
    operstate: str | None = None


@dataclass
class LiveState:
    links: dict[str, LinkState] = field(default_factory=dict)
    addresses: list[Address] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)

    def copy(self) -> LiveState:
        return LiveState(dict(self.links), list(self.addresses), list(self.routes),
                         dict(self.sysctls))

    def addresses_of(self, ifname: str) -> list[Address]:
        """Addresses kvmnet manages on ``ifname`` (IPv6 link-local ones are the kernel's)."""
        return [a for a in self.addresses if a.ifname == ifname and managed_address(a)]

    def static_routes(self) -> list[Route]:
        """Routes kvmnet manages: not the kernel's subnet/link-local routes, not on lo."""
        nets = {(a.ifname, str(ipaddress.ip_interface(f"{a.address}/{a.prefixlen}").network))
                for a in self.addresses}
        out = []
        for r in self.routes:
            if r.ifname is None or r.ifname == "lo":
                continue
            if r.gateway is None and ((r.ifname, f"{r.dst}/{r.prefixlen}") in nets
                                      or (r.family == 6 and r.dst == "fe80::"
                                          and r.prefixlen == 64)):
                continue
            out.append(r)
        return out

    def ports_of(self, bridge: str) -> list[str]:
        return sorted(n for n, link in self.links.items() if link.master == bridge)

    def to_json(self) -> dict[str, Any]:
        return {"links": [vars(link) for link in self.links.values()],
                "addresses": [list(a) for a in self.addresses],
                "routes": [list(r) for r in self.routes], "sysctls": self.sysctls}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveState:
        return cls(links={d["name"]: LinkState(**d) for d in data.get("links", [])},
                   addresses=[Address(*a) for a in data.get("addresses", [])],
                   routes=[Route(*r) for r in data.get("routes", [])],
                   sysctls=dict(data.get("sysctls", {})))


def managed_address(a: Address) -> bool:
    if a.ifname == "lo":
        return False
    return not (a.family == 6 and ipaddress.ip_address(a.address).is_link_local)


def capture(nl: Netlink) -> LiveState:
    """The host's links, addresses, main-table routes and bridge-nf switches right now."""
    links: dict[str, LinkState] = {}
    for info in nl.list_links():
        name = info.ifname
        links[name] = LinkState(
            name=name, kind=info.kind, mac=info.mac, mtu=info.mtu, up=info.state == "up",
            master=info.master, stp=info.stp, forward_delay_cs=info.forward_delay_cs,
            operstate=info.operstate)
    sysctls = {k: v for k in BRIDGE_NF_KEYS if (v := sysctl.read(k)) is not None}
    return LiveState(links, nl.list_addresses(), nl.list_routes(), sysctls)


def route_key(r: Route) -> tuple[str, int, int, int]:
    """What the kernel treats as the same route slot: destination and metric."""
    metric = r.metric if r.metric is not None else (0 if r.family == 4 else 1024)
    return (r.dst, r.prefixlen, metric, r.family)


def _norm(r: Route) -> Route:
    """IPv4 routes added without a metric have none; IPv6 ones get 1024: compare alike."""
    if r.family == 4 and r.metric == 0:
        return r._replace(metric=None)
    if r.family == 6 and r.metric is None:
        return r._replace(metric=1024)
    return r


@dataclass
class Outcome:
    created: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def _addr(a: Address) -> dict[str, Any]:
    return {"ifname": a.ifname, "address": a.address, "prefixlen": a.prefixlen,
            "family": a.family}


def converge_steps(cur: LiveState, target: LiveState, *, deletable: set[str]
                   ) -> tuple[list[Step], list[str]]:
    """The steps that change the host from ``cur`` to ``target`` (see the module docstring),
    and the links of ``target`` that cannot be made (problems, not steps).  Pure: each step
    holds the value it replaces, for its undo."""
    from kvmnet.engine.steps import iface as st

    steps: list[Step] = []
    problems: list[str] = []
    new_bridges: set[str] = set()
    # 1. links that must exist
    for name, want in target.links.items():
        if name in cur.links:
            continue
        if want.kind != "bridge":
            problems.append(f"{name} ({want.kind or 'device'}) no longer exists and kvmnet "
                            "cannot recreate it; check the host's devices")
            continue
        steps.append(st.NewBridge(name=name, forward_delay_cs=_made_delay(want),
                                  mtu=want.mtu, mac=want.mac, up=want.up))
        new_bridges.add(name)
    now = set(cur.links) | new_bridges
    for name, want in target.links.items():
        have = cur.links.get(name)
        if name in now and want.mtu and have is not None and have.mtu != want.mtu:
            steps.append(st.SetMtu(name=name, mtu=want.mtu, old=have.mtu))
    # 2. new addresses first, old ones stay until the end
    have_addrs = {(a.ifname, a.address, a.prefixlen) for a in cur.addresses}
    for a in target.addresses:
        if managed_address(a) and a.ifname in now and (a.ifname, a.address, a.prefixlen) \
                not in have_addrs:
            steps.append(st.AddAddress(**_addr(a)))
    # 3. masters: ports carrying addresses first, then STP, then the others.  A bridge that
    # goes is deleted here instead of releasing its ports one by one: released ports would
    # receive while replies still follow the doomed bridge's routes into a bridge without
    # ports; deleting it takes its addresses and routes away in one step.
    doomed = {n for n in cur.links if n not in target.links and n in deletable}
    changes = [(n, w.master) for n, w in target.links.items()
               if n in cur.links and cur.links[n].master != w.master
               and not (w.master is None and cur.links[n].master in doomed)]
    first = [c for c in changes if not (c[1] in new_bridges and not cur.addresses_of(c[0]))]
    later = [c for c in changes if c not in first]
    for name, master in first:
        steps.append(st.SetMaster(name=name, master=master, old=cur.links[name].master))
        if target.links[name].up and not cur.links[name].up:
            steps.append(st.SetUp(name=name, up=True))
    deleted = set()
    for name in sorted(n for n in doomed if cur.ports_of(n)):
        steps.append(_delete(cur, name))
        deleted.add(name)
    # 4. STP and forward delay of the bridges that stay
    for name, want in target.links.items():
        if want.kind == "bridge" and name in now:
            have = cur.links.get(name)
            # A new bridge was created with STP off and the right delay: only turn STP on.
            if name in new_bridges:
                needed = bool(want.stp)
            else:
                needed = have is None or _stp_differs(have, want)
            if needed:
                steps.append(st.SetStp(
                    name=name, stp=bool(want.stp), forward_delay_cs=want.forward_delay_cs,
                    old_stp=bool(have.stp) if have is not None else False,
                    # a new bridge goes on undo: STP off is enough (with a delay outside
                    # 2..30 s while STP is still on, the kernel would refuse the pair)
                    old_delay=have.forward_delay_cs if have is not None else None))
    for name, master in later:
        steps.append(st.SetMaster(name=name, master=master, old=cur.links[name].master))
    # 5. routes
    cur_routes = {_norm(r) for r in cur.static_routes()}
    want_routes = {_norm(r) for r in target.static_routes() if r.ifname in now}
    extra = cur_routes - want_routes
    # longest prefix first; alike ones in a fixed order (golden step lists)
    for r in sorted(want_routes - cur_routes, key=lambda r: (-r.prefixlen, repr(r))):
        for old in sorted((e for e in extra if route_key(e) == route_key(r)), key=repr):
            steps.append(st.DeleteRoute(route=list(old)))
            extra.discard(old)
        steps.append(st.AddRoute(route=list(r)))
    for old in sorted(extra, key=repr):
        if old.ifname in target.links:  # routes of links that go are removed with them
            steps.append(st.DeleteRoute(route=list(old)))
    # 6. old addresses, links that go, sysctls, up/down
    want_addrs = {(a.ifname, a.address, a.prefixlen) for a in target.addresses}
    for a in cur.addresses:
        if managed_address(a) and a.ifname in target.links and \
                (a.ifname, a.address, a.prefixlen) not in want_addrs:
            steps.append(st.DeleteAddress(**_addr(a)))
    for name in sorted(doomed - deleted):
        steps.append(_delete(cur, name))
    for key, value in target.sysctls.items():
        if cur.sysctls.get(key) != value:
            steps.append(st.SetSysctl(key=key, value=value, old=cur.sysctls.get(key)))
    for name, want in target.links.items():
        have = cur.links.get(name)
        if have is not None and have.up != want.up and name != "lo":
            steps.append(st.SetUp(name=name, up=want.up))
    return steps, problems


def _made_delay(want: LinkState) -> int:
    """The forward delay a new bridge is made with (STP still off)."""
    fd = want.forward_delay_cs
    return fd if fd is not None else DEFAULT_FORWARD_DELAY_CS


def _delete(cur: LiveState, name: str) -> Step:
    """Deleting link ``name``, with what it was (to make a bridge again on undo)."""
    from kvmnet.engine.steps.iface import DeleteLink

    link = cur.links[name]
    return DeleteLink(name=name, was={
        "kind_of": link.kind, "mac": link.mac, "mtu": link.mtu, "up": link.up,
        "stp": link.stp, "forward_delay_cs": link.forward_delay_cs,
        "ports": cur.ports_of(name),
        "addresses": [list(a) for a in cur.addresses_of(name)],
        "routes": [list(r) for r in cur.static_routes() if r.ifname == name]})


def converge(nl: Netlink, target: LiveState, *, deletable: set[str],
             best_effort: bool = False, journal: Journal | None = None,
             before: Sequence[Step] = ()) -> Outcome:
    """Change the host from its current state to ``target`` (see the module docstring).

    With ``journal``, the executor runs the steps (``before`` first: links to make before the
    live state is read) with each undo journalled first, and on failure undoes them all.
    ``best_effort`` (a rollback to a snapshot, no journal): a failing step is reported in the
    outcome's problems and the next one runs (those of a bridge that could not be made are
    skipped).
    """
    from kvmnet.engine.executor import Context, run
    from kvmnet.engine.host import Host

    out = Outcome()
    ctx = Context(Host(), nl=nl)

    def steps() -> Iterator[Step]:
        yield from before
        todo, problems = converge_steps(capture(nl), target, deletable=deletable)
        out.problems += problems
        yield from todo

    def done(step: Step) -> None:
        if step.kind in ("iface.bridge", "iface.vlan", "iface.bond"):
            out.created.add(step.name)  # type: ignore[attr-defined]
        elif step.kind == "iface.delete":
            out.deleted.add(step.name)  # type: ignore[attr-defined]

    if journal is not None:
        applied: list[Step] = []

        def tracked() -> Iterator[Step]:
            for step in steps():
                yield step
                applied.append(step)

        run(tracked(), journal, ctx)
        for step in applied:
            done(step)
        return out
    failed: set[str] = set()
    for step in steps():
        if failed & step.links():  # type: ignore[attr-defined]
            continue
        try:
            ctx.host.perform(step, ctx)
        except KvmnetError as exc:
            if not best_effort:
                raise
            out.problems.append(f"{step.describe()}: {exc}")
            if step.kind == "iface.bridge":
                failed.add(step.name)  # type: ignore[attr-defined]
            continue
        done(step)
    return out


def _stp_differs(have: LinkState, want: LinkState) -> bool:
    if bool(have.stp) != bool(want.stp):
        return True
    if want.forward_delay_cs is None:
        return False
    fd = want.forward_delay_cs
    if want.stp:  # the kernel keeps the delay within 2..30 s while STP runs
        fd = min(max(fd, STP_MIN_CS), STP_MAX_CS)
    return have.forward_delay_cs != fd


# -- transforms used by the verbs ------------------------------------------------------------------
def move_l3(state: LiveState, src: str, dst: str) -> None:
    """In ``state``: re-home ``src``'s managed addresses and static routes onto ``dst``."""
    moving = {(a.address, a.prefixlen) for a in state.addresses_of(src)}
    statics = set(state.static_routes())
    kept = [a for a in state.addresses if not (a.ifname == src and
                                               (a.address, a.prefixlen) in moving)]
    have = {(a.ifname, a.address, a.prefixlen) for a in kept}
    for a in state.addresses_of(src):
        if (dst, a.address, a.prefixlen) not in have:
            kept.append(a._replace(ifname=dst))
    state.addresses = kept
    # The kernel's subnet routes of the moved addresses go with them (it makes new ones on
    # ``dst``); static routes are re-homed.
    state.routes = [r._replace(ifname=dst) if r in statics and r.ifname == src else r
                    for r in state.routes if r.ifname != src or r in statics]


def drop_link(state: LiveState, name: str) -> None:
    """In ``state``: the link is gone, with its addresses and routes; its ports are released."""
    state.links.pop(name, None)
    state.addresses = [a for a in state.addresses if a.ifname != name]
    state.routes = [r for r in state.routes if r.ifname != name]
    for port in state.ports_of(name):
        state.links[port] = replace(state.links[port], master=None)


def bridge_nf(value: bool | None) -> dict[str, str | None]:
    """Read (``value`` None) or set the bridge netfilter switches; key -> value or None."""
    out: dict[str, str | None] = {}
    for key in BRIDGE_NF_KEYS:
        if value is None:
            out[key] = sysctl.read(key)
        else:
            out[key] = "1" if value else "0"
            if sysctl.write(key, out[key] or "0", missing_ok=True) is None:
                out[key] = None
    return out


# -- plans: what starting or stopping a definition changes -----------------------------------------
@dataclass
class StartPlan:
    """The target state of a start, plus links to create first (VLANs, bonds).

    Creating those first means a kernel without 8021q/bonding fails before anything changed.
    """

    target: LiveState
    precreate: list[Step] = field(default_factory=list)  # engine steps (iface.vlan ...)
    new_links: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def default_prefix(address: str) -> int:
    """The prefix of an interface ``<ip>`` without one: classful for IPv4 (/32 for class D/E), /64 for IPv6."""
    addr = ipaddress.ip_address(address)
    if addr.version == 6:
        return 64
    # libvirt's classful default; class D/E has none, and a host address then stands alone
    classful = classful_prefix(addr)
    return 32 if classful is None else classful


def plan_start(d: InterfaceDef, cur: LiveState) -> StartPlan:
    """What starting ``d`` does to the host in state ``cur``; raises before any change when
    the definition cannot be applied (missing device, port of another bridge, MAC mismatch)."""
    plan = StartPlan(cur.copy())
    if d.type == "ethernet":
        _need(cur, d.name, d.name)
        _check_free(cur, d.name, None)
        _check_mac(cur, d)
    elif d.type == "vlan":
        _plan_vlan(plan, cur, d, None)
    elif d.type == "bond":
        _plan_bond(plan, cur, d, None)
    else:
        _plan_bridge(plan, cur, d)
    _configure(plan, d)
    return plan


def _need(cur: LiveState, name: str, owner: str) -> None:
    if name not in cur.links:
        from kvmnet.errors import VIR_ERR_NO_INTERFACE, NotFoundError

        which = "" if name == owner else f" (needed by '{owner}')"
        raise NotFoundError(f"interface '{name}'{which} does not exist on this host; check "
                            "the name ('kvmnet iface-list --all' lists the devices)",
                            code=VIR_ERR_NO_INTERFACE)


def _check_free(cur: LiveState, name: str, allowed: str | None) -> None:
    master = cur.links[name].master
    if master is not None and master != allowed:
        from kvmnet.errors import ConflictError

        raise ConflictError(f"interface '{name}' is already attached to '{master}'; a device "
                            "can be attached to one bridge or bond only: detach it first "
                            f"({release_hint(cur, name, master)})")


def release_hint(cur: LiveState, port: str, master: str) -> str:
    """How to take ``port`` out of ``master``: brctl's way for a bridge (iface-unbridge would
    take the whole bridge apart, and refuses one with other ports)."""
    link = cur.links.get(master)
    if link is not None and link.kind == "bridge":
        return f"'kvmnet bridge delif {master} {port}'"
    return f"'ip link set {port} nomaster'"


def _check_mac(cur: LiveState, d: InterfaceDef) -> None:
    have = cur.links[d.name].mac
    if d.mac and have and d.mac.lower() != have.lower():
        from kvmnet.errors import ConflictError

        raise ConflictError(f"the definition of '{d.name}' says MAC {d.mac}, but the device "
                            f"has {have}; correct or remove the <mac> element")


def _plan_vlan(plan: StartPlan, cur: LiveState, d: InterfaceDef, master: str | None) -> None:
    assert d.vlan is not None
    name, dev, tag = d.name, d.vlan.device, d.vlan.tag
    have = cur.links.get(name)
    if have is not None and have.kind != "vlan":
        from kvmnet.errors import ConflictError

        raise ConflictError(f"'{name}' exists and is a {have.kind or 'device'}, not a VLAN; "
                            "choose another name")
    _need(cur, dev, name)
    if have is None:
        from kvmnet.engine.steps.iface import NewVlan

        plan.precreate.append(NewVlan(name=name, device=dev, tag=tag))
        plan.new_links.add(name)
        plan.target.links[name] = LinkState(name, kind="vlan", master=master)
    else:
        _check_free(cur, name, master)
        plan.target.links[name] = replace(have, up=True, master=master)
    plan.target.links[dev] = replace(plan.target.links[dev], up=True)


def _plan_bond(plan: StartPlan, cur: LiveState, d: InterfaceDef, master: str | None) -> None:
    assert d.bond is not None
    name, bond = d.name, d.bond
    have = cur.links.get(name)
    if have is not None and have.kind != "bond":
        from kvmnet.errors import ConflictError

        raise ConflictError(f"'{name}' exists and is a {have.kind or 'device'}, not a bond; "
                            "choose another name")
    for s in bond.interfaces:
        _need(cur, s.name, name)
        _check_free(cur, s.name, name)
        _check_mac(cur, s)
    if have is None:
        mii = bond.miimon
        arp = bond.arpmon
        from kvmnet.engine.steps.iface import NewBond

        plan.precreate.append(NewBond(
            name=name, mode=bond.mode,
            miimon=[mii.freq, mii.downdelay, mii.updelay, mii.carrier] if mii else None,
            arpmon=[arp.interval, arp.target, arp.validate] if arp else None))
        plan.new_links.add(name)
        plan.target.links[name] = LinkState(name, kind="bond", master=master)
    else:
        _check_free(cur, name, master)
        plan.target.links[name] = replace(have, up=True, master=master)
    for s in bond.interfaces:
        if cur.links[s.name].master != name:
            from kvmnet.engine.steps.iface import Enslave

            plan.precreate.append(Enslave(name=s.name, master=name, old=cur.links[s.name].master))
        plan.target.links[s.name] = replace(plan.target.links[s.name], master=name, up=True)
        move_l3(plan.target, s.name, name)


def _plan_bridge(plan: StartPlan, cur: LiveState, d: InterfaceDef) -> None:
    assert d.bridge is not None
    name, br = d.name, d.bridge
    have = cur.links.get(name)
    if have is not None and have.kind != "bridge":
        from kvmnet.errors import ConflictError

        raise ConflictError(f"'{name}' exists and is a {have.kind or 'network device'}, not a "
                            "bridge; choose another bridge name")
    ports = []
    for c in br.interfaces:
        if c.type == "vlan":
            _plan_vlan(plan, cur, c, name)
        elif c.type == "bond":
            _plan_bond(plan, cur, c, name)
        else:
            _need(cur, c.name, name)
            _check_free(cur, c.name, name)
            _check_mac(cur, c)
        ports.append(c.name)
    # The bridge takes the MAC of the port whose addresses it takes over: peers keep
    # talking to the same MAC, so their ARP/ND caches stay right across the change.
    carrier = next((p for p in ports if cur.addresses_of(p)), None) or \
        next((p for p in ports if p in cur.links), None)
    fd = round(br.delay_seconds * 100) if br.delay is not None else \
        (have.forward_delay_cs if have is not None else None)
    stp = bool(br.stp) if br.stp is not None else bool(have is not None and have.stp)
    if have is not None:
        plan.target.links[name] = replace(have, up=True, stp=stp, forward_delay_cs=fd,
                                          mtu=d.mtu or have.mtu)
    else:
        plan.target.links[name] = LinkState(
            name, kind="bridge", mac=cur.links[carrier].mac if carrier else None,
            mtu=d.mtu or None, stp=stp, forward_delay_cs=fd)
        plan.new_links.add(name)
    for p in ports:
        link = plan.target.links[p]
        plan.target.links[p] = replace(link, master=name, up=True, mtu=d.mtu or link.mtu)
        move_l3(plan.target, p, name)


def _configure(plan: StartPlan, d: InterfaceDef) -> None:
    """MTU, addresses and the default route of the top-level interface."""
    t, name = plan.target, d.name
    t.links[name] = replace(t.links[name], up=True, mtu=d.mtu or t.links[name].mtu)
    for proto in d.protocols:
        version = 4 if proto.family == "ipv4" else 6
        have = {(a.ifname, a.address, a.prefixlen) for a in t.addresses}
        for ip in proto.ips:
            addr = str(ipaddress.ip_address(ip.address))
            prefix = ip.prefix or default_prefix(addr)
            if (name, addr, prefix) not in have:
                t.addresses.append(Address(name, addr, prefix, version))
        if proto.gateway is not None:
            gw = str(ipaddress.ip_address(proto.gateway))
            route = Route("0.0.0.0" if version == 4 else "::", 0, gw, name,
                          None if version == 4 else 1024, version)
            clash = [r for r in t.static_routes() if route_key(r) == route_key(route)]
            if not clash:
                t.routes.append(route)
            elif not any(r.gateway == gw and r.ifname == name for r in clash):
                plan.notes.append(f"kept the existing IPv{version} default route via "
                                  f"{clash[0].gateway} dev {clash[0].ifname}; the gateway "
                                  f"{gw} of '{name}' was not added")
        if proto.dhcp:
            plan.notes.append(f"'{name}' asks for DHCP ({proto.family}); kvmnet runs no DHCP "
                              "client for host interfaces, so only static addresses and the "
                              "addresses already on its devices are configured")
        if proto.autoconf:
            t.sysctls[sysctl.iface_key(6, name, "autoconf")] = "1"
            t.sysctls[sysctl.iface_key(6, name, "accept_ra")] = "2"


def plan_destroy(d: InterfaceDef | None, cur: LiveState, name: str,
                 created: set[str]) -> tuple[LiveState, set[str]]:
    """Target and deletable links of ``iface-destroy``: virtual links kvmnet manages are
    deleted (releasing their ports); other devices lose the definition's addresses and go
    down."""
    t = cur.copy()
    link = cur.links[name]
    if link.kind in ("bridge", "vlan", "bond") and (d is not None or name in created):
        drop_link(t, name)
        return t, {name}
    t.links[name] = replace(link, up=False)
    if d is not None:
        drop = {str(ipaddress.ip_address(ip.address)) for p in d.protocols for ip in p.ips}
        gateways = {str(ipaddress.ip_address(p.gateway)) for p in d.protocols if p.gateway}
        t.addresses = [a for a in t.addresses if not (a.ifname == name and a.address in drop)]
        t.routes = [r for r in t.routes if not (r.ifname == name and r.gateway in gateways
                                                 and r.prefixlen == 0)]
    return t, set()
