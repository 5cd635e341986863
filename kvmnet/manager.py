"""Network lifecycle on the host: the only module that sequences drivers, adapters and store.

``start`` renders a plan (pure), checks it against the host (nothing changed
yet), then applies it step by step.  Each step is written to the network's
run record *before* it is taken; a failure tears down what the record lists,
and so does ``destroy`` -- also after the kvmnet process was killed midway.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kvmnet import leases as leasedb
from kvmnet.drivers import driver_for
from kvmnet.drivers.base import Plan
from kvmnet.errors import KvmnetError, OperationInvalidError, ValidationError
from kvmnet.host import sysctl
from kvmnet.model.network import Network
from kvmnet.paths import Paths
from kvmnet.preflight import conflicts, missing_programs
from kvmnet.record import ACTIVE, Record, fault_point
from kvmnet.runtime import Host, Runtime, teardown, write_file
from kvmnet.store import Store

log = logging.getLogger("kvmnet.manager")



def plan_network(net: Network, rt: Runtime) -> Plan:
    return driver_for(net).plan(net, rt.context())


def upstream_servers(resolv_conf: str = "/etc/resolv.conf") -> str:
    """``server=`` lines for dnsmasq from the host's resolver configuration."""
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


def runtime_conf(conf: str, servers_file: str) -> str:
    """Add the run-time keys that keep one dnsmasq per network cheap at scale.

    A dnsmasq that reads /etc/resolv.conf watches it with inotify, and the
    per-user limit of inotify instances (128 by default) would stop the 129th
    network.  So, unless the network already says ``no-resolv`` or serves no
    DNS, kvmnet passes the host's upstream servers in a servers-file (re-read on
    SIGHUP) and tells dnsmasq not to watch resolv.conf.
    """
    lines = conf.splitlines()
    if "no-resolv" in lines or "port=0" in lines:
        return conf
    return conf + f"no-resolv\nservers-file={servers_file}\n"


