"""kvmnet watch puts kvmnet's firewall state back while a guest's traffic runs through NAT.

A guest opens a TCP connection to the outside through a NAT network every 50 ms; doctor's fix for a Docker-like
FORWARD policy is in place.  ``nft flush ruleset`` wipes kvmnet's table (and the Docker rules
with it); Docker's restart is played by recreating its chains.  The test measures (and prints)
how long the guest's traffic stops and asserts that it flows again (within a generous timeout,
not a time bound); watch ends cleanly on SIGTERM.  A port forward added while watch runs is
put back after a flush too: a connection from the outside namespace reaches the target again.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.functional.kvmnet_env import (
    IP,
    KVMNET,
    PYTHON,
    WAN_HOST_IP,
    WAN_IP,
    WAN_PORT,
    KvEnv,
    kvenv,
    requires_kvmnet_root,
    simple_network,
)
from tests.functional.test_doctor import DOCKER, FIREWALLD
from tests.functional.test_forward_netns import LISTEN, TARGET, Site

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

NET = "wnet"
BRIDGE = "virbr8"
SUBNET = "192.168.180"
RECOVERY_TIMEOUT = 30.0  # generous: the machine may be loaded; the printed time is the measure


def _watch(kvenv: KvEnv) -> subprocess.Popen[str]:
    env = dict(os.environ, KVMNET_ROOT=str(kvenv.root))
    p = subprocess.Popen([IP, "netns", "exec", kvenv.host.name, KVMNET, "watch"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    assert p.stdout is not None
    deadline = time.monotonic() + 30
    for line in p.stdout:
        if "watching nftables" in line:
            return p
        assert time.monotonic() < deadline, "watch did not start"
    raise AssertionError(f"watch ended: {p.wait()} {p.stderr.read() if p.stderr else ''}")


# The guest's traffic: a new TCP connection to the outside every 50 ms (each one NATed), one
# line per attempt: "ok UNIXTIME" when it got through, "fail UNIXTIME" when not (so that a
# reader waiting for the traffic to come back wakes up and can give up).
CONNECTOR = """
import socket, sys, time
while True:
    start = time.time()
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.3).close()
        print("ok", start, flush=True)
    except OSError:
        print("fail", start, flush=True)
    time.sleep(max(0.0, 0.05 - (time.time() - start)))
