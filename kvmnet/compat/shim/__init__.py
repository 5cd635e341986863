"""The folder ``kvmnet libvirt-shim`` prints: on ``PYTHONPATH``, its ``libvirt.py`` is what
``import libvirt`` finds (see :mod:`kvmnet.compat`)."""
