#!/usr/bin/env python3
"""The Open vSwitch demo: the cookbook's OVS recipe end to end, with a real guest.

Run as root with ``make demo`` (after the main demo) or ``scripts/demo.sh ovs``.  Same sandbox
as the main demo (:mod:`scripts.demo`): a network namespace plays the KVM host, kvmnet's files
live in a temporary ``KVMNET_ROOT``, everything goes again at the end (also on Ctrl-C).

The story: a private Open vSwitch for the namespace (``kvmnet ovs start``: ovsdb-server and
ovs-vswitchd, userspace datapath), a bridge (``kvmnet ovs add-br ovsbr0``), a LAN host on an
access port of VLAN 10 that serves DHCP (libvirt's bridge-mode networks have no dnsmasq: the
LAN's server does it), the libvirt network ``ovsnet`` on that bridge with a VLAN 10 portgroup,
and guest ``kvm-ovs`` on it: it gets a lease from the LAN and pings the LAN host; ``kvmnet ovs
show`` shows its port with the VLAN tag, and the port's libvirt external_ids.  Destroying the
guest removes its port; then the network, the bridge and the daemons go.
"""
from __future__ import annotations

import shutil
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.demo import (  # after the path set-up
    ANSI,
    BOLD,
    MARKER,
    RESET,
    BuildUnavailable,
    Demo,
    DemoFailed,
    build,
    check,
    good,
    guest_xml,
    note,
    run,
    step,
)

NETWORK = """<network>
  <name>ovsnet</name>
  <forward mode='bridge'/>
  <bridge name='ovsbr0'/>
  <virtualport type='openvswitch'/>
  <portgroup name='lan' default='yes'>
    <vlan><tag id='10'/></vlan>
  </portgroup>
</network>
"""
LAN_IP = "10.99.0.1"


def story(demo: Demo) -> None:
    env = demo.env
    step(1, "The sandbox",
         f"kvmnet runs in namespace {env.host.name} (the KVM host) with its files in "
         f"{demo.root}; this machine's own networking and Open vSwitch are not touched.")
    try:
        image = build()
    except BuildUnavailable as exc:
        raise DemoFailed(f"cannot build the test guest: {exc}") from None

    step(2, "Start Open vSwitch",
         "The cookbook installs openvswitch-switch and checks its daemons. kvmnet can run a "
         "private Open vSwitch for the namespace it runs in (the userspace datapath, since this "
         "kernel has no openvswitch module); a running system Open vSwitch would be used as is.")
    demo.kvmnet("ovs", "start")
    demo.kvmnet("ovs", "status")

    step(3, "Add a bridge", "As `ovs-vsctl add-br`, through OVSDB (no ovs-vsctl process runs):")
    demo.kvmnet("ovs", "add-br", "ovsbr0")
    demo.kvmnet("ovs", "show")

    step(4, "A LAN host on VLAN 10",
         f"A second namespace plays a LAN host ({LAN_IP}) on an access port of VLAN 10. It also "
         "serves DHCP: a libvirt bridge-mode network has no dnsmasq of its own, the LAN's "
         "server gives the guests their addresses.")
    lan = env._ns("lan")
    from tests.functional.netns import veth

    veth(env.host, "plan", lan, "eth0")
    lan.ip("addr", "add", f"{LAN_IP}/24", "dev", "eth0")
    demo.kvmnet("ovs", "add-port", "ovsbr0", "plan", "tag=10")
    lan.popen(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
               "--interface=eth0", "--bind-interfaces", "--user=root", "--leasefile-ro",
               "--dhcp-range=10.99.0.100,10.99.0.199,255.255.255.0,1h"])

    step(5, "The libvirt network on the OVS bridge",
         "A bridge-mode network whose <virtualport type='openvswitch'/> makes kvmnet plug its "
         "guests into Open vSwitch; the default portgroup puts them on VLAN 10. kvmnet, like "
         "libvirt, does not create the bridge: net-start checks that it exists.")
    path = env.write_xml("ovsnet", NETWORK)
    print(f"{BOLD}${RESET} cat {path}\n{NETWORK}")
    demo.kvmnet("net-define", str(path))
    demo.kvmnet("net-plan", "ovsnet")
    demo.kvmnet("net-start", "ovsnet")

    step(6, "A guest on it", "Guest kvm-ovs with one NIC on network 'ovsnet':")
    xml = guest_xml(image.kernel, image.initrd, image.append(f"ping:{LAN_IP}"), name="kvm-ovs",
                    network="ovsnet")
    demo.kvmnet("define", str(env.write_xml("kvm-ovs", xml)))
    demo.guests.append("kvm-ovs")
    demo.kvmnet("start", "kvm-ovs")
    demo.kvmnet("domiflist", "kvm-ovs")
    tap = demo.env.kv("domiflist", "kvm-ovs").stdout.splitlines()[2].split()[0]
    demo.kvmnet("ovs", "show")
    note(f"The guest's tap {tap} is a port of ovsbr0 with tag 10 (its portgroup's VLAN), and "
         "carries the external_ids libvirt sets (OpenStack and OVN read them):")
    demo.kvmnet("ovs", "get", "Interface", tap, "external_ids")

    step(7, "The guest gets its lease from the LAN and pings the LAN host")
    started = time.monotonic()
    lease = demo.wait_marker("kvm-ovs", r"lease (\S+) dev eth0")
    print(f"(lease after {time.monotonic() - started:.1f} s)")
    demo.wait_marker("kvm-ovs", "tests done")
    console = ANSI.sub("", demo.console_log("kvm-ovs"))
    print(textwrap.indent("\n".join(line[line.index(MARKER):] for line in console.splitlines()
                                    if MARKER in line), "  "))
    check(lease.group(1).startswith("10.99.0."), f"kvm-ovs got {lease.group(1)}")
    demo.wait_marker("kvm-ovs", f"ping {LAN_IP} ok", 5)
    good(f"kvm-ovs got {lease.group(1)} on VLAN 10 through Open vSwitch and reaches {LAN_IP}.")

    step(8, "Clean up", "Destroying the guest removes its OVS port; then the network, the "
         "bridge and the daemons go.")
    demo.kvmnet("destroy", "kvm-ovs")
    demo.kvmnet("undefine", "kvm-ovs")
    demo.guests.clear()
    demo.kvmnet("ovs", "list-ports", "ovsbr0")
    check(tap not in demo.env.kv("ovs", "list-ports", "ovsbr0").stdout.split(),
          f"port {tap} is still on ovsbr0")
    demo.kvmnet("net-destroy", "ovsnet")
    demo.kvmnet("net-undefine", "ovsnet")
    demo.kvmnet("ovs", "del-br", "ovsbr0")
    demo.kvmnet("ovs", "stop")
    demo.kvmnet("ovs", "status")


def cleanup(demo: Demo) -> None:
    for name in demo.guests:
        demo.env.kv("destroy", name, timeout=60)
    demo.env.kv("net-destroy", "ovsnet")
    demo.env.kv("ovs", "stop")
    demo.env.cleanup()
    shutil.rmtree(demo.root, ignore_errors=True)


def main() -> int:
    return run("the cookbook's Open vSwitch recipe with a real guest", "OVS demo complete",
               story, ("ip", "dnsmasq", "qemu-system-x86_64", "ovsdb-server", "ovs-vswitchd"),
               cleanup=cleanup)


if __name__ == "__main__":
    raise SystemExit(main())
