"""Applying a start program to the host: checks first, then each step recorded before it runs.

Works on the plain data of :mod:`kvmnet.network.program` only, so a cold ``net-start``
of a compiled network imports no parser, model or renderer.  Each host change
is preceded by a run-record entry (:mod:`kvmnet.engine.record`); on any failure the
record is torn down again (:func:`kvmnet.network.runtime.teardown`).

A network is active exactly while its live status exists: start writes it last, teardown
drops it first.  So a start or a destroy killed at any instant leaves either an active
network that runs (a destroy then works), or a record without a status, which the next
``net-start``, ``net-create`` or ``net-destroy`` of the name tears down before anything
else (:func:`leftover`), as does a start that finds it in its way (:func:`_finish_others`).
"""
from __future__ import annotations

from pathlib import Path

from kvmnet.engine.record import ACTIVE, Record, fault_point
from kvmnet.errors import KvmnetError, OperationInvalidError, ValidationError
from kvmnet.host import sysctl
from kvmnet.network.preflight import conflicts, missing_programs
from kvmnet.network.runtime import Host, Runtime, teardown, write_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from kvmnet.config.store import Store
    from kvmnet.model.network import Network
    from kvmnet.network.program import Program
    from kvmnet.paths import Paths


def upstream_servers(resolv_conf: str = "/etc/resolv.conf") -> str:
    """``server=`` lines for dnsmasq from the host's resolver configuration, read at start."""
    lines = []
    try:
        with open(resolv_conf, encoding="utf-8", errors="replace") as f:
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    lines.append(f"server={words[1]}\n")
    except OSError:
        pass
    return "".join(lines)


def leftover(store: Store, rt: Runtime) -> Record | None:
    """The record of a start or a destroy that never finished (killed, or a failed step).

    Active means a live status (``store.is_active``): a record without one belongs to a
    start that did not get as far as writing it, or to a teardown, which drops the status
    first (:func:`kvmnet.network.runtime.teardown`).  Either way, what it lists is to be removed.
    """
    rec = Record.load(rt.record)
    if rec is None or store.is_active(rt.name):
        return None
    return rec


def interrupted_destroy(store: Store, rt: Runtime, host: Host) -> Record | None:
    """The record of an active network whose teardown was cut short before its status went.

    ``net-destroy``'s head start (:mod:`kvmnet.cli.entry`) deletes the bridge before the
    teardown proper drops the status; a kill in between leaves a live status whose bridge
    is gone.  Asked only when a start is about to be refused as "already active".  A
    status without any record (left by an older kvmnet) is such a ghost too: an empty
    record stands for it, so that the caller just drops the status.
    """
    rec = Record.load(rt.record)
    if rec is None:
        return Record(path=rt.record, network=rt.name)
    links = [s["name"] for s in rec.steps if s["kind"] == "link"]
    if not links:
        return None
    with host.netlink() as nl:
        return rec if any(nl.link_info(link) is None for link in links) else None


def finish(rec: Record, what: str, store: Store, host: Host, say: Callable[[str], None],
            nl: Any = None) -> None:
    say(f"finishing {what} of network '{rec.network}'")
    failures = teardown(rec, host, store, nl=nl)
    if failures:
        raise OperationInvalidError(
            f"network '{rec.network}' has leftovers of {what} that cannot be removed: "
            + "; ".join(failures) + f"; remove them by hand, then run 'kvmnet net-destroy "
            f"{rec.network}'")


def start_defined(store: Store, paths: Paths, name: str, definition: str,
                  notify: Callable[[str], None] | None = None, host: Host | None = None) -> None:
    """Start a persistent network from its stored definition text, compiling only if needed."""
    from kvmnet.network import program as programs

    key = programs.cache_key(definition, str(paths.root))
    cache = programs.cache_path(paths.programs, name)
    program = programs.load(cache, key)
    if program is None:
        from kvmnet.network.compile import compile_program
        from kvmnet.xmlio.network import parse_network

        program = compile_program(parse_network(definition), paths, key)
        programs.save(cache, program)
    start(program, store, paths, host, notify)


def start_network(net: Network, store: Store, paths: Paths, host: Host | None = None,
                  notify: Callable[[str], None] | None = None) -> None:
    """Start ``net`` as given (a transient network): compile, then apply."""
    from kvmnet.network.compile import compile_program

    start(compile_program(net, paths), store, paths, host, notify)


def start(program: Program, store: Store, paths: Paths, host: Host | None = None,
          notify: Callable[[str], None] | None = None) -> None:
    """Bring a compiled network up; on failure leave nothing behind."""
    host = host or Host()
    say = notify or (lambda text: None)
    name = program["network"]
    rt = Runtime(paths, name)
    if store.is_active(name):
        ghost = interrupted_destroy(store, rt, host)
        if ghost is None:
            raise OperationInvalidError(f"network '{name}' is already active: "
                                        f"run 'kvmnet net-destroy {name}' first to restart it")
        finish(ghost, "an interrupted destroy", store, host, say)
    stale = leftover(store, rt)
    if stale is not None:
        finish(stale, "an interrupted start or destroy", store, host, say)

    problems = missing_programs(program)
    with host.netlink() as nl:
        problems += conflicts(program, nl, owner_of=lambda ifname: _owner_of(paths, ifname))
        if problems and _finish_others(store, paths, host, nl, say):
            # a half-destroyed network held the bridge, the subnet or a port: check again
            problems = missing_programs(program)
            problems += conflicts(program, nl, owner_of=lambda ifname: _owner_of(paths, ifname))
        if problems:
            if len(problems) == 1:
                raise ValidationError([problems[0] + "; nothing was changed"])
            raise ValidationError(problems, subject=f"cannot start network '{name}' "
                                                    "(nothing was changed)")
        rec = Record(path=rt.record, network=name, info={"uuid": program.get("uuid")})
        rec.save()
        try:
            _apply(program, rt, rec, nl, host, say)
            store.write_status(name, program["status_xml"])
        except BaseException as exc:
            failures = teardown(rec, host, store, nl=nl)
            if failures and isinstance(exc, KvmnetError):
                exc.message += "; cleanup also failed: " + "; ".join(failures)
                exc.args = (exc.message,)
            raise
    rec.state = ACTIVE
    rec.save()


