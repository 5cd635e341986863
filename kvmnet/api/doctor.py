"""Host checks through the facade: ``kvmnet doctor`` and ``kvmnet watch``.

:func:`diagnoseHost` checks the active networks' guest paths for foreign drop points (and with
``fix``/``undo`` adds or removes kvmnet's tagged accepts); :func:`watchHost` keeps kvmnet's
firewall state in place until it is told to stop.  Both work on a :class:`Connection`'s store
and run in the network namespace of the calling process.  The work is in :mod:`kvmnet.doctor`.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from kvmnet.api.connection import Connection
    from kvmnet.doctor.model import Report


def diagnoseHost(conn: Connection, network: str | None = None, *, fix: bool = False,
                 undo: bool = False, probe: bool = True) -> Report:
    """Check (``fix``: and fix; ``fix`` and ``undo``: take the fixes back) the guest paths of
    ``network`` or of every active network.  ``probe=False`` judges by the rules alone."""
    from kvmnet.doctor import run

    if undo:
        return run.undo(conn.store, conn.paths, network)
    if fix:
        return run.fix(conn.store, conn.paths, network, probe)
    return run.diagnose(conn.store, network, probe)


def watchHost(conn: Connection, stop: threading.Event,
              say: Callable[[str], None] | None = None) -> None:
    """Put kvmnet's nftables state and doctor's rules back whenever they disappear, until
    ``stop`` is set."""
    from kvmnet.doctor.watch import watch

    watch(conn.store, conn.paths, stop, say or (lambda text: None))
