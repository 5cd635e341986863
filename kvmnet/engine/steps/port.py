"""A guest's ports, as steps of its start: plug one (``port.plug``), sweep the ports an
interrupted start left (``port.sweep``), wait until their switches took them all
(``port.settle``).

Plugging a port is itself a run of the executor with the port's own journal (the tap steps
of :mod:`kvmnet.engine.steps.tap`, by the plugger); here it is one step of the guest's
journal, whose undo (``port``) unplugs the port by its UUID -- chosen before the step runs,
so that the undo is journalled first.  ``port.owner`` unplugs whatever port the guest's UUID
still owns (undone last of the guest's kernel work).

The engine sits below the port layer: these steps act through ``ctx.ports``, the guest port
service the caller hands in (:class:`kvmnet.guests.runner.PortService`): ``plug(step) ->
dict`` (the port's info: uuid, tap, bridge ...), ``unplug(uuid)`` (a port already gone is
fine), ``unplug_owner(uuid)`` and ``settle(uuids)``.
"""
from __future__ import annotations

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


def _service(ctx: Context) -> Any:
    if ctx.ports is None:
        from kvmnet.errors import OperationInvalidError

        raise OperationInvalidError("a guest port step runs with the guest port service "
                                    "(Context(ports=...)); run it through the guest runner")
    return ctx.ports


def _xml_text(text: str, attribute: bool = False) -> str:
    from xml.sax.saxutils import escape

    return escape(text, {"'": "&apos;"} if attribute else {})


@register
class PlugPort(Step):
    """One NIC of a guest: a port on ``network`` (its driver decides the plug), or, with
    ``network`` None, a tap on Linux bridge ``bridge`` or a macvtap on host device
    ``source_dev``.  :attr:`info`: the plugged port."""

    kind = "port.plug"
    section = "ports"
    fields = ("uuid", "network", "bridge", "mac", "owner_name", "owner_uuid", "portgroup",
              "tap_name", "mtu", "source_dev", "source_mode", "settings")
    defaults: ClassVar[dict[str, Any]] = {"network": None, "bridge": None, "portgroup": None,
                                          "tap_name": None, "mtu": None, "source_dev": None,
                                          "source_mode": None, "settings": None}
    uuid: str
    network: str | None
    bridge: str | None
    mac: str
    owner_name: str
    owner_uuid: str
    portgroup: str | None
    tap_name: str | None
    mtu: int | None
    source_dev: str | None  # a macvtap on this host device (<interface type='direct'>)
    source_mode: str | None
    # the interface's own virtualport, vlan, bandwidth (kvmnet.model.precedence.settings_json)
    settings: dict[str, Any] | None

    info: dict[str, Any] | None = None

    def describe(self) -> str:
        if self.source_dev is not None:
            from kvmnet.engine.steps.macvtap import CreateMacvtap

            return CreateMacvtap(parent=self.source_dev, mode=self.source_mode or "vepa",
                                 mac=self.mac).describe() + f"\n# and its device node (port {self.uuid})"
        if self.network is None:
            # a tap on a host bridge: exactly the plugger's steps (no allocation)
            from kvmnet.engine.steps.tap import AttachTap, CreateTap
            from kvmnet.host.tap import host_side_mac

            tap = self.tap_name or "vnet%d"
            steps: list[Step] = [CreateTap(name=tap, mac=host_side_mac(self.mac), mtu=self.mtu)]
            port = self._port()
            if port.virtualport is not None and port.virtualport.type == "openvswitch":
                from kvmnet.engine.steps.ovsnet import ovs_steps

                steps += ovs_steps(port, tap, "$KVMNET_ROOT")
            else:
                steps.append(AttachTap(name=tap, bridge=self.bridge))
            return "\n".join(step.describe() for step in steps)
        options = "".join(f" --{opt} {value}" for opt, value in
                          (("tap", self.tap_name), ("mtu", self.mtu)) if value is not None)
        group = f"\n  <group>{_xml_text(self.portgroup)}</group>" if self.portgroup else ""
        return (f"kvmnet net-port-create {self.network} /dev/stdin{options} <<'EOF'\n"
                f"<networkport>\n  <uuid>{self.uuid}</uuid>\n"
                f"  <owner>\n    <name>{_xml_text(self.owner_name)}</name>\n"
                f"    <uuid>{self.owner_uuid}</uuid>\n  </owner>{group}\n"
                f"  <mac address='{self.mac}'/>{self._settings_xml()}\n</networkport>\nEOF")

    def _port(self) -> Any:
        """The port as the interface asks for it (a bridge: what its plugger gets)."""
        from kvmnet.model.port import NetworkPort, Plug, PlugType
        from kvmnet.model.precedence import settings_from_json

        vport, vlan, bandwidth = settings_from_json(self.settings)
        return NetworkPort(uuid=self.uuid, owner_name=self.owner_name,
                           owner_uuid=self.owner_uuid, mac=self.mac, virtualport=vport,
                           vlan=vlan, bandwidth=bandwidth,
                           plug=Plug(type=PlugType.BRIDGE, bridge=self.bridge))

    def _settings_xml(self) -> str:
        """The interface's own settings in the ``<networkport>`` (libvirt's order)."""
        port = self._port()
        out = ""
        vp = port.virtualport
        if vp is not None:
            kind = f" type='{vp.type}'" if vp.type else ""
            params = "".join(f" {k}='{_xml_text(v, True)}'" for k, v in vp.parameters)
            out += (f"\n  <virtualport{kind}><parameters{params}/></virtualport>" if params
                    else f"\n  <virtualport{kind}/>")
        bw = port.bandwidth
        if bw is not None:
            rates = "".join(
                f"<{tag}" + "".join(f" {k}='{v}'" for k, v in (
                    ("average", r.average), ("peak", r.peak), ("floor", r.floor),
                    ("burst", r.burst)) if v) + "/>"
                for tag, r in (("inbound", bw.inbound), ("outbound", bw.outbound))
                if r is not None)
            out += f"\n  <bandwidth>{rates}</bandwidth>"
        if port.vlan is not None:
            tags = "".join(f"<tag id='{t.id}'" + (f" nativeMode='{t.native_mode}'"
                                                  if t.native_mode else "") + "/>"
                           for t in port.vlan.tags)
            trunk = " trunk='yes'" if port.vlan.trunk else ""
            out += f"\n  <vlan{trunk}>{tags}</vlan>"
        return out

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "port", "uuid": self.uuid, "network": self.network,
                "bridge": self.bridge or self.source_dev}

    def apply(self, ctx: Context) -> None:
        self.info = _service(ctx).plug(self)

    def result(self) -> dict[str, Any]:
        """The plugged port's info; before (or without: a recording host) being applied, a
        stand-in with the tap named by its template."""
        if self.info is not None:
            return self.info
        if self.source_dev is not None:  # a guest's own macvtap: QEMU gets its node's fd
            return {"uuid": self.uuid, "tap": "macvtap%d", "bridge": "",
                    "node": f"$NODE_DIR/{self.uuid}"}
        return {"uuid": self.uuid, "tap": self.tap_name or "vnet%d",
                "bridge": self.bridge or ""}


