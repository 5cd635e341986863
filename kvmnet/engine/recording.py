"""A host that records what would be done instead of doing it (libvirt's dry-run style).

:class:`RecordingHost` stands in for :class:`kvmnet.engine.host.Host`: the executor hands it
every step and every undo record, and it writes down their ``describe()`` (``log``) and keeps
what would exist now (``present``: undo record -> the step that made it), so that start,
teardown and the convergence of interrupted runs are tested as golden step lists by a
developer without root.  Reads answer from that state: a link exists while a step that
made it is present, and so does a QEMU (:meth:`RecordingHost.qemu_alive`); sysctls read
from ``sysctls``.  ``kill_at = N`` raises :class:`Killed`
(a simulated SIGKILL: a BaseException, so no clean-up code catches it) at the Nth change,
and at every change after it, as a dead process makes none.
"""
from __future__ import annotations

import json

from kvmnet.engine.host import Host
from kvmnet.host.nltypes import Link

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, Self

    from kvmnet.engine.executor import Context
    from kvmnet.engine.step import Step, Undo


#: what a VF's settings read before anyone set them (ixgbevf: zero MAC, no VLAN, spoof check on)
FRESH_VF: dict[str, Any] = {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "spoofchk": True,
                            "trust": False}

#: what a host device's MAC reads before anyone set it (a recording host's links)
NIC_MAC = "00:1b:21:0a:0b:0c"


class Killed(BaseException):
    """The simulated SIGKILL of a :class:`RecordingHost` run."""


def _key(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True)


class RecordingNetlink:
    """Netlink reads answered from the recording host's state; it makes no changes itself."""

    def __init__(self, host: RecordingHost) -> None:
        self.host = host

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def link_info(self, name: str) -> Link | None:
        if _key({"kind": "link", "name": name}) in self.host.present or name in self.host.links:
            return _link(name, "bridge")
        return None

    def addresses_within(self, spans: Iterable[Any]) -> list[Any]:
        return []

    def list_links(self) -> list[Link]:
        return [_link(name, None) for name in sorted(self.host.links)]

    def list_routes(self) -> list[Any]:
        return []

    def delete_link(self, name: str) -> bool:  # net-destroy's direct calls, if any
        self.host._change(f"ip link del {name}")
        self.host.present.pop(_key({"kind": "link", "name": name}), None)
        return True


def _link(name: str, kind: str | None) -> Link:
    """A link as the netlink adapter reports it (only the name and kind matter here)."""
    return Link(ifname=name, ifindex=0, kind=kind, mac=None, mtu=None, state="up",
                operstate=None, master=None, master_ifindex=None)


class RecordingHost(Host):
    def __init__(self, links: Iterable[str] = (), sysctls: dict[str, str] | None = None) -> None:
        self.log: list[str] = []
        self.present: dict[str, str] = {}
        self.links = set(links)  # links that exist without kvmnet (a host bridge, an uplink)
        self.sysctls: dict[str, str] = dict(sysctls or {})
        self.kill_at: int | None = None
        self.changes = 0
        #: VF settings read through a PF: "PF/INDEX" -> settings (default: a fresh VF's)
        self.vfs: dict[str, dict[str, Any]] = {}
        #: links' MACs, as read (default NIC_MAC) and as set
        self.macs: dict[str, str] = {}

    # -- the executor's two doors -------------------------------------------------------
    def perform(self, step: Step, ctx: Context) -> None:
        entry = step.undo_record(ctx)
        self._change(step.describe())
        if entry is not None:
            self.present[_key(entry)] = step.describe()

    def revert(self, handler: type[Undo], entry: dict[str, Any], ctx: Context) -> None:
        self._change(handler.describe(entry))
        self.present.pop(_key(entry), None)

    def _change(self, text: str) -> None:
        if self.kill_at is not None:
            self.changes += 1
            if self.changes >= self.kill_at:
                raise Killed(text)
        self.log.append(text)

    # -- reads ----------------------------------------------------------------------------
    def netlink(self) -> RecordingNetlink:
        return RecordingNetlink(self)

    def sysctl_read(self, key: str) -> str | None:
        return self.sysctls.get(key, "0")

    def leftovers(self) -> list[str]:
        """What would still exist: the steps whose undo is pending (sysctls are kept)."""
        return sorted(text for key, text in self.present.items()
                      if json.loads(key)["kind"] != "sysctl")

    # -- direct adapter calls (live updates): recorded too --------------------------------
    def nft_apply(self, document: str) -> None:
        self._change(f"nft -f - <<'EOF'\n{document}EOF")

    def sysctl_write(self, key: str, value: str) -> str | None:
        self._change(f"sysctl -w {key}={value}")
        return value

    def dnsmasq_start(self, conf: str, pid_file: str,
                      say: Callable[[str], None] | None = None) -> int:
        self._change(f"dnsmasq --conf-file={conf}")
        return 0

    def dnsmasq_stop(self, pid_file: str, conf: str) -> None:
        self._change(f"kill $(cat {pid_file})  # dnsmasq --conf-file={conf}")

    def dnsmasq_reload(self, pid_file: str, conf: str) -> bool:
        self._change(f"kill -HUP $(cat {pid_file})  # dnsmasq --conf-file={conf}")
        return True

    def dnsmasq_reload_problem(self, pid_file: str, conf: str) -> str | None:
        return None

    def qemu_alive(self, pid: object, qmp: object) -> bool:
        """A QEMU runs while the step that started it is present (its undo names its socket)."""
        return any(entry.get("kind") == "qemu" and entry.get("qmp") == qmp
                   for entry in map(json.loads, self.present))

    def qemu_devices(self, qmp: str) -> set[str]:
        """No hot-plugged device ever reached a recorded QEMU (its ``qemu.nic`` is not run)."""
        return set()

    def qemu_drop_backend(self, qmp: str, netdev_id: str, fdname: str | None) -> None:
        self._change(f"# QMP {qmp}: netdev_del {netdev_id}"
                     + (f"; closefd {fdname}" if fdname else ""))

    def vf_get(self, pf: str, index: int) -> dict[str, Any]:
        return dict(self.vfs.get(f"{pf}/{index}", FRESH_VF))

    def vf_set(self, pf: str, index: int, settings: dict[str, Any]) -> None:
        from kvmnet.host.vf import command

        self._change(command(pf, index, settings))
        self.vfs[f"{pf}/{index}"] = dict(settings)

    def link_addresses(self, ifname: str) -> list[str]:
        return []

    def link_mac(self, ifname: str) -> str:
        return self.macs.get(ifname, NIC_MAC)

    def link_set_mac(self, ifname: str, mac: str) -> None:
        self._change(f"ip link set dev {ifname} address {mac}")
        self.macs[ifname] = mac
