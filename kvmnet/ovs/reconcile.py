"""``kvmnet ovs reconcile``: remove the Open vSwitch ports kvmnet made that nothing uses now.

A guest port on Open vSwitch is a tap plus a Port row (:mod:`kvmnet.port.plugs.ovs`).  The
guest's or network's next start or destroy takes both back from the port's journal; this is
the switch-side sweep for what no journal will reach, run by hand or at boot:

* the tap is gone (a guest's QEMU and tap died with a reboot of the namespace, someone ran
  ``ip link del``): the row stays in OVSDB and ovs-vswitchd keeps retrying to open it;
* the kvmnet port record is gone (the state root was wiped, a crash before the record was
  written cannot leave a row: the record is journalled first);
* ovs-vswitchd reports an error on the port's Interface (it cannot open the device).

Only ports that carry this state root's marks (:mod:`kvmnet.host.ovsmarks`) are looked at:
the switch may serve libvirt or other kvmnet roots too.  A removed Port takes its QoS and
Queue rows with it (:meth:`kvmnet.host.ovsdb.Switch.del_port`).  Pure reads and one
transaction per removed port; idempotent.
"""
from __future__ import annotations

import os
import socket

from kvmnet.model.frozen import frozen


@frozen
class Stale:
    """One port reconcile removed (or would remove, with ``dry_run``)."""

    port: str
    bridge: str | None
    port_uuid: str | None
    why: str


def _has_record(ports_dir: str, port_uuid: str | None) -> bool:
    if not port_uuid:
        return False
    try:
        networks = os.listdir(ports_dir)
    except OSError:
        return False
    return any(os.path.exists(os.path.join(ports_dir, n, f"{port_uuid}.json"))
               for n in networks)


def stale_reason(name: str, error: str | None, port_uuid: str | None,
                 ports_dir: str) -> str | None:
    """Why the marked port ``name`` is stale, or None when it is in use."""
    try:
        socket.if_nametoindex(name)
    except OSError:
        return f"its tap {name} no longer exists"
    if not _has_record(ports_dir, port_uuid):
        return f"no kvmnet port {port_uuid or '(unmarked)'} exists under this state root"
    if error:
        return f"ovs-vswitchd cannot use it: {error}"
    return None


def reconcile(root: str | None = None, *, remote: str | None = None,
              dry_run: bool = False) -> list[Stale]:
    """Remove (unless ``dry_run``) the stale OVS ports of state root ``root`` (default
    ``$KVMNET_ROOT``) on the database ``remote`` (default: :func:`kvmnet.host.ovsnames.db_remote`);
    returns them."""
    from kvmnet.host.ovsdb import Switch
    from kvmnet.host.ovsmarks import OWNER_KEY, PORT_KEY

    root = os.path.abspath(root or os.environ.get("KVMNET_ROOT") or "/")
    ports_dir = os.path.join(root, "run", "kvmnet", "ports")
    out: list[Stale] = []
    with Switch.open(remote) as sw:
        for info in sw.ports_with({OWNER_KEY: root}):
            port_uuid = info.external_ids.get(PORT_KEY)
            why = stale_reason(info.name, info.error, port_uuid, ports_dir)
            if why is None:
                continue
            if not dry_run:
                sw.del_port(info.name, if_exists=True)
            out.append(Stale(port=info.name, bridge=info.bridge, port_uuid=port_uuid, why=why))
    return out