@register_undo
class UnplugPort(Undo):
    kind = "port"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        _service(ctx).unplug(str(entry["uuid"]))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        if entry.get("network") is None:
            return f"ip link del $TAP  # port {entry['uuid']} on bridge {entry.get('bridge')}"
        return f"kvmnet net-port-delete {entry['network']} {entry['uuid']}"


@register
class SweepOwner(Step):
    """Unplug every port the guest's UUID owns (a start killed before its journal named
    them, or a kvmnet older than guest journals); journalled first, so undone last."""

    kind = "port.sweep"
    section = "ports"
    fields = ("owner_uuid", "owner_name")
    owner_uuid: str
    owner_name: str

    def describe(self) -> str:
        return UnplugOwner.describe({"owner_uuid": self.owner_uuid, "owner_name": self.owner_name})

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "port.owner", "owner_uuid": self.owner_uuid,
                "owner_name": self.owner_name}

    def apply(self, ctx: Context) -> None:
        _service(ctx).unplug_owner(self.owner_uuid)


@register_undo
class UnplugOwner(Undo):
    kind = "port.owner"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        _service(ctx).unplug_owner(str(entry["owner_uuid"]))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return (f"# unplug any port guest {entry.get('owner_name')} ({entry['owner_uuid']}) "
                "still owns")


@register
class SettlePorts(Step):
    """The switches behind the guest's ports have taken them all (Open vSwitch: ovs-vswitchd
    applied the ports and opened their taps; ``ctx.ports.settle``): plugging does not wait
    for it, a guest waits once before QEMU starts.  Nothing to undo: the ports' own undos
    take them back."""

    kind = "port.settle"
    section = "ports"
    fields = ("uuids",)
    uuids: list[str]

    def describe(self) -> str:
        return (f"# the switches took ports {' '.join(self.uuids)} (Open vSwitch: "
                "ovs-vsctl sync, and no error on their Interfaces)")

    def apply(self, ctx: Context) -> None:
        _service(ctx).settle(self.uuids)
