"""The macvtap plugger (:class:`MacvtapPlugger`, plug type ``direct``): a guest port is a
macvtap on one device of its network's pool, in the network's mode, with the guest's MAC.

Its host changes are engine steps (:mod:`kvmnet.engine.steps.macvtap`) run by the one executor
with the port's journal (``run/kvmnet/ports/NETWORK/UUID.json``, the engine's format, as the
tap plugger's), so a plug that fails midway or a kvmnet killed at any step
(``KVMNET_FAULT_KILL_AFTER=macvtap.create``...) leaves a journal that unplugging takes back:

0. passthrough mode only, ``netconfig.set``: the chosen device's own MAC (and a VF's VLAN)
   saved, the guest's set on it, as libvirt does (:mod:`kvmnet.engine.steps.netconfig`: the
   kernel gives a passthrough macvtap its device's MAC); its undo, after the macvtap's,
   puts the saved settings back;
1. ``macvtap.create``: the macvtap on the chosen device, with the guest's MAC (in bridge and
   private modes a guest whose MAC differs from its macvtap's gets no traffic), up;
2. ``macvtap.node``: a private device node for it, ``NODE_DIR/UUID`` (see
   :mod:`kvmnet.host.macvtap`: ``/dev/tapN`` names collide across namespaces), which the guest
   runner opens read-write and hands to QEMU as a file descriptor.

The device: a port of a network gets one from the network's pool (:func:`kvmnet.network.
drivers.direct.choose`: least used, or a free one for passthrough), counted from the port
records of that network (:func:`device_use`) under the store lock that every plug holds, so
two plugs never both take passthrough's last device, and a crash never leaves a count wrong.
A port without a network (a guest's ``<interface type='direct'>``) names its device itself.

A macvtap does not hang on the network's switch (the network has none): a network's restart
leaves it alone (:meth:`MacvtapPlugger.detach`/``attach`` change nothing).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvmnet.errors import HostError, NotFoundError, UnsupportedError
from kvmnet.port.plugs.base import Plugger, PlugOptions, PortJournal, context, load_record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kvmnet.engine.host import Host
    from kvmnet.engine.step import Step
    from kvmnet.host.netlink import Netlink
    from kvmnet.model.port import NetworkPort

#: where the device nodes go, under the state dirs a plug gets (PlugOptions.state_dirs)
NODE_DIR = "macvtap"


def device_use(directory: Path) -> dict[str, int]:
    """How many ports in ``directory`` (one network's) sit on each device: complete ones and
    ones still being plugged (or left by a crash, until they are cleaned up)."""
    used: dict[str, int] = {}
    try:
        names = [p.stem for p in directory.iterdir() if p.suffix == ".json"]
    except FileNotFoundError:
        return used
    for stem in names:
        rec = load_record(directory, stem)
        dev = rec.get("dev") if rec is not None else None
        if rec is not None and rec.get("plug_type") == "direct" and dev:
            used[dev] = used.get(dev, 0) + 1
    return used


def node_dir(state_dirs: tuple[str, ...]) -> Path:
    """The first of ``state_dirs``/macvtap on a filesystem where device nodes work (not
    ``nodev``); HostError explaining it when there is none."""
    from kvmnet.host.macvtap import nodev_problem

    problems = []
    for base in state_dirs:
        path = Path(base) / NODE_DIR
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        problem = nodev_problem(str(path))
        if problem is None:
            return path
        problems.append(problem)
    raise HostError("no place for macvtap device nodes: " + "; ".join(problems or [
        "no state directory given"]))



def _choose(directory: Path, port: NetworkPort, network: str | None,
            opts: PlugOptions) -> str:
    from kvmnet.network.drivers.direct import choose

    assert port.plug is not None
    if network is None or not opts.pool:
        if not port.plug.dev:
            raise NotFoundError("a direct port names its host device: <source dev='eth0'/>")
        return port.plug.dev
    return choose(network, port.plug.mode or "vepa", opts.pool, device_use(directory))


#: the macvtap modes whose parent device takes the guest's settings (libvirt's: passthrough)
SETS_PARENT = frozenset({"passthrough"})


def parent_steps(dev: str, mode: str, port: NetworkPort, *, plan: bool = False) -> list[Step]:
    """What the port sets on its parent device before its macvtap exists: in passthrough mode
    the guest's MAC (and a VF's VLAN), saved first (:mod:`kvmnet.engine.steps.netconfig`);
    nothing in the shared modes.  ``plan``: describe only (no sysfs look-up for a VF)."""
    from kvmnet.engine.steps.netconfig import SetNetConfig, vf_of

    if mode not in SETS_PARENT:
        return []
    tags = port.vlan.tags if port.vlan is not None else ()
    if len(tags) > 1 or (tags and port.vlan is not None and port.vlan.trunk):
        raise UnsupportedError(f"passthrough device {dev} takes one VLAN tag, not a trunk ("
                               f"{', '.join(str(t.id) for t in tags)}); give the port one "
                               "<tag id='N'/>")
    vlan = tags[0].id if tags else None
    return [SetNetConfig(dev=dev, mac=port.mac, vf=None if plan else vf_of(dev), vlan=vlan)]


def make(nl: Netlink, directory: Path, port: NetworkPort, network: str | None,
         opts: PlugOptions, host: Host | None = None) -> dict[str, Any]:
    """Make the port's macvtap and its node; returns the run record (the port's journal)."""
    from kvmnet.engine.executor import run
    from kvmnet.host import tap as taps

    assert port.plug is not None
    dev = _choose(directory, port, network, opts)
    if taps.ifindex(dev) is None:
        raise NotFoundError(f"device {dev} does not exist in this network namespace; "
                            + (f"fix the pool of network '{network}'" if network else
                               "fix <source dev=...> of the guest's interface"))
    mode = port.plug.mode or "vepa"
    node = node_dir(opts.state_dirs) / port.uuid
    rec: dict[str, Any] = {
        "uuid": port.uuid, "network": network, "bridge": "", "dev": dev, "mode": mode,
        "mac": port.mac, "tap_mac": port.mac, "mtu": taps.get_mtu(dev),
        "owner_uuid": port.owner_uuid, "group": port.group, "owner_name": port.owner_name,
        "isolated": False, "plug_type": "direct", "plugger": "direct", "created": True,
        "tc": False, "skipped": [], "tap": "macvtap%d", "node": str(node),
    }
    journal = PortJournal(directory / f"{port.uuid}.json", rec)

    def steps() -> Iterator[Step]:
        from kvmnet.engine.steps.macvtap import CreateMacvtap, MakeTapNode

        yield from parent_steps(dev, mode, port)
        create = CreateMacvtap(parent=dev, mode=mode, mac=port.mac)
        yield create
        name = create.made or "macvtap%d"  # a recording host makes nothing
        rec.update(tap=name, ifindex=create.ifindex, owner_name=port.owner_name or name)
        yield MakeTapNode(path=str(node), link=name, ifindex=create.ifindex)

    run(steps(), journal, context(nl, host))
    journal.state = "active"
    journal.save()
    return rec


def is_ours(rec: dict[str, Any]) -> bool:
    from kvmnet.host import tap as taps

    name = rec.get("tap")
    index = taps.ifindex(name) if name else None
    return index is not None and rec.get("ifindex") in (None, index)


class MacvtapPlugger(Plugger):
    """A macvtap on a host device: plug type ``direct``."""

    label = "macvtap"

    def plug(self, nl: Netlink, directory: Path, port: NetworkPort, network: str | None,
             opts: PlugOptions, host: Host | None = None) -> dict[str, Any]:
        return make(nl, directory, port, network, opts, host)

    def plugged(self, port: NetworkPort, rec: dict[str, Any]) -> NetworkPort:
        """The pool's device the macvtap went on, in the port's ``<plug dev=...>``."""
        from kvmnet.model.frozen import replace

        if not rec.get("dev") or port.plug is None:
            return port
        return replace(port, plug=replace(port.plug, dev=rec["dev"]))

    def attach(self, nl: Netlink, rec: dict[str, Any], port: NetworkPort, *,
               vlan_filtering: bool) -> None:
        """Nothing: the macvtap stayed on its device while the network was down."""

    def detach(self, nl: Netlink, rec: dict[str, Any]) -> None:
        """Nothing: a macvtap hangs on a host device, not on the network's switch."""

    def is_ours(self, rec: dict[str, Any]) -> bool:
        return is_ours(rec)

    def describe(self, port: NetworkPort, opts: PlugOptions) -> list[str]:
        from kvmnet.engine.steps.macvtap import CreateMacvtap, MakeTapNode

        assert port.plug is not None
        dev = port.plug.dev or (opts.pool[0] if opts.pool else "DEV")
        node = Path(opts.state_dirs[0] if opts.state_dirs else "/run/kvmnet") / NODE_DIR
        mode = port.plug.mode or "vepa"
        steps: list[Step] = [
            *parent_steps(dev, mode, port, plan=True),
            CreateMacvtap(parent=dev, mode=mode, mac=port.mac),
            MakeTapNode(path=str(node / port.uuid), link="macvtap%d")]
        return [line for step in steps for line in step.describe().splitlines()]
