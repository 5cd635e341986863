"""kvmnet's loggers, without importing :mod:`logging` on the command-line hot path.

Every host change is logged at debug level in the shell form a person would type.
Importing :mod:`logging` costs ~10 ms here (traceback, tokenize, string, weakref),
a tenth of a cold ``net-destroy``.  A debug or info record can only go somewhere
once somebody configured logging, and configuring it means importing it first;
so while :mod:`logging` is not imported, :meth:`Logger.debug` and
:meth:`Logger.info` drop the record, exactly as an unconfigured root logger
would.  Warnings and errors always go through :mod:`logging` (its last-resort
handler prints them even unconfigured).  ``kvmnet --debug`` configures logging.
"""
from __future__ import annotations

import sys

# typing.TYPE_CHECKING without importing typing (mypy treats any TYPE_CHECKING name so)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging


class Logger:
    """The subset of :class:`logging.Logger` that kvmnet uses, resolved on first real use."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _real(self) -> logging.Logger:
        import logging

        return logging.getLogger(self.name)

    def debug(self, msg: str, *args: object) -> None:
        if "logging" in sys.modules:
            self._real().debug(msg, *args, stacklevel=2)

    def info(self, msg: str, *args: object) -> None:
        if "logging" in sys.modules:
            self._real().info(msg, *args, stacklevel=2)

    def warning(self, msg: str, *args: object) -> None:
        self._real().warning(msg, *args, stacklevel=2)

    def error(self, msg: str, *args: object) -> None:
        self._real().error(msg, *args, stacklevel=2)


def get(name: str) -> Logger:
    return Logger(name)