def _finish_others(store: Store, paths: Paths, host: Host, nl: Any,
                   say: Callable[[str], None]) -> bool:
    """Finish the interrupted teardowns (and starts) of other networks; True if there were.

    Asked only when a start meets a conflict (error path): a network whose destroy was
    killed after its status went may still hold a bridge, addresses or dnsmasq's port,
    and a transient one has no name left to run net-destroy on.  Under the store lock no
    other start or destroy is under way, so a record without a status is a leftover.
    """
    found = False
    for path in sorted(paths.run_networks.glob("*.json")):
        rec = Record.load(path)
        # a record names its network in its file name too; a mismatch is hand damage
        if rec is None or rec.network != path.name[:-5] or store.is_active(rec.network):
            continue
        finish(rec, "an interrupted start or destroy", store, host, say, nl=nl)
        found = True
    return found


def _owner_of(paths: Paths, ifname: str) -> str | None:
    """The active kvmnet network whose run record created link ``ifname`` (error path only)."""
    for path in sorted(paths.run_networks.glob("*.json")):
        rec = Record.load(path)
        if rec is not None and any(s["kind"] == "link" and s.get("name") == ifname
                                   for s in rec.steps):
            return rec.network
    return None


def _apply(p: Program, rt: Runtime, rec: Record, nl: Any, host: Host,
           say: Callable[[str], None]) -> None:
    br = p.get("bridge")
    if br is not None:
        rec.add("link", name=br["name"])
        nl.create_bridge(br["name"], stp=br["stp"], forward_delay_cs=br["delay"] * 100,
                         mtu=br["mtu"], mac=br["mac"], up=False)
        fault_point("after", "link")
    for s in p["sysctls"]:
        if s["scope"] == "shared":
            old = host.sysctl_read(s["key"])
            if old != s["value"]:
                if s["key"] == "net.ipv6.conf.all.forwarding":
                    _keep_router_advertisements(nl, host, say)
                rec.add("sysctl", key=s["key"], old=old, new=s["value"], scope=s["scope"])
                host.sysctl_write(s["key"], s["value"])
        else:
            host.sysctl_write(s["key"], s["value"])
    if br is not None:
        # Up before the addresses, once IPv6 is off where unused: an address on a link that
        # is up brings its local, prefix and broadcast routes in one kernel call, so a
        # dnsmasq that still hears route changes (see host/routemute.py) wakes once per
        # start, not twice.
        nl.set_link_up(br["name"])
    for a in p["addresses"]:
        # no DAD: the bridge is the only router of its own subnet, and dnsmasq binds the
        # address right away (a tentative IPv6 address cannot be bound)
        nl.add_address(a["ifname"], a["address"], a["prefixlen"], nodad=":" in a["address"])
    for r in p["routes"]:
        nl.add_route(r["dst"], r["prefixlen"], r["gateway"], metric=r["metric"])
    if p.get("nft_start"):
        rec.add("nft", destroy=p["nft_destroy"])
        try:
            # the common case: kvmnet's base is in place, add just this network
            host.nft_apply(p.get("nft_start_fast") or p["nft_start"])
        except KvmnetError:
            host.nft_apply(p["nft_start"])  # first network here, or a stale base: all of it
        fault_point("after", "nft")
    dm = p.get("dnsmasq")
    if dm is not None:
        files: dict[str, str] = dict(dm["files"])
        files[str(rt.servers)] = upstream_servers()
        rec.add("files", paths=[*files, str(rt.leases), str(rt.leases) + ".lock"])
        for path, text in files.items():
            write_file(Path(path), text, mode=0o755 if path == str(rt.helper) else 0o644)
        fault_point("after", "files")
        rec.add("dnsmasq", pid_file=str(rt.pid_file), conf=str(rt.conf))
        host.dnsmasq_start(str(rt.conf), str(rt.pid_file), say)
        fault_point("after", "dnsmasq")


def _keep_router_advertisements(nl: Any, host: Host, say: Callable[[str], None]) -> None:
    """Turning on IPv6 forwarding makes the kernel ignore RAs on interfaces with accept_ra=1.

    libvirt refuses to start in that case; kvmnet sets accept_ra=2 on those interfaces
    (accept RAs even when forwarding), which keeps their default route, and says so.
    """
    routes = nl.list_routes()
    for link in nl.list_links():
        ifname = str(link["ifname"])
        key = sysctl.iface_key(6, ifname, "accept_ra")
        if ifname == "lo" or host.sysctl_read(key) != "1":
            continue
        if not any(r.ifname == ifname and r.prefixlen == 0 and r.gateway and ":" in r.gateway
                   for r in routes):
            continue
        host.sysctl_write(key, "2")
        say(f"set {key}=2 so that {ifname} keeps its IPv6 default route from router "
            "advertisements while IPv6 forwarding is on")
