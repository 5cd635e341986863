"""kvmnet's version, in a module of its own so that low layers can read it.

(The program cache key includes it; importing it from the top-level package would make
``kvmnet.network.program`` depend on the package that re-exports the facade.)
"""
__version__ = "0.1.0"
