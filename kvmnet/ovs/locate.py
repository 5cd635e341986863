"""Which Open vSwitch database a command talks to (DESIGN.md: ``--db``, ``$KVMNET_OVSDB``,
the private one of ``kvmnet ovs start``, the system's).  The rule lives in
:func:`kvmnet.host.ovsnames.db_remote` so that engine steps use the same one."""
from __future__ import annotations

from kvmnet.host.ovsnames import NOT_RUNNING, SYSTEM_SOCKET, db_remote, private_socket

__all__ = ["NOT_RUNNING", "SYSTEM_SOCKET", "db_remote", "private_socket"]
