"""``NamedTuple`` class syntax without importing :mod:`typing`.

Importing typing costs ~4.5 ms, a twentieth of a cold ``net-start`` or ``net-destroy``, and
the modules on that path need nothing from it at run time but ``NamedTuple``.  They import
the real one for type checkers and this stand-in otherwise::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from kvmnet.tuples import NamedTuple

The stand-in builds what :func:`collections.namedtuple` builds for the uses here (fields in
annotation order, trailing defaults, ``_fields``, ``_replace``, ``_asdict``, ``__match_args__``,
its ``repr``, pickling),
a tuple subclass with a property per field, and copies the class's docstring and methods onto
it.  Not namedtuple itself: ``collections`` is ~1.5 ms more of every cold ``net-start`` and
``net-destroy`` on the lab machine, which need nothing else from it.
"""
from __future__ import annotations

from _operator import itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CLASS_KEYS = frozenset({"__module__", "__qualname__", "__annotations__", "__dict__",
                         "__weakref__", "__orig_bases__"})


class _Maker(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if not bases:  # NamedTuple itself
            return super().__new__(mcls, name, bases, namespace)
        fields = tuple(namespace.get("__annotations__", {}))
        defaults = {f: namespace[f] for f in fields if f in namespace}

        def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
            if len(args) > len(fields):
                raise TypeError(f"{name} takes {len(fields)} arguments, {len(args)} given")
            values = list(args)
            for field in fields[len(args):]:
                if field in kwargs:
                    values.append(kwargs.pop(field))
                elif field in defaults:
                    values.append(defaults[field])
                else:
                    raise TypeError(f"{name}() missing required argument: {field!r}")
            if kwargs:
                raise TypeError(f"{name}() got an unexpected or repeated keyword argument "
                                f"{next(iter(kwargs))!r}")
            return tuple.__new__(cls, values)

        def __repr__(self: tuple[Any, ...]) -> str:
            inner = ", ".join(f"{f}={v!r}" for f, v in zip(fields, self, strict=True))
            return f"{type(self).__name__}({inner})"

        def __getnewargs__(self: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(self)

        def _replace(self: tuple[Any, ...], **changes: Any) -> Any:
            values = [changes.pop(f, v) for f, v in zip(fields, self, strict=True)]
            if changes:
                raise ValueError(f"Got unexpected field names: {list(changes)!r}")
            return tuple.__new__(type(self), values)

        def _asdict(self: tuple[Any, ...]) -> dict[str, Any]:
            return dict(zip(fields, self, strict=True))

        body: dict[str, Any] = {
            "__slots__": (), "__new__": __new__, "__repr__": __repr__,
            "__getnewargs__": __getnewargs__, "_replace": _replace, "_asdict": _asdict,
            "_fields": fields, "__match_args__": fields,
            "__module__": namespace.get("__module__"),
            "__qualname__": namespace.get("__qualname__", name),
            "__annotations__": dict(namespace.get("__annotations__", {})),
            "__doc__": namespace.get("__doc__") or f"{name}({', '.join(fields)})"}
        for index, field in enumerate(fields):
            body[field] = property(itemgetter(index), doc=f"Alias for field number {index}")
        for key, value in namespace.items():  # the class's own methods win
            if key not in _CLASS_KEYS and key not in fields and key != "__doc__":
                body[key] = value
        return type.__new__(type, name, (tuple,), body)


class NamedTuple(metaclass=_Maker):
    """Subclass with annotated fields, as :class:`typing.NamedTuple`."""
