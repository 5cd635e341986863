"""Network lifecycle: turns definitions into start programs, and updates running networks.

``compile_program`` renders a definition (pure: the driver's plan, turned into the ordered
engine steps by :meth:`~kvmnet.network.drivers.base.Plan.steps`, and the live status XML)
into a :mod:`kvmnet.network.program`; :mod:`kvmnet.network.start` runs those steps through
the executor (from the cache when the stored definition has not changed) and
:mod:`kvmnet.network.runtime` takes them down.  ``net-plan`` prints the same steps.
"""
from __future__ import annotations

from collections.abc import Callable

from kvmnet.config.store import Store
from kvmnet.engine.executor import Context
from kvmnet.engine.step import Step
from kvmnet.engine.steps.files import write_file
from kvmnet.errors import HostError, KvmnetError, OperationInvalidError
from kvmnet.model.modes import mode_of
from kvmnet.model.network import Network
from kvmnet.network import program as programs
from kvmnet.network.drivers import driver_for
from kvmnet.network.drivers.base import Plan
from kvmnet.network.runtime import Host, Runtime
from kvmnet.paths import Paths


def plan_network(net: Network, rt: Runtime) -> Plan:
    return driver_for(net).plan(net, rt.context())


def start_steps(net: Network, paths: Paths) -> tuple[Step, ...]:
    """What starting ``net`` applies, in order (validates first; nothing is applied)."""
    from kvmnet.config.validate import validate_network

    validate_network(net)
    return plan_network(net, Runtime(paths, net.name)).steps()


def compile_program(net: Network, paths: Paths, key: str = "") -> programs.Program:
    """Everything ``net-start`` applies for ``net``, as plain data (validates first)."""
    from kvmnet.xmlio.network import format_network

    steps = start_steps(net, paths)
    return {
        "format": programs.FORMAT, "key": key, "network": net.name, "uuid": net.uuid,
        "mode": net.forward_mode.value, "steps": [step.to_json() for step in steps],
        "status_xml": format_network(mode_of(net).live(net)),
    }


class Manager:
    """Live updates of a running network (net-update --live): they need the model.

    (A transient start is :func:`kvmnet.network.start.start_network`.)
    """

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
            for path, text in after.reloadable_files().items():
                write_file(path, text)
            if not self.host.dnsmasq_reload(str(rt.pid_file), str(rt.conf)):
                self.host.dnsmasq_start(str(rt.conf), str(rt.pid_file), self.notify)
        elif before != after:
            if before is None or after is None:
                raise OperationInvalidError(
                    f"this change to network '{new.name}' {'starts' if after else 'stops'} its "
                    "DHCP/DNS service, which cannot be done live: use --config and restart the "
                    "network")
            self.host.dnsmasq_stop(str(rt.pid_file), str(rt.conf))
            ctx = Context(self.host, say=self.notify)
            try:
                # the same steps a start runs (their undo is in the network's journal already:
                # same paths, same pid file)
                for step in after.steps():
                    self.host.perform(step, ctx)
            except KvmnetError:
                # put the old service back so the network keeps serving its guests
                for step in before.steps():
                    self.host.perform(step, ctx)
                raise
        self.store.write_status(new.name, format_network(new))
