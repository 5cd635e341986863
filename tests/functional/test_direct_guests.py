"""Real QEMU guests on macvtap networks (root; everything inside throwaway namespaces).

SLOW: boots two tiny test guests at once (TCG here).  The set-up, as a macvtap network's
users have it::

    host ns (kvmnet)                               lan ns
      nic0 ==veth== lan0 -+
                          +- lanbr 192.168.77.1/24, dnsmasq (the LAN's DHCP server, run here)
      nic1 ==veth== lan1 -+

* network ``mvb``: ``<forward mode='bridge'><interface dev='nic0'/>`` with kvmnet's host access
  (``<kvmnet:host-access address='192.168.77.200/24'/>``); guest ``gb`` on it;
* network ``mvp``: ``<forward mode='private'><interface dev='nic1'/>``; guest ``gp`` on it.

Each network also gets a second port plugged by the test itself, whose macvtap node the test
opens and answers ARP and ping on (192.168.77.50 on ``mvb``, .51 on ``mvp``): a sibling
macvtap on the same device, as a second guest would be.  What a user checks: both guests get
a lease from the LAN's DHCP server and ping it; in bridge mode the guest reaches its sibling,
in private mode it does not; the host reaches the bridge-mode guest through the host access
(and, without it, could not: a macvtap limit).  Destroying the guests removes their macvtaps.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.functional.guest_image import GuestImage, requires_guests, tiny_guest
from tests.functional.kvmnet_env import BUSYBOX, PYTHON, KvEnv, kvenv, requires_kvmnet_root
from tests.functional.netns import veth
from tests.functional.test_guests import Guest, guest_xml

pytestmark = [*requires_kvmnet_root, *requires_guests]
__all__ = ["kvenv", "tiny_guest"]

NS = "https://kvmnet.org/xmlns/network/1.0"

# Answers ARP requests and pings for IP on a macvtap's device node (frames carry the 10-byte
# virtio-net header a macvtap descriptor has by default).
RESPONDER = r"""
import os, socket, struct, sys
node, ip, mac = sys.argv[1], socket.inet_aton(sys.argv[2]), bytes.fromhex(sys.argv[3].replace(':', ''))
fd = os.open(node, os.O_RDWR)
print('ready', flush=True)
HDR = b'\0' * 10
def csum(data):
    if len(data) % 2: data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return struct.pack('!H', ~s & 0xffff)
while True:
    f = os.read(fd, 65536)[10:]
    dst, src, etype = f[:6], f[6:12], f[12:14]
    if etype == b'\x08\x06' and f[20:22] == b'\x00\x01' and f[38:42] == ip:
        arp = f[14:22][:6] + b'\x00\x02' + mac + ip + f[22:28] + f[28:32]
        os.write(fd, HDR + src + mac + etype + arp)
    elif etype == b'\x08\x00' and f[23] == 1 and f[30:34] == ip:
        ihl = (f[14] & 15) * 4
        iph = f[14:14 + ihl]
        icmp = f[14 + ihl:]
        if icmp[0] != 8: continue
        iph = iph[:12] + iph[16:20] + iph[12:16] + iph[20:]
        body = b'\x00\x00\x00\x00' + icmp[4:]
        body = body[:2] + csum(body) + body[4:]
        os.write(fd, HDR + src + mac + etype + iph + body)
