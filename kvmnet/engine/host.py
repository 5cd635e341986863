"""The host adapters steps act through, replaceable as a whole (tests, the recording host).

:class:`Host` forwards to the narrow adapters in :mod:`kvmnet.host` (imported when first
used).  ``perform`` and ``revert`` are where the executor hands a step or an undo record to
the host: the real host applies it; :class:`kvmnet.engine.recording.RecordingHost` only
writes down what would be done.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from kvmnet.engine.executor import Context
    from kvmnet.engine.step import Step, Undo


class Host:
    """The adapters start, destroy and live updates use."""

    def perform(self, step: Step, ctx: Context) -> None:
        step.apply(ctx)

    def revert(self, handler: type[Undo], entry: dict[str, Any], ctx: Context) -> None:
        handler.undo(entry, ctx)

    def netlink(self) -> Any:
        from kvmnet.host.netlink import Netlink

        return Netlink()

    def nft_apply(self, document: str) -> None:
        from kvmnet.host import nftables

        nftables.apply(document)

    def sysctl_read(self, key: str) -> str | None:
        from kvmnet.host import sysctl

        return sysctl.read(key)

    def sysctl_write(self, key: str, value: str) -> str | None:
        from kvmnet.host import sysctl

        return sysctl.write(key, value, missing_ok=True)

    def dnsmasq_start(self, conf: str, pid_file: str,
                      say: Callable[[str], None] | None = None) -> int:
        from kvmnet.host import dnsmasq

        notice = dnsmasq.settle_user(conf)  # it must be able to read its hosts files
        if notice is not None and say is not None:
            say(notice)
        return dnsmasq.start(conf, pid_file=pid_file)

    def dnsmasq_stop(self, pid_file: str, conf: str) -> None:
        from kvmnet.host import dnsmasq

        pid = dnsmasq.read_pid_file(pid_file)
        if pid is not None:
            dnsmasq.stop(pid, expected_cmdline_contains=conf, pid_file=pid_file)
        unlink(pid_file)

    def dnsmasq_reload(self, pid_file: str, conf: str) -> bool:
        from kvmnet.host import dnsmasq

        pid = dnsmasq.read_pid_file(pid_file)
        return pid is not None and dnsmasq.reload(pid, expected_cmdline_contains=conf)

    def qemu_start(self, argv: list[str], pidfile: str, name: str,
                   fds: dict[int, str] | None = None) -> int:
        from kvmnet.host import qemu

        return qemu.launch(argv, pidfile, name, fds=fds)

    def qemu_stop(self, pid: int | None, pidfile: str | None, qmp: str) -> None:
        from kvmnet.host import qemu

        qemu.stop(pid, pidfile, qmp)

    def qemu_alive(self, pid: object, qmp: object) -> bool:
        """Whether QEMU ``pid`` still runs (its command line names QMP socket ``qmp``)."""
        from kvmnet.host import qemu

        return qemu.alive(pid, qmp)

    # -- a running QEMU's NICs, over its monitor (kvmnet.host.qmp) ----------------------------
    def qemu_add_nic(self, qmp: str, netdev: dict[str, Any], device: dict[str, Any],
                     node: str | None) -> None:
        from kvmnet.host import qmp as monitor

        monitor.add_nic(qmp, netdev, device, node)

    def qemu_remove_nic(self, qmp: str, device_id: str, netdev_id: str | None,
                        timeout: float) -> bool:
        from kvmnet.host import qmp as monitor

        return monitor.remove_nic(qmp, device_id, netdev_id, timeout)

    def qemu_devices(self, qmp: str) -> set[str]:
        from kvmnet.host import qmp as monitor

        return monitor.devices(qmp)

    def qemu_drop_backend(self, qmp: str, netdev_id: str, fdname: str | None) -> None:
        from kvmnet.host import qmp as monitor

        monitor.drop_backend(qmp, netdev_id, fdname)

    def ovsdb(self, remote: str | None) -> Any:
        """An open OVSDB connection (kvmnet.host.ovsdb.Switch) to ``remote`` (None: the
        usual choice, kvmnet.host.ovsnames.db_remote), one per remote for this host's life:
        opening one costs more than a change through it."""
        from kvmnet.host import ovsdb

        switches: dict[str | None, Any] = self.__dict__.setdefault("_ovsdb", {})
        if remote not in switches:
            switches[remote] = ovsdb.Switch.open(remote, wait=False)
        return switches[remote]

    def dnsmasq_reload_problem(self, pid_file: str, conf: str) -> str | None:
        """Why the running dnsmasq would not see its files re-read on SIGHUP, or None."""
        from kvmnet.host import dnsmasq

        pid = dnsmasq.read_pid_file(pid_file)
        if pid is None or not dnsmasq.is_running(pid, conf):
            return None
        return dnsmasq.reload_problem(pid, conf)

    # -- SR-IOV VFs (kvmnet.engine.steps.vf): through the PF, so a recording host answers ----
    def vf_get(self, pf: str, index: int) -> dict[str, Any]:
        """VF ``index``'s settings (mac, vlan, qos, spoofchk, trust), read through ``pf``."""
        from kvmnet.host import vf

        return vf.get_vf(pf, index)

    def vf_set(self, pf: str, index: int, settings: dict[str, Any]) -> None:
        from kvmnet.host import vf

        vf.set_vf(pf, index, settings)

    def link_addresses(self, ifname: str) -> list[str]:
        """The IP addresses on ``ifname`` ([] when it is not in this namespace)."""
        from kvmnet.host import vf

        return vf.addresses(ifname)

    # -- a device's own MAC (kvmnet.engine.steps.netconfig): so a recording host answers ----
    def link_mac(self, ifname: str) -> str:
        """``ifname``'s MAC; HostError (ENODEV) when there is no such link."""
        from kvmnet.host import tap

        return tap.get_mac(ifname)

    def link_set_mac(self, ifname: str, mac: str) -> None:
        from kvmnet.host import tap

        tap.set_mac(ifname, mac)


def unlink(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
