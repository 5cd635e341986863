"""Network lifecycle: turns definitions into start programs, and updates running networks.

This is the module that sequences drivers, renderers, adapters and store.
``compile_program`` renders a definition (pure: plan, nft documents, dnsmasq
files, live status XML) into a :mod:`kvmnet.network.program`; :mod:`kvmnet.network.start`
applies it (from the cache when the stored definition has not changed) and
:mod:`kvmnet.network.runtime` takes it down.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from kvmnet.config.store import Store
from kvmnet.errors import HostError, KvmnetError, OperationInvalidError
from kvmnet.model.network import Network
from kvmnet.network import leases as leasedb
from kvmnet.network import program as programs
from kvmnet.network.drivers import driver_for
from kvmnet.network.drivers.base import Plan
from kvmnet.network.runtime import Host, Runtime, write_file
from kvmnet.paths import Paths


def plan_network(net: Network, rt: Runtime) -> Plan:
    return driver_for(net).plan(net, rt.context())


def runtime_conf(conf: str, servers_file: str) -> str:
    """The rendered (libvirt-identical) conf, with the run-time changes that let kvmnet scale.

    Measured here, both matter from a few hundred networks on:

    * A dnsmasq that reads /etc/resolv.conf watches it with inotify, and the per-user
      limit of inotify instances (128 by default) stops the 129th network -- where
      libvirt stops.  Unless the network already says ``no-resolv`` or serves no DNS,
      kvmnet passes the host's upstream servers in a servers-file (written at each
      start) and tells dnsmasq not to watch resolv.conf.
    * ``bind-dynamic`` makes every dnsmasq re-read all interfaces on every address change
      in the namespace: starting network N+1 costs CPU in all N dnsmasq processes
      (1.9 s of CPU per 20 bridge changes with 100 networks; quadratic overall).
      ``bind-interfaces`` binds the bridge's addresses once at start -- kvmnet creates them
      before dnsmasq, without DAD, and never changes them while it runs -- and then the
      same changes cost nothing measurable.
    """
    lines = conf.splitlines()
    lines = ["bind-interfaces" if line == "bind-dynamic" else line for line in lines]
    if "no-resolv" not in lines and "port=0" not in lines:
        lines += ["no-resolv", f"servers-file={servers_file}"]
    return "\n".join(lines) + "\n"


def compile_program(net: Network, paths: Paths, key: str = "") -> programs.Program:
    """Everything ``net-start`` applies for ``net``, as plain data (validates first)."""
    from kvmnet.config.validate import validate_network
    from kvmnet.xmlio.network import format_network

    validate_network(net)
    rt = Runtime(paths, net.name)
    plan = plan_network(net, rt)
    dnsmasq = None
    if plan.dnsmasq is not None:
        files = dict(plan.dnsmasq.aux_files())
        files[str(rt.helper)] = leasedb.helper_script(os.path.realpath(sys.executable), str(paths.root), net.name)
        files[str(rt.conf)] = runtime_conf(plan.dnsmasq.conf, str(rt.servers))
        dnsmasq = {"files": files}
    br = plan.bridge
    return {
        "format": programs.FORMAT, "key": key, "network": net.name, "uuid": net.uuid,
        "mode": plan.mode.value,
        "bridge": None if br is None else {"name": br.name, "stp": br.stp, "delay": br.delay,
                                           "mtu": br.mtu, "mac": br.mac},
        "addresses": [{"ifname": a.ifname, "address": a.address, "prefixlen": a.prefixlen}
                      for a in plan.addresses],
        "routes": [{"dst": r.dst, "prefixlen": r.prefixlen, "gateway": r.gateway,
                    "metric": r.metric} for r in plan.routes],
        "sysctls": [{"key": s.key, "value": s.value, "scope": s.scope, "reason": s.reason}
                    for s in plan.sysctls],
        "nft_start": plan.nft_start, "nft_start_fast": plan.nft_start_fast,
        "nft_destroy": plan.nft_destroy,
        "dnsmasq": dnsmasq,
        "requires_links": list(plan.requires_links),
        "listens": [list(x) for x in plan.listens],
        "status_xml": format_network(net),
    }


def precompile(store: Store, paths: Paths, net: Network) -> None:
    """Compile a just-defined network's start program now, while the model is loaded.

    ``net-start`` then finds it in the cache and imports no parser or renderer.
    A definition that cannot compile is still defined (as libvirt does); its
    ``net-start`` reports the problem.
    """
    text = store.read_config(net.name)
    if text is None:
        return
    key = programs.cache_key(text, str(paths.root))
    try:
        programs.save(programs.cache_path(paths.programs, net.name),
                      compile_program(net, paths, key))
    except KvmnetError:
        programs.drop(programs.cache_path(paths.programs, net.name))


class Manager:
    """Lifecycle operations that need the model (transient start, live update)."""

    def __init__(self, store: Store, paths: Paths, host: Host | None = None,
                 notify: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.paths = paths
        self.host = host or Host()
        self.notify = notify

    def update_live(self, old: Network, new: Network, section: str) -> None:
        """Make the running network match ``new`` (a net-update of ``section``).

        DHCP hosts and DNS hosts live in files dnsmasq re-reads on SIGHUP, so
        those updates only reload it.  Other changes (ranges, TXT, SRV records)
        are in its configuration and need a restart; leases survive both,
        because kvmnet's lease helper hands them back to the new dnsmasq.
        """
        from kvmnet.config.validate import validate_network
        from kvmnet.xmlio.network import format_network

        validate_network(new)
        rt = Runtime(self.paths, new.name)
        before, after = plan_network(old, rt).dnsmasq, plan_network(new, rt).dnsmasq
        if before is not None and after is not None and before.conf == after.conf:
            problem = self.host.dnsmasq_reload_problem(str(rt.pid_file), str(rt.conf))
            if problem is not None:
                raise HostError(
                    f"network '{new.name}' was not updated live: its dnsmasq could not re-read "
                    f"its hosts files ({problem}); let it search that directory (chmod o+x), "
                    f"or restart the network (kvmnet net-destroy {new.name}; kvmnet net-start "
                    f"{new.name}) so that dnsmasq runs as a user that can read them")
            for path, text in after.aux_files().items():
                write_file(Path(path), text)
            if not self.host.dnsmasq_reload(str(rt.pid_file), str(rt.conf)):
                self.host.dnsmasq_start(str(rt.conf), str(rt.pid_file), self.notify)
        elif before != after:
            if before is None or after is None:
                raise OperationInvalidError(
                    f"this change to network '{new.name}' {'starts' if after else 'stops'} its "
                    "DHCP/DNS service, which cannot be done live: use --config and restart the "
                    "network")
            self.host.dnsmasq_stop(str(rt.pid_file), str(rt.conf))
            try:
                self._write_dnsmasq(after.aux_files(), after.conf, rt)
            except KvmnetError:
                # put the old service back so the network keeps serving its guests
                self._write_dnsmasq(before.aux_files(), before.conf, rt)
                raise
        self.store.write_status(new.name, format_network(new))

    def _write_dnsmasq(self, aux: dict[str, str], conf: str, rt: Runtime) -> None:
        for path, text in aux.items():
            write_file(Path(path), text)
        write_file(rt.conf, runtime_conf(conf, str(rt.servers)))
        self.host.dnsmasq_start(str(rt.conf), str(rt.pid_file), self.notify)
