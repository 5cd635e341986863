"""The engine: typed host changes (steps), the one executor that applies them, and their journal.

Every change kvmnet makes to the host -- creating a bridge, setting a sysctl, an nft
transaction, writing dnsmasq's files, starting dnsmasq, a guest port's tap, plugging a guest's
ports and starting its QEMU; later OVSDB transactions, macvtaps, VFs -- is a
:class:`~kvmnet.engine.step.Step`.  A step is plain JSON-serialisable data
that can ``describe()`` itself in the shell form a person would type (what ``net-plan``
prints), ``apply()`` itself, and say how to undo itself (``undo_record()``, a small dict the
journal keeps, so that a later process can undo it without the definition).

Running steps::

    from kvmnet.engine.executor import Context, run, undo
    from kvmnet.engine.host import Host
    from kvmnet.engine.journal import Journal

    journal = Journal(path, owner="net1")          # run/kvmnet/<what>/<owner>.json
    ctx = Context(Host(), say=print)                # the host adapters, a netlink opened once
    run(steps, journal, ctx)                        # journal each undo, then apply; undoes on failure
    ...
    failures = undo(journal, ctx)                   # later, even in another process

``run`` journals (fsynced) each step's undo record *before* applying it, so after a crash at
any instant the journal lists a superset of what exists, and ``undo`` removes what it lists in
reverse, idempotently ("already gone" is fine).  ``KVMNET_FAULT_KILL_BEFORE=<kind>`` and
``KVMNET_FAULT_KILL_AFTER=<kind>`` kill the process around any step (by its step kind or its
undo kind) for crash tests.

Adding a step kind is one new module in :mod:`kvmnet.engine.steps` (see its docstring): the
registry finds a kind ``"ovsdb.txn"`` in ``kvmnet/engine/steps/ovsdb.py`` by its name.

Nothing here imports typing, dataclasses or the model at run time: ``net-start`` and
``net-destroy`` run on it cold.
"""
