"""Typed attribute readers shared by the document parsers.

The element readers (:func:`children`, :func:`first_child`, :func:`attr`, :func:`text_of`)
are the only way the parsers look at a document, so that :mod:`.strict` learns from them what
a parser knows.  Each value reader takes the raw attribute text, the element path and the attribute
name, and returns the value in the canonical text libvirt would format (IP
addresses compressed, MACs lower-case, UUIDs dashed) or raises
:class:`XMLParseError` naming the element and saying how to fix it.
"""
from __future__ import annotations

import ipaddress
import re

from kvmnet.errors import XMLParseError, quote
from kvmnet.xmlio.canon import mac_form, uuid_form
from kvmnet.xmlio.strict import asked, looked_into

TYPE_CHECKING = False  # typing costs milliseconds of a cold start: annotations only
if TYPE_CHECKING:
    from typing import TypeVar

    from kvmnet.xmlio.expat_tree import Node

    _N = TypeVar("_N", bound=Node)

_UNSIGNED = re.compile(r"^[0-9]+$")
_C_UNSIGNED = re.compile(r"^(0[xX][0-9a-fA-F]+|[0-9]+)$")


def child_path(parent: str, tag: str, index: int | None = None) -> str:
    """Path of a child element; ``index`` is 1-based among same-named siblings."""
    return f"{parent}/{tag}" if index is None else f"{parent}/{tag}[{index}]"


def children(el: _N, tag: str) -> list[_N]:
    """Direct children named ``tag`` (no namespace, or ``{ns}local``; comments skipped)."""
    asked(el, tag)
    # an element's children come from its own reader's tree (mypy sees only the union)
    return [c for c in el if isinstance(c.tag, str) and c.tag == tag]  # type: ignore[misc]


def first_child(el: _N, tag: str) -> _N | None:
    found = children(el, tag)
    return found[0] if found else None


def text_of(el: Node) -> str:
    """XPath ``string(.)``: all descendant text joined."""
    looked_into(el)
    return "".join(str(t) for t in el.itertext())


def known(el: Node, *names: str) -> None:
    """Attributes (``@name``) and child tags that the parser knows and leaves out on purpose,
    as libvirt does (live-only counters such as ``connections``): not unknown to
    :mod:`.strict`."""
    for name in names:
        asked(el, name)


def attr(el: Node, name: str) -> str | None:
    asked(el, "@" + name)
    value = el.get(name)
    return None if value is None else str(value)


def ip_address(value: str, path: str, name: str, family: str | None = None) -> str:
    """An IPv4 or IPv6 address in canonical (compressed, lower-case) form."""
    text = value.strip()
    try:
        if "%" in text:
            raise ValueError("scoped addresses are not allowed")
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise XMLParseError(
            f"invalid IP address {quote(value)} in attribute '{name}'; write a dotted-quad IPv4 "
            "address such as 192.168.122.1 or an IPv6 address such as 2001:db8::1",
            path,
        ) from None
    if family == "ipv4" and addr.version != 4:
        raise XMLParseError(f"attribute '{name}' must be an IPv4 address, not {quote(value)}", path)
    if family == "ipv6" and addr.version != 6:
        raise XMLParseError(f"attribute '{name}' must be an IPv6 address, not {quote(value)}", path)
    return canonical_ip(addr)


