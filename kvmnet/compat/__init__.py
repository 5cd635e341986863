"""libvirt-python compatibility: existing ``import libvirt`` programs run unchanged on kvmnet.

``kvmnet libvirt-shim`` prints the folder :mod:`kvmnet.compat.shim`; with it on
``PYTHONPATH``, ``import libvirt`` loads its ``libvirt.py``, which re-exports
:mod:`kvmnet.compat.module`.  The package is a thin facade over kvmnet's public API
(:func:`kvmnet.open` and :class:`kvmnet.api.Connection`), nothing else: it translates names,
return types (ints where libvirt gives ints), errors (:mod:`.errors`: ``libvirtError`` with
libvirt's codes) and lifecycle events (:mod:`.events`).  The modules: :mod:`.module` (the
``libvirt`` namespace), :mod:`.connect` (``virConnect``), :mod:`.network` (``virNetwork``,
``virNetworkPort``), :mod:`.objects` (``virInterface``, ``virNodeDevice``, ``virDomain``),
:mod:`.constants` (the domain subset and other libvirt-only ``VIR_*``), :mod:`.names`
(libvirt-python's method names, so that the ones kvmnet lacks answer ``VIR_ERR_NO_SUPPORT``).
"""
from __future__ import annotations

from pathlib import Path


def shim_dir() -> Path:
    """The folder to put on ``PYTHONPATH`` so that ``import libvirt`` is kvmnet's."""
    return Path(__file__).resolve().parent / "shim"