"""


def _pinger(kvenv: KvEnv, ns_name: str) -> subprocess.Popen[str]:
    return subprocess.Popen([IP, "netns", "exec", ns_name, PYTHON, "-u", "-c", CONNECTOR,
                             WAN_IP, str(WAN_PORT)], stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def _outage(ping: subprocess.Popen[str], cut: float) -> float:
    """Seconds from ``cut`` (time.time) to the first connection begun after it that got through."""
    assert ping.stdout is not None
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    for line in ping.stdout:
        if line.startswith("ok ") and float(line.split()[1]) > cut:
            return float(line.split()[1]) - cut
        assert time.monotonic() < deadline, "the guest's traffic never came back"
    raise AssertionError("the guest's connector ended")


def _wait_flowing(ping: subprocess.Popen[str]) -> None:
    assert ping.stdout is not None
    for line in ping.stdout:
        if line.startswith("ok "):
            return
    raise AssertionError("the guest's connections never got through")


def test_watch_restores_the_table_and_doctors_rules_after_a_flush(kvenv: KvEnv) -> None:
    kvenv.start(simple_network(NET, BRIDGE, SUBNET, "nat"))
    wan = kvenv.wan()
    log = kvenv.tcp_server(wan)
    kvenv.host.ip("route", "add", "default", "via", WAN_IP)
    cli = kvenv.client(BRIDGE)
    kvenv.dhcp(cli)
    kvenv.host.run(["sh", "-euc", DOCKER.format(ipt="iptables-nft")])
    assert kvenv.kv("doctor", "--fix", timeout=120).returncode == 0
    table = kvenv.nft_table()
    assert table is not None
    watch = _watch(kvenv)
    ping = _pinger(kvenv, cli.ns.name)
    try:
        _wait_flowing(ping)
        cut = time.time()
        kvenv.host.run(["nft", "flush", "ruleset"])
        # Docker comes back (its restart recreates its chains and the FORWARD DROP policy)
        kvenv.host.run(["sh", "-euc", DOCKER.format(ipt="iptables-nft")])
        seconds = _outage(ping, cut)
        print(f"\nwatch: guest traffic through NAT flowed again {seconds * 1000:.0f} ms after "
              "'nft flush ruleset' (Docker's chains recreated with policy DROP)")
        assert kvenv.nft_table() is not None
        rules = kvenv.host.run(["iptables-nft", "-S", "DOCKER-USER"]).stdout
        assert f"kvmnet: network {NET}: from the guests" in rules, rules
        # NAT is back too: the outside sees only the host's address
        assert set(log.read_text().split()) == {WAN_HOST_IP}
    finally:
        ping.kill()
        ping.wait()
        watch.send_signal(signal.SIGTERM)
        try:
            out, err = watch.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            watch.kill()
            raise AssertionError("watch did not stop on SIGTERM") from None
    assert watch.returncode == 0, err
    assert "put back" in out and "stopped" in out, out


def test_watch_puts_doctors_rules_back_after_a_firewalld_reload(kvenv: KvEnv) -> None:
    kvenv.start(simple_network(NET, BRIDGE, SUBNET, "nat"))
    wan = kvenv.wan()
    kvenv.tcp_server(wan)
    kvenv.host.ip("route", "add", "default", "via", WAN_IP)
    cli = kvenv.client(BRIDGE)
    kvenv.dhcp(cli)
    kvenv.host.run(["nft", "-f", "-"], input=FIREWALLD)
    assert kvenv.kv("doctor", "--fix", timeout=120).returncode == 0
    watch = _watch(kvenv)
    ping = _pinger(kvenv, cli.ns.name)
    try:
        _wait_flowing(ping)
        cut = time.time()
        # a firewalld reload: its table goes and comes back as its configuration says
        kvenv.host.run(["nft", "-f", "-"], input="delete table inet firewalld\n" + FIREWALLD)
        seconds = _outage(ping, cut)
        print(f"\nwatch: guest traffic flowed again {seconds * 1000:.0f} ms after a firewalld "
              "reload removed doctor's accepts")
        chain = kvenv.host.run(["nft", "list", "chain", "inet", "firewalld", "filter_FORWARD"])
        assert f"kvmnet: network {NET}: from the guests" in chain.stdout
    finally:
        ping.kill()
        ping.wait()
        watch.send_signal(signal.SIGTERM)
        out, _ = watch.communicate(timeout=10)
    assert watch.returncode == 0 and "put back" in out, out


def test_watch_puts_a_port_forward_back_after_a_flush(kvenv: KvEnv) -> None:
    site = Site(kvenv)
    watch = _watch(kvenv)
    # added while watch runs: what it puts back follows the network's live definition
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80", TARGET, "8080")
    assert site.tcp(site.wan) == f"ok {WAN_IP}"
    # the outside's traffic: a new connection to the forward's listen address every 50 ms
    outside = subprocess.Popen([IP, "netns", "exec", site.wan.name, PYTHON, "-u", "-c",
                                CONNECTOR, LISTEN, "80"], stdout=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    try:
        _wait_flowing(outside)
        cut = time.time()
        kvenv.host.run(["nft", "flush", "ruleset"])
        seconds = _outage(outside, cut)
        print(f"\nwatch: a port forward (outside -> {LISTEN}:80 -> {TARGET}:8080) worked again "
              f"{seconds * 1000:.0f} ms after 'nft flush ruleset'")
        assert len(site.map_elements()) == 1
        assert site.seen()[-1] == WAN_IP, "the target sees the real client again"
    finally:
        outside.kill()
        outside.wait()
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=10)
    assert watch.returncode == 0, err
    assert "put back" in out, out


def test_a_forward_removed_while_watch_runs_stays_removed(kvenv: KvEnv) -> None:
    """watch wakes on the removal's own nftables change; it must not put the forward back
    from the definition as it was a moment before, and it outlives its ``nft monitor``."""
    site = Site(kvenv)
    watch = _watch(kvenv)
    try:
        for port in range(80, 85):
            kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", str(port), TARGET, "8080")
            kvenv.ok("net-forward-remove", site.name, LISTEN, "tcp", str(port))
        time.sleep(1.0)  # not a time bound: watch's repairs, if any, are done by then
        assert site.map_elements() == []
        assert site.tcp(site.wan, 84).startswith("fail")
        # nft 1.0.6's monitor crashes printing such removals: watch still keeps the table
        kvenv.host.run(["nft", "flush", "ruleset"])
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while kvenv.nft_table() is None:
            assert time.monotonic() < deadline, "watch did not put kvmnet's table back"
            time.sleep(0.05)
    finally:
        watch.send_signal(signal.SIGTERM)
        _, err = watch.communicate(timeout=10)
    assert watch.returncode == 0, err
