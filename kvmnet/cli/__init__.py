"""The ``kvmnet`` command line (virsh-style verbs); entry point :func:`kvmnet.cli.entry.main`.

Argument parsing and output only, one module per verb group (``net``, ``port``, ``bridge``,
``iface``, ``guest``, ``forward``: port forwards; ``live`` holds net-plan, net-dhcp-leases and
autostart; ``edit`` the shared edit loop; ``verbs`` what the verb modules share; ``main``
argparse; ``entry`` the argparse-free fast path of the hot verbs).

What the command line may import (``tests/unit/test_import_graph.py`` checks it):

- the public API: :mod:`kvmnet` (``open``, the errors, ``__version__``), :mod:`kvmnet.api`
  (the one facade, like ``virConnect``: networks, ports, bridges, host interfaces, guests,
  and the ``VIR_*`` constants), :mod:`kvmnet.errors`;
- pure modules for what it prints or passes in, which never touch the host or the state
  root: :mod:`kvmnet.model` (the plain data the facade takes and returns),
  :mod:`kvmnet.xmlio` (documents as text) and :mod:`kvmnet.bridge.format` (brctl's layout);
- its own modules.

Everything that acts or keeps state (store, ports, guests, interfaces, bridges, networks)
goes through :class:`kvmnet.api.Connection`.  Two hot paths are the documented exceptions
(listed with their reasons in the test): ``lease-helper`` (dnsmasq's ``--dhcp-script``, run
on every lease, imports only the lease database) and ``net-destroy``'s head start in
:mod:`kvmnet.cli.entry` (netlink deletes begun before the facade is even imported).
"""
