"""Issue 11, one test per defect: a definition is accepted only if kvmnet can run it.

Each test failed before the fix (the value went through define and broke, or was
misread by, dnsmasq, nft or the stored file).
"""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from kvmnet.cli.main import main
from kvmnet.config.define import assign, prepare
from kvmnet.errors import KvmnetError
from kvmnet.model.frozen import replace
from kvmnet.model.network import DnsTxt, PortGroup
from kvmnet.network.compile import compile_program
from kvmnet.network.program import dnsmasq_files
from kvmnet.paths import Paths
from kvmnet.xmlio.network import format_network, parse_network

IP = ("<ip address='192.168.150.1' prefix='24'><dhcp>"
      "<range start='192.168.150.10' end='192.168.150.99'/>{hosts}</dhcp></ip>")


def nat(extra: str = "", hosts: str = "", name: str = "n", forward: str = "<forward mode='nat'/>") -> str:
    return f"<network><name>{name}</name>{forward}{extra}{IP.format(hosts=hosts)}</network>"


def refused(xml: str, fragment: str) -> str:
    with pytest.raises(KvmnetError) as exc:
        assign(prepare(xml), [])
    message = str(exc.value)
    assert fragment in message, message
    return message


def cli(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--root", str(root), *args], stdout=out, stderr=err, stdin=io.StringIO())
    return rc, out.getvalue(), err.getvalue()


# -------------------------------------------------- a comma in a bridge name

def test_comma_in_bridge_name_is_refused_at_define() -> None:
    # was: defined and started; dnsmasq then served interface=eth0,lo (the uplink)
    refused(nat("<bridge name='eth0,lo'/>"), "contains ','")


@pytest.mark.parametrize("dev", ["eth0,lo", "eth*", "a\"b", "a#b", "a\\b", "é"])
def test_forward_dev_must_be_read_literally_by_dnsmasq_and_nft(dev: str) -> None:
    xml = nat(forward="<forward mode='nat'><interface dev='X'/></forward>").replace(
        "'X'", "\"" + dev.replace('"', "&quot;") + "\"")
    refused(xml, "an interface name may hold only")


def test_bridge_name_template_still_works() -> None:
    net = assign(prepare(nat("<bridge name='kvbr%d'/>")), [])
    assert net.bridge_name == "kvbr0"


# ------------------------------------------ values that reach dnsmasq's files

@pytest.mark.parametrize("name", ["a,ignore", "x,set:known", "ignore", "infinite", "12h",
                                  "10.0.0.7"])
def test_dhcp_host_names_are_never_dnsmasq_keywords(name: str) -> None:
    # was: 'a,ignore' wrote "mac,ip,a,ignore" into the hosts file: the host was ignored
    refused(nat(hosts=f"<host mac='52:54:00:00:00:05' name='{name}' ip='192.168.150.5'/>"),
            "DHCP <host name>")


def test_names_over_255_bytes_are_refused() -> None:
    long = ".".join(["a" * 63] * 4) + ".b"  # 258 bytes, every label legal
    refused(nat(f"<domain name='{long}'/>"), "at most 253")
    refused(nat(f"<dns><host ip='192.168.150.5'><hostname>{long}</hostname></host></dns>"),
            "at most 253")


def test_non_ascii_names_are_refused_with_the_ascii_form() -> None:
    refused(nat("<domain name='café.example'/>"), "xn--")


@pytest.mark.parametrize("attr", ["domain", "target"])
def test_comma_in_srv_fields_is_refused(attr: str) -> None:
    srv = {"domain": "example.com", "target": "ldap.example.com"}
    srv[attr] = "a,b"
    refused(nat(f"<dns><srv service='ldap' protocol='tcp' domain='{srv['domain']}' "
                f"target='{srv['target']}' port='389'/></dns>"), "contains ','")


@pytest.mark.parametrize("value", ["a&quot;b", "a #b", "a&#x85;b", "a&#x2028;b", "a&#x7f;b",
                                   "a&#9;b"])
def test_txt_values_dnsmasq_would_misread_are_refused(value: str) -> None:
    # was: define accepted; the quote made dnsmasq refuse its conf ("missing \"") at
    # start, the others were silently changed or cut
    refused(nat(f"<dns><txt name='t' value='{value}'/></dns>"), "value")


@pytest.mark.parametrize("char", ["&#x85;", "&#x2028;", "&#x7f;"])
def test_control_characters_are_refused_in_every_written_value(char: str) -> None:
    refused(nat(f"<domain name='a{char}b'/>"), "<domain name>")
    refused(nat(hosts=f"<bootp file='a{char}b'/>"), "<bootp file>")
    refused(nat(f"<dns><forwarder domain='a{char}b' addr='192.0.2.1'/></dns>"),
            "<forwarder domain>")
    refused(nat(f"<dns><host ip='192.168.150.5'><hostname>a{char}b</hostname></host></dns>"),
            "<hostname>")


def test_tftp_root_and_bootp_file_cannot_add_dnsmasq_fields() -> None:
    refused(nat().replace("<dhcp>", "<tftp root='/srv/tftp,eth0'/><dhcp>"), "contains ','")
    refused(nat(hosts="<bootp file='pxe.img,evil'/>"), "contains ','")
    refused(nat(hosts="<bootp file='tag:known'/>"), "reads as a tag")


def test_ipv6_dhcp_below_64_is_refused_at_define() -> None:
    # was: defined; dnsmasq refuses the conf ("prefix length must be at least 64")
    ip6 = ("<ip family='ipv6' address='2001:db8:ca2:2::1' prefix='48'><dhcp>"
           "<range start='2001:db8:ca2:2::100' end='2001:db8:ca2:2::1ff'/></dhcp></ip>")
    refused(nat(ip6), "at least 64")


def test_dnsmasq_option_with_a_line_separator_is_refused() -> None:
    xml = ("<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
           "<name>n</name><bridge name='virbr9'/>" + IP.format(hosts="") +
           "<dnsmasq:options><dnsmasq:option value='log-queries&#x2028;conf-file=/x'/>"
           "</dnsmasq:options></network>")
    refused(xml, "line break")


def test_network_name_cannot_open_a_quote_in_dnsmasq_file_names() -> None:
    # was: pid-file=/.../a"b.pid etc.: dnsmasq refuses the conf at start ("missing \"")
    refused(nat(name="a&quot;b"), "quoted string")


# -------------------------------------------------- define and start agree

def test_bridge_mode_with_nothing_to_attach_to_is_refused_at_define() -> None:
    # was: defined, then net-plan/net-start refused it
    refused("<network><name>b</name><forward mode='bridge'/></network>",
            "names no bridge and no forward device")


def test_local_ptr_without_a_reverse_zone_is_refused_at_define() -> None:
    # was: defined, then start refused ("PTR domain ... cannot be automatically created")
    refused(nat().replace("prefix='24'", "prefix='20' localPtr='yes'").replace(
        "192.168.150.10", "192.168.144.10"), "localPtr")


def test_what_define_accepts_plans(tmp_path: Path) -> None:
    net = assign(prepare(nat("<domain name='example.com'/><dns><txt name='t' value='a, b'/>"
                             "</dns>", hosts="<host mac='52:54:00:00:00:05' name='h1' "
                             "ip='192.168.150.5'/>")), [])
    program = compile_program(net, Paths(tmp_path))
    assert dnsmasq_files(program) is not None


# -------------------------------------------------- net-update validates like define

def test_update_adding_a_second_forward_interface_to_nat_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "n.xml"
    base.write_text(nat(forward="<forward mode='nat' dev='eth1'/>"))
    assert cli(tmp_path, "net-define", str(base))[0] == 0
    stored = tmp_path / "etc/kvmnet/networks/n.xml"
    before = stored.read_bytes()
    rc, _out, err = cli(tmp_path, "net-update", "n", "add-first", "forward-interface",
                        "<interface dev='eth47'/>", "--config")
    assert rc == 1 and "multiple forwarding interfaces" in err, err
    assert stored.read_bytes() == before
    # and what was stored is still what define accepts
    assert cli(tmp_path, "net-define", str(stored))[0] == 0


def test_update_adding_an_interface_named_like_an_address_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "b.xml"
    base.write_text("<network><name>b</name><forward mode='bridge'><interface dev='eth1'/>"
                    "</forward></network>")
    assert cli(tmp_path, "net-define", str(base))[0] == 0
    stored = tmp_path / "etc/kvmnet/networks/b.xml"
    before = stored.read_bytes()
    rc, _out, err = cli(tmp_path, "net-update", "b", "add", "forward-interface",
                        "<interface dev='2001:db8:::1'/>", "--config")
    assert rc == 1 and "contains ':'" in err, err
    assert stored.read_bytes() == before


# -------------------------------------------------- what is written reads back

def test_tab_in_a_txt_name_is_refused() -> None:
    refused(nat("<dns><txt name='a&#9;b' value='x'/></dns>"), "control character")


@pytest.mark.parametrize("text", ["a\tb", "a\nb", "a\rb", "a\r\nb"])
def test_tabs_and_line_breaks_in_attributes_read_back(text: str) -> None:
    base = parse_network(nat())
    net = replace(base, portgroups=(PortGroup(name=text),), description=f"d{text}e")
    assert parse_network(format_network(net)) == net


def test_stored_txt_value_reads_back() -> None:
    net = assign(prepare(nat("<dns><txt name='t' value='a, b &amp; c'/></dns>")), [])
    stored = format_network(net, inactive=True)
    assert parse_network(stored) == net
    assert net.dns is not None and net.dns.txts == (DnsTxt("t", "a, b & c"),)


# -------------------------------------------------- what define accepts, dnsmasq accepts

def test_accepted_definition_passes_dnsmasq_test(tmp_path: Path) -> None:
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not Path(exe).exists():
        pytest.skip("dnsmasq is not installed (package dnsmasq-base)")
    net = assign(prepare(nat("<domain name='example.com'/><dns><txt name='t' value='a, b'/>"
                             "<srv service='ldap' protocol='tcp' target='l.example.com' "
                             "port='389'/></dns>")), [])
    files = dnsmasq_files(compile_program(net, Paths(tmp_path)))
    assert files is not None
    conf = next(p for p in files if p.endswith(".conf"))
    Path(conf).parent.mkdir(parents=True, exist_ok=True)
    Path(conf).write_text(files[conf])
    done = subprocess.run([exe, "--test", "-C", conf], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
