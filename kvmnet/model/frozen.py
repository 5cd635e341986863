"""``@frozen``: immutable record classes that cost nothing to define.

``dataclasses`` builds each class's ``__init__``, ``__eq__``, ``__hash__``,
``__repr__`` and ``__setattr__`` by compiling generated source: measured here,
~1 ms per class, 25-35 ms for the network model alone, which every cold
``kvmnet`` command that parses a document paid (plus ~10 ms to import
``dataclasses`` and ``inspect``).  ``@frozen`` gives the same behaviour with
shared, generic methods; type checkers see a frozen dataclass through
:pep:`681` (``dataclass_transform``).  Use :func:`replace` for a changed copy.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_kwargs):  # typing's, without importing typing
        return lambda f: f

_MISSING = object()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record (like dataclasses.FrozenInstanceError)."""


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    names: tuple[str, ...] = cls.__frozen_fields__
    if len(args) > len(names):
        raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments "
                        f"but {len(args)} were given")
    values = dict(zip(names, args))
    for key, value in kwargs.items():
        if key in values:
            raise TypeError(f"{cls.__name__}() got multiple values for argument '{key}'")
        if key not in cls.__frozen_defaults__ and key not in names:
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument '{key}'")
        values[key] = value
    setter = object.__setattr__
    defaults = cls.__frozen_defaults__
    for name in names:
        value = values.get(name, _MISSING)
        if value is _MISSING:
            value = defaults.get(name, _MISSING)
            if value is _MISSING:
                raise TypeError(f"{cls.__name__}() missing required argument: '{name}'")
        setter(self, name, value)


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, n) for n in type(self).__frozen_fields__)


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        result: bool = NotImplemented
        return result
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _repr(self: Any) -> str:
    cls = type(self)
    inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in cls.__frozen_fields__)
    return f"{cls.__qualname__}({inner})"


def _setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field '{name}'")


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field '{name}'")


def _reduce(self: Any) -> tuple[Any, ...]:
    return (_rebuild, (type(self), _values(self)))


def _rebuild(cls: type[T], values: tuple[Any, ...]) -> T:
    return cls(*values)


@dataclass_transform(frozen_default=True)
def frozen(cls: type[T]) -> type[T]:
    """Make ``cls`` an immutable record of its annotated class attributes (in MRO order)."""
    names: list[str] = []
    defaults: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        # the class's own annotations, not inherited ones; inspect.get_annotations would cost
        # milliseconds of import on every cold command
        own = klass.__dict__.get("__annotations__", {})  # noqa: RUF063
        for name in own:
            if name.startswith("__") or _is_classvar(own[name]):
                continue
            if name not in names:
                names.append(name)
            if name in klass.__dict__:
                defaults[name] = klass.__dict__[name]
    for name in names:  # the defaults live in __frozen_defaults__, not on the class
        if name in cls.__dict__:
            delattr(cls, name)
    # setattr: type[T] has none of these attributes for mypy
    setattr(cls, "__frozen_fields__", tuple(names))  # noqa: B010
    setattr(cls, "__frozen_defaults__", defaults)  # noqa: B010
    setattr(cls, "__match_args__", tuple(names))  # noqa: B010
    for attr, func in (("__init__", _init), ("__eq__", _eq), ("__hash__", _hash),
                       ("__repr__", _repr), ("__setattr__", _setattr),
                       ("__delattr__", _delattr), ("__reduce__", _reduce)):
        if attr not in cls.__dict__ or attr in ("__setattr__", "__delattr__", "__hash__"):
            setattr(cls, attr, func)
    return cls


def _is_classvar(annotation: object) -> bool:
    return isinstance(annotation, str) and annotation.startswith(("ClassVar", "typing.ClassVar"))


def replace(obj: T, **changes: Any) -> T:
    """A copy of record ``obj`` with some fields changed (dataclasses.replace's contract)."""
    cls = type(obj)
    names: tuple[str, ...] = cls.__frozen_fields__  # type: ignore[attr-defined]
    for key in changes:
        if key not in names:
            raise TypeError(f"{cls.__name__} has no field '{key}'")
    return cls(**{n: changes[n] if n in changes else getattr(obj, n) for n in names})


def fields(obj_or_cls: Any) -> tuple[str, ...]:
    """The field names, in order."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    names: tuple[str, ...] = cls.__frozen_fields__  # type: ignore[attr-defined]
    return names


def is_frozen(obj: object) -> bool:
    return hasattr(type(obj), "__frozen_fields__")

