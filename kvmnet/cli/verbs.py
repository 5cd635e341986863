"""What the verb modules share: registering a verb's parser, reading an input file.

Below every verb module (:mod:`kvmnet.cli.main` imports it, never the other way), so
that the verb modules do not import each other or :mod:`kvmnet.cli.main`.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.errors import InvalidArgError, XMLParseError, quote

if TYPE_CHECKING:
    from typing import Any

# argparse is imported where a parser is built: the plain net-start/net-destroy build none.

#: --validate of net-define, net-create and iface-define (virsh's option, virsh's meaning).
VALIDATE_HELP = ("refuse elements and attributes that kvmnet does not know (a misspelling); "
                 "without it they are ignored, as libvirt ignores them, with a warning each")


def read_input(path: str, what: str = "file") -> bytes:
    """Read an XML file the way virsh does (virFileReadAll with a size cap)."""
    from kvmnet.api import MAX_XML_BYTES

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_XML_BYTES + 1)
    except FileNotFoundError:
        raise InvalidArgError(f"cannot read {what} {quote(path)}: no such file; check the path") from None
    except IsADirectoryError:
        raise InvalidArgError(f"cannot read {what} {quote(path)}: it is a directory, not an XML "
                              "file") from None
    except PermissionError:
        raise InvalidArgError(f"cannot read {what} {quote(path)}: permission denied") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidArgError(f"cannot read {what} {quote(path)}: {reason}") from None
    if len(data) > MAX_XML_BYTES:
        raise XMLParseError(f"{what} {quote(path)} is larger than {MAX_XML_BYTES} bytes, the most "
                            "kvmnet accepts for a network document; check that this is the "
                            "right file")
    return data


class Skipped:
    """Stands in for the parser of a verb that was not asked for.

    Building every argparse sub-parser costs several milliseconds (each one runs
    gettext lookups), a noticeable part of a cold ``kvmnet net-list``; when the
    verb is known, only its parser is built and the others' options go nowhere.
    """

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        pass


def verb_maker(sub: Any, only: str | None, verbs: tuple[str, ...]) -> Any:
    """The ``verb(name, func, help)`` that command modules use to add their parsers."""

    def verb(name: str, func: Any, help_text: str) -> Any:
        import argparse

        assert name in verbs, name
        if only is not None and name != only:
            return Skipped()
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    return verb
