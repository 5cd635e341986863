"""Node devices: the host's device tree read from sysfs, and PCI detach/reattach.

:mod:`.devices` builds libvirt's node devices (``computer``, PCI functions with their SR-IOV
relations, network interfaces) from :mod:`kvmnet.host.sysfs`; :mod:`.detach` hands a PCI
device to vfio-pci and back as engine steps (:mod:`kvmnet.engine.steps.pci`), journalled under
``run/kvmnet/nodedev/``.
"""
