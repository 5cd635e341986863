"""A passthrough macvtap's parent device: its settings saved, the guest's set, then put back.

libvirt's virNetDevMacVLanCreateWithVPortProfile, in ``passthrough`` mode, saves the parent
device's network settings (virNetDevSaveNetConfig) and sets the guest's MAC on it
(virNetDevSetNetConfig) *before* it makes the macvtap, and puts the saved settings back once
the macvtap is gone (virNetDevMacVLanDeleteWithVPortProfile).  Why: a passthrough macvtap is
the device's only user and the kernel makes it take the device's MAC (the MAC asked for is
ignored), so the guest's MAC must be the device's; the first switch on the wire learns it,
and must not keep seeing the guest's MAC once the guest is gone.  What is saved, as libvirt:

* a plain device: its MAC only (not its MTU, not its state);
* an SR-IOV VF's netdev (:func:`vf_of`): its MAC, and its VLAN (with 802.1p priority) as its
  PF holds it; the VF then gets the port's VLAN tag, or none (0), through the PF.  A plain
  device cannot take a port's VLAN this way, so a VLAN there is refused before anything
  changes (libvirt's "vlan can only be set for SR-IOV VFs").

``netconfig.set`` journals the saved values (undo kind ``netconfig.restore``) before it changes
anything, so a kvmnet killed at any point leaves a port journal whose undo (``net-port-delete``,
guest destroy, the clean-up after QEMU died, or any later command that finds the journal)
puts them back.  The undo runs after the macvtap's delete (it was journalled first).

A MAC changed by someone else while the guest had the device (an administrator; or the
guest itself, since a passthrough macvtap's MAC change is the device's, e.g. with
``trustGuestRxFilters``) is overwritten too, as libvirt does: the saved MAC is the device's
own, and whatever it got during the guest's life goes with the guest.  The undo says so.
"""
from __future__ import annotations

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo
from kvmnet.errors import HostError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


def vf_of(dev: str) -> dict[str, Any] | None:
    """``{"pf": PF netdev, "index": N}`` when ``dev`` is an SR-IOV VF's netdev (sysfs
    ``device/physfn``, through ``$KVMNET_SYSFS``), else None."""
    from kvmnet.host import sysfs

    addr = sysfs.netdev_pci_address(dev)
    pf_addr = sysfs.physical_function(addr) if addr is not None else None
    if addr is None or pf_addr is None:
        return None
    names = sysfs.pci_netdevs(pf_addr)
    index = next((v.index for v in sysfs.virtual_functions(pf_addr) if v.address == addr), None)
    if not names or index is None:
        return None
    return {"pf": names[0], "index": index}


def _diagnose(exc: HostError, dev: str, mac: str, vf: dict[str, Any] | None) -> HostError:
    """Why ``dev`` did not take the guest's MAC, and what to do."""
    import errno

    clear = (f"ip link set dev {vf['pf']} vf {vf['index']} mac 00:00:00:00:00:00"
             if vf is not None else "")
    if exc.errno == errno.EBUSY:
        why = (f"its driver cannot change the MAC while it is up; take it down first (ip link "
               f"set dev {dev} down) and plug again")
    elif exc.errno == errno.EADDRNOTAVAIL and vf is not None:
        why = (f"its PF {vf['pf']} has set an administrative MAC for VF {vf['index']}, which "
               f"locks it; clear it ({clear}) and plug again")
    elif exc.errno == errno.EPERM and vf is not None:
        why = (f"its PF {vf['pf']} does not let VF {vf['index']} change its own MAC; clear the "
               f"VF's administrative MAC ({clear}) or trust the VF (trust on), and plug again")
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "its driver refuses it; give the guest another MAC"
    else:
        return exc
    return HostError(f"passthrough device {dev} cannot take the guest's MAC {mac}: {why}",
                     exc.command, exc.errno)


@register
class SetNetConfig(Step):
    """The guest's ``mac`` on device ``dev``; for a VF (``vf``: its PF and index) also the
    port's ``vlan`` (None: no VLAN) through the PF.  The values before are journalled."""

    kind = "netconfig.set"
    section = "links"
    fields = ("dev", "mac", "vf", "vlan")
    defaults: ClassVar[dict[str, Any]] = {"vf": None, "vlan": None}
    dev: str
    mac: str
    vf: dict[str, Any] | None
    vlan: int | None

    def describe(self) -> str:
        text = f"ip link set dev {self.dev} address {self.mac}"
        if self.vf is not None:
            from kvmnet.host.vf import command

            text += "\n" + command(str(self.vf["pf"]), int(self.vf["index"]),
                                   {"vlan": self.vlan or 0})
        return text

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": "netconfig.restore", "dev": self.dev,
                                 "mac": ctx.host.link_mac(self.dev), "guest_mac": self.mac,
                                 "vf": self.vf}
        if self.vf is not None:
            before = ctx.host.vf_get(str(self.vf["pf"]), int(self.vf["index"]))
            entry["vlan"] = {"vlan": before.get("vlan") or 0, "qos": before.get("qos") or 0}
        return entry

    def apply(self, ctx: Context) -> None:
        if self.vlan and self.vf is None:
            from kvmnet.errors import OperationInvalidError

            raise OperationInvalidError(
                f"a VLAN can only be set on an SR-IOV VF, but passthrough device {self.dev} "
                "is not a VF; remove the <vlan> from the network or portgroup, or use a VF")
        from kvmnet.host.macvtap import refuse_uppers

        refuse_uppers(self.dev)  # a second passthrough user: refused before the MAC changes
        try:
            ctx.host.link_set_mac(self.dev, self.mac)
        except HostError as exc:
            raise _diagnose(exc, self.dev, self.mac, self.vf) from None
        if self.vf is not None:
            ctx.host.vf_set(str(self.vf["pf"]), int(self.vf["index"]), {"vlan": self.vlan or 0})


@register_undo
class RestoreNetConfig(Undo):
    """The saved MAC back on the device (and a VF's VLAN through its PF); a device that is
    gone has nothing to restore."""

    kind = "netconfig.restore"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        import errno

        dev, saved = str(entry["dev"]), entry.get("mac")
        try:
            now = ctx.host.link_mac(dev)
        except HostError as exc:
            if exc.errno == errno.ENODEV:
                return  # the device is gone, and its settings with it
            raise
        if saved and now != saved:
            if now != entry.get("guest_mac"):
                from kvmnet.log import get as get_logger

                # not an error (the guest may change it, see the module docstring): said
                # where the caller listens, logged at info level for everyone else
                note = (f"{dev}'s MAC {now} was changed while the guest had the device; "
                        f"putting back its own MAC {saved}, as libvirt does")
                get_logger("kvmnet.engine").info("%s", note)
                ctx.say(note)
            ctx.host.link_set_mac(dev, str(saved))
        vf, vlan = entry.get("vf"), entry.get("vlan")
        if vf is not None and vlan is not None:
            ctx.host.vf_set(str(vf["pf"]), int(vf["index"]), dict(vlan))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        text = f"ip link set dev {entry['dev']} address {entry.get('mac')}"
        vf, vlan = entry.get("vf"), entry.get("vlan")
        if vf is not None and vlan is not None:
            from kvmnet.host.vf import command

            text += "\n" + command(str(vf["pf"]), int(vf["index"]), dict(vlan))
        return text
