"""Rules for the text values of a definition that reach the kernel, dnsmasq or nft.

One rule per kind of value, each returning a one-line diagnosis or None.  define,
net-update, net-plan and net-start all reach them through
:func:`kvmnet.config.validate.network_problems`; the renderers call the same functions as
their last line of defence, so a value is never accepted by one and refused (or
read differently) by another.

What the rules guard against, read from how the consumers parse:

* dnsmasq reads its configuration line by line (at most 1024 bytes a line; a longer
  line continues as a new option), turns every blank into a space, drops blanks at
  both ends, starts a comment at a '#' that follows a blank, starts a quoted
  string at '"', and splits most values at ','.  Its hosts files read ',' as a
  field separator and bare words such as ``ignore``, ``infinite`` or ``12h`` as
  keywords.
* The kernel takes an interface name of 1-15 bytes without '/', ':' or blanks,
  and not '.' or '..'; nft reads a quoted name ending in '*' as a wildcard, and
  dnsmasq's ``interface=`` splits at ','.  Interface names are therefore kept to
  the letters, digits and the few punctuation marks all three take literally.
* Control characters, including DEL, the C1 range (U+0080..U+009F) and the
  Unicode line and paragraph separators, are refused in every such value: some
  end a line, the others are never meant and make logs and messages lie.
"""
from __future__ import annotations

import ipaddress
import re

from kvmnet.model.network import Dns, Network

#: Linux interface names are at most IFNAMSIZ - 1 bytes.
MAX_IFNAME_BYTES = 15
#: A DNS name in text form (RFC 1035: 255 octets on the wire, 253 as text).
MAX_DNS_NAME = 253
MAX_LABEL = 63
#: dnsmasq reads its configuration with a 1025-byte buffer: one line holds 1024 bytes
#: including the newline, and the rest of a longer line is read as the next option.
MAX_CONF_LINE = 1023

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: What ends a line for someone: dnsmasq, Python's splitlines, a log reader.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_IFNAME_CHAR = re.compile(r"[A-Za-z0-9_.-]")
_LABEL_CHAR = re.compile(r"[A-Za-z0-9_-]")
_COMMENT = re.compile(r"(?:^|\s)#")
_LEASE_WORD = re.compile(r"[0-9]+[smhdwSMHDW]?")
#: Words dnsmasq's dhcp-host reads as keywords instead of a host name.
_DHCP_KEYWORDS = ("ignore", "infinite")


def show(value: str, limit: int = 60) -> str:
    """``value`` quoted for a message, with escapes for anything unprintable."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return repr(text)


def control_problem(value: str, what: str) -> str | None:
    """A control character (or U+2028/U+2029) in ``value``."""
    bad = _CONTROL.search(value)
    if bad is None:
        return None
    char = bad.group()
    if char in _LINE_BREAKS:
        return (f"{what} {show(value)} contains a line break ({char!r}), which would inject a "
                "separate line into the files kvmnet writes (dnsmasq's configuration); remove it")
    return (f"{what} {show(value)} contains the control character {char!r}, which would "
            "corrupt or inject text into the files kvmnet writes; remove it")


def ifname_problem(value: str, what: str) -> str | None:
    """A Linux interface name that the kernel, dnsmasq and nft all read literally."""
    if not value:
        return f"{what} is empty; give the interface name"
    problem = control_problem(value, what)
    if problem is not None:
        return problem
    bad = next((c for c in value if not _IFNAME_CHAR.fullmatch(c)), None)
    if bad is not None:
        return (f"{what} {show(value)} contains {bad!r}; an interface name may hold only "
                "letters, digits, '-', '_' and '.', which the kernel, dnsmasq and nft all read "
                "literally")
    size = len(value.encode())
    if size > MAX_IFNAME_BYTES:
        return (f"{what} {show(value)} is {size} bytes long; Linux interface names hold at "
                f"most {MAX_IFNAME_BYTES} bytes, so choose a shorter name")
    if value in (".", ".."):
        return f"{what} {show(value)} is not a valid interface name; choose another name"
    if value.startswith("-"):
        return (f"{what} {show(value)} starts with '-', which tools read as an option; choose "
                "a name that starts with a letter or digit")
    return None


def bridge_name_problem(value: str) -> str | None:
    """A ``<bridge name>``: an interface name, or a template with one ``%d`` that define fills."""
    what = "<bridge name>"
    if "%d" in value:
        # the template itself must make valid names; the shortest it makes has N=0
        expanded = value.replace("%d", "0", 1)
        if "%" in expanded:
            return (f"{what} {show(value)} holds more than one '%d' or another '%'; a bridge "
                    "name template takes exactly one '%d'")
        problem = ifname_problem(expanded, what)
        return None if problem is None else problem.replace(show(expanded), show(value), 1)
    return ifname_problem(value, what)


def dns_name_problem(value: str, what: str) -> str | None:
    """A DNS name written into dnsmasq's configuration or hosts file."""
    if not value:
        return f"{what} is empty; give a DNS name such as 'example.com'"
    problem = control_problem(value, what)
    if problem is not None:
        return problem
    if not value.isascii():
        return (f"{what} {show(value)} is not ASCII; write an internationalised name in its "
                "ASCII form (xn--...)")
    if len(value) > MAX_DNS_NAME:
        return (f"{what} {show(value)} is {len(value)} bytes long; a DNS name holds at most "
                f"{MAX_DNS_NAME}")
    for label in value.split("."):
        if not label:
            return (f"{what} {show(value)} has an empty label (a leading, trailing or doubled "
                    "'.'); write the name without it")
        bad = next((c for c in label if not _LABEL_CHAR.fullmatch(c)), None)
        if bad is not None:
            return (f"{what} {show(value)} contains {bad!r}; DNS names hold only letters, "
                    "digits, '-' and '_', in labels separated by '.'")
        if len(label) > MAX_LABEL:
            return (f"{what} {show(value)} has a label of {len(label)} bytes; a DNS label holds "
                    f"at most {MAX_LABEL}")
    return None


