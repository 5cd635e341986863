"""Open vSwitch: ovs-vsctl's verbs over OVSDB, and a private Open vSwitch runner.

Where things are, and why the split:

- :mod:`kvmnet.host.ovsdb` is the thin OVSDB adapter (the ``ovs`` library's IDL: open, bridges,
  ports, QoS, one transaction per change).  It is in the host layer, not here, because engine
  steps (``kvmnet/engine/steps/ovsdb.py``: "add OVS port") must call it and the engine may import
  only base, host and model; like every host adapter it takes plain values and never imports
  the model.  :mod:`kvmnet.host.ovsnames` holds what both sides share (which database,
  interface-name and VLAN checks, ovs-vsctl's quoting, libvirt's rate conversions), and
  :mod:`kvmnet.host.ovsjson` gives the library a C-speed JSON parser.
- :mod:`.client`: :class:`~.client.Switch` (the adapter's class plus the generic table verbs
  ``get/set/clear/list/find`` the command line uses) and :class:`~.client.PortInfo`; the
  contract other packages code against.  :mod:`.locate`: which database (``db_remote``).
- :mod:`.vsctl`: ovs-vsctl's command language (``kvmnet ovs VERB``) over the client;
  :mod:`.syntax` its value syntax and printing (pure), :mod:`.show` the ``show`` tree,
  :mod:`.order` the order ovs-vsctl lists rows in (its IDL's hash maps, rebuilt).
- :mod:`.daemon`: ``kvmnet ovs start|stop|status``, a private ovsdb-server + ovs-vswitchd
  under ``$KVMNET_ROOT`` for the current network namespace.

No ``ovs-vsctl`` process runs at run time; the tests run the real one to compare output.
Imports nothing at import time, so that a cold command pays only for what it uses.
"""
