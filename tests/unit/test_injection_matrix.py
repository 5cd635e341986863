"""Issue 11: every hostile value in every field that reaches dnsmasq, nft or the kernel.

Each field is a place in a small definition; each hostile value is one that the
consumer would read differently from what the definition says (another interface,
another option, a keyword, a comment, a quoted string, a cut-off line).  Define
(:func:`kvmnet.config.define.prepare`, what ``net-define`` and ``net-validate`` run) must
refuse each with a one-line diagnosis that names the field; an ordinary value in
the same place must pass, so the matrix tests the rule and not a broken template.
The same values through ``net-update`` are refused and nothing is stored.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from kvmnet.cli.main import main
from kvmnet.config.define import assign, prepare
from kvmnet.errors import KvmnetError, ValidationError
from kvmnet.network.compile import compile_program
from kvmnet.paths import MAX_NAME_BYTES, Paths

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"
BASE = ("<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
        "<name>m</name><forward mode='nat'/>"
        "<ip address='192.168.150.1' prefix='24'><dhcp>"
        "<range start='192.168.150.10' end='192.168.150.99'/></dhcp></ip></network>")

Place = Callable[[etree._Element, str], None]


def _el(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    found = parent.find(tag)
    el = found if found is not None else etree.SubElement(parent, tag)
    for key, value in attrs.items():
        el.set(key, value)
    return el


def _dns(root: etree._Element) -> etree._Element:
    dns = root.find("dns")
    if dns is None:
        dns = etree.Element("dns")
        root.find("forward").addnext(dns)  # type: ignore[union-attr]
    return dns


def network_name(root: etree._Element, v: str) -> None:
    root.find("name").text = v  # type: ignore[union-attr]


def bridge_name(root: etree._Element, v: str) -> None:
    _el(root, "bridge", name=v)


def forward_dev(root: etree._Element, v: str) -> None:
    _el(root, "forward", dev=v)


def interface_dev(root: etree._Element, v: str) -> None:
    fwd = _el(root, "forward", mode="bridge")
    root.remove(root.find("ip"))  # type: ignore[arg-type]
    etree.SubElement(fwd, "interface", dev=v)


def pf_dev(root: etree._Element, v: str) -> None:
    fwd = _el(root, "forward", mode="hostdev")
    root.remove(root.find("ip"))  # type: ignore[arg-type]
    etree.SubElement(fwd, "pf", dev=v)


def domain(root: etree._Element, v: str) -> None:
    root.find("forward").addnext(etree.Element("domain", name=v))  # type: ignore[union-attr]


def txt_name(root: etree._Element, v: str) -> None:
    etree.SubElement(_dns(root), "txt", name=v, value="x")


def txt_value(root: etree._Element, v: str) -> None:
    etree.SubElement(_dns(root), "txt", name="t", value=v)


def srv(attr: str) -> Place:
    def place(root: etree._Element, v: str) -> None:
        attrs = {"service": "ldap", "protocol": "tcp", "domain": "example.com",
                 "target": "ldap.example.com", "port": "389"}
        attrs[attr] = v
        etree.SubElement(_dns(root), "srv", **attrs)
    place.__name__ = f"srv_{attr}"
    return place


def dns_hostname(root: etree._Element, v: str) -> None:
    host = etree.SubElement(_dns(root), "host", ip="192.168.150.5")
    etree.SubElement(host, "hostname").text = v


def forwarder_domain(root: etree._Element, v: str) -> None:
    etree.SubElement(_dns(root), "forwarder", domain=v, addr="192.0.2.53")


def dhcp_host_name(root: etree._Element, v: str) -> None:
    etree.SubElement(root.find("ip/dhcp"), "host", mac="52:54:00:00:00:05",  # type: ignore[arg-type]
                     name=v, ip="192.168.150.5")


def tftp_root(root: etree._Element, v: str) -> None:
    etree.SubElement(root.find("ip"), "tftp", root=v)  # type: ignore[arg-type]


def bootp_file(root: etree._Element, v: str) -> None:
    etree.SubElement(root.find("ip/dhcp"), "bootp", file=v)  # type: ignore[arg-type]


def dnsmasq_option(root: etree._Element, v: str) -> None:
    opts = etree.SubElement(root, f"{{{DNSMASQ_NS}}}options")
    etree.SubElement(opts, f"{{{DNSMASQ_NS}}}option", value=v)


CONTROL = ["a\x85b", "a\u2028b", "a\u2029b", "a\x7fb", "a\x9bb", "a\tb", "a\nb", "a\rb"]
IFNAME_BAD = ["eth0,lo", "lo,eth0", "a b", "a:b", "2001:db8:::1", "a/b", "eth*", "*", 'a"b',
              "a'b", "a#b", "a\\b", "é", "x" * 16, ".", "..", "-a", "a;b", "$(x)", "a%b",
              *CONTROL]  # (an empty name= or dev= means "not given", as in libvirt)
DNS_BAD = ["a,b", "x,set:known", "a,ignore", "a b", "a/b", 'a"b', "a#b", "a #b", "é.com",
           "a" * 64, "a." * 127 + "a", "b" * 254, "a..b", ".a", "a.", "a:b", "[a]", "*",
           *CONTROL]
HOSTNAME_BAD = [*DNS_BAD, "ignore", "INFINITE", "12h", "45", "10.0.0.5", "-a", "_a"]
TEXT_BAD = ['a"b', "a #b", "#a", " a", "a ", "x" * 1100, *CONTROL]
PATH_BAD = ["/a,b", '/a"b', "/a #b", " /a", "/a ", "/" + "x" * 1100, *CONTROL]
BOOTP_BAD = ["a,b", "pxe.img,server", "tag:x", "set:x", 'a"b', "a #b", *CONTROL]
OPTION_BAD = ["x" * 1100, *CONTROL]

NAME_BAD = ['a"b', "a #b", "a/b", "a\x85b", "a\u2028b", "a\x7fb", "a\tb", "a\nb", "x" * (MAX_NAME_BYTES + 1)]
FIELDS: list[tuple[Place, list[str], str]] = [
    (network_name, NAME_BAD, "my net, no. 2 (#test)"),
    (bridge_name, IFNAME_BAD, "br-0_1.2"),
    (forward_dev, IFNAME_BAD, "eth0.42"),
    (interface_dev, IFNAME_BAD, "enp0s7"),
    (pf_dev, IFNAME_BAD, "eth2"),
    (domain, DNS_BAD, "example.com"),
    (txt_name, DNS_BAD, "_spf.example"),
    (txt_value, TEXT_BAD, "v=spf1 a, b#c \\d 'e' snow\u2603man"),
    (srv("service"), DNS_BAD, "ldap"),
    (srv("protocol"), DNS_BAD, "tcp"),
    (srv("domain"), DNS_BAD, "example.com"),
    (srv("target"), DNS_BAD, "ldap.example.com"),
    (dns_hostname, DNS_BAD, "host-1.example.com"),
    (forwarder_domain, DNS_BAD, "corp.example"),
    (dhcp_host_name, HOSTNAME_BAD, "host1.example.com"),
    (tftp_root, PATH_BAD, "/var/lib/tftp boot"),
    (bootp_file, BOOTP_BAD, "pxelinux.0"),
    (dnsmasq_option, OPTION_BAD, "cname=*.apps.example.com,master.example.com"),
]


def build(place: Place, value: str) -> bytes:
    root = etree.fromstring(BASE.encode())
    place(root, value)
    return bytes(etree.tostring(root))


def _representable(place: Place, value: str) -> bool:
    """Whether an XML 1.0 document can carry ``value`` there at all (no NUL, no C0 other
    than tab and line breaks): values no document can hold need no refusal."""
    try:
        build(place, value)
    except ValueError:
        return False
    return True


def matrix() -> list[tuple[Place, str]]:
    return [(place, value) for place, bad, _good in FIELDS for value in bad
            if _representable(place, value)]


def _ids(case: tuple[Place, str]) -> str:
    return f"{case[0].__name__}={case[1][:20]!r}"


@pytest.mark.parametrize("case", matrix(), ids=[_ids(c) for c in matrix()])
def test_define_refuses_hostile_value(case: tuple[Place, str]) -> None:
    place, value = case
    doc = build(place, value)
    with pytest.raises(KvmnetError) as exc:
        assign(prepare(doc), [])
    problems = exc.value.problems if isinstance(exc.value, ValidationError) else [str(exc.value)]
    for problem in problems:
        assert "\n" not in problem and "\r" not in problem, problem
        assert not any(c in problem for c in "\x85\u2028\u2029\x7f\t"), problem


@pytest.mark.parametrize("place,good", [(p, g) for p, _b, g in FIELDS],
                         ids=[p.__name__ for p, _b, _g in FIELDS])
def test_ordinary_value_in_the_same_place_is_accepted(place: Place, good: str,
                                                      tmp_path: Path) -> None:
    net = assign(prepare(build(place, good)), [])
    compile_program(net, Paths(tmp_path))  # and start could render it


# ------------------------------------------------------------------ net-update

def cli(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--root", str(root), *args], stdout=out, stderr=err, stdin=io.StringIO())
    return rc, out.getvalue(), err.getvalue()


UPDATES = [
    ("dns-txt", "<txt name='t' value='a&#x85;b'/>"),
    ("dns-txt", "<txt name='a,b' value='x'/>"),
    ("dns-txt", "<txt name='t' value='a\"b'/>"),
    ("dns-srv", "<srv service='ldap' protocol='tcp' target='a,b' port='1'/>"),
    ("dns-host", "<host ip='192.168.150.5'><hostname>a,ignore</hostname></host>"),
    ("ip-dhcp-host", "<host mac='52:54:00:00:00:05' name='x,set:known' ip='192.168.150.5'/>"),
    ("ip-dhcp-host", "<host mac='52:54:00:00:00:05' name='ignore' ip='192.168.150.5'/>"),
    ("forward-interface", "<interface dev='2001:db8:::1'/>"),
    ("forward-interface", "<interface dev='eth0,lo'/>"),
]


@pytest.mark.parametrize("section,fragment", UPDATES, ids=[f for _s, f in UPDATES])
def test_net_update_refuses_what_define_refuses(tmp_path: Path, section: str,
                                                fragment: str) -> None:
    base = tmp_path / "m.xml"
    base.write_text(BASE)
    assert cli(tmp_path, "net-define", str(base))[0] == 0
    stored = tmp_path / "etc/kvmnet/networks/m.xml"
    before = stored.read_bytes()
    rc, out, err = cli(tmp_path, "net-update", "m", "add", section, fragment, "--config")
    assert rc == 1, out
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert stored.read_bytes() == before
