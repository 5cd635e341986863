"""What a document parser read, and what it left unread: strictness derived from the parsers.

libvirt's parsers skip elements and attributes they do not know, so a misspelt
``<forwad mode='nat'/>`` silently defines an isolated network; ``virsh net-define
--validate`` catches it by checking the document against libvirt's RelaxNG schema first.
kvmnet keeps no second description of the format to drift from the parser: while a parser
runs inside :func:`reading`, the attribute and child readers it uses (:mod:`.values`) note
every attribute name and child tag it asks each element for.  Whatever the document holds
beyond that is what the parser ignored, and :func:`unread` lists it with its path
(``/network/forwad``, ``/network/ip/@adress``).

Rules of the walk:

* An attribute is known when the parser asked its element for it, a child element when the
  parser asked its parent for that tag (present or not: asking is knowing).
* An element the parser found but never looked into (asked nothing of it: libvirt's parser
  skips it in this context, such as ``<bootp>`` inside an IPv6 ``<ip>``) is known, and so is
  everything inside it.
* :func:`took_whole` marks content kept as it is (``<metadata>``: any namespaced content).
* Comments and processing instructions are not elements; namespace declarations are not
  attributes.  A child in another namespace is known only when the parser asked for it by
  its namespaced tag (``dnsmasq:options``): libvirt drops elements of namespaces it has no
  parser for (its schema has no place for them outside ``<metadata>``), so they are
  unknown here too -- refused by ``--validate``, a warning otherwise.
"""
from __future__ import annotations

import _thread  # not threading or contextvars: this sits on net-define's cold-start path

from kvmnet.errors import KvmnetError, SchemaError
from kvmnet.xmlio.expat_tree import split_tag

TYPE_CHECKING = False  # typing costs milliseconds of a cold start: annotations only
if TYPE_CHECKING:
    from collections.abc import Callable

    from kvmnet.xmlio.expat_tree import Node


class Reading:
    """What a parser asked each element for (elements are keys: lxml keeps the same proxy
    object for a node while a reference to it lives, so identity is stable here)."""

    __slots__ = ("asked", "whole")

    def __init__(self) -> None:
        #: element -> the attribute names and child tags (``@name`` / ``tag``) asked for
        self.asked: dict[Node, set[str]] = {}
        self.whole: set[Node] = set()


class _Current(_thread._local):
    """The record of the parse running in this thread, if one is being recorded."""

    rec: Reading | None = None


_CURRENT = _Current()


def asked(el: Node, key: str) -> None:
    """Note that the parser asked ``el`` for ``key`` (``@attr`` or a child tag)."""
    rec = _CURRENT.rec
    if rec is not None:
        rec.asked.setdefault(el, set()).add(key)


def looked_into(el: Node) -> None:
    """Note that the parser read ``el`` itself (its text): its attributes now count."""
    rec = _CURRENT.rec
    if rec is not None:
        rec.asked.setdefault(el, set())


def took_whole(el: Node) -> None:
    """Note that the parser keeps ``el``'s content as it is: nothing inside is unknown."""
    rec = _CURRENT.rec
    if rec is not None:
        rec.whole.add(el)


class reading:  # lower case: used like a function, ``with strict.reading() as rec:``
    """Record what the parsers called inside read (a nested one shares the outer record)."""

    def __init__(self) -> None:
        self._outer = _CURRENT.rec

    def __enter__(self) -> Reading:
        if self._outer is not None:
            return self._outer
        _CURRENT.rec = Reading()
        return _CURRENT.rec

    def __exit__(self, *exc: object) -> None:
        _CURRENT.rec = self._outer


def _name(el: Node) -> str:
    namespace, local = split_tag(str(el.tag))
    if namespace is None:
        return local
    return f"{el.prefix}:{local}" if el.prefix else f"{{{namespace}}}{local}"


def _attr_name(key: str, el: Node) -> str:
    namespace, local = split_tag(key)
    if namespace is None:
        return key
    prefix = next((p for p, ns in el.nsmap.items() if ns == namespace and p), None)
    return f"{prefix}:{local}" if prefix else key


def unread(root: Node, rec: Reading) -> list[str]:
    """Paths of the elements and attributes under ``root`` that the parser did not ask for,
    in document order (an unknown element is listed once, not with its content)."""
    out: list[str] = []

    def visit(el: Node, path: str) -> None:
        if el in rec.whole:
            return
        keys = rec.asked.get(el)
        if keys is None:
            return  # found but skipped by the parser: ignored as a whole, as libvirt does
        for raw in el.attrib:
            key = raw.decode() if isinstance(raw, bytes) else raw
            if f"@{key}" not in keys:
                out.append(f"{path}/@{_attr_name(key, el)}")
        kids = [c for c in el if isinstance(c.tag, str)]
        counts: dict[str, int] = {}
        for c in kids:
            counts[str(c.tag)] = counts.get(str(c.tag), 0) + 1
        seen: dict[str, int] = {}
        for c in kids:
            tag = str(c.tag)
            seen[tag] = seen.get(tag, 0) + 1
            step = _name(c) + (f"[{seen[tag]}]" if counts[tag] > 1 else "")
            if tag in keys:
                visit(c, f"{path}/{step}")
            else:
                out.append(f"{path}/{step}")

    visit(root, f"/{_name(root)}")
    return out


def describe(path: str) -> str:
    """What an unknown path is: ``unknown element <forwad> at /network/forwad``."""
    last = path.rsplit("/", 1)[1]
    if last.startswith("@"):
        return f"unknown attribute '{last[1:]}' at {path}"
    return f"unknown element <{last.split('[')[0]}> at {path}"


def mention_ignored(exc: KvmnetError, unknown: list[str]) -> KvmnetError:
    """``exc``, the document's error, with what the parser ignored added to its one line: a
    misspelling is often the cause, and the command fails, so no warnings come before it."""
    ignored = ", ".join(unknown)
    exc.message = f"{exc.message} (ignored as unknown: {ignored}; a misspelling?)"
    exc.args = (exc.message,)
    return exc


def settle(unknown: list[str], what: str, *, validate: bool,
           warn: Callable[[str], None] | None) -> None:
    """The one policy for what a parser left unread (network and interface documents alike).

    ``validate`` (``--validate``, ``net-edit``): refuse the document, naming every unknown
    element and attribute.  Otherwise keep libvirt's behaviour, ignoring them, but ``warn``
    once about each, so that a misspelling does not pass unseen.
    """
    if not unknown:
        return
    if validate:
        raise SchemaError([describe(p) for p in unknown], what)
    if warn is not None:
        for p in unknown:
            warn(f"{what}: ignoring {describe(p)}, as libvirt does; check its spelling, "
                 "or use --validate to refuse it")
