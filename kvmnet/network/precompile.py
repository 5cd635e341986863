"""Compiling a just-defined network's start program, for ``net-start`` to find in the cache.

Kept apart from :mod:`kvmnet.network.compile` (which imports the drivers and renderers) so
that ``net-define`` imports it for nothing when the compile runs after the reply.
"""
from __future__ import annotations

from kvmnet.network import program as programs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.config.store import Store
    from kvmnet.model.network import Network
    from kvmnet.paths import Paths


def precompile(store: Store, paths: Paths, net: Network) -> None:
    """Compile a just-defined network's start program, for ``net-start`` to find in the cache.

    ``net-start`` then imports no parser or renderer.  The console script does this after
    its reply, in a child process (:func:`kvmnet.tasks.afterwards`: ~17 ms of CPU off a cold
    ``net-define``), holding the cache's lock, which a start that finds no program waits for
    (:func:`kvmnet.network.start.start_defined`).  A definition that cannot compile is
    still defined (as libvirt does); its ``net-start`` reports the problem.  A program whose
    definition was replaced or removed meanwhile is not saved.
    """
    from kvmnet.tasks import afterwards

    text = store.read_config(net.name)
    if text is None:
        return
    key = programs.cache_key(text, paths.text("root"))
    cache = programs.cache_path(paths.text("programs"), net.name)

    def job() -> None:
        from kvmnet.errors import KvmnetError
        from kvmnet.network.compile import compile_program

        try:
            program = compile_program(net, paths, key)
        except KvmnetError:
            programs.unlink(cache)  # not drop(): this job holds the lock drop() takes
            return
        if store.read_config(net.name) == text:
            programs.save(cache, program)

    afterwards(job, lock=programs.lock_path(cache))

