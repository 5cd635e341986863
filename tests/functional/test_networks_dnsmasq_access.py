"""dnsmasq reads its hosts files under a state root others cannot search, or kvmnet says why not.

``mktemp -d`` makes 0700 directories.  dnsmasq drops root for ``nobody`` and then opens its
hosts files by path (at start-up and on SIGHUP): through a 0700 ``KVMNET_ROOT`` it cannot,
and used to serve no static hosts without a word while start and update reported success.
"""
from __future__ import annotations

from tests.functional.kvmnet_env import (
    KvEnv,
    assert_one_error,
    describe,
    example,
    kvenv,
    requires_kvmnet_root,
    with_dhcp_extra,
)

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

RESERVED_MAC = "52:54:00:12:34:56"
LIVE_MAC = "52:54:00:12:34:57"


def test_static_hosts_are_served_under_a_private_state_root(kvenv: KvEnv) -> None:
    kvenv.root.chmod(0o700)  # what mktemp -d makes
    xml = with_dhcp_extra(example("default"),
                          f"<host mac='{RESERVED_MAC}' name='resv' ip='192.168.122.42'/>")
    name = kvenv.define(xml)
    proc = kvenv.ok("net-start", name)
    assert "root" in proc.stderr, describe(proc)  # it says why dnsmasq keeps root, and the fix
    reserved = kvenv.client("virbr0", mac=RESERVED_MAC, tag="resv")
    live = kvenv.client("virbr0", mac=LIVE_MAC, tag="live")
    lease = kvenv.dhcp(reserved)
    assert lease.ip == "192.168.122.42", lease.raw

    # a host added live is re-read by the running dnsmasq (SIGHUP) and served
    kvenv.ok("net-update", name, "add", "ip-dhcp-host",
             f"<host mac='{LIVE_MAC}' name='added' ip='192.168.122.77'/>", "--live")
    lease = kvenv.dhcp(live)
    assert lease.ip == "192.168.122.77", lease.raw


def test_live_update_fails_loudly_when_dnsmasq_cannot_reread(kvenv: KvEnv) -> None:
    name = kvenv.start(example("default"))  # root 0755: dnsmasq drops to nobody
    kvenv.root.chmod(0o700)  # ... and then loses its way to the hosts file
    hosts = kvenv.dnsmasq_dir / f"{name}.hostsfile"
    before = hosts.read_text() if hosts.exists() else None
    proc = kvenv.kv("net-update", name, "add", "ip-dhcp-host",
                    f"<host mac='{LIVE_MAC}' name='added' ip='192.168.122.77'/>", "--live")
    err = assert_one_error(proc)
    assert str(kvenv.root) in err and "0700" in err and "chmod o+x" in err, err
    # nothing changed: not in the live definition, not in the file
    assert "192.168.122.77" not in kvenv.ok("net-dumpxml", name).stdout
    assert (hosts.read_text() if hosts.exists() else None) == before
    kvenv.root.chmod(0o755)
