"""kvmnet.host.netlink, sysctl and run against the real kernel, inside throwaway namespaces.

Every kernel change happens in a namespace created here (``NetNS``); the adapter runs inside it
through ``NetNS.call`` (fork + setns) and the result is checked with ``ip -j`` in that namespace.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kvmnet.errors import HostError
from kvmnet.host import sysctl
from kvmnet.host.netlink import Address, LinkExistsError, LinkNotFoundError, Netlink
from kvmnet.host.run import CommandError, run
from tests.functional.netns import NetNS, RemoteError, have_root, netns, requires_root, veth

_ = netns  # the factory fixture, used by test_netns_fixture


def root_only(fn: Callable[..., None]) -> Callable[..., None]:
    """Mark a test ``root`` and skip it without root."""
    marked: Callable[..., None] = pytest.mark.root(requires_root(fn))
    return marked


@pytest.fixture
def ns() -> Iterator[NetNS]:
    if not have_root():
        pytest.skip("needs root to create network namespaces")
    with NetNS("nl") as n:
        yield n


def with_netlink(fn: Callable[[Netlink], Any]) -> Callable[[], Any]:
    def run_it() -> Any:
        with Netlink() as nl:
            return fn(nl)
    return run_it


def link_json(ns: NetNS, name: str) -> dict[str, Any]:
    data = ns.ip_json("-d", "link", "show", name)
    assert isinstance(data, list) and len(data) == 1
    return data[0]  # type: ignore[no-any-return]


# -- bridges ------------------------------------------------------------------------------------


@root_only
def test_create_bridge_with_stp_delay_mtu_mac(ns: NetNS) -> None:
    idx = ns.call(with_netlink(lambda nl: nl.create_bridge(
        "kvbr0", stp=True, forward_delay_cs=0, mtu=1400, mac="52:54:00:12:34:56")))
    j = link_json(ns, "kvbr0")
    assert j["ifindex"] == idx
    assert j["linkinfo"]["info_kind"] == "bridge"
    assert j["mtu"] == 1400
    assert j["address"] == "52:54:00:12:34:56"
    assert "UP" in j["flags"]
    data = j["linkinfo"]["info_data"]
    assert data["stp_state"] == 1
    # With STP on the kernel clamps the forward delay into 2..30 s as STP starts.
    assert data["forward_delay"] == 200


@root_only
def test_create_bridge_without_stp_keeps_delay_and_can_stay_down(ns: NetNS) -> None:
    ns.call(with_netlink(lambda nl: nl.create_bridge("kvbr1", stp=False, forward_delay_cs=1500, up=False)))
    j = link_json(ns, "kvbr1")
    assert j["linkinfo"]["info_data"]["stp_state"] == 0
    assert j["linkinfo"]["info_data"]["forward_delay"] == 1500
    assert "UP" not in j["flags"]
    info = ns.call(with_netlink(lambda nl: nl.link_info("kvbr1")))
    assert info.kind == "bridge" and info.state == "down"
    assert info.stp is False and info.forward_delay_cs == 1500


@root_only
def test_create_existing_bridge_reports_it(ns: NetNS) -> None:
    def twice(nl: Netlink) -> tuple[int, str | None, int | None]:
        idx = nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0)
        try:
            nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0)
        except LinkExistsError as exc:
            assert exc.errno == errno.EEXIST
            return idx, exc.kind, exc.ifindex
        raise AssertionError("second create did not raise")
    idx, kind, existing = ns.call(with_netlink(twice))
    assert kind == "bridge" and existing == idx


@root_only
def test_create_bridge_on_existing_non_bridge_name(ns: NetNS) -> None:
    ns.ip("link", "add", "kvx0", "type", "veth", "peer", "name", "kvx1")
    with pytest.raises(LinkExistsError) as ei:
        ns.call(with_netlink(lambda nl: nl.create_bridge("kvx0", stp=True, forward_delay_cs=0)))
    assert ei.value.kind == "veth"
    assert "a veth link with that name already exists" in str(ei.value)
    assert "ip link add name kvx0 type bridge" in str(ei.value)
    assert link_json(ns, "kvx0")["linkinfo"]["info_kind"] == "veth"


@root_only
def test_bridge_name_too_long(ns: NetNS) -> None:
    with pytest.raises(HostError) as ei:
        ns.call(with_netlink(lambda nl: nl.create_bridge("kvbr-too-long-01", stp=False, forward_delay_cs=0)))
    assert ei.value.errno == errno.EINVAL
    assert "too long" in str(ei.value) and "at most 15" in str(ei.value)
    assert [lk["ifname"] for lk in ns.ip_json("link", "show")] == ["lo"]


@root_only
def test_delete_is_synchronous_and_idempotent(ns: NetNS) -> None:
    def cycle(nl: Netlink) -> list[bool]:
        out = []
        for _ in range(3):
            nl.create_bridge("kvbr0", stp=True, forward_delay_cs=0)
            out.append(nl.delete_link("kvbr0"))  # name is free again at once: no waiting
            out.append(nl.link_exists("kvbr0"))
        out.append(nl.delete_link("kvbr0"))
        return out
    assert ns.call(with_netlink(cycle)) == [True, False] * 3 + [False]
    assert [lk["ifname"] for lk in ns.ip_json("link", "show")] == ["lo"]


@root_only
def test_link_info_and_list_links(ns: NetNS) -> None:
    ns.ip("link", "add", "kvp0", "type", "veth", "peer", "name", "kvp1")

    def look(nl: Netlink) -> tuple[Any, ...]:
        nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0, mac="52:54:00:00:00:01")
        nl.set_master("kvp0", "kvbr0")
        return nl.link_info("kvp0"), nl.link_info("nope0"), nl.list_links(), nl.link_exists("kvp1")
    port, missing, links, exists = ns.call(with_netlink(look))
    assert missing is None and exists is True
    assert port.kind == "veth" and port.master == "kvbr0"
    assert {lk.ifname for lk in links} == {"lo", "kvbr0", "kvp0", "kvp1"}
    br = next(lk for lk in links if lk.ifname == "kvbr0")
    assert br.mac == "52:54:00:00:00:01" and br.kind == "bridge"
    assert next(lk for lk in links if lk.ifname == "kvp0").master == "kvbr0"


@root_only
def test_port_settings(ns: NetNS) -> None:
    ns.ip("link", "add", "kvp0", "type", "veth", "peer", "name", "kvp1")

    def setup(nl: Netlink) -> None:
        nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0)
        nl.set_master("kvp0", "kvbr0")
        nl.bridge_port_set("kvp0", isolated=True, hairpin=True)
        nl.set_mtu("kvp0", 1300)
        nl.set_link_up("kvp0")
    ns.call(with_netlink(setup))
    j = link_json(ns, "kvp0")
    assert j["master"] == "kvbr0" and j["mtu"] == 1300 and "UP" in j["flags"]
    slave = j["linkinfo"]["info_slave_data"]
    assert slave["isolated"] is True and slave["hairpin"] is True

    def detach(nl: Netlink) -> None:
        nl.bridge_port_set("kvp0", hairpin=False)
        nl.set_master("kvp0", None)
    ns.call(with_netlink(detach))
    assert "master" not in link_json(ns, "kvp0")


@root_only
def test_missing_interface_errors(ns: NetNS) -> None:
    with pytest.raises(LinkNotFoundError) as ei:
        ns.call(with_netlink(lambda nl: nl.set_link_up("nope0")))
    assert ei.value.errno == errno.ENODEV and "ip link set nope0 up" in str(ei.value)
    def too_big(nl: Netlink) -> None:
        nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0)
        nl.set_mtu("kvbr0", 70000)
    with pytest.raises(HostError) as e2:
        ns.call(with_netlink(too_big))
    assert e2.value.errno == errno.EINVAL and "mtu" in str(e2.value)


# -- addresses and routes -----------------------------------------------------------------------


@root_only
def test_addresses_v4_v6(ns: NetNS) -> None:
    def addrs(nl: Netlink) -> tuple[Any, ...]:
        nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0)
        first = [
            nl.add_address("kvbr0", "192.0.2.1", 24),
            nl.add_address("kvbr0", "2001:db8:1::1", 64, nodad=True),
        ]
        again = [
            nl.add_address("kvbr0", "192.0.2.1", 24),
            nl.add_address("kvbr0", "2001:db8:1::1", 64, nodad=True),
        ]
        return first, again, nl.list_addresses()
    first, again, listed = ns.call(with_netlink(addrs))
    assert first == [True, True] and again == [False, False]
    assert Address("kvbr0", "192.0.2.1", 24, 4) in listed
    assert Address("kvbr0", "2001:db8:1::1", 64, 6) in listed
    info = ns.ip_json("addr", "show", "kvbr0")[0]["addr_info"]
    v4 = next(a for a in info if a["family"] == "inet")
    assert (v4["local"], v4["prefixlen"], v4["broadcast"]) == ("192.0.2.1", 24, "192.0.2.255")
    v6 = next(a for a in info if a["family"] == "inet6" and a["local"] == "2001:db8:1::1")
    assert v6["prefixlen"] == 64 and v6.get("nodad") is True

    gone = ns.call(with_netlink(lambda nl: [
        nl.delete_address("kvbr0", "192.0.2.1", 24),
        nl.delete_address("kvbr0", "192.0.2.1", 24),
        nl.delete_address("nope0", "192.0.2.1", 24),
    ]))
    assert gone == [True, False, False]


@root_only
def test_routes_v4_v6(ns: NetNS) -> None:
    def routes(nl: Netlink) -> tuple[Any, ...]:
        nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0)
        nl.add_address("kvbr0", "192.0.2.1", 24)
        nl.add_address("kvbr0", "2001:db8:1::1", 64, nodad=True)
        added = [
            nl.add_route("198.51.100.0", 24, "192.0.2.2", metric=7),
            nl.add_route("2001:db8:2::", 48, "2001:db8:1::2", ifname="kvbr0"),
            nl.add_route("198.51.100.0", 24, "192.0.2.2", metric=7),
        ]
        return added, nl.list_routes()
    added, listed = ns.call(with_netlink(routes))
    assert added == [True, True, False]
    v4 = next(r for r in listed if r.dst == "198.51.100.0")
    assert (v4.prefixlen, v4.gateway, v4.metric, v4.ifname, v4.family) == (24, "192.0.2.2", 7, "kvbr0", 4)
    v6 = next(r for r in listed if r.dst == "2001:db8:2::")
    assert (v6.prefixlen, v6.gateway, v6.ifname, v6.family) == (48, "2001:db8:1::2", "kvbr0", 6)
    shown = ns.ip_json("route", "show", "198.51.100.0/24")
    assert shown[0]["gateway"] == "192.0.2.2" and shown[0]["metric"] == 7
    shown6 = ns.ip_json("-6", "route", "show", "2001:db8:2::/48")
    assert shown6[0]["gateway"] == "2001:db8:1::2"

    deleted = ns.call(with_netlink(lambda nl: [
        nl.delete_route("198.51.100.0", 24, "192.0.2.2", metric=7),
        nl.delete_route("198.51.100.0", 24, "192.0.2.2", metric=7),
    ]))
    assert deleted == [True, False]
    assert ns.ip_json("route", "show", "198.51.100.0/24") == []


@root_only
def test_route_via_unreachable_gateway_is_diagnosed(ns: NetNS) -> None:
    with pytest.raises(HostError) as ei:
        ns.call(with_netlink(lambda nl: nl.add_route("203.0.113.0", 24, "198.18.0.1")))
    assert ei.value.errno == errno.ENETUNREACH
    assert "add an address in the gateway's subnet" in str(ei.value)
    assert "ip route add 203.0.113.0/24 via 198.18.0.1" in str(ei.value)


# -- logging, timing, import cost ---------------------------------------------------------------


@root_only
def test_changes_are_logged_in_shell_form(ns: NetNS) -> None:
    def logged() -> tuple[list[str], str]:
        records: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record.getMessage())
        logger = logging.getLogger("kvmnet.host")
        logger.addHandler(Keep())
        logger.setLevel(logging.DEBUG)
        with Netlink() as nl:
            nl.create_bridge("virbr9", stp=True, forward_delay_cs=0, mtu=1400)
            nl.add_address("virbr9", "192.0.2.1", 24)
            nl.add_route("198.51.100.0", 24, "192.0.2.2", metric=1)
            nl.delete_link("virbr9")
        target = "0" if sysctl.read("net.ipv4.ip_forward") == "1" else "1"
        sysctl.write("net.ipv4.ip_forward", target)
        sysctl.write("net.ipv4.ip_forward", target)  # unchanged: not logged
        return records, target
    records, target = ns.call(logged)
    assert records == [
        "ip link add name virbr9 mtu 1400 type bridge stp_state 1 forward_delay 0",
        "ip link set virbr9 up",
        "ip addr add 192.0.2.1/24 brd 192.0.2.255 dev virbr9",
        "ip route add 198.51.100.0/24 via 192.0.2.2 metric 1",
        "ip link del virbr9",
        f"sysctl -w net.ipv4.ip_forward={target}",
    ]


@root_only
def test_cold_changes_go_through_pyroute2_and_are_logged(ns: NetNS) -> None:
    # Bridge-port flags and the FDB go through pyroute2's public IPRoute (kvmnet.host.iproute),
    # logged in the shell form as the hot path's changes are; and a client opened in the test
    # process's own namespace is never the one used in the test's namespace.
    from kvmnet.host import iproute, tap

    outside = iproute.client()  # this process's (the machine's) namespace
    ns.ip("link", "add", "kvp0", "type", "veth", "peer", "name", "kvp1")

    def cold() -> tuple[list[str], bool]:
        records: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record.getMessage())
        logger = logging.getLogger("kvmnet.host")
        logger.addHandler(Keep())
        logger.setLevel(logging.DEBUG)
        fresh = iproute.client() is not outside
        with Netlink() as nl:
            nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0)
            nl.set_master("kvp0", "kvbr0")
            nl.bridge_port_set("kvp0", isolated=True, hairpin=True)
            tap.bridge_batch(tap.libvirt_mac_table_batch("kvp0", "52:54:00:00:00:07"))
        return records, fresh
    records, fresh = ns.call(cold)
    assert fresh
    assert records[-3:] == [
        "bridge link set dev kvp0 isolated on hairpin on",
        "bridge link set dev kvp0 learning off flood off",
        "bridge fdb add 52:54:00:00:00:07 dev kvp0 master temp",
    ]
    (port,) = ns.ip_json("-d", "link", "show", "dev", "kvp0")
    slave = port["linkinfo"]["info_slave_data"]
    assert slave["isolated"] is True and slave["hairpin"] is True
    assert slave["learning"] is False and slave["flood"] is False
    fdb = json.loads(ns.run(["bridge", "-j", "fdb", "show", "dev", "kvp0"]).stdout)
    assert any(e["mac"] == "52:54:00:00:00:07" and "permanent" not in e.get("state", "")
               for e in fdb), fdb
    assert not os.path.exists("/sys/class/net/kvbr0"), "the change reached the machine's namespace"
    iproute.close()


@root_only
def test_create_delete_cost(ns: NetNS) -> None:
    def measure(nl: Netlink) -> tuple[float, float]:
        nl.list_links()  # socket open and warm
        n = 10
        create = delete = 0.0
        for i in range(n):
            t0 = time.perf_counter()
            nl.create_bridge(f"kvbr{i}", stp=True, forward_delay_cs=0, mtu=1500)
            t1 = time.perf_counter()
            nl.delete_link(f"kvbr{i}")
            t2 = time.perf_counter()
            create += t1 - t0
            delete += t2 - t1
        return create / n * 1000, delete / n * 1000
    create_ms, delete_ms = ns.call(with_netlink(measure))
    print(f"\ncreate_bridge {create_ms:.2f} ms, delete_link {delete_ms:.2f} ms (mean of 10)")
    assert create_ms < 500 and delete_ms < 1000


def test_no_stand_in_packages_and_pyroute2_stays_ordinary() -> None:
    # In a fresh interpreter: the hot path (lookups, dumps) never imports pyroute2, and a cold
    # operation imports the real, public package: nothing fake sits in sys.modules.
    code = (
        "import sys, types\n"
        "from kvmnet.host import iproute, netlink\n"
        "with netlink.Netlink() as nl:\n"
        "    nl.link_info('lo'); nl.list_addresses(); nl.list_routes(); nl.list_links()\n"
        "assert not any(m.startswith('pyroute2') for m in sys.modules), 'pyroute2 loaded'\n"
        "iproute.client()\n"
        "import pyroute2\n"
        "from pyroute2 import IPRoute\n"
        "assert type(pyroute2) is types.ModuleType and pyroute2.__version__\n"
        "assert isinstance(iproute.client(), IPRoute)\n"
        "iproute.close()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_importing_the_adapter_does_not_import_pyroute2() -> None:
    code = "import sys, kvmnet.host.netlink, kvmnet.host.dnsmasq, kvmnet.host.sysctl; " \
           "print(any(m.startswith('pyroute2') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# -- sysctl -------------------------------------------------------------------------------------


def test_sysctl_keys_and_paths() -> None:
    assert sysctl.iface_key(6, "eth0.1", "accept_ra") == "net.ipv6.conf.eth0/1.accept_ra"
    assert sysctl.iface_key("ipv4", "virbr0", "forwarding") == "net.ipv4.conf.virbr0.forwarding"
    assert sysctl.path_of("net.ipv6.conf.eth0/1.accept_ra") == "/proc/sys/net/ipv6/conf/eth0.1/accept_ra"
    assert sysctl.path_of("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
    for bad in ("net..ipv4", "net.ipv4./", "net.ipv4.."):
        with pytest.raises(ValueError):
            sysctl.path_of(bad)
    with pytest.raises(ValueError):
        sysctl.iface_key(5, "eth0", "x")
    with pytest.raises(ValueError):
        sysctl.iface_key(4, "a/b", "x")


@root_only
def test_sysctl_read_write_in_namespace(ns: NetNS) -> None:
    ns.ip("link", "add", "kv.1", "type", "veth", "peer", "name", "kv.2")

    def work() -> tuple[Any, ...]:
        sysctl.write("net.ipv4.ip_forward", 0)
        prev = sysctl.write("net.ipv4.ip_forward", 1)
        after = sysctl.read("net.ipv4.ip_forward")
        same = sysctl.write("net.ipv4.ip_forward", "1")
        key = sysctl.iface_key(6, "kv.1", "accept_ra")
        sysctl.write(key, 2)
        ra_prev = sysctl.write(key, 0)
        ra = sysctl.read(key)
        missing = sysctl.read(sysctl.iface_key(6, "nope0", "accept_ra"))
        missing_ok = sysctl.write(sysctl.iface_key(6, "nope0", "accept_ra"), 0, missing_ok=True)
        return prev, after, same, ra_prev, ra, missing, missing_ok
    # write() returns the previous value (for the undo record)
    assert ns.call(work) == ("0", "1", "1", "2", "0", None, None)
    assert ns.run(["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "1"
    assert ns.run(["cat", "/proc/sys/net/ipv6/conf/kv.1/accept_ra"]).stdout.strip() == "0"

    with pytest.raises(HostError) as ei:
        ns.call(lambda: sysctl.write(sysctl.iface_key(4, "nope0", "forwarding"), 1))
    assert ei.value.errno == errno.ENOENT and "sysctl -w net.ipv4.conf.nope0.forwarding=1" in str(ei.value)
    with pytest.raises(HostError) as e2:
        ns.call(lambda: sysctl.write("net.ipv4.ip_forward", "bogus"))
    assert e2.value.errno == errno.EINVAL


# -- run ----------------------------------------------------------------------------------------


def test_run_missing_program_names_the_package() -> None:
    with pytest.raises(HostError) as ei:
        run(["dnsmasq", "--version"], env={"PATH": "/nonexistent"})
    assert str(ei.value).startswith("dnsmasq not found in PATH: install the dnsmasq-base package")
    assert ei.value.errno == errno.ENOENT and ei.value.command == "dnsmasq --version"


def test_run_failure_quotes_stderr() -> None:
    with pytest.raises(CommandError) as ei:
        run(["sh", "-c", "echo 'it broke' >&2; exit 3"])
    assert ei.value.returncode == 3 and "it broke" in str(ei.value)
    assert "exit status 3" in str(ei.value)
    assert run(["sh", "-c", "exit 3"], check=False).returncode == 3
    assert run(["cat"], input="hello").stdout == "hello"
    assert run(["sh", "-c", "echo $KVH_X"], env={"KVH_X": "y"}).stdout == "y\n"


def test_run_timeout() -> None:
    with pytest.raises(HostError) as ei:
        run(["sleep", "5"], timeout=0.2)
    assert ei.value.errno == errno.ETIMEDOUT


# -- the namespace helper itself ----------------------------------------------------------------


@root_only
def test_netns_helper_call_isolation_and_errors(ns: NetNS) -> None:
    inside = ns.call(lambda: sorted(os.listdir("/sys/class/net")))
    assert inside == ["lo"]
    assert ns.call(lambda: os.readlink("/proc/self/ns/net")) != os.readlink("/proc/self/ns/net")
    with pytest.raises(ZeroDivisionError):
        ns.call(lambda: 1 / 0)
    with pytest.raises(RemoteError):
        ns.call(lambda: (lambda: None))  # unpicklable result
    with pytest.raises(TimeoutError):
        ns.call(time.sleep, 5, timeout=0.3)


@root_only
def test_veth_between_namespaces() -> None:
    with NetNS("a") as a, NetNS("b") as b:
        veth(a, "va", b, "vb")
        a.ip("addr", "add", "192.0.2.1/24", "dev", "va")
        b.ip("addr", "add", "192.0.2.2/24", "dev", "vb")
        b.run(["busybox", "ping", "-c", "1", "-W", "5", "192.0.2.1"])
        assert a.ip_json("link", "show", "va")[0]["ifname"] == "va"
        name = a.name
    listed = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True, text=True)
    assert name not in listed.stdout


@root_only
def test_netns_fixture(netns: Callable[[str], NetNS]) -> None:
    a = netns("fx")
    b = netns("fx")
    assert a.name != b.name and a.name.startswith("kvh-fx-")
    p = a.popen(["sleep", "30"])
    # "ip netns exec" joins the namespace after Popen returns: wait until it has (a loaded
    # machine once took longer than the first look)
    deadline = time.monotonic() + 10
    while not a.pids() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    assert a.pids() == [p.pid]


# -- the synchronous rtnetlink transport (kvmnet.host.rtnl) --------------------------------------


def test_opening_the_socket_does_not_import_asyncio() -> None:
    # The point of kvmnet.host.rtnl and rtpack: the start path's lookups and dumps need no
    # pyroute2 (and so no asyncio) at all.
    code = (
        "import sys\n"
        "from kvmnet.host.netlink import Netlink\n"
        "with Netlink() as nl:\n"
        "    assert nl.link_exists('lo')\n"
        "    assert nl.link_info('lo').kind is None\n"
        "    assert not any(m.startswith('pyroute2') for m in sys.modules), 'pyroute2 loaded'\n"
        "    nl.list_routes()  # read by kvmnet.host.rtpack too\n"
        "assert not any(m.startswith('pyroute2') for m in sys.modules), 'pyroute2 loaded'\n"
        "bad = sorted(m for m in sys.modules if m == 'asyncio' or m.startswith(('pyroute2.iproute', "
        "'pyroute2.ndb', 'pyroute2.ipdb')))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@root_only
def test_link_replies_read_without_pyroute2_match_pyroute2(ns: NetNS) -> None:
    # kvmnet.host.rtpack reads RTM_NEWLINK replies itself; the real kernel's replies must read
    # the same through pyroute2's public IPRoute, for a bridge with STP, a port and a veth.
    ns.ip("link", "add", "kvbr0", "address", "52:54:00:00:00:01", "mtu", "1400", "type", "bridge",
          "stp_state", "1", "forward_delay", "500")
    ns.ip("link", "add", "kvv0", "mtu", "1400", "type", "veth", "peer", "name", "kvv1")
    ns.ip("link", "set", "kvv0", "master", "kvbr0")
    ns.ip("link", "set", "kvbr0", "up")

    def both(nl: Netlink) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        from kvmnet.host import rtnl as rt
        from kvmnet.host import rtpack

        out = []
        assert nl._rtnl is not None
        for name in ("kvbr0", "kvv0", "kvv1", "lo"):
            body = rtpack.encode("ifinfmsg", {"index": 0}, [("IFLA_IFNAME", name)])
            assert body is not None
            (raw,) = nl._rtnl.request_raw(rt.RTM_GETLINK, 0, body)
            ours = rtpack.decode_link(raw)
            from pyroute2 import IPRoute

            with IPRoute() as ipr:
                (theirs,) = ipr.link("get", ifname=name)
            info = theirs.get("IFLA_LINKINFO")
            data = info.get("IFLA_INFO_DATA") if info is not None else None
            out.append(({k: ours[k] for k in ("index", "flags", "IFLA_IFNAME", "IFLA_ADDRESS",
                                              "IFLA_MTU", "IFLA_OPERSTATE", "IFLA_MASTER")}
                        | {"kind": (ours["IFLA_LINKINFO"] or {}).get("IFLA_INFO_KIND"),
                           "data": (ours["IFLA_LINKINFO"] or {}).get("IFLA_INFO_DATA")},
                        {k: theirs.get(k) for k in ("index", "flags", "IFLA_IFNAME",
                                                    "IFLA_ADDRESS", "IFLA_MTU", "IFLA_OPERSTATE",
                                                    "IFLA_MASTER")}
                        | {"kind": info.get("IFLA_INFO_KIND") if info is not None else None,
                           "data": {"IFLA_BR_FORWARD_DELAY": data.get("IFLA_BR_FORWARD_DELAY"),
                                    "IFLA_BR_STP_STATE": data.get("IFLA_BR_STP_STATE")}
                           if data is not None and info.get("IFLA_INFO_KIND") == "bridge"
                           else None}))
        return out

    pairs = ns.call(with_netlink(both))
    for ours, theirs in pairs:
        assert ours == theirs
    bridge = pairs[0][0]
    assert bridge["kind"] == "bridge" and bridge["IFLA_MTU"] == 1400
    assert bridge["IFLA_ADDRESS"] == "52:54:00:00:00:01"
    assert bridge["data"] == {"IFLA_BR_FORWARD_DELAY": 500, "IFLA_BR_STP_STATE": 1}
    assert pairs[1][0]["IFLA_MASTER"] == bridge["index"] and pairs[1][0]["kind"] == "veth"


@root_only
def test_kernel_error_text_reaches_the_error(ns: NetNS) -> None:
    def too_big(nl: Netlink) -> None:
        nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0)
        nl.set_mtu("kvbr0", 70000)
    with pytest.raises(HostError) as ei:
        ns.call(with_netlink(too_big))
    # NETLINK_EXT_ACK: the kernel's own words ("mtu greater than device maximum"), not strerror.
    assert ei.value.errno == errno.EINVAL
    assert "maximum" in str(ei.value).lower() and "Invalid argument" not in str(ei.value)


@root_only
def test_dumps_spanning_many_receives(ns: NetNS) -> None:
    # ~250 bridges with an address each: the link and address dumps arrive in many datagrams.
    n = 250
    batch = "".join(f"link add kvd{i} type bridge\naddr add 10.77.{i // 200}.{i % 200 + 1}/32 dev kvd{i}\n"
                    for i in range(n))
    ns.run(["ip", "-batch", "-"], input=batch)
    links, addrs = ns.call(with_netlink(lambda nl: (nl.list_links(), nl.list_addresses())))
    assert {lk.ifname for lk in links} == {"lo"} | {f"kvd{i}" for i in range(n)}
    assert all(lk.kind == "bridge" for lk in links if lk.ifname != "lo")
    mine = {a for a in addrs if a.ifname.startswith("kvd")}
    assert len(mine) == n
    assert Address("kvd249", "10.77.1.50", 32, 4) in mine


@root_only
def test_many_requests_on_one_socket(ns: NetNS) -> None:
    def churn(nl: Netlink) -> tuple[int, bool]:
        for i in range(50):
            nl.create_bridge("kvbr0", stp=False, forward_delay_cs=i * 100, up=i % 2 == 0)
            info = nl.link_info("kvbr0")
            assert info is not None and info.forward_delay_cs == i * 100
            assert nl.add_address("kvbr0", "192.0.2.1", 24) is True
            assert nl.delete_link("kvbr0") is True
        return len(nl.list_links()), nl.link_exists("kvbr0")
    assert ns.call(with_netlink(churn)) == (1, False)


@root_only
def test_bridge_port_flags_need_a_bridge(ns: NetNS) -> None:
    ns.ip("link", "add", "kvp0", "type", "veth", "peer", "name", "kvp1")
    with pytest.raises(HostError) as ei:
        ns.call(with_netlink(lambda nl: nl.bridge_port_set("kvp0", isolated=True)))
    assert ei.value.errno == errno.EOPNOTSUPP
    assert "kvp0 is not attached to a bridge" in str(ei.value)
    assert "ip link set kvp0 master" in str(ei.value)
    assert ns.call(with_netlink(lambda nl: nl.bridge_port_set("kvp0"))) is None  # nothing to set


@root_only
def test_values_refused_before_the_kernel(ns: NetNS) -> None:
    with pytest.raises(HostError) as ei:
        ns.call(with_netlink(lambda nl: nl.create_bridge("kvbr0", stp=False, forward_delay_cs=2**40)))
    assert ei.value.errno == errno.EINVAL and "does not fit" in str(ei.value)
    with pytest.raises(HostError) as e2:
        ns.call(with_netlink(lambda nl: nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0,
                                                         mac="52:54:00:12:34")))
    assert e2.value.errno == errno.EINVAL and "xx:xx:xx:xx:xx:xx" in str(e2.value)
    assert [lk["ifname"] for lk in ns.ip_json("link", "show")] == ["lo"]


@root_only
def test_default_on_link_and_foreign_routes(ns: NetNS) -> None:
    def setup(nl: Netlink) -> list[bool]:
        nl.create_bridge("kvbr0", stp=False, forward_delay_cs=0)
        nl.add_address("kvbr0", "192.0.2.1", 24)
        nl.add_address("kvbr0", "2001:db8:1::1", 64, nodad=True)
        return [
            nl.add_route("0.0.0.0", 0, "192.0.2.254"),
            nl.add_route("::", 0, "2001:db8:1::fe"),
            nl.add_route("203.0.113.0", 24, None, ifname="kvbr0"),
        ]
    assert ns.call(with_netlink(setup)) == [True, True, True]
    assert ns.ip_json("route", "show", "default")[0]["gateway"] == "192.0.2.254"
    assert ns.ip_json("-6", "route", "show", "default")[0]["gateway"] == "2001:db8:1::fe"
    on_link = ns.ip_json("route", "show", "203.0.113.0/24")[0]
    assert on_link["dev"] == "kvbr0" and on_link["scope"] == "link"  # as ip route add ... dev
    # A route someone else added (proto boot, ip's default) is deleted all the same.
    ns.ip("route", "add", "198.51.100.0/24", "via", "192.0.2.2")

    def teardown(nl: Netlink) -> list[bool]:
        return [
            nl.delete_route("0.0.0.0", 0, "192.0.2.254"),
            nl.delete_route("0.0.0.0", 0, "192.0.2.254"),
            nl.delete_route("::", 0, "2001:db8:1::fe"),
            nl.delete_route("203.0.113.0", 24, None, ifname="kvbr0"),
            nl.delete_route("198.51.100.0", 24, "192.0.2.2"),
            nl.delete_route("198.51.100.0", 24, "192.0.2.2", ifname="nope0"),
        ]
    assert ns.call(with_netlink(teardown)) == [True, False, True, True, True, False]
    assert ns.ip_json("route", "show", "default") == []
    assert ns.ip_json("route", "show", "203.0.113.0/24") == []
    assert ns.ip_json("route", "show", "198.51.100.0/24") == []


@root_only
def test_conflict_lookups_match_the_full_listings(ns: NetNS) -> None:
    # addresses_within and routes_within compare integers straight from the kernel's dumps;
    # they must find exactly what filtering the full, decoded listings finds.
    import ipaddress

    from kvmnet.host import procnet
    from kvmnet.network.preflight import _span

    for i in range(1, 6):
        ns.ip("link", "add", f"b{i}", "type", "bridge")
        ns.ip("link", "set", f"b{i}", "up")
    ns.ip("addr", "add", "10.1.1.1/24", "dev", "b1")
    ns.ip("addr", "add", "10.1.2.5/16", "dev", "b2")
    ns.ip("addr", "add", "192.168.5.1/32", "dev", "b3")
    ns.ip("addr", "add", "10.9.9.1", "peer", "10.1.1.77/32", "dev", "b4")
    ns.ip("addr", "add", "fd00:1::1/64", "dev", "b5", "nodad")
    ns.ip("addr", "add", "2001:db8::1/48", "dev", "b5", "nodad")
    ns.ip("route", "add", "172.16.0.0/12", "via", "10.1.1.2")
    cases = [("10.1.1.1", 24), ("10.1.0.0", 16), ("10.2.0.0", 16), ("192.168.5.0", 24),
             ("10.1.1.64", 26), ("172.20.0.0", 16), ("fd00:1::", 48), ("2001:db8:0:5::", 64),
             ("fe80::", 10), ("0.0.0.0", 0)]

    def both(nl: Netlink) -> list[tuple[Any, Any, Any, Any]]:
        full, routes = nl.list_addresses(), procnet.read_routes()
        out = []
        for addr, plen in cases:
            net = ipaddress.ip_network(f"{addr}/{plen}", strict=False)

            def hit(a: str, p: int, v: int, net: Any = net) -> bool:
                return v == net.version and ipaddress.ip_network(f"{a}/{p}", strict=False).overlaps(net)
            out.append((nl.addresses_within([_span(addr, plen)]),
                        [a for a in full if hit(a.address, a.prefixlen, a.family)],
                        procnet.routes_within([_span(addr, plen)]),
                        [r for r in routes if hit(r.dst, r.prefixlen, r.family)]))
        return out

    results = ns.call(with_netlink(both))
    for (addr, plen), (fast_a, slow_a, fast_r, slow_r) in zip(cases, results):
        assert fast_a == slow_a, (addr, plen)
        assert fast_r == slow_r, (addr, plen)
    names = {(a, p): [x.ifname for x in r[0]] for (a, p), r in zip(cases, results)}
    assert names[("10.1.1.1", 24)] == ["b1", "b2"]  # the peer of b4 is a route, not an address
    assert [r.dst for r in results[5][2]] == ["172.16.0.0"]