class Manager:
    def __init__(self, store: Store, paths: Paths, host: Host | None = None,
                 notify: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.paths = paths
        self.host = host or Host()
        # Messages for the user about changes made on their behalf (printed by the CLI).
        self.notify = notify or (lambda text: log.info("%s", text))

    # -- records --------------------------------------------------------------------------
    def runtime(self, name: str) -> Runtime:
        return Runtime(self.paths, name)

    def leftover(self, name: str) -> Record | None:
        """A record of a start that never finished (crash), or of a network whose status is lost."""
        rec = Record.load(self.runtime(name).record)
        if rec is None:
            return None
        if rec.state == ACTIVE and self.store.is_active(name):
            return None
        return rec

    # -- start ----------------------------------------------------------------------------
    def start(self, net: Network) -> Plan:
        """Bring ``net`` up on the host; on failure leave nothing behind."""
        name = net.name
        if self.store.is_active(name):
            raise OperationInvalidError(f"network '{name}' is already active: "
                                        f"run 'kvmnet net-destroy {name}' first to restart it")
        stale = self.leftover(name)
        if stale is not None:
            self.notify(f"cleaning up an interrupted start of network '{name}'")
            teardown(stale, self.host, self.store)
        from kvmnet.validate import validate_network

        validate_network(net)
        rt = self.runtime(name)
        plan = plan_network(net, rt)

        problems = missing_programs(plan)
        with self.host.netlink() as nl:
            problems += conflicts(plan, nl)
            if problems:
                raise ValidationError([p + "; nothing was changed" if len(problems) == 1 else p
                                       for p in problems],
                                      subject=None if len(problems) == 1 else
                                      f"cannot start network '{name}' (nothing was changed)")
            rec = Record(path=rt.record, network=name, info={"uuid": net.uuid})
            rec.save()
            try:
                self._apply(plan, rt, rec, nl)
                self._write_status(net)
            except BaseException as exc:
                failures = teardown(rec, self.host, self.store, nl=nl)
                if failures and isinstance(exc, KvmnetError):
                    exc.message += "; cleanup also failed: " + "; ".join(failures)
                    exc.args = (exc.message,)
                raise
        rec.state = ACTIVE
        rec.save()
        return plan

    def _write_status(self, net: Network) -> None:
        from kvmnet.xmlio.network import format_network

        self.store.write_status(net.name, format_network(net))

    def _apply(self, plan: Plan, rt: Runtime, rec: Record, nl: Any) -> None:
        br = plan.bridge
        if br is not None:
            rec.add("link", name=br.name)
            nl.create_bridge(br.name, stp=br.stp, forward_delay_cs=br.delay * 100, mtu=br.mtu,
                             mac=br.mac, up=False)
            fault_point("after", "link")
        for s in plan.sysctls:
            if s.scope == "shared":
                old = self.host.sysctl_read(s.key)
                if old != s.value:
                    if s.key == "net.ipv6.conf.all.forwarding":
                        self._keep_router_advertisements(nl)
                    rec.add("sysctl", key=s.key, old=old, new=s.value, scope=s.scope)
                    self.host.sysctl_write(s.key, s.value)
            else:
                self.host.sysctl_write(s.key, s.value)
        for a in plan.addresses:
            nl.add_address(a.ifname, a.address, a.prefixlen)
        if br is not None:
            nl.set_link_up(br.name)
        for r in plan.routes:
            nl.add_route(r.dst, r.prefixlen, r.gateway, metric=r.metric)
        if plan.nft_start:
            rec.add("nft", destroy=plan.nft_destroy)
            self.host.nft_apply(plan.nft_start)
            fault_point("after", "nft")
        if plan.dnsmasq is not None:
            self._start_dnsmasq(plan, rt, rec)

    def _start_dnsmasq(self, plan: Plan, rt: Runtime, rec: Record) -> None:
        files = plan.dnsmasq
        assert files is not None
        aux = files.aux_files()
        conf = runtime_conf(files.conf, str(rt.servers))
        paths = [str(rt.conf), str(rt.servers), str(rt.helper), str(rt.leases),
                 str(rt.leases) + ".lock", *aux]
        rec.add("files", paths=paths)
        for path, text in aux.items():
            write_file(Path(path), text)
        write_file(rt.servers, upstream_servers())
        write_file(rt.helper, leasedb.helper_script(sys.executable, str(self.paths.root),
                                                     rt.name), mode=0o755)
        write_file(rt.conf, conf)
        fault_point("after", "files")
        rec.add("dnsmasq", pid_file=str(rt.pid_file), conf=str(rt.conf))
        self.host.dnsmasq_start(str(rt.conf), str(rt.pid_file))
        fault_point("after", "dnsmasq")

    def _keep_router_advertisements(self, nl: Any) -> None:
        """Turning on IPv6 forwarding makes the kernel ignore RAs on interfaces with accept_ra=1.

        libvirt refuses to start in that case; kvmnet sets accept_ra=2 on those interfaces
        (accept RAs even when forwarding), which keeps their default route, and says so.
        """
        for link in nl.list_links():
            ifname = str(link["ifname"])
            key = sysctl.iface_key(6, ifname, "accept_ra")
            if ifname == "lo" or self.host.sysctl_read(key) != "1":
                continue
            if not any(r.ifname == ifname and r.prefixlen == 0 and r.gateway and ":" in r.gateway
                       for r in nl.list_routes()):
                continue
            self.host.sysctl_write(key, "2")
            self.notify(f"set {key}=2 so that {ifname} keeps its IPv6 default route from router "
                        "advertisements while IPv6 forwarding is on")

    # -- live update ------------------------------------------------------------------------
    def update_live(self, old: Network, new: Network, section: str) -> None:
        """Make the running network match ``new`` (a net-update of ``section``).

        DHCP hosts and DNS hosts live in files dnsmasq re-reads on SIGHUP, so
        those updates only reload it.  Other changes (ranges, TXT, SRV records)
        are in its configuration and need a restart; leases survive both,
        because kvmnet's lease helper hands them back to the new dnsmasq.
        """
        from kvmnet.validate import validate_network

        validate_network(new, update=True)
        rt = self.runtime(new.name)
        old_plan, new_plan = plan_network(old, rt), plan_network(new, rt)
        before, after = old_plan.dnsmasq, new_plan.dnsmasq
        if before is not None and after is not None and before.conf == after.conf:
            for path, text in after.aux_files().items():
                write_file(Path(path), text)
            if not self.host.dnsmasq_reload(str(rt.pid_file), str(rt.conf)):
                self.host.dnsmasq_start(str(rt.conf), str(rt.pid_file))
        elif before != after:
            if before is None or after is None:
                raise OperationInvalidError(
                    f"this change to network '{new.name}' {'starts' if after else 'stops'} its "
                    "DHCP/DNS service, which cannot be done live: use --config and restart the "
                    "network")
            self.host.dnsmasq_stop(str(rt.pid_file), str(rt.conf))
            try:
                for path, text in after.aux_files().items():
                    write_file(Path(path), text)
                write_file(rt.conf, runtime_conf(after.conf, str(rt.servers)))
                self.host.dnsmasq_start(str(rt.conf), str(rt.pid_file))
            except KvmnetError:
                # put the old service back so the network keeps serving its guests
                for path, text in before.aux_files().items():
                    write_file(Path(path), text)
                write_file(rt.conf, runtime_conf(before.conf, str(rt.servers)))
                self.host.dnsmasq_start(str(rt.conf), str(rt.pid_file))
                raise
        self._write_status(new)
