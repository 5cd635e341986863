"""kvmnet.host.dnsmasq with a real dnsmasq and a real DHCP client (busybox udhcpc).

Topology, all inside namespaces made here::

    srv: bridge kvbr0 192.0.2.1/24 (dnsmasq) -- port vsrv  ==veth==  vcli :cli (udhcpc)
"""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmnet.errors import HostError
from kvmnet.host import dnsmasq, process, procnet
from kvmnet.host.netlink import Netlink
from tests.functional.netns import NetNS, have_root, veth

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not have_root() or shutil.which("dnsmasq") is None,
        reason="needs root (network namespaces) and dnsmasq",
    ),
]

BRIDGE = "kvbr0"
SERVER_IP = "192.0.2.1"

CONF = """\
strict-order
pid-file={pid_file}
except-interface=lo
bind-dynamic
interface={bridge}
dhcp-range=192.0.2.10,192.0.2.20,255.255.255.0
dhcp-authoritative
dhcp-lease-max=11
dhcp-leasefile={leases}
no-resolv
no-hosts
"""


class Lab:
    def __init__(self, srv: NetNS, cli: NetNS, tmp: Path) -> None:
        self.srv = srv
        self.cli = cli
        self.tmp = tmp

    def conf(self, name: str = "net1", **extra: str) -> tuple[str, str, str]:
        """Write a conf file; returns (conf path, pid file, lease file)."""
        pid_file = str(self.tmp / f"{name}.pid")
        leases = str(self.tmp / f"{name}.leases")
        text = CONF.format(pid_file=pid_file, bridge=BRIDGE, leases=leases)
        text += "".join(f"{k.replace('_', '-')}={v}\n" for k, v in extra.items())
        conf = self.tmp / f"{name}.conf"
        conf.write_text(text)
        return str(conf), pid_file, leases

    def start(self, conf: str, pid_file: str) -> int:
        return self.srv.call(dnsmasq.start, conf, pid_file=pid_file)


def _make_bridge() -> None:
    with Netlink() as nl:
        nl.create_bridge(BRIDGE, stp=False, forward_delay_cs=0)
        nl.add_address(BRIDGE, SERVER_IP, 24)
        nl.set_master("vsrv", BRIDGE)
        nl.set_link_up("vsrv")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    tmp_path.chmod(0o755)  # dnsmasq drops privileges after start-up
    with NetNS("srv") as srv, NetNS("cli") as cli:
        veth(srv, "vsrv", cli, "vcli")
        srv.call(_make_bridge)
        yield Lab(srv, cli, tmp_path)
        # NetNS.delete stops any dnsmasq still running inside, by PID


