"""Open vSwitch names and places: which database, interface names, VLANs, value quoting.

Plain functions over plain values, shared by the OVSDB adapter (:mod:`.ovsdb`), the engine's
OVS steps and :mod:`kvmnet.ovs` (which cannot import each other's layers).
"""
from __future__ import annotations

import json
import os
import re
import socket

from kvmnet.errors import OvsError, quote

SYSTEM_SOCKET = "/var/run/openvswitch/db.sock"
NOT_RUNNING = ("Open vSwitch is not running: `kvmnet ovs start`, or start the "
               "openvswitch-switch service")
#: Linux's interface names: IFNAMSIZ - 1 bytes.
IFNAME_MAX_BYTES = 15
VLAN_MODES = ("trunk", "access", "native-tagged", "native-untagged", "dot1q-tunnel")


def default_datapath_type() -> str:
    """The datapath a new bridge gets: the kernel's (OVSDB's default, "") when the
    openvswitch module is loaded, else the userspace one ("netdev").  The one place that
    decides it."""
    return "" if os.path.exists("/sys/module/openvswitch") else "netdev"


def socket_answers(path: str) -> bool:
    """Whether something accepts connections on the unix socket ``path``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(path)
    except OSError:
        return False
    finally:
        s.close()
    return True


def db_remote(explicit: str | None = None) -> str:
    """Which OVSDB to talk to: ``--db`` (``unix:PATH``), else ``$KVMNET_OVSDB``, else the
    private one of ``kvmnet ovs start`` (``$KVMNET_ROOT/run/openvswitch/db.sock``) when its
    socket exists, else the system's when it answers (``/var/run/openvswitch/db.sock``, or
    ``$KVMNET_OVS_SYSTEM_SOCKET`` where a system keeps it elsewhere)."""
    for value in (explicit, os.environ.get("KVMNET_OVSDB")):
        if value:
            if not value.startswith(("unix:", "tcp:", "ssl:")):
                raise OvsError(f"database {quote(value)} is not an OVSDB remote: write "
                               "unix:PATH (or tcp:IP:PORT)")
            return value
    private = private_socket()
    if os.path.exists(private):
        return "unix:" + private
    system = os.environ.get("KVMNET_OVS_SYSTEM_SOCKET") or SYSTEM_SOCKET
    if socket_answers(system):
        return "unix:" + system
    raise OvsError(NOT_RUNNING)


def private_socket() -> str:
    """The database socket of the private Open vSwitch (``kvmnet ovs start``)."""
    root = os.environ.get("KVMNET_ROOT") or "/"
    return os.path.join(root, "run", "openvswitch", "db.sock")


def check_ifname(kind: str, name: str) -> None:
    """Refuse a name Linux cannot give an interface (ovs-vsctl accepts it; vswitchd fails)."""
    size = len(name.encode())
    if not name or size > IFNAME_MAX_BYTES or "/" in name or name.strip() != name \
            or not name.isprintable() or name in (".", ".."):
        why = (f"is {size} bytes, and Linux interface names are at most {IFNAME_MAX_BYTES}"
               if size > IFNAME_MAX_BYTES else "is not a Linux interface name")
        raise OvsError(f"{kind} name {quote(name)} {why}: choose a shorter name of letters, "
                       "digits, '-', '_' or '.'")


def check_vlan(value: int, what: str = "tag") -> None:
    if not 0 <= value <= 4095:
        raise OvsError(f"constraint violation: {value} is not in the valid range 0 to 4095 "
                       f"(inclusive) ({what}: a VLAN number is 0 to 4095)")


_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{12}")
_BARE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def needs_quotes(s: str) -> bool:
    """ovs-vsctl's rule for printing a string bare: a letter or '_' first, then letters,
    digits, '_', '-', '.'; not true/false, not a UUID."""
    return (not _BARE_RE.fullmatch(s) or s in ("true", "false")
            or _UUID_RE.fullmatch(s) is not None)


def vsctl_string(s: str) -> str:
    """A string atom as ovs-vsctl prints it: bare when it can be, else a JSON string."""
    return json.dumps(s, ensure_ascii=False) if needs_quotes(s) else s


def libvirt_tx_qos(average: int, peak: int | None = None, burst: int | None = None
                   ) -> dict[str, int | None]:
    """libvirt's ``<bandwidth>`` rate (average/peak in kB/s, burst in KiB) as the OVS QoS
    values it sets (bits/s and bits): ``{"min_rate", "max_rate", "burst"}`` for
    :meth:`kvmnet.host.ovsdb.Switch.set_port_qos`."""
    return {"min_rate": average * 8000, "max_rate": peak * 8000 if peak else None,
            "burst": burst * 8192 if burst else None}


def libvirt_policing(average: int, burst: int | None = None) -> tuple[int, int | None]:
    """libvirt's inbound rate (kB/s, KiB) as OVS ingress policing (kbit/s, kbit), as it sets
    ``ingress_policing_rate``/``ingress_policing_burst``."""
    return average * 8, burst * 8 if burst else None
