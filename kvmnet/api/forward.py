"""Port forwards of a network: list, add and remove, live and in the definition.

The facade behind ``net-forward-add``, ``net-forward-remove`` and ``net-forward-list``.
Like ``virNetworkUpdate``, a change goes to the running network (``live``), to the stored
definition (``config``) or both; with neither, to whichever the network has now (live when
it runs: virsh's ``--current``).  Every check runs before anything changes, and a refused
forward changes nothing: besides the definition's own rules (:func:`kvmnet.model.forward.
forward_problems`, run by validation), a forward may not listen inside any network's subnet
nor on a key (address, protocol, port) that another network's forward holds -- the map is
one for the host -- nor on a port a host process listens on (named, from ``/proc``).
"""
from __future__ import annotations

from kvmnet.api.constants import VIR_NETWORK_UPDATE_AFFECT_CONFIG, VIR_NETWORK_UPDATE_AFFECT_LIVE
from kvmnet.errors import InvalidArgError, OperationInvalidError
from kvmnet.model.forward import (
    PROTOCOLS,
    PortForward,
    PortSpecError,
    Ranges,
    at,
    describe,
    family_problem,
    inside,
    listen_problem,
    parse_ports,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kvmnet.api.network import Network
    from kvmnet.model.network import Network as NetworkDef

__all__ = ["addForward", "listForwards", "makeForward", "removeForward"]


def _ports(text: str, what: str) -> Ranges:
    try:
        return parse_ports(text, what)
    except PortSpecError as exc:
        raise InvalidArgError(str(exc)) from None


def _address(text: str, what: str) -> str:
    """``text`` as an IPv4 or IPv6 address in the form the definition stores it."""
    from kvmnet.model.forward import ip_of

    ip = ip_of(text.strip())
    if ip is None:
        raise InvalidArgError(f"{what} '{text}' is not an IP address; give an IPv4 address "
                              "(203.0.113.5) or an IPv6 address without a scope "
                              "(2001:db8::5)")
    return str(ip)


def makeForward(address: str, protocol: str, ports: str, target: str,
                target_ports: str | None = None) -> PortForward:
    """A forward from the command line's words (checked one by one)."""
    if protocol not in PROTOCOLS:
        raise InvalidArgError(f"protocol '{protocol}' is not tcp or udp")
    listen = _address(address, "listen address")
    problem = listen_problem(listen)
    guest = _address(target, "target address")
    problem = problem or family_problem(listen, guest)
    if problem is not None:
        raise InvalidArgError(problem)
    ranges = _ports(ports, "PORTS")
    tranges = _ports(target_ports, "TARGET_PORTS") if target_ports else ()
    return PortForward(address=listen, protocol=protocol, ports=ranges, target=guest,
                       target_ports=() if tranges == ranges else tranges)


def listForwards(net: Network, inactive: bool = False) -> list[PortForward]:
    """The forwards of the live network (the definition's when inactive or ``inactive``)."""
    return list(net.definition(inactive).forwards)


def _scopes(net: Network, flags: int) -> tuple[bool, bool]:
    """(live, config), as virNetworkUpdate decides them; refuses what the network lacks."""
    if flags & ~(VIR_NETWORK_UPDATE_AFFECT_LIVE | VIR_NETWORK_UPDATE_AFFECT_CONFIG):
        raise InvalidArgError(f"unsupported flags 0x{flags:x} for a port forward change")
    entry = net._check_same()
    live = bool(flags & VIR_NETWORK_UPDATE_AFFECT_LIVE)
    config = bool(flags & VIR_NETWORK_UPDATE_AFFECT_CONFIG)
    if not (live or config):
        live, config = entry.active, not entry.active
    name = net.name()
    if config and not entry.persistent:
        raise OperationInvalidError(f"network '{name}' is transient: it has no stored "
                                    "definition to change; use --live")
    if live and not entry.active:
        raise OperationInvalidError(f"network '{name}' is not active, so it has no live "
                                    "forwards to change; use --config (or start it first)")
    return live, config


def _definitions(net: Network) -> Iterator[NetworkDef]:
    """Every stored and live definition of every network (the host-wide checks)."""
    from kvmnet.errors import KvmnetError

    for other in net.connect().listAllNetworks():
        for inactive in ((False, True) if other.isActive() else (True,)):
            try:
                yield other.definition(inactive)
            except KvmnetError:
                continue  # gone meanwhile, or a damaged file: its own commands say so


def _host_problems(net: Network, fwd: PortForward) -> list[str]:
    problems: list[str] = []
    keys = set(fwd.claims())
    for other in _definitions(net):
        subnet = inside(other, fwd.address)
        if subnet is not None:
            problems.append(f"listen address {fwd.address} is inside subnet {subnet} of network "
                            f"'{other.name}'; listen on an address outside every network")
        if other.name == net.name():
            continue
        for theirs in other.forwards:
            if keys.intersection(theirs.claims()):
                problems.append(f"forward {describe(theirs)} of network '{other.name}' already "
                                f"listens there; remove it or choose other ports")
    problems += _listeners(fwd)
    return list(dict.fromkeys(problems))


def _listeners(fwd: PortForward) -> list[str]:
    """Host processes listening on a port the forward would take (from /proc)."""
    from kvmnet.host import procnet

    sockets = [s for s in procnet.read_listening() if s.proto == fwd.protocol]
    ports = set(fwd.listen_ports())
    out: list[str] = []
    for sock in sockets:
        if sock.port not in ports or not procnet.conflicting_listeners(
                [fwd.address], sock.port, sock.proto, [sock]):
            continue
        who = ", ".join(f"PID {pid} ({_comm(pid)})" for pid in procnet.socket_owners(sock.inode))
        out.append(f"{fwd.protocol} port {sock.port} on {sock.address} is already in use by "
                   f"{who or 'a process this user cannot see'}; stop it or forward another "
                   "port (the forward would take that port's traffic from it)")
    return out


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _change(net: Network, flags: int,
            edit: Callable[[NetworkDef], tuple[PortForward, ...]]) -> None:
    """Validate the edited live and stored definitions, then write both (live first)."""
    from kvmnet.api.documents import format_doc
    from kvmnet.config.validate import validate_network
    from kvmnet.model.frozen import replace

    store = net.connect().store
    live, config = _scopes(net, flags)
    old_live = net.definition(False) if live else None
    old_config = net.definition(True) if config else None
    new_live = replace(old_live, forwards=edit(old_live)) if old_live is not None else None
    new_config = (replace(old_config, forwards=edit(old_config))
                  if old_config is not None else None)
    for new in (new_live, new_config):
        if new is not None:
            validate_network(new)
    if old_live is not None and new_live is not None:
        from kvmnet.network.forwards import apply_live

        apply_live(store, net.connect().paths, old_live, new_live)
    if new_config is not None:
        store.write_config(net.name(), format_doc(new_config, inactive=True))


def addForward(net: Network, fwd: PortForward, flags: int = 0) -> None:
    """Add ``fwd`` to network ``net`` (``VIR_NETWORK_UPDATE_AFFECT_*`` flags); refuses,
    changing nothing, a forward that breaks a rule (see the module docstring)."""
    store = net.connect().store
    with store.locked():
        _scopes(net, flags)
        problems = _host_problems(net, fwd)
        if problems:
            raise InvalidArgError(f"cannot add forward {describe(fwd)} to network "
                                  f"'{net.name()}': " + "; ".join(problems))

        def edit(d: NetworkDef) -> tuple[PortForward, ...]:
            for have in d.forwards:
                if set(have.claims()).intersection(fwd.claims()):
                    raise InvalidArgError(
                        f"cannot add forward {describe(fwd)} to network '{net.name()}': it "
                        f"overlaps its forward {describe(have)}; remove that one first "
                        f"(kvmnet net-forward-remove {net.name()} {have.address} "
                        f"{have.protocol} {have.ports_text})")
            return (*d.forwards, fwd)

        _change(net, flags, edit)


def removeForward(net: Network, address: str, protocol: str, ports: str,
                  flags: int = 0) -> None:
    """Remove the forward of ``net`` that listens on exactly these address, protocol, ports."""
    if protocol not in PROTOCOLS:
        raise InvalidArgError(f"protocol '{protocol}' is not tcp or udp")
    listen = _address(address, "listen address")
    ranges = _ports(ports, "PORTS")
    store = net.connect().store
    with store.locked():

        def edit(d: NetworkDef) -> tuple[PortForward, ...]:
            kept = tuple(f for f in d.forwards if not f.same_listen(listen, protocol, ranges))
            if len(kept) == len(d.forwards):
                have = ", ".join(describe(f) for f in d.forwards) or "none"
                raise InvalidArgError(
                    f"network '{net.name()}' has no forward listening on {protocol} "
                    f"{at(listen, ports)} (its forwards: {have}); give the listen address, "
                    "protocol and ports as net-forward-list shows them")
            return kept

        _change(net, flags, edit)
