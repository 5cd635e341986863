"""``NamedTuple`` class syntax without importing :mod:`typing`.

Importing typing costs ~4.5 ms, a twentieth of a cold ``net-start`` or ``net-destroy``, and
the modules on that path need nothing from it at run time but ``NamedTuple``.  They import
the real one for type checkers and this stand-in otherwise::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from kvmnet.tuples import NamedTuple

The stand-in builds the same thing, a :func:`collections.namedtuple` (fields in annotation
order, trailing defaults), and copies the class's docstring and any methods onto it.
"""
from __future__ import annotations

import collections

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CLASS_KEYS = frozenset({"__module__", "__qualname__", "__annotations__", "__dict__",
                         "__weakref__", "__orig_bases__"})


class _Maker(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if not bases:  # NamedTuple itself
            return super().__new__(mcls, name, bases, namespace)
        fields = list(namespace.get("__annotations__", {}))
        defaults = [namespace[f] for f in fields if f in namespace]
        cls = collections.namedtuple(name, fields, defaults=defaults,  # type: ignore[misc]
                                     module=namespace.get("__module__"))
        cls.__qualname__ = namespace.get("__qualname__", name)
        cls.__annotations__ = dict(namespace.get("__annotations__", {}))
        for key, value in namespace.items():
            if key not in _CLASS_KEYS and key not in fields:
                setattr(cls, key, value)
        return cls


class NamedTuple(metaclass=_Maker):
    """Subclass with annotated fields, as :class:`typing.NamedTuple`."""
