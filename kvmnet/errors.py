"""One error family for kvmnet.

Three failure phases have their own class: :class:`XMLParseError` (with the
element path), :class:`ValidationError` (every problem at once) and
:class:`HostError` (the command and errno).  Each class carries libvirt's
``virErrorNumber`` so that libvirt-python users can call ``get_error_code()``.
The CLI prints ``error: <str(exc)>`` and exits with ``exit_status``.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# libvirt's virErrorNumber values (include/libvirt/virterror.h)
VIR_ERR_INTERNAL_ERROR = 1
VIR_ERR_NO_SUPPORT = 3
VIR_ERR_INVALID_ARG = 8
VIR_ERR_OPERATION_FAILED = 9
VIR_ERR_XML_ERROR = 27
VIR_ERR_XML_DETAIL = 35
VIR_ERR_SYSTEM_ERROR = 38
VIR_ERR_NO_NETWORK = 43
VIR_ERR_OPERATION_INVALID = 55
VIR_ERR_NO_INTERFACE = 57
VIR_ERR_CONFIG_UNSUPPORTED = 67
VIR_ERR_OPERATION_UNSUPPORTED = 84
VIR_ERR_NO_NETWORK_PORT = 105


class KvmnetError(Exception):
    """Root of every error kvmnet raises on purpose."""

    code: int = VIR_ERR_INTERNAL_ERROR
    exit_status: int = 1

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def get_error_code(self) -> int:
        return self.code

    def get_error_message(self) -> str:
        return self.message


class XMLParseError(KvmnetError):
    """The document is not well-formed, unsafe, or does not fit the format."""

    code = VIR_ERR_XML_ERROR

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class ValidationError(KvmnetError):
    """The definition parses but breaks semantic rules; lists every problem."""

    code = VIR_ERR_CONFIG_UNSUPPORTED

    def __init__(self, problems: Sequence[str], subject: str | None = None) -> None:
        self.problems = list(problems)
        self.subject = subject
        head = f"{subject}: " if subject else ""
        if len(self.problems) == 1:
            text = head + self.problems[0]
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            text = f"{head}{len(self.problems)} problems:\n{lines}"
        super().__init__(text)


class HostError(KvmnetError):
    """A change on the host failed: names the command (shell form) and errno."""

    code = VIR_ERR_SYSTEM_ERROR

    def __init__(self, message: str, command: str | None = None, errno: int | None = None) -> None:
        self.command = command
        self.errno = errno
        parts = [message]
        if command:
            parts.append(f"(command: {command}")
            parts[-1] += f", errno {errno})" if errno is not None else ")"
        super().__init__(" ".join(parts))


class NotFoundError(KvmnetError):
    """No object with that name or UUID."""

    code = VIR_ERR_NO_NETWORK


class ConflictError(KvmnetError):
    """The request clashes with something that exists (name/UUID, subnet, port)."""

    code = VIR_ERR_OPERATION_FAILED


class OperationInvalidError(KvmnetError):
    """The object is in the wrong state for this operation (e.g. already active)."""

    code = VIR_ERR_OPERATION_INVALID


class InvalidArgError(KvmnetError):
    """An argument (not a document) is malformed: a name, a flag combination."""

    code = VIR_ERR_INVALID_ARG


class UnsupportedError(KvmnetError):
    """The request is valid but this host or kvmnet cannot do it."""

    code = VIR_ERR_OPERATION_UNSUPPORTED


def join_problems(problems: Iterable[str]) -> list[str]:
    """De-duplicate problems while keeping their order."""
    seen: dict[str, None] = {}
    for p in problems:
        seen.setdefault(p, None)
    return list(seen)
