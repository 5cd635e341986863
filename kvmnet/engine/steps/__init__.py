"""Step kinds, one module per concern; the registry finds a kind by its module name.

A kind ``"m"`` or ``"m.x"`` (step or undo kind) lives in ``kvmnet/engine/steps/m.py``, which
defines it with :func:`kvmnet.engine.step.register` (steps) or
:func:`~kvmnet.engine.step.register_undo` (undo kinds).  To add a kind -- an OVSDB
transaction, a macvtap, a VF setting, a tap -- write (or extend) that one module:

* a :class:`~kvmnet.engine.step.Step` subclass: ``kind``, ``section`` (net-plan), ``fields``,
  ``describe()`` (shell form), ``undo_record(ctx)`` (journalled before ``apply``; None when
  nothing needs undoing) and ``apply(ctx)``;
* if its undo is new, an :class:`~kvmnet.engine.step.Undo` subclass: ``kind`` (the record's
  ``"kind"``), ``phase`` (background, kernel, last or keep) and ``undo(entry, ctx)``, which
  must succeed when the thing is already gone.

``apply`` and ``undo`` may use the adapters of ``ctx.host`` (:class:`kvmnet.engine.host.Host`)
or call :mod:`kvmnet.host` modules directly: the recording host
(:mod:`kvmnet.engine.recording`) never calls them, it records ``describe()`` instead.

Keep the modules cheap to import (plain classes, adapters imported inside methods): the cold
``net-start`` and ``net-destroy`` load the ones their steps and journal name.

Kinds now: ``link`` (create bridge, link up, needs a link; undo: delete link), ``ip`` (address,
route), ``sysctl`` (set, the accept_ra guard), ``nft`` (transaction), ``files`` (write files),
``dnsmasq`` (start); a guest port's ``tap`` (create, adopt, attach, bandwidth); a guest's
``port`` (plug a port, sweep the ports its UUID owns: through ``ctx.ports``, the caller's port
service) and ``qemu`` (its run-time files, start QEMU; undo: stop it); a host interface
change's ``iface`` (links, masters, MTU, STP, addresses, routes, sysctls, each undone to the
value it replaced); SR-IOV's ``vf`` (a hostdev network's pool, a VF bound to vfio-pci, a VF's
MAC/VLAN/trust through its PF, each undone to what it had).
"""