def test_start_serves_dhcp_and_stop(lab: Lab) -> None:
    conf, pid_file, leases = lab.conf()
    pid = lab.start(conf, pid_file)
    assert pid > 1 and dnsmasq.read_pid_file(pid_file) == pid
    assert dnsmasq.is_running(pid, conf)
    assert f"--conf-file={conf}" in (process.read_cmdline(pid) or [])

    # it listens: DNS on the bridge address, DHCP on the wildcard (bound to the device)
    listening = lab.srv.call(procnet.read_listening)
    assert procnet.port_in_use([SERVER_IP], 53, "udp", listening)
    assert procnet.port_in_use([SERVER_IP], 53, "tcp", listening)
    assert procnet.port_in_use([SERVER_IP], 67, "udp", listening)
    specific = [s for s in listening if s.address != "0.0.0.0"]
    assert not procnet.port_in_use(["192.0.2.99"], 53, "udp", specific)
    dns = procnet.conflicting_listeners([SERVER_IP], 53, "udp", listening)[0]
    assert pid in lab.srv.call(procnet.socket_owners, dns.inode)

    # a real DHCP client in the other namespace gets a lease
    script = lab.tmp / "udhcpc.sh"
    script.write_text('#!/bin/sh\nif [ "$1" = bound ]; then echo "LEASE ip=$ip router=$router"; fi\n')
    script.chmod(0o755)
    out = lab.cli.run(["udhcpc", "-i", "vcli", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", str(script)],
                      check=False, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    lease_line = next(line for line in out.stdout.splitlines() if line.startswith("LEASE"))
    ip = lease_line.split()[1].removeprefix("ip=")
    assert ip.startswith("192.0.2.") and 10 <= int(ip.rsplit(".", 1)[1]) <= 20
    mac = lab.cli.ip_json("link", "show", "vcli")[0]["address"]
    deadline = time.monotonic() + 5
    while mac not in Path(leases).read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"{mac} {ip}" in Path(leases).read_text()

    assert dnsmasq.reload(pid, expected_cmdline_contains=conf) is True
    assert dnsmasq.reload(pid) is True  # guard without a conf path: "is it a dnsmasq?"
    assert dnsmasq.is_running(pid, conf)

    assert dnsmasq.stop(pid, expected_cmdline_contains=conf, pid_file=pid_file) is True
    assert not process.is_alive(pid)
    assert not dnsmasq.is_running(pid, conf)
    assert not os.path.exists(pid_file)
    assert dnsmasq.stop(pid, expected_cmdline_contains=conf) is False  # already gone
    assert not lab.srv.call(procnet.port_in_use, [SERVER_IP], 53, "udp")


def test_start_failure_carries_dnsmasq_message(lab: Lab) -> None:
    conf1, pid1, _ = lab.conf("net1")
    conf2, pid2, _ = lab.conf("net2")
    first = lab.start(conf1, pid1)
    with pytest.raises(HostError) as ei:
        lab.start(conf2, pid2)
    text = str(ei.value)
    assert "dnsmasq failed to start: dnsmasq: failed to create listening socket" in text
    assert "Address already in use" in text
    assert "another DNS or DHCP server probably holds the port" in text
    assert ei.value.command == f"dnsmasq --conf-file={conf2}"
    assert dnsmasq.is_running(first, conf1)


def test_start_refuses_a_second_copy(lab: Lab) -> None:
    conf, pid_file, _ = lab.conf()
    pid = lab.start(conf, pid_file)
    with pytest.raises(HostError) as ei:
        lab.start(conf, pid_file)
    assert ei.value.errno == errno.EEXIST and f"already running as PID {pid}" in str(ei.value)


def test_stale_pid_file_is_replaced(lab: Lab) -> None:
    conf, pid_file, _ = lab.conf()
    Path(pid_file).write_text(f"{os.getpid()}\n")  # a live PID that is not a dnsmasq
    pid = lab.start(conf, pid_file)
    assert pid != os.getpid() and dnsmasq.read_pid_file(pid_file) == pid


def test_bad_configuration(lab: Lab) -> None:
    conf, pid_file, _ = lab.conf(no_such_option="1")
    with pytest.raises(HostError) as ei:
        lab.start(conf, pid_file)
    assert "bad option" in str(ei.value) or "error at line" in str(ei.value)
    assert "fix the configuration file" in str(ei.value)


def test_pid_reuse_guard(lab: Lab) -> None:
    conf, pid_file, _ = lab.conf()
    pid = lab.start(conf, pid_file)
    # The PID is a dnsmasq, but not the one for this conf: never signalled.
    other_conf = str(lab.tmp / "other.conf")
    assert dnsmasq.stop(pid, expected_cmdline_contains=other_conf) is False
    assert dnsmasq.reload(pid, expected_cmdline_contains=other_conf) is False
    assert dnsmasq.is_running(pid, conf)
    # A pid file that now names an unrelated process: refused, the process lives on.
    sleeper = lab.srv.popen(["sleep", "30"])
    assert dnsmasq.stop(sleeper.pid, expected_cmdline_contains=conf) is False
    assert dnsmasq.reload(sleeper.pid) is False
    assert sleeper.poll() is None
    assert not dnsmasq.is_running(sleeper.pid, conf)


def test_terminate_escalates_to_sigkill(tmp_path: Path) -> None:
    marker = str(tmp_path / "stubborn-marker")
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"print('{marker}', flush=True); time.sleep(60)"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == marker
        t0 = time.monotonic()
        assert process.terminate(p.pid, expected_cmdline_contains=marker, timeout=0.3) is True
        assert time.monotonic() - t0 < 5
        assert not process.is_alive(p.pid)
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    assert p.returncode in (-signal.SIGKILL, 0)  # 0 if terminate() reaped it first


def test_version() -> None:
    v = dnsmasq.version()
    assert len(v) >= 2 and v >= (2, 0)


def test_inotify_usage() -> None:
    usage = dnsmasq.inotify_usage()
    assert usage.max_user_instances is not None and usage.max_user_instances > 0
    assert all(n > 0 for n in usage.instances_by_uid.values())
    text = dnsmasq.inotify_diagnosis()
    assert "fs.inotify.max_user_instances=" in text and "no-resolv" in text


def _wakeups(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("voluntary_ctxt_switches"))


def _churn(srv: NetNS, tag: str) -> None:
    """What other networks starting and stopping do: bridges, addresses, routes come and go."""
    for i in range(3):
        br = f"kv{tag}{i}"
        srv.ip("link", "add", br, "type", "bridge")
        srv.ip("link", "set", br, "up")
        srv.ip("addr", "add", f"198.51.{100 + i}.1/24", "dev", br)
        srv.ip("route", "add", f"203.0.{113 + i}.0/24", "dev", br)
        srv.ip("link", "del", br)
    time.sleep(0.2)


def test_started_dnsmasq_sleeps_through_other_networks_changes(lab: Lab) -> None:
    """kvmnet filters route and address notifications out of dnsmasq's rtnetlink socket
    (kvmnet.host.routemute): with a thousand networks each start or stop otherwise wakes
    every dnsmasq.  It still answers DHCP and DNS, which need its own netlink dumps."""
    conf, pid_file, _leases = lab.conf()
    Path(conf).write_text(Path(conf).read_text().replace("bind-dynamic", "bind-interfaces")
                          + "host-record=web.example,192.0.2.50\n")
    pid = lab.start(conf, pid_file)
    before = _wakeups(pid)
    _churn(lab.srv, "a")
    assert _wakeups(pid) == before

    out = lab.cli.run(["udhcpc", "-i", "vcli", "-n", "-q", "-f", "-t", "5", "-T", "1",
                       "-s", "/bin/true"], check=False, timeout=30)
    assert out.returncode == 0 and "lease of 192.0.2." in out.stdout + out.stderr, \
        out.stdout + out.stderr
    lab.cli.ip("addr", "add", "192.0.2.77/24", "dev", "vcli")
    dns = lab.cli.run(["busybox", "nslookup", "-type=a", "web.example", SERVER_IP],
                      check=False, timeout=20)
    assert "192.0.2.50" in dns.stdout, dns.stdout + dns.stderr


def test_bind_dynamic_dnsmasq_still_hears_address_changes(lab: Lab) -> None:
    """A configuration that binds to addresses as they come (bind-dynamic) keeps getting
    address notifications; only route notifications are filtered for it."""
    conf, pid_file, _ = lab.conf()
    pid = lab.start(conf, pid_file)
    before = _wakeups(pid)
    lab.srv.ip("route", "add", "203.0.113.0/24", "dev", BRIDGE)
    time.sleep(0.2)
    assert _wakeups(pid) == before
    lab.srv.ip("addr", "add", "192.0.2.2/24", "dev", BRIDGE)
    deadline = time.monotonic() + 5
    while _wakeups(pid) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _wakeups(pid) > before


def test_options_given_on_the_command_line_count_too(lab: Lab) -> None:
    """An option passed as an argument (here --local-service, which re-reads the interfaces
    on address changes) keeps address notifications coming, as in the conf file."""
    conf, pid_file, _ = lab.conf()
    Path(conf).write_text(Path(conf).read_text().replace("bind-dynamic", "bind-interfaces"))
    pid = lab.srv.call(dnsmasq.start, conf, pid_file=pid_file, extra_args=["--local-service"])
    before = _wakeups(pid)
    lab.srv.ip("addr", "add", "192.0.2.3/24", "dev", BRIDGE)
    deadline = time.monotonic() + 5
    while _wakeups(pid) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _wakeups(pid) > before
