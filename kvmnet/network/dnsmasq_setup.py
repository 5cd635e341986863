"""What dnsmasq gets for a network: the one owner of its configuration and files.

A network's dnsmasq reads, all made here from the definition and the run-time paths:

* its configuration (``NAME.conf``): libvirt's text (:func:`kvmnet.network.dnsmasq.render_dnsmasq`,
  identical for the same XML) with the run-time changes of :func:`runtime_conf`;
* the DHCP hosts file and the addn-hosts file the configuration names (re-read on SIGHUP,
  so a live update of hosts only rewrites them: :meth:`DnsmasqSetup.reloadable_files`);
* the servers file (the host's upstream name servers, read when the files are written);
* the lease helper it runs as ``--dhcp-script`` (:mod:`kvmnet.network.leases`).

:meth:`DnsmasqSetup.steps` turns that into the two steps a start runs (write files, start
dnsmasq), which ``net-plan`` prints and a live update re-applies; nothing else writes
dnsmasq's files.  (One decision is left to start time, because it depends on the host's
file permissions then: :func:`kvmnet.host.dnsmasq.settle_user` keeps dnsmasq root when
its user cannot read the hosts files.)
"""
from __future__ import annotations

from kvmnet.engine.steps.dnsmasq import StartDnsmasq
from kvmnet.engine.steps.files import WriteFiles
from kvmnet.model.frozen import frozen
from kvmnet.network import leases as leasedb
from kvmnet.network.dnsmasq import dnsmasq_needed, render_dnsmasq

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from kvmnet.model.network import Network
    from kvmnet.network.drivers.base import PlanContext

RESOLV_CONF = "/etc/resolv.conf"


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


@frozen
class DnsmasqSetup:
    """Everything dnsmasq gets for one network (paths are plain strings)."""

    conf_path: str
    conf: str  # as dnsmasq reads it: runtime_conf applied
    pid_file: str
    # (path, text, net-plan section) of the files the conf names and dnsmasq re-reads on SIGHUP
    hosts: tuple[tuple[str, str, str], ...]
    helper_path: str
    helper: str
    servers_path: str  # upstream servers (written even when the conf does not read it)
    leases: str  # the helper's lease database (and its lock), removed with the files
    # (address, port, proto) dnsmasq binds, checked free before anything changes
    listens: tuple[tuple[str, int, str], ...] = ()

    def reloadable_files(self) -> dict[str, str]:
        """path -> text of the files a SIGHUP makes dnsmasq re-read (DHCP and DNS hosts)."""
        return {path: text for path, text, _section in self.hosts}

    def files_step(self) -> WriteFiles:
        files = [[self.conf_path, self.conf, 0o644, "dnsmasq-conf"]]
        files += [[path, text, 0o644, section] for path, text, section in self.hosts]
        files.append([self.helper_path, self.helper, 0o755, "files"])
        return WriteFiles(files=files, servers=[self.servers_path, RESOLV_CONF],
                          remove=[self.leases, self.leases + ".lock"])

    def start_step(self) -> StartDnsmasq:
        return StartDnsmasq(conf=self.conf_path, pid_file=self.pid_file,
                            listens=[list(x) for x in self.listens])

    def steps(self) -> tuple[WriteFiles, StartDnsmasq]:
        return self.files_step(), self.start_step()


def setup_for(net: Network, ctx: PlanContext, addresses: Iterable[str]) -> DnsmasqSetup | None:
    """What dnsmasq gets for ``net`` on a bridge with ``addresses``; None when it needs none."""
    if not dnsmasq_needed(net):
        return None
    rendered = render_dnsmasq(net, config_dir=ctx.dnsmasq_dir, pid_file=ctx.pid_file,
                              lease_helper=ctx.lease_helper, user=ctx.user)
    conf = runtime_conf(rendered.conf, ctx.servers_file)
    hosts = []
    if rendered.hostsfile_path is not None:
        hosts.append((rendered.hostsfile_path, rendered.hostsfile or "", "dnsmasq-hosts"))
    if rendered.addnhosts_path is not None:
        hosts.append((rendered.addnhosts_path, rendered.addnhosts or "", "dnsmasq-addnhosts"))
    listens: list[tuple[str, int, str]] = []
    if net.dns is None or net.dns.enable is not False:
        for address in addresses:
            listens += [(address, 53, "udp"), (address, 53, "tcp")]
    return DnsmasqSetup(
        conf_path=ctx.conf_file, conf=conf, pid_file=ctx.pid_file, hosts=tuple(hosts),
        helper_path=ctx.lease_helper,
        helper=leasedb.helper_script(ctx.python, ctx.root, net.name),
        servers_path=ctx.servers_file,
        leases=ctx.leases_file, listens=tuple(listens))
