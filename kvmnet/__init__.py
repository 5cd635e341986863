"""kvmnet: libvirt-style virtual networking for KVM hosts, without a daemon.

``kvmnet.open()`` returns a :class:`~kvmnet.api.Connection` that a
libvirt-python user will recognise.  Errors are re-exported here.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds of start-up for every kvmnet process
from kvmnet.errors import (
    ConflictError,
    HostError,
    InvalidArgError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
    UnsupportedError,
    ValidationError,
    XMLParseError,
)
from kvmnet.version import __version__

if TYPE_CHECKING:
    from kvmnet.api import Connection

__all__ = [
    "ConflictError",
    "HostError",
    "InvalidArgError",
    "KvmnetError",
    "NotFoundError",
    "OperationInvalidError",
    "UnsupportedError",
    "ValidationError",
    "XMLParseError",
    "__version__",
    "open",
]


def open(root: str | None = None) -> Connection:
    """Open a connection to the kvmnet state under ``root`` (default ``$KVMNET_ROOT`` or ``/``)."""
    from kvmnet.api import Connection

    return Connection(root)