"""


def lan(env: KvEnv) -> Path:
    """The LAN namespace with its DHCP server; returns its lease file."""
    ns = env._ns("lan")
    for nic, peer in (("nic0", "lan0"), ("nic1", "lan1")):
        veth(env.host, nic, ns, peer)
    ns.ip("link", "add", "lanbr", "type", "bridge")
    for peer in ("lan0", "lan1"):
        ns.ip("link", "set", peer, "master", "lanbr")
    ns.ip("link", "set", "lanbr", "up")
    ns.ip("addr", "add", "192.168.77.1/24", "dev", "lanbr")
    leases = env.root / "lan.leases"
    ns.popen(["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
              "--interface=lanbr", "--bind-interfaces", "--user=root",
              "--dhcp-range=192.168.77.100,192.168.77.150,1h", f"--dhcp-leasefile={leases}"])
    return leases


def responder(env: KvEnv, net: str, ip: str, mac: str) -> None:
    """A sibling macvtap on ``net`` (a port the test plugs) answering ARP and ping for ``ip``."""
    puuid = str(uuid.uuid4())
    path = env.write_xml(f"peer-{net}", (
        f"<networkport><uuid>{puuid}</uuid><owner><name>peer</name><uuid>{uuid.uuid4()}</uuid>"
        f"</owner><mac address='{mac}'/></networkport>"))
    env.ok("net-port-create", net, str(path))
    rec = json.loads((env.root / "run" / "kvmnet" / "ports" / net / f"{puuid}.json").read_text())
    p = env.host.popen([PYTHON, "-u", "-c", RESPONDER, rec["info"]["node"], ip, mac])
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"


def test_guests_on_bridge_and_private_macvtap_networks(kvenv: KvEnv,
                                                       tiny_guest: GuestImage) -> None:
    lan(kvenv)
    kvenv.start(f"""<network xmlns:kvmnet='{NS}'><name>mvb</name>
  <metadata><kvmnet:host-access address='192.168.77.200/24'/></metadata>
  <forward mode='bridge'><interface dev='nic0'/></forward></network>""")
    kvenv.start("<network><name>mvp</name><forward mode='private'><interface dev='nic1'/>"
                "</forward></network>")
    responder(kvenv, "mvb", "192.168.77.50", "52:54:00:77:00:50")
    responder(kvenv, "mvp", "192.168.77.51", "52:54:00:77:00:51")

    gb, gp = Guest(kvenv, "gb"), Guest(kvenv, "gp")
    gb.define(guest_xml("gb", tiny_guest, "<interface type='network'><source network='mvb'/>"
                        "</interface>", "ping:192.168.77.1", "ping:192.168.77.50"))
    # the private-mode guest as a domain's own <interface type='direct'>
    gp.define(guest_xml("gp", tiny_guest, "<interface type='direct'><source dev='nic1' "
                        "mode='private'/></interface>", "ping:192.168.77.1",
                        "ping:192.168.77.51"))
    gb.start()
    gp.start()
    for g in (gb, gp):
        lease = g.wait_marker(r"lease (\S+) dev eth0 mask (\d+) router")
        assert lease[1].startswith("192.168.77."), lease[0]
        g.wait_marker(r"ping 192\.168\.77\.1 ok", 60)
    gb.wait_marker(r"ping 192\.168\.77\.50 ok", 60)  # bridge mode: siblings talk
    gp.wait_marker(r"ping 192\.168\.77\.51 fail", 60)  # private mode: they do not

    # the guest's macvtap carries the guest's MAC, on the pool's device
    (tap,) = gb.taps()
    link = kvenv.host.ip_json("-d", "link", "show", tap)[0]
    mac = kvenv.ok("domiflist", "gb").stdout.splitlines()[2].split()[4]
    assert link["address"] == mac and link["link"] == "nic0"
    assert "<interface dev='nic0' connections='2'/>" in kvenv.ok("net-dumpxml", "mvb").stdout

    # the host reaches the bridge-mode guest through its host access
    ip = gb.wait_marker(r"lease (\S+) dev eth0")[1]
    ping = kvenv.host.run([BUSYBOX, "ping", "-c", "2", "-W", "2", ip], check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    kvenv.ok("destroy", "gb")
    kvenv.ok("destroy", "gp")
    assert not kvenv.link_exists(tap)
    gp_macvtaps = [link for link in kvenv.host.ip_json("-d", "link", "show") or []
                   if link.get("link") == "nic1"]
    assert len(gp_macvtaps) == 1  # the test's own peer only
