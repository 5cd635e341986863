"""The step base, its undo counterpart, and the registry that maps a kind to its class.

A **step** is one change to the host, as plain data::

    @register
    class CreateBridge(Step):
        kind = "link.bridge"             # the registry key; "<module>.<name>" or "<module>"
        section = "links"                # the net-plan section it prints in
        fields = ("name", "stp", "delay", "mtu", "mac")
        name: str                        # annotations for mypy; values come from fields
        ...
        def describe(self) -> str:       # the shell form a person would type
        def undo_record(self, ctx):      # {"kind": UNDO KIND, ...} to journal first, or None
        def apply(self, ctx) -> None:    # make the change through ctx.host / ctx.nl

An **undo kind** says how to take a recorded change back, from the record alone (a later
process has no definition)::

    @register_undo
    class DeleteLink(Undo):
        kind = "link"
        phase = KERNEL                   # when, in a teardown: see kvmnet.engine.executor.undo
        @staticmethod
        def undo(entry, ctx) -> None:    # idempotent: "already gone" is fine
        @staticmethod
        def describe(entry) -> str:

Steps and undo records of a kind ``"m.x"`` (or ``"m"``) live in ``kvmnet/engine/steps/m.py``;
:func:`step_class` and :func:`undo_class` import that module the first time they meet the
kind, so adding a kind is one new (or edited) module there and nothing else.

Plain classes, no dataclasses or typing at run time: the cold ``net-start`` builds its steps
from the cached program's JSON.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    from kvmnet.engine.executor import Context

    S = TypeVar("S", bound="type[Step]")
    U = TypeVar("U", bound="type[Undo]")

# Undo phases, in the order a teardown runs them (kvmnet.engine.executor.undo).
BACKGROUND = "background"  # in a thread while the kernel work runs (dnsmasq, nft)
KERNEL = "kernel"  # in the caller's thread, through the open netlink (delete links)
LAST = "last"  # once everything else is gone (files a process may still read)
KEEP = "keep"  # recorded for information, deliberately left (shared sysctls)

STEPS: dict[str, type[Step]] = {}
UNDOS: dict[str, type[Undo]] = {}


class Step:
    """One typed change to the host; subclasses list their ``fields`` (all JSON values)."""

    kind = ""
    section = ""
    fields: tuple[str, ...] = ()
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **values: Any) -> None:
        for name in self.fields:
            if name in values:
                setattr(self, name, values.pop(name))
            elif name in self.defaults:
                value = self.defaults[name]
                setattr(self, name, list(value) if isinstance(value, list) else value)
            else:
                raise TypeError(f"step {self.kind}: missing field {name!r}")
        if values:
            raise TypeError(f"step {self.kind}: unknown fields {sorted(values)}")

    def to_json(self) -> dict[str, Any]:
        data = {"kind": self.kind}
        for name in self.fields:
            data[name] = getattr(self, name)
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Step:
        values = dict(data)
        return step_class(values.pop("kind"))(**values)

    def describe(self) -> str:
        """The shell form a person would type to make this change (may span lines)."""
        raise NotImplementedError

    def sections(self) -> list[tuple[str, str]]:
        """(net-plan section, text) pairs; one step may feed several (files by role)."""
        return [(self.section, self.describe())]

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        """What to journal before applying (``{"kind": UNDO KIND, ...}``), or None when the
        change needs no undo (it goes with something else, e.g. an address with its link).
        May read the host (the value a shared sysctl had)."""
        return None

    def apply(self, ctx: Context) -> None:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_json() == other.to_json()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.describe())

    def __repr__(self) -> str:
        return f"<step {self.describe().splitlines()[0] if self.describe() else self.kind}>"


class Undo:
    """How to take back a journalled change of one undo kind, from its record alone."""

    kind = ""
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        raise NotImplementedError

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        raise NotImplementedError


def register(cls: S) -> S:
    """Class decorator: make a step kind known to :func:`step_class`."""
    STEPS[cls.kind] = cls
    return cls


def register_undo(cls: U) -> U:
    """Class decorator: make an undo kind known to :func:`undo_class`."""
    UNDOS[cls.kind] = cls
    return cls


def _load(kind: str) -> None:
    module = kind.partition(".")[0]
    if module.isidentifier():
        try:
            __import__(f"kvmnet.engine.steps.{module}")
        except ModuleNotFoundError:
            pass


def step_class(kind: str) -> type[Step]:
    cls = STEPS.get(kind)
    if cls is None:
        _load(kind)
        cls = STEPS.get(kind)
    if cls is None:
        from kvmnet.errors import OperationInvalidError

        raise OperationInvalidError(f"unknown step kind {kind!r}: a program or journal written by "
                            "another kvmnet version; run 'kvmnet net-destroy' with that version")
    return cls


def undo_class(kind: str) -> type[Undo] | None:
    """The undo handler of ``kind``, or None for a kind this kvmnet does not know."""
    cls = UNDOS.get(kind)
    if cls is None:
        _load(kind)
        cls = UNDOS.get(kind)
    return cls


def from_json(data: dict[str, Any]) -> Step:
    return Step.from_json(data)


def steps_from_json(items: list[dict[str, Any]]) -> tuple[Step, ...]:
    return tuple(Step.from_json(item) for item in items)
