"""What ``import libvirt`` gives a libvirt-python client when ``kvmnet libvirt-shim``'s folder
is on ``PYTHONPATH`` (that folder's ``libvirt.py`` re-exports this module).

``open(uri)`` / ``openReadOnly(uri)`` / ``openAuth(uri, auth, flags)`` accept the URIs a
client of the system instance uses (``qemu:///system``, ``network:///system``, the other
``DRIVER:///system``, None) and ``kvmnet:///`` with an optional state root
(``kvmnet:///var/tmp/lab`` is the root ``/var/tmp/lab``); without one, kvmnet's default
(``$KVMNET_ROOT``, else ``/``).  The classes, ``libvirtError``, the error functions, the
event loop and every ``VIR_*`` constant of the network, port, interface, node device, error
and domain-subset families follow libvirt-python 9.0; a module function kvmnet cannot do
raises ``VIR_ERR_NO_SUPPORT``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import kvmnet
from kvmnet import virterror
from kvmnet.api import constants as api_constants
from kvmnet.compat import constants as compat_constants
from kvmnet.compat import names
from kvmnet.compat.connect import LIBVIRT_VERSION, virConnect
from kvmnet.compat.errors import (
    fail,
    libvirtError,
    registerErrorHandler,
    translated,
    unsupported,
    virGetLastError,
    virGetLastErrorCode,
    virGetLastErrorDomain,
    virGetLastErrorMessage,
    virResetLastError,
)
from kvmnet.compat.events import LOOP
from kvmnet.compat.network import virNetwork, virNetworkPort
from kvmnet.compat.objects import virDomain, virInterface, virNodeDevice

#: ``DRIVER:///system`` URIs whose driver kvmnet stands in for
SYSTEM_DRIVERS = frozenset({"qemu", "kvm", "network", "interface", "nodedev"})


def constants() -> dict[str, int | str]:
    """Every ``VIR_*`` name the module exports, with its value."""
    from kvmnet import api

    out: dict[str, int | str] = {}
    for mod in (virterror, api_constants, compat_constants):
        out.update((k, v) for k, v in vars(mod).items()
                   if k.startswith("VIR_") and isinstance(v, (int, str)))
    out.update((name, getattr(api, name)) for name in compat_constants.GUEST_NAMES)
    return out


def _root(uri: str) -> str | None:
    """The state root a URI names (None: kvmnet's default); libvirt's error for others."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme == "kvmnet" and not parts.netloc and not parts.query:
        return parts.path if parts.path not in ("", "/") else None
    if parts.scheme in SYSTEM_DRIVERS and not parts.netloc and parts.path == "/system":
        return None
    why = ("kvmnet serves the system instance of this host: use qemu:///system, "
           "network:///system or kvmnet:///[ROOT]")
    fail(virterror.VIR_ERR_NO_CONNECT, virterror.VIR_FROM_NONE,
         f"no connection driver available for {uri}; {why}")


def _connect(uri: str | None, readonly: bool) -> virConnect:
    root = None if not uri else _root(uri)
    with translated(virterror.VIR_FROM_NONE):
        api = kvmnet.open(root)
    return virConnect(api, uri or api.getURI(), readonly)


def open(name: str | None = None) -> virConnect:  # libvirt-python's name
    """A read-write connection (``libvirt.open``)."""
    return _connect(name, readonly=False)


def openReadOnly(name: str | None = None) -> virConnect:
    """A connection that refuses every change with ``VIR_ERR_OPERATION_DENIED``."""
    return _connect(name, readonly=True)


def openAuth(uri: str | None, auth: Any = None, flags: int = 0) -> virConnect:
    """``auth`` is not needed (no remote daemon); ``VIR_CONNECT_RO`` opens read-only."""
    return _connect(uri, readonly=bool(flags & compat_constants.VIR_CONNECT_RO))


def getVersion(name: str | None = None) -> int:
    """The libvirt version kvmnet's answers follow (9.0.0)."""
    return LIBVIRT_VERSION


def virInitialize() -> int:
    return 0


def virEventRegisterDefaultImpl() -> int:
    """Accepted: kvmnet's one loop needs no setting up (:func:`virEventRunDefaultImpl`)."""
    return 0


def virEventRunDefaultImpl() -> int:
    """Deliver the network events waiting for this process's callbacks (one iteration)."""
    return LOOP.run_once()


def _not_supported(name: str) -> Callable[..., NoReturn]:
    def call(*_args: Any, **_kwargs: Any) -> NoReturn:
        unsupported(name, "kvmnet's event loop is the default one; it takes no custom handles "
                          "or timeouts")

    call.__name__ = name
    return call


def __getattr__(name: str) -> Callable[..., NoReturn]:
    """libvirt-python's module functions that kvmnet does not implement: NO_SUPPORT."""
    if name in names.MODULE:
        return _not_supported(name)
    raise AttributeError(f"module 'libvirt' (kvmnet) has no attribute {name!r}")


def exports() -> dict[str, Any]:
    """The ``libvirt`` module's names: classes, functions and every ``VIR_*`` constant."""
    public = (
        getVersion, libvirtError, open, openAuth, openReadOnly, registerErrorHandler,
        virConnect, virDomain, virEventRegisterDefaultImpl, virEventRunDefaultImpl,
        virGetLastError, virGetLastErrorCode, virGetLastErrorDomain, virGetLastErrorMessage,
        virInitialize, virInterface, virNetwork, virNetworkPort, virNodeDevice,
        virResetLastError,
    )
    out: dict[str, Any] = {obj.__name__: obj for obj in public}
    out.update(constants())
    return out


# the constants are this module's too (kvmnet.compat.module is libvirt under its own name)
globals().update(constants())