def canonical_ip(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The text glibc's inet_ntop (hence libvirt) writes for ``addr``.

    Python agrees with glibc except for IPv4-compatible and IPv4-mapped IPv6
    addresses, which glibc writes with a dotted-quad tail.
    """
    if addr.version == 4:
        return str(addr)
    packed = addr.packed
    words = [int.from_bytes(packed[i:i + 2], "big") for i in range(0, 16, 2)]
    tail = str(ipaddress.IPv4Address(packed[12:]))
    if words[:6] == [0] * 6 and words[6] != 0:
        return f"::{tail}"
    if words[:5] == [0] * 5 and words[5] == 0xFFFF:
        return f"::ffff:{tail}"
    return str(addr)


def ip_version(addr: str | None) -> int | None:
    """4 or 6 for a canonical address string, None when absent or unparsable."""
    if addr is None:
        return None
    try:
        return ipaddress.ip_address(addr).version
    except ValueError:
        return None


def mac_address(value: str, path: str, name: str = "address", *, unicast: bool = True) -> str:
    """A MAC address as libvirt parses it (1-2 hex digits per byte), lower-cased."""
    form = mac_form(value)
    if form is None:
        raise XMLParseError(
            f"invalid MAC address {quote(value)} in attribute '{name}'; write six hex bytes "
            "separated by colons, e.g. 52:54:00:12:34:56",
            path,
        )
    if unicast and int(form[:2], 16) & 1:
        raise XMLParseError(
            f"MAC address {quote(value)} in attribute '{name}' is a multicast address (lowest bit "
            "of the first byte is set); use a unicast address, e.g. 52:54:00:xx:xx:xx",
            path,
        )
    return form


def is_mac(value: str) -> bool:
    return mac_form(value) is not None


def uuid_text(value: str, path: str, name: str = "uuid") -> str:
    """A UUID with or without dashes, formatted as libvirt does (lower-case, dashed)."""
    form = uuid_form(value)
    if form is None:
        raise XMLParseError(
            f"malformed UUID {quote(value)} in {name}; write 32 hex digits, optionally as "
            "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
            path,
        )
    return form


def unsigned(value: str, path: str, name: str, *, maximum: int | None = None,
             minimum: int = 0, base: int = 10) -> int:
    """A non-negative integer; ``base=0`` accepts 0x.. hex as C's strtoul does."""
    text = value.strip()
    try:
        if base == 10:
            if not _UNSIGNED.match(text):
                raise ValueError(text)
            number = int(text, 10)
        else:
            if not _C_UNSIGNED.match(text):
                raise ValueError(text)
            # C's base 0: 0x.. is hex, a leading 0 is octal, else decimal.
            if text.lower().startswith("0x"):
                number = int(text, 0)
            elif len(text) > 1 and text.startswith("0"):
                number = int(text[1:], 8)
            else:
                number = int(text, 10)
    except ValueError:
        raise XMLParseError(
            f"invalid number {quote(value)} in attribute '{name}'; expected a non-negative integer",
            path,
        ) from None
    if number < minimum or (maximum is not None and number > maximum):
        limit = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise XMLParseError(
            f"value {number} of attribute {name!r} is out of range; allowed: {limit}", path
        )
    return number


def yes_no(value: str, path: str, name: str) -> bool:
    """libvirt's tristate bool: only 'yes' or 'no'."""
    if value == "yes":
        return True
    if value == "no":
        return False
    raise XMLParseError(f"invalid value {quote(value)} for attribute '{name}'; use 'yes' or 'no'", path)


def yes_no_attr(el: Node, name: str, path: str) -> bool | None:
    """An optional yes/no attribute: None when absent."""
    text = attr(el, name)
    return None if text is None else yes_no(text, path, name)


def on_off(value: str, path: str, name: str) -> bool:
    if value == "on":
        return True
    if value == "off":
        return False
    raise XMLParseError(f"invalid value {quote(value)} for attribute '{name}'; use 'on' or 'off'", path)


def choice(value: str, allowed: tuple[str, ...], path: str, name: str) -> str:
    if value not in allowed:
        raise XMLParseError(
            f"unknown value {quote(value)} for attribute '{name}'; expected one of: "
            + ", ".join(allowed),
            path,
        )
    return value


def no_line_breaks(value: str, path: str, what: str) -> str:
    """Refuse CR/LF: the value ends up on one line of dnsmasq's config (CVE-2026-61477)."""
    if "\n" in value or "\r" in value:
        raise XMLParseError(
            f"{what} contains a line break; line breaks are not allowed because the value "
            "is written into dnsmasq's configuration — remove the line break (&#10;/&#13;)",
            path,
        )
    return value
