"""PCI driver binding: hand a device to a stub driver (vfio-pci) and give it back.

The writes are libvirt's managed detach (virPCIDeviceBindToStub) and reattach
(virPCIDeviceUnbindFromStub), through :mod:`kvmnet.host.sysfs` (so ``$KVMNET_SYSFS``):

- ``pci.detach``: ``driver_override`` = the stub, unbind from the current driver,
  ``drivers_probe`` (the kernel then binds the override: vfio-pci);
- undo kind ``pci.driver`` (journalled first, with the driver the device had): clear
  ``driver_override``, unbind from the stub, ``drivers_probe`` (the kernel picks the driver
  that matches the device's IDs); if that is not the recorded driver, bind the recorded one;
- ``pci.reattach``: the same give-back for a device kvmnet did not detach (no journal to
  undo: detached by hand, by libvirt, or before a reboot of kvmnet's state root).

Used by ``nodedev-detach``/``nodedev-reattach`` (:mod:`kvmnet.nodedev.detach`) and by a
managed hostdev port's VF.  Idempotent: a device already on the stub, or already back, is
left as it is.
"""
from __future__ import annotations

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


#: Drivers that only hold a device for assignment (never the device's own driver).
STUBS = ("vfio-pci", "pci-stub")


def _dev(address: str) -> str:
    return f"/sys/bus/pci/devices/{address}"


def give_back(address: str, driver: str | None) -> None:
    """Clear the override, leave the stub, let the kernel probe; bind ``driver`` if the probe
    chose another (or none)."""
    from kvmnet.host import sysfs

    if sysfs.pci_attr(address, "driver_override") not in (None, "", "(null)"):
        sysfs.set_driver_override(address, None)
    current = sysfs.pci_driver(address)
    if current is not None and current not in STUBS and driver in (None, current):
        return  # on its own driver already: leave it be
    sysfs.unbind(address)
    sysfs.drivers_probe(address)
    now = sysfs.pci_driver(address)
    if driver and now is None and sysfs.driver_loaded(driver):
        sysfs.bind(address, driver)


def _give_back_text(address: str, driver: str | None) -> str:
    text = (f"echo > {_dev(address)}/driver_override; echo {address} > "
            f"{_dev(address)}/driver/unbind; echo {address} > /sys/bus/pci/drivers_probe")
    return text + (f"  # back to {driver}" if driver else "")


@register
class DetachPci(Step):
    kind = "pci.detach"
    section = "devices"
    fields = ("address", "stub")
    defaults: ClassVar[dict[str, Any]] = {"stub": "vfio-pci"}
    address: str
    stub: str

    def describe(self) -> str:
        a = self.address
        return (f"echo {self.stub} > {_dev(a)}/driver_override; echo {a} > {_dev(a)}/driver/"
                f"unbind; echo {a} > /sys/bus/pci/drivers_probe")

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        from kvmnet.host import sysfs

        current = sysfs.pci_driver(self.address)
        if current == self.stub:
            return None  # already detached: nothing of ours to give back
        return {"kind": "pci.driver", "address": self.address, "driver": current,
                "stub": self.stub}

    def apply(self, ctx: Context) -> None:
        from kvmnet.host import sysfs

        if sysfs.pci_driver(self.address) == self.stub:
            return
        sysfs.set_driver_override(self.address, self.stub)
        sysfs.unbind(self.address)
        sysfs.drivers_probe(self.address)


@register
class ReattachPci(Step):
    kind = "pci.reattach"
    section = "devices"
    fields = ("address", "driver")
    defaults: ClassVar[dict[str, Any]] = {"driver": None}
    address: str
    driver: str | None

    def describe(self) -> str:
        return _give_back_text(self.address, self.driver)

    def apply(self, ctx: Context) -> None:
        give_back(self.address, self.driver)


@register_undo
class RestorePciDriver(Undo):
    kind = "pci.driver"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        give_back(entry["address"], entry.get("driver"))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return _give_back_text(entry["address"], entry.get("driver"))
