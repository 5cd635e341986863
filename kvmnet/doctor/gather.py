"""Reading the host for ``kvmnet doctor``: the active networks' guest paths and the firewalls,
settings and links that lie on them (through the adapters of :mod:`kvmnet.host`)."""
from __future__ import annotations

from kvmnet.doctor.model import IPTABLES_LEGACY, IPTABLES_NFT, HostState, NetPaths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.config.store import Store

OUTSIDE = "192.0.2.1"  # the probe's outside address (kvmnet.doctor.probe)


def net_paths(store: Store, name: str) -> NetPaths | None:
    """The guest paths of active network ``name`` from its live definition; None when it has
    no bridge of kvmnet's (a macvtap, hostdev or host-bridge network)."""
    import ipaddress

    from kvmnet.network.firewall.nftables import firewall_for
    from kvmnet.xmlio.network import parse_network

    text = store.read_status(name)
    if text is None:
        return None
    net = parse_network(text)
    fw = firewall_for(net)
    if fw is None or not fw.bridge:
        return None
    gateway = None
    dhcp = False
    for ip in net.ips:
        if ip.address and ipaddress.ip_address(ip.address).version == 4:
            gateway = gateway or ip.address
            dhcp = dhcp or ip.dhcp is not None
    return NetPaths(name=name, bridge=fw.bridge, mode=fw.mode, subnets=fw.ipv4_subnets,
                    gateway=gateway, dhcp=dhcp and fw.mode != "open",
                    dns=fw.dns and gateway is not None and fw.mode != "open",
                    ipv6=bool(fw.ipv6_subnets))


def host_state(nets: list[NetPaths]) -> HostState:
    """The firewalls (both iptables backends, every nftables table), the sysctls, MTUs and
    route lookups that decide the guests' paths."""
    from kvmnet.doctor.readers import firewalld_zones, has_table, iptables_chains, nft_chains
    from kvmnet.host import iptables, sysctl
    from kvmnet.host.nftmonitor import ruleset

    objects = ruleset()
    chains = (iptables_chains(iptables.save("nft"), IPTABLES_NFT)
              + iptables_chains(iptables.save("legacy"), IPTABLES_LEGACY)
              + nft_chains(objects))
    keys = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding",
            "net.bridge.bridge-nf-call-iptables",
            "net.ipv4.conf.all.rp_filter",
            *(sysctl.iface_key(4, n.bridge, "rp_filter") for n in nets)]
    values = tuple((k, v) for k in keys if (v := sysctl.read(k)) is not None)
    uplink = _uplink()
    mtus = tuple((link, m) for link in {uplink, *(n.bridge for n in nets)}
                 if link and (m := _mtu(link)) is not None)
    errors = tuple((n.bridge, e) for n in nets if n.subnets and (e := _route_error(n)))
    return HostState(chains=chains, sysctls=values, mtus=mtus, uplink=uplink,
                     route_errors=errors, firewalld_zones=firewalld_zones(objects),
                     has_firewalld=has_table(objects, "inet", "firewalld"))


def _ip_json(*args: str) -> list[dict[str, object]]:
    import json

    from kvmnet.host.run import run

    proc = run(["ip", "-j", *args], check=False, timeout=30)
    try:
        return list(json.loads(proc.stdout or "[]")) if proc.returncode == 0 else []
    except ValueError:
        return []


def _uplink() -> str | None:
    routes = _ip_json("route", "get", OUTSIDE)
    dev = routes[0].get("dev") if routes else None
    return str(dev) if dev else None


def _mtu(link: str) -> int | None:
    links = _ip_json("link", "show", "dev", link)
    mtu = links[0].get("mtu") if links else None
    return mtu if isinstance(mtu, int) else None


def _route_error(net: NetPaths) -> str | None:
    """The kernel's answer when it would not route a guest's packet (from the subnet's last
    address) to the outside: "Invalid argument" when the reverse path filter refuses the
    source, "No route to host" with forwarding off; None when it would route it, or when the
    host has no route out at all (nothing to judge)."""
    import ipaddress

    from kvmnet.host.run import run

    if not net.forwards or not _uplink():
        return None
    src = str(ipaddress.ip_network(net.subnets[0], strict=False).broadcast_address - 1)
    proc = run(["ip", "route", "get", OUTSIDE, "from", src, "iif", net.bridge], check=False,
               timeout=30)
    if proc.returncode == 0:
        return None
    return f"ip route get {OUTSIDE} from {src} iif {net.bridge}: {proc.stderr.strip()}"
