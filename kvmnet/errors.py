"""One error family for kvmnet.

Three failure phases have their own class: :class:`XMLParseError` (with the
element path), :class:`ValidationError` (every problem at once) and
:class:`HostError` (the command and errno).  Each class carries libvirt's
``virErrorNumber`` so that libvirt-python users can call ``get_error_code()``.
The CLI prints ``error: <str(exc)>`` and exits with ``exit_status``.

Every message is one line: :func:`one_line` escapes line breaks and other control
characters wherever a message is made (an error's text, a warning, the CLI's last
resort for errors that are not kvmnet's), and several problems share one line as
``N problems: first; second``.  Values in messages are written with :func:`quote`.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# libvirt's virErrorNumber values that kvmnet raises (include/libvirt/virterror.h; the whole
# enum, for the libvirt-python compatible module, is kvmnet.virterror's, which takes these)
VIR_ERR_INTERNAL_ERROR = 1
VIR_ERR_NO_SUPPORT = 3
VIR_ERR_INVALID_ARG = 8
VIR_ERR_OPERATION_FAILED = 9
VIR_ERR_NO_NAME = 21
VIR_ERR_XML_ERROR = 27
VIR_ERR_XML_DETAIL = 35
VIR_ERR_SYSTEM_ERROR = 38
VIR_ERR_NO_DOMAIN = 42
VIR_ERR_NO_NETWORK = 43
VIR_ERR_OPERATION_INVALID = 55
VIR_ERR_NO_INTERFACE = 57
VIR_ERR_CONFIG_UNSUPPORTED = 67
VIR_ERR_OPERATION_UNSUPPORTED = 84
VIR_ERR_XML_INVALID_SCHEMA = 92
VIR_ERR_NO_NETWORK_PORT = 107


def _escape(ch: str) -> str:
    """repr()'s escape for one character (``\\n``, ``\\x85``, ``\\u2028``)."""
    return repr(ch)[1:-1] if ch != "'" else ch


def one_line(text: str) -> str:
    """``text`` with every line break and control character escaped as repr() writes it.

    str.splitlines() breaks at more than newline (\\r, \\v, \\f, \\x1c-\\x1e, \\x85,
    U+2028, U+2029), and a terminal obeys other control characters (escape sequences), so
    anything that is not printable goes.  Backslashes stay as they are: the result is
    stable when escaped again, and a value that needs an exact reading is quoted with
    :func:`quote` where the message is made.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)


def quote(value: object) -> str:
    """A value for a message: in single quotes, with repr()'s escapes (backslashes too), so
    ``'default\\n  '`` shows what the file holds and never breaks the line."""
    text = str(value)
    if text.isprintable() and "\\" not in text and "'" not in text:
        return f"'{text}'"
    body = repr(text)
    if body.startswith('"'):  # repr chose double quotes because of a '
        body = "'" + body[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
    return body


def problems_line(problems: Sequence[str]) -> str:
    """Several problems in one line: ``N problems: first; second``; one problem as it is."""
    if len(problems) == 1:
        return one_line(problems[0])
    return f"{len(problems)} problems: " + "; ".join(one_line(p) for p in problems)


class KvmnetError(Exception):
    """Root of every error kvmnet raises on purpose."""

    code: int = VIR_ERR_INTERNAL_ERROR
    exit_status: int = 1

    def __init__(self, message: str, *, code: int | None = None) -> None:
        message = one_line(message)
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

    def __init__(self, message: str, path: str | None = None, *, code: int | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message, code=code)


class ValidationError(KvmnetError):
    """The definition parses but breaks semantic rules; lists every problem."""

    code = VIR_ERR_CONFIG_UNSUPPORTED

    def __init__(self, problems: Sequence[str], subject: str | None = None) -> None:
        self.problems = list(problems)
        self.subject = subject
        head = f"{subject}: " if subject else ""
        super().__init__(head + problems_line(self.problems))


class SchemaError(ValidationError):
    """``--validate``: the document holds elements or attributes that kvmnet does not know
    (libvirt: the document does not validate against its RelaxNG schema)."""

    code = VIR_ERR_XML_INVALID_SCHEMA

    def __init__(self, problems: Sequence[str], subject: str | None = None) -> None:
        self.problems = list(problems)
        self.subject = subject
        head = f"{subject} does not validate: " if subject else ""
        KvmnetError.__init__(self, head + problems_line(self.problems) + (
            "; check the spelling, or remove what is not needed (without --validate, "
            "unknown elements and attributes are ignored, as libvirt does)"))


class HostError(KvmnetError):
    """A change on the host failed: names the command (shell form) and errno."""

    code = VIR_ERR_SYSTEM_ERROR

    def __init__(self, message: str, command: str | None = None, errno: int | None = None) -> None:
        self.command = command
        self.errno = errno
        parts = [message]
        if command:
            # A command with a here-document (nft -f - <<'EOF' ...) shows its first line: the
            # whole document would drown the message (``exc.command`` and --debug keep it).
            shown = command if "\n" not in command else command.split("\n", 1)[0] + " ..."
            parts.append(f"(command: {shown}")
            parts[-1] += f", errno {errno})" if errno is not None else ")"
        super().__init__(" ".join(parts))


class HostConflictError(ValidationError):
    """A network cannot start because the host holds what it needs (a subnet routed on another
    interface, its bridge name): libvirt reports these as internal errors, so the code is
    libvirt's, while the message still lists every problem."""

    code = VIR_ERR_INTERNAL_ERROR


class NotFoundError(KvmnetError):
    """No object with that name or UUID."""

    code = VIR_ERR_NO_NETWORK


class DomainNotFoundError(NotFoundError):
    """No guest with that name, UUID or id."""

    code = VIR_ERR_NO_DOMAIN


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


class OvsError(KvmnetError):
    """Open vSwitch refused or failed a change, or is not running (ovs-vsctl's words + the fix)."""

    code = VIR_ERR_OPERATION_FAILED
