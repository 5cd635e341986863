"""kvmnet's marks on the Open vSwitch ports it makes for guests (Port ``external_ids``).

A switch may be shared: the system's Open vSwitch serves libvirt, OpenStack and other kvmnet
state roots too.  Every port kvmnet's Open vSwitch plugger makes carries both marks, so that
clean-up (a guest's undo, ``kvmnet ovs reconcile``) touches only its own:

* ``kvmnet-owner``: the absolute state root (``$KVMNET_ROOT``) of the kvmnet that made it;
* ``kvmnet-port``: the UUID of the kvmnet port (its records are
  ``$KVMNET_ROOT/run/kvmnet/ports/NETWORK/UUID.{json,xml}``).
"""
from __future__ import annotations

OWNER_KEY = "kvmnet-owner"
PORT_KEY = "kvmnet-port"