def dhcp_host_name_problem(value: str, what: str) -> str | None:
    """A host name in dnsmasq's dhcp-hostsfile, where fields are also read as keywords."""
    problem = dns_name_problem(value, what)
    if problem is not None:
        return problem
    if not value[0].isalnum():
        return (f"{what} {show(value)} does not start with a letter or digit; dnsmasq refuses "
                "such DHCP host names")
    if value.lower() in _DHCP_KEYWORDS:
        return (f"{what} {show(value)} is a dnsmasq keyword in a DHCP host entry (it would "
                "not name the host); choose another name")
    if _LEASE_WORD.fullmatch(value):
        return (f"{what} {show(value)} reads as a lease time in a DHCP host entry; a host name "
                "needs a letter that is not a time unit")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return None
    return (f"{what} {show(value)} reads as an IPv4 address in a DHCP host entry; choose a "
            "host name")


def conf_text_problem(value: str, what: str, *, comma: bool, line: str = "") -> str | None:
    """Free text copied into one line of dnsmasq's configuration (TXT data, paths).

    ``comma``: whether ',' keeps its meaning as dnsmasq's separator there (TXT strings)
    or would split the value (paths).  ``line`` is the option prefix, for the length.
    """
    problem = control_problem(value, what)
    if problem is not None:
        return problem
    if '"' in value:
        return (f"{what} {show(value)} contains '\"', which dnsmasq reads as the start of a "
                "quoted string; remove it")
    if _COMMENT.search(value):
        return (f"{what} {show(value)} has a '#' after a blank, where dnsmasq's configuration "
                "starts a comment and drops the rest; remove the blank or the '#'")
    if value != value.strip():
        return (f"{what} {show(value)} starts or ends with a blank, which dnsmasq drops; "
                "remove it")
    if not comma and "," in value:
        return (f"{what} {show(value)} contains ',', which dnsmasq reads as the end of this "
                "value and the start of another field; remove it")
    size = len((line + value).encode())
    if size > MAX_CONF_LINE:
        return (f"{what} makes a dnsmasq configuration line of {size} bytes; dnsmasq reads "
                f"at most {MAX_CONF_LINE} a line, so shorten it")
    return None


def option_problem(value: str, what: str) -> str | None:
    """A ``<dnsmasq:option>`` value: passed verbatim as one line, so it must be one line."""
    problem = control_problem(value, what)
    if problem is not None:
        return problem
    size = len(value.encode())
    if size > MAX_CONF_LINE:
        return (f"{what} is {size} bytes long; dnsmasq reads at most {MAX_CONF_LINE} a line, "
                "so shorten it")
    return None


