"""``libvirtError`` and the one place where kvmnet's errors become libvirt's.

kvmnet's errors already carry libvirt's ``virErrorNumber`` (``get_error_code()``, set where
each mistake is found: :mod:`kvmnet.errors`); :func:`translated` turns them into
``libvirtError`` with that code, the error domain of the object called (a network call fails
in ``VIR_FROM_NETWORK``, as libvirt's network driver does) and level ``VIR_ERR_ERROR``.  The
message stays kvmnet's: it names the object and says what to do.

Like libvirt, the last error is kept per thread (``virGetLastError``), and a handler set with
``registerErrorHandler`` hears of each one.  Unlike libvirt-python, nothing is printed to
stderr when no handler is set: the exception already carries the message.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, NoReturn

from kvmnet.errors import KvmnetError
from kvmnet.virterror import (
    VIR_ERR_ERROR,
    VIR_ERR_NO_SUPPORT,
    VIR_ERR_OPERATION_DENIED,
    VIR_FROM_NONE,
)

#: What libvirt's ``virErrorPtr`` holds, in libvirt-python's order:
#: (code, domain, message, level, str1, str2, str3, int1, int2)
ErrorTuple = tuple[int, int, str, int, str | None, str | None, str | None, int, int]

_last = threading.local()
_handler: list[tuple[Callable[[Any, ErrorTuple], Any], Any]] = []


class libvirtError(Exception):  # libvirt-python's name
    """libvirt-python's exception: ``get_error_code()`` and the other accessors of libvirt's
    error record (None for an error a client raises itself, without a record)."""

    def __init__(self, defmsg: str, *, err: ErrorTuple | None = None) -> None:
        super().__init__(err[2] if err is not None else defmsg)
        self.err = err

    def get_error_code(self) -> int | None:
        return None if self.err is None else self.err[0]

    def get_error_domain(self) -> int | None:
        return None if self.err is None else self.err[1]

    def get_error_message(self) -> str | None:
        return None if self.err is None else self.err[2]

    def get_error_level(self) -> int | None:
        return None if self.err is None else self.err[3]

    def get_str1(self) -> str | None:
        return None if self.err is None else self.err[4]

    def get_str2(self) -> str | None:
        return None if self.err is None else self.err[5]

    def get_str3(self) -> str | None:
        return None if self.err is None else self.err[6]

    def get_int1(self) -> int | None:
        return None if self.err is None else self.err[7]

    def get_int2(self) -> int | None:
        return None if self.err is None else self.err[8]


def fail(code: int, domain: int, message: str) -> NoReturn:
    """Raise libvirtError with libvirt's error record (and tell the handler, as libvirt does)."""
    # libvirt puts its format in str1 and the detail in str2; kvmnet's message is the detail
    err: ErrorTuple = (code, domain, message, VIR_ERR_ERROR, "%s", message, None, -1, -1)
    _last.err = err
    for func, ctx in _handler:
        func(ctx, err)
    raise libvirtError(message, err=err)


@contextmanager
def translated(domain: int) -> Iterator[None]:
    """Run a call of kvmnet's API; its errors leave as libvirtError with libvirt's code."""
    try:
        yield
    except KvmnetError as exc:
        fail(exc.get_error_code(), domain, exc.get_error_message())


def unsupported(what: str, why: str, domain: int = VIR_FROM_NONE) -> NoReturn:
    """libvirt's answer for a call its driver does not implement (``VIR_ERR_NO_SUPPORT``)."""
    fail(VIR_ERR_NO_SUPPORT, domain,
         f"this function is not supported by kvmnet: {what} ({why})")


def denied(call: str, domain: int) -> NoReturn:
    """A write on a read-only connection (openReadOnly): libvirt's error and wording."""
    fail(VIR_ERR_OPERATION_DENIED, domain,
         f"operation forbidden: read only access prevents {call}; open the connection with "
         "libvirt.open() to change things")


class Unsupported:
    """Answers libvirt-python's method names that a class does not implement with a method
    raising ``VIR_ERR_NO_SUPPORT``; other unknown names stay AttributeErrors."""

    #: libvirt-python's method names for this class (kvmnet.compat.names)
    LIBVIRT_METHODS: ClassVar[frozenset[str]] = frozenset()
    #: C name prefix for messages ("virNetwork") and the error domain of this class's calls
    C_PREFIX = "vir"
    ERROR_DOMAIN = VIR_FROM_NONE
    #: why a group of methods is not supported, by method name (default: WHY)
    REASONS: ClassVar[dict[str, str]] = {}
    WHY = "kvmnet manages virtual networking, not this part of libvirt"

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        if name not in type(self).LIBVIRT_METHODS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        cls = type(self)
        c_name = cls.C_PREFIX + name[:1].upper() + name[1:]

        def not_supported(*_args: Any, **_kwargs: Any) -> NoReturn:
            unsupported(c_name, cls.REASONS.get(name, cls.WHY), cls.ERROR_DOMAIN)

        not_supported.__name__ = name
        return not_supported


# -- the module's error functions (libvirt-python's names) ------------------------------------
def registerErrorHandler(f: Callable[[Any, ErrorTuple], Any] | None, ctx: Any) -> int:
    """Set (or with None, clear) the function told of every error: ``f(ctx, err)``."""
    _handler.clear()
    if f is not None:
        _handler.append((f, ctx))
    return 0


def virGetLastError() -> ErrorTuple | None:
    return getattr(_last, "err", None)


def virGetLastErrorCode() -> int:
    err = virGetLastError()
    return 0 if err is None else err[0]


def virGetLastErrorDomain() -> int:
    err = virGetLastError()
    return 0 if err is None else err[1]


def virGetLastErrorMessage() -> str:
    err = virGetLastError()
    return "no error" if err is None else err[2]


def virResetLastError() -> None:
    _last.err = None
