"""A seeded mutator of network definitions, and the checks every mutant must pass.

Seeds are the network documents of libvirt's conformance corpus, read in place
(tests/conformance.py).  A mutant is a seed with a few hostile values put where
dnsmasq, nft or the kernel would read them (names, devices, TXT data, paths) and
a few structural changes (elements added, removed, duplicated; forward modes
switched; IPv6 DHCP on short prefixes).  :func:`check` then asks what issue 11
demands: define either refuses cleanly or accepts, and an accepted definition
reads back from its stored form unchanged and compiles to a start program whose
dnsmasq files dnsmasq itself accepts.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from kvmnet.config.define import assign, prepare
from kvmnet.errors import KvmnetError, ValidationError
from kvmnet.model.frozen import replace
from kvmnet.model.network import Network
from kvmnet.network.compile import compile_program
from kvmnet.network.program import dnsmasq_files
from kvmnet.paths import Paths
from kvmnet.xmlio.network import format_network, parse_network
from tests.conformance import conformance_dir, load_cases

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"

#: Values that some consumer reads differently from what the definition means.
HOSTILE = (
    "", " ", "a b", " a", "a ", ",", "eth0,lo", "a,ignore", "x,set:known", "ignore",
    "infinite", "12h", "45", "10.0.0.7", "a\"b", "a'b", "a#b", "a #b", "#a", "a\tb", "a\nb",
    "a\rb", "a\x85b", "a\u2028b", "a\u2029b", "a\x7fb", "a\x9bb", "é", "xn--caf-dma",
    "snow\u2603man", "a" * 64, "a." * 127 + "a", "b" * 256, "x" * 1100, "..", ".", "a..b",
    "-a", "_a", "a/b", "a:b", "2001:db8:::1", "*", "eth*", "virbr%d", "br%d%d", "%s",
    "a\\b", "tag:x", "set:x", "id:01", "[::1]", "lo", "eth0", "eth0.42", "a-b_c.d",
    "averyveryverylongname", "/var/lib/tftp", "/a,b", "pxe.img", "a@b", "a+b", "a%b",
    "example.com", "host1", "_sip", "a;b", "$(reboot)", "a`b`", "<x>", "&amp;",
)

#: <dnsmasq:option> values that dnsmasq accepts (the namespace is passed verbatim).
GOOD_OPTIONS = ("cache-size=0", "log-queries", "cname=*.apps.example.com,master.example.com",
                "txt-record=hello,\"a, b\"", "address=/example.org/127.0.0.1")

#: (element, attribute) pairs whose values reach dnsmasq, nft or the kernel.
TARGETS = (
    ("bridge", "name"), ("forward", "dev"), ("interface", "dev"), ("pf", "dev"),
    ("domain", "name"), ("txt", "name"), ("txt", "value"), ("srv", "service"),
    ("srv", "protocol"), ("srv", "domain"), ("srv", "target"), ("forwarder", "domain"),
    ("host", "name"), ("tftp", "root"), ("bootp", "file"), ("portgroup", "name"),
)

MODES = ("nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev", None)


def seeds() -> list[tuple[str, bytes]]:
    """(label, document) of every network document of the corpus, each once."""
    base = conformance_dir()
    if base is None:
        return []
    paths: dict[str, Path] = {}
    for kind in ("xml2xml", "xml2conf", "update"):
        for case in load_cases(kind):
            rel = case.get("input") or case["flags"].get("network_xml")
            if rel and rel.endswith(".xml"):
                paths.setdefault(rel, base / rel)
    return [(rel, _valid_options(p.read_bytes())) for rel, p in sorted(paths.items())
            if p.is_file()]


def _valid_options(doc: bytes) -> bytes:
    """The document with its <dnsmasq:option>s replaced by ones dnsmasq accepts.

    The options are passed to dnsmasq verbatim (libvirt's namespace); whether dnsmasq
    knows one depends on its version, so start finds out, not define.  The corpus has
    ``foo=bar``, which no dnsmasq accepts.
    """
    root = etree.fromstring(doc)
    for n, opt in enumerate(root.iter(f"{{{DNSMASQ_NS}}}option")):
        if opt.get("value") not in GOOD_OPTIONS:
            opt.set("value", GOOD_OPTIONS[n % 2])
    return bytes(etree.tostring(root))


def _set(el: etree._Element, attr: str, value: str) -> bool:
    try:
        el.set(attr, value)
    except ValueError:  # not representable in XML 1.0 (C0 controls): nobody can send it
        return False
    return True


def _text(el: etree._Element, value: str) -> None:
    try:
        el.text = value
    except ValueError:  # not representable in XML 1.0
        el.text = "h"


def _child(parent: etree._Element, tag: str) -> etree._Element:
    found = parent.find(tag)
    return found if found is not None else etree.SubElement(parent, tag)


def _ip(root: etree._Element, rng: random.Random) -> etree._Element:
    ips = root.findall("ip")
    if ips and rng.random() < 0.7:
        return rng.choice(ips)
    ip = etree.SubElement(root, "ip", address="192.168.150.1", netmask="255.255.255.0")
    return ip


def _hostile(rng: random.Random) -> str:
    value = rng.choice(HOSTILE)
    if rng.random() < 0.2:
        value = rng.choice(("eth1", "example.com", "h")) + value
    return value


def _add_hostile_element(root: etree._Element, rng: random.Random) -> None:
    """Put a hostile value into a newly added element that carries it to dnsmasq/nft."""
    value = _hostile(rng)
    choice = rng.randrange(12)
    dns = _child(root, "dns")
    if choice == 0:
        _set(etree.SubElement(dns, "txt", name="t" + str(rng.randrange(9))), "value", value)
    elif choice == 1:
        _set(etree.SubElement(dns, "txt", value="v"), "name", value)
    elif choice == 2:
        srv = etree.SubElement(dns, "srv", service="ldap", protocol="tcp")
        _set(srv, rng.choice(("domain", "target", "service", "protocol")), value)
    elif choice == 3:
        host = etree.SubElement(dns, "host", ip="192.168.150.9")
        _text(etree.SubElement(host, "hostname"), value)
    elif choice == 4:
        _set(etree.SubElement(dns, "forwarder", addr="8.8.8.8"), "domain", value)
    elif choice == 5:
        _set(_child(root, "domain"), "name", value)
    elif choice == 6:
        _set(_child(root, "bridge"), "name", value)
    elif choice == 7:
        _set(_child(root, "forward"), "dev", value)
    elif choice == 8:
        ip = _ip(root, rng)
        if ":" not in (ip.get("address") or ""):
            _set(_child(ip, "tftp"), "root", value)
    elif choice == 9:
        ip = _ip(root, rng)
        dhcp = _child(ip, "dhcp")
        _set(_child(dhcp, "bootp"), "file", value)
    elif choice == 10:
        ip = _ip(root, rng)
        dhcp = _child(ip, "dhcp")
        host = etree.SubElement(dhcp, "host", mac=f"52:54:00:aa:bb:{rng.randrange(256):02x}")
        host.set("ip", (ip.get("address") or "").rsplit(".", 1)[0] + f".{rng.randrange(2, 250)}")
        _set(host, "name", value)
    else:
        fwd = _child(root, "forward")
        _set(etree.SubElement(fwd, "interface"), "dev", value)


def _structural(root: etree._Element, rng: random.Random) -> None:
    choice = rng.randrange(7)
    if choice == 0:  # switch the forward mode
        mode = rng.choice(MODES)
        fwd = root.find("forward")
        if mode is None:
            if fwd is not None:
                root.remove(fwd)
        else:
            _child(root, "forward").set("mode", mode)
    elif choice == 1:  # drop an element
        elements = [e for e in root.iter() if e is not root and isinstance(e.tag, str)]
        if elements:
            victim = rng.choice(elements)
            parent = victim.getparent()
            if parent is not None:
                parent.remove(victim)
    elif choice == 2:  # duplicate an element
        elements = [e for e in root if isinstance(e.tag, str) and e.tag != "name"]
        if elements:
            el = rng.choice(elements)
            el.addnext(etree.fromstring(etree.tostring(el)))
    elif choice == 3:  # IPv6 with DHCP on a random prefix
        prefix = rng.choice((48, 56, 63, 64, 80, 120))
        ip = etree.SubElement(root, "ip", family="ipv6", address="2001:db8:ca2:2::1",
                              prefix=str(prefix))
        dhcp = etree.SubElement(ip, "dhcp")
        etree.SubElement(dhcp, "range", start="2001:db8:ca2:2::100", end="2001:db8:ca2:2::1ff")
    elif choice == 4:  # a valid dnsmasq option
        opts = root.find(f"{{{DNSMASQ_NS}}}options")
        if opts is None:
            opts = etree.SubElement(root, f"{{{DNSMASQ_NS}}}options")
        value = rng.choice(GOOD_OPTIONS)
        if value not in [o.get("value") for o in opts]:  # dnsmasq refuses a duplicate cname
            etree.SubElement(opts, f"{{{DNSMASQ_NS}}}option", value=value)
    elif choice == 5:  # localPtr on some prefix, or a hostile network name
        if rng.random() < 0.5:
            _ip(root, rng).set("localPtr", "yes")
        else:
            _text(_child(root, "name"), _hostile(rng))
    else:  # a hostile value in an existing attribute that reaches a file
        tag, attr = rng.choice(TARGETS)
        found = [e for e in root.iter(tag) if e.get(attr) is not None]
        if found:
            _set(rng.choice(found), attr, _hostile(rng))


def mutate(doc: bytes, rng: random.Random) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(doc, parser)
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.6:
            _add_hostile_element(root, rng)
        else:
            _structural(root, rng)
    return bytes(etree.tostring(root))


@dataclass
class Tally:
    tried: int = 0
    accepted: int = 0
    refused: int = 0
    defects: list[str] = field(default_factory=list)
    confs: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)


def _written(net: Network) -> Network:
    """``net`` without what is not part of a definition (whether mode= was spelt out:
    the formatter always writes it, as libvirt does)."""
    if net.forward is not None and not net.forward.mode_given:
        return replace(net, forward=replace(net.forward, mode_given=True))
    return net


def diff(a: object, b: object, path: str = "network") -> Iterator[str]:
    """Where two models differ, field by field."""
    if a == b:
        return
    fields = getattr(a, "__frozen_fields__", None)
    if fields is not None and type(a) is type(b):
        for name in fields:
            yield from diff(getattr(a, name), getattr(b, name), f"{path}.{name}")
    elif isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from diff(x, y, f"{path}[{i}]")
    else:
        yield f"{path}: {a!r} became {b!r}"


def _message_problems(exc: KvmnetError) -> list[str]:
    # (several problems are joined by ValidationError itself; each must be one line)
    parts = ([*exc.problems, exc.subject or ""] if isinstance(exc, ValidationError)
             else [str(exc)])
    return [p for p in parts if not p or "\n" in p or "\r" in p]


def check(label: str, doc: bytes, tally: Tally, root: Path, keep_confs: int) -> None:
    """One mutant through define's checks, the stored form and the start program."""
    tally.tried += 1
    try:
        stored = assign(prepare(doc), [])  # what net-define checks, then stores
    except KvmnetError as exc:
        tally.refused += 1
        bad = _message_problems(exc)
        if bad:
            tally.defects.append(f"{label}: a refusal message is not one line: {bad[0]!r}")
        return
    except Exception as exc:  # noqa: BLE001 - any other exception is the defect to report
        tally.defects.append(f"{label}: define raised {type(exc).__name__}: {exc}")
        return
    tally.accepted += 1
    try:
        text = format_network(stored, inactive=True)
        back = parse_network(text)
        differences = list(diff(_written(stored), _written(back)))
        if differences:
            tally.defects.append(f"{label}: the stored file does not read back to the same "
                                 f"definition: {'; '.join(differences)}\n{text}")
            return
        program = compile_program(back, Paths(root))
    except Exception as exc:  # noqa: BLE001 - every failure after acceptance is a defect
        tally.defects.append(f"{label}: accepted, then {type(exc).__name__}: {exc}\n"
                             f"{doc.decode(errors='replace')}")
        return
    files = dnsmasq_files(program)
    if files is None:
        return
    for problem in misread(back, files):
        tally.defects.append(f"{label}: dnsmasq would misread the files: {problem}")
    if len(tally.confs) < keep_confs:
        conf = next(t for p, t in files.items() if p.endswith(".conf"))
        tally.confs.setdefault(conf, (label, files))


def misread(net: Network, files: dict[str, str]) -> Iterator[str]:
    """Where dnsmasq would read the files differently from the definition.

    ``dnsmasq --test`` only says whether the syntax holds; this checks the meaning of
    what kvmnet writes from the definition's values: one interface, lines that fit
    dnsmasq's buffer, no quote or comment, and DHCP host entries with exactly the
    fields kvmnet meant (a ',' in a value would add one).
    """
    options = set(net.dnsmasq_options)
    for path, text in files.items():
        if path.endswith(".conf"):
            for line in text.splitlines():
                if len(line.encode()) > 1023:
                    yield f"a conf line of {len(line.encode())} bytes: {line[:60]!r}"
                if line.startswith("#") or line in options:
                    continue
                if '"' in line or " #" in line or "\t#" in line:
                    yield f"a quote or comment in {line!r}"
                if line.startswith("interface=") and line != f"interface={net.bridge_name}":
                    yield f"{line!r} names more than the bridge {net.bridge_name!r}"
        elif path.endswith(".hostsfile"):
            for line in text.splitlines():
                fields = line.split(",")
                expected = _host_fields(net, fields)
                if expected is not None and len(fields) != expected:
                    yield f"DHCP host entry {line!r} has {len(fields)} fields, not {expected}"


def _host_fields(net: Network, fields: list[str]) -> int | None:
    """How many fields kvmnet writes for the DHCP host whose address is in ``fields``."""
    for ip in net.ips:
        for host in ip.dhcp.hosts if ip.dhcp is not None else ():
            if host.ip is None or not {host.ip, f"[{host.ip}]"} & set(fields):
                continue
            ipv6 = ":" in host.ip
            count = 1 + bool(host.name) + (bool(host.id) if ipv6 else bool(host.mac))
            return count + (host.lease is not None)
    return None


def hosts_as_options(files: dict[str, str]) -> str:
    """The side files as conf options, so that ``dnsmasq --test`` parses them too.

    dnsmasq reads a dhcp-hostsfile line with the dhcp-host parser, and checks the
    names of an addn-hosts line as host-record does.
    """
    lines = []
    for path, text in files.items():
        for line in text.splitlines():
            if path.endswith(".hostsfile"):
                lines.append(f"dhcp-host={line}")
            elif path.endswith(".addnhosts") and line.strip():
                ip, *names = line.split()
                lines.append(f"host-record={','.join(names)},{ip}")
    return "".join(line + "\n" for line in lines)


def dnsmasq_test(confs: dict[str, tuple[str, dict[str, str]]]) -> tuple[int, list[str]]:
    """Run ``dnsmasq --test`` on each distinct conf (with its side files as options)."""
    exe = shutil.which("dnsmasq") or next(
        (p for p in ("/usr/sbin/dnsmasq", "/sbin/dnsmasq") if os.path.exists(p)), None)
    if exe is None:
        return 0, []
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, (conf, (label, files)) in enumerate(confs.items()):
            path = Path(tmp) / f"{n}.conf"
            path.write_text(conf + hosts_as_options(files))
            done = subprocess.run([exe, "--test", "-C", str(path)], capture_output=True,
                                  text=True, check=False)
            if done.returncode != 0:
                failures.append(f"{label}: dnsmasq --test: {done.stderr.strip()}\n{conf}")
    return len(confs), failures


def run(cases: int, seed: int, keep_confs: int) -> tuple[Tally, int, list[str]]:
    corpus = seeds()
    rng = random.Random(seed)
    tally = Tally()
    with tempfile.TemporaryDirectory() as root:
        for n in range(cases):
            label, doc = corpus[n % len(corpus)] if n < len(corpus) else rng.choice(corpus)
            mutant = doc if n < len(corpus) else mutate(doc, rng)
            check(f"case {n} ({label})", mutant, tally, Path(root), keep_confs)
    tested, failures = dnsmasq_test(tally.confs)
    return tally, tested, failures