def bootp_file_problem(value: str, what: str) -> str | None:
    """``dhcp-boot=FILE``: also a leading ``tag:``/``set:``/``net:`` would read as a tag."""
    # the longest line it can make: with the server address after it
    problem = conf_text_problem(value, what, comma=False, line="dhcp-boot=,,255.255.255.255")
    if problem is not None:
        return problem
    if value[:4].lower() in ("tag:", "set:", "net:"):
        return (f"{what} {show(value)} starts with {value[:4]!r}, which dnsmasq reads as a tag, "
                "not a file name; rename the file")
    return None


def _first(*problems: str | None) -> list[str]:
    """The first actual problem, as a list: one diagnosis per value is enough."""
    return [p for p in problems if p is not None][:1]


def value_problems(net: Network) -> list[str]:
    """Every value of ``net`` that the kernel, dnsmasq or nft would refuse or misread."""
    out: list[str] = []
    # the name is part of the file names in dnsmasq's configuration (pid-file=, ...)
    if _COMMENT.search(net.name):
        out.append(f"the network name {show(net.name)} has a '#' after a blank, which would "
                   "cut dnsmasq's file names short; choose another name")
    if '"' in net.name:
        out.append(f"the network name {show(net.name)} contains '\"', which dnsmasq's "
                   "configuration reads as the start of a quoted string in its file names; "
                   "choose another name")
    if net.bridge_name is not None:
        out += _first(bridge_name_problem(net.bridge_name))
    fwd = net.forward
    if fwd is not None:
        devs = [fwd.dev] if fwd.dev else []
        devs += [i.dev for i in fwd.interfaces if i.dev != fwd.dev]
        for dev in devs:
            out += _first(ifname_problem(dev, "forward interface"))
        if fwd.pf is not None:
            out += _first(ifname_problem(fwd.pf, "<pf dev>"))
    if net.domain is not None:
        out += _first(dns_name_problem(net.domain.name, "<domain name>"))
    if net.dns is not None:
        out += _dns_value_problems(net.dns)
    for ip in net.ips:
        where = f"<ip address='{ip.address}'>"
        if ip.tftp_root is not None:
            out += _first(conf_text_problem(ip.tftp_root, f"{where} <tftp root>", comma=False,
                                            line="tftp-root="))
        if ip.dhcp is None:
            continue
        if ip.dhcp.bootp_file is not None:
            out += _first(bootp_file_problem(ip.dhcp.bootp_file, f"{where} <bootp file>"))
        for host in ip.dhcp.hosts:
            if host.name is not None:
                out += _first(dhcp_host_name_problem(host.name, f"{where} DHCP <host name>"))
    for i, opt in enumerate(net.dnsmasq_options, 1):
        out += _first(option_problem(opt, f"<dnsmasq:option> {i}"))
    return out


def _dns_value_problems(dns: Dns) -> list[str]:
    out: list[str] = []
    for fwd in dns.forwarders:
        if fwd.domain is not None:
            out += _first(dns_name_problem(fwd.domain, "DNS <forwarder domain>"))
    for txt in dns.txts:
        out += _first(dns_name_problem(txt.name, "DNS <txt name>"))
        if txt.value is not None:
            out += _first(conf_text_problem(txt.value, f"DNS <txt name={show(txt.name)}> value",
                                            comma=True, line=f"txt-record={txt.name},"))
    for srv in dns.srvs:
        label = f"DNS <srv service={show(srv.service or '')}>"
        for attr in ("service", "protocol"):
            value = getattr(srv, attr)
            if value is not None:
                out += _first(dns_name_problem(value, f"{label} {attr}"),
                              None if "." not in value else
                              f"{label} {attr} {show(value)} contains '.'; it is one DNS label")
        if srv.domain is not None:
            out += _first(dns_name_problem(srv.domain, f"{label} domain"))
        if srv.target is not None and srv.target != ".":
            out += _first(dns_name_problem(srv.target, f"{label} target"))
    for host in dns.hosts:
        for name in host.hostnames:
            out += _first(dns_name_problem(name, f"DNS <host ip='{host.ip}'> <hostname>"))
    return out
