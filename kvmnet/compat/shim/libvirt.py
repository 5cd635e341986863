"""kvmnet's libvirt-python compatible module (``import libvirt`` with ``kvmnet libvirt-shim``'s
folder on ``PYTHONPATH``): everything is :mod:`kvmnet.compat.module`'s."""
from __future__ import annotations

from kvmnet.compat import module as _module

globals().update(_module.exports())
__getattr__ = _module.__getattr__
