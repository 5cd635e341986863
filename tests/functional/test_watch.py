"""kvmnet watch puts kvmnet's firewall state back while a guest's traffic runs through NAT.

A guest opens a TCP connection to the outside through a NAT network every 50 ms; doctor's fix for a Docker-like
FORWARD policy is in place.  ``nft flush ruleset`` wipes kvmnet's table (and the Docker rules
with it); Docker's restart is played by recreating its chains.  The test measures (and prints)
how long the guest's traffic stops and asserts that it flows again (within a generous timeout,
not a time bound); watch ends cleanly on SIGTERM.
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
# line per connection that got through: "ok UNIXTIME".
CONNECTOR = """
import socket, sys, time
while True:
    start = time.time()
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.3).close()
        print("ok", start, flush=True)
    except OSError:
        pass
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
