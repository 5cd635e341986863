"""dnsmasq configuration for a network, as libvirt 11.3.0 writes it.

Pure functions of the :class:`~kvmnet.model.network.Network` model: no files
are written and no process is started here (that is the host adapter's job).
The text follows libvirt's ``networkDnsmasqConfContents()``
(src/network/bridge_driver.c) line for line and in the same order, so a conf
for the same XML is identical to what libvirt would write for a modern
dnsmasq (``bind-dynamic`` + ``interface=BRIDGE``).

Run-time keys (``pid-file=``, ``user=``, ``dhcp-script=``, ...) appear only
when the caller passes them; without them the output matches libvirt's test
expectations, which are generated with no pid file.

Safety: every value copied from the definition into a file is checked first,
by the rules define applies (:mod:`kvmnet.config.values`).  A line break in
a TXT value, a host name or a ``dnsmasq:option`` would otherwise become a
separate, attacker-chosen dnsmasq option (CVE-2026-61477), a ',' a separate
field; rendering refuses with a :class:`ValidationError` instead.
"""
from __future__ import annotations

import ipaddress

from kvmnet.config.values import control_problem, value_problems
from kvmnet.errors import ValidationError
from kvmnet.model.addr import ip_prefix
from kvmnet.model.frozen import frozen
from kvmnet.model.modes import owns_bridge
from kvmnet.model.network import DhcpHost, ForwardMode, IPDef, Lease, Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LEASE_UNITS = ("seconds", "minutes", "hours")


@frozen
class DnsmasqFiles:
    """Everything dnsmasq reads for one network.

    ``hostsfile`` / ``addnhosts`` are ``None`` when there are no entries (libvirt
    then writes an empty file).  ``hostsfile_path`` / ``addnhosts_path`` are the
    exact paths the conf names (``None`` when the conf names none); the adapter
    must create those files, empty when the text is ``None``:
    :meth:`aux_files` gives that mapping directly.
    """

    conf: str
    hostsfile: str | None
    addnhosts: str | None
    hostsfile_path: str | None = None
    addnhosts_path: str | None = None

    def aux_files(self) -> dict[str, str]:
        """The side files the conf refers to, path -> content (``""`` when empty)."""
        files: dict[str, str] = {}
        if self.hostsfile_path is not None:
            files[self.hostsfile_path] = self.hostsfile or ""
        if self.addnhosts_path is not None:
            files[self.addnhosts_path] = self.addnhosts or ""
        return files


def _refuse(message: str) -> ValidationError:
    return ValidationError([message])


# ---------------------------------------------------------------- addresses

def _parse_addr(text: str, what: str) -> IPAddress:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise _refuse(f"{what} '{text}' is not a valid IPv4 or IPv6 address; give a numeric address"
                      ) from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        raise _refuse(f"{what} '{text}' carries a scope (%zone); remove it, the bridge is the only link")
    return addr


def format_addr(addr: IPAddress) -> str:
    """Format like glibc's inet_ntop (libvirt's virSocketAddrFormat).

    Differs from Python's ``str()`` only for IPv4-compatible (``::a.b.c.d``)
    and IPv4-mapped (``::ffff:a.b.c.d``) addresses, which glibc writes with
    a dotted tail.
    """
    if isinstance(addr, ipaddress.IPv4Address):
        return str(addr)
    packed = addr.packed
    words = [(packed[2 * i] << 8) | packed[2 * i + 1] for i in range(8)]
    best_base, best_len, cur_base, cur_len = -1, 0, -1, 0
    for i, w in enumerate(words + [1]):  # sentinel closes a trailing run
        if w == 0 and i < 8:
            if cur_base < 0:
                cur_base, cur_len = i, 0
            cur_len += 1
        elif cur_base >= 0:
            if cur_len > best_len:
                best_base, best_len = cur_base, cur_len
            cur_base = -1
    if best_len < 2:
        best_base, best_len = -1, 0
    if best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
        head = "::ffff:" if best_len == 5 else "::"
        return head + str(ipaddress.IPv4Address(packed[12:]))
    return str(addr)


def _range_size(start: IPAddress, end: IPAddress, net_addr: IPAddress, prefix: int) -> int:
    """libvirt's virSocketAddrGetRange: number of addresses, with its sanity checks."""
    span = f"{format_addr(start)} - {format_addr(end)}"
    netstr = f"{format_addr(net_addr)}/{prefix}"
    if start.version != end.version or start.version != net_addr.version:
        raise _refuse(f"DHCP range {span} mixes address families with network {netstr}; "
                               "use addresses of the <ip> element's family")
    if not 0 <= prefix <= net_addr.max_prefixlen:
        raise _refuse(f"bad prefix {prefix} for network {format_addr(net_addr)} "
                               f"when checking range {span}; fix the <ip> prefix or netmask")
    network = ipaddress.ip_network(f"{net_addr}/{prefix}", strict=False)
    if start not in network or end not in network:
        raise _refuse(f"DHCP range {span} is not entirely within network {netstr}; "
                               "move the range inside the <ip> subnet")
    if isinstance(start, ipaddress.IPv4Address):
        if start == network.network_address:
            raise _refuse(f"start of DHCP range {span} in network {netstr} is the network "
                                   "address; start the range one address higher")
        if end == network.broadcast_address:
            raise _refuse(f"end of DHCP range {span} in network {netstr} is the broadcast "
                                   "address; end the range one address lower")
    # libvirt's legacy limit: only the last 16 bits may differ.
    if int(start) >> 16 != int(end) >> 16:
        raise _refuse(f"DHCP range {span} is too large (> 65535 addresses); split or "
                               "shrink it")
    size = (int(end) & 0xFFFF) - (int(start) & 0xFFFF)
    if size < 0:
        raise _refuse(f"DHCP range {span} is reversed; swap start and end")
    return size + 1


def _prefix_netmask_v4(prefix: int) -> str:
    value = ((1 << prefix) - 1) << (32 - prefix) if prefix else 0
    return str(ipaddress.IPv4Address(value))


def ptr_domain(addr: IPAddress, prefix: int) -> str | None:
    """Reverse-DNS zone for addr/prefix (virSocketAddrPTRDomain); None if not octet/nibble aligned."""
    if isinstance(addr, ipaddress.IPv4Address):
        if prefix <= 0 or prefix >= 32 or prefix % 8:
            return None
        octets = addr.packed[: prefix // 8]
        return "".join(f"{o}." for o in reversed(octets)) + "in-addr.arpa"
    if prefix <= 0 or prefix >= 128 or prefix % 4:
        return None
    nibbles = addr.packed.hex()[: prefix // 4]
    return "".join(f"{n}." for n in reversed(nibbles)) + "ip6.arpa"


# ---------------------------------------------------------------- checks

def _unsafe_values(net: Network, runtime: dict[str, str | None]) -> list[str]:
    """What define refuses (the same rules, kvmnet.config.values) plus the run-time values.

    A last line of defence for a model that did not come through define (a test, a
    hand-built program): rendering refuses rather than write a misread file.
    """
    problems = value_problems(net)
    name = control_problem(net.name, "network name")
    if name is not None:
        problems.append(name)
    for key, value in runtime.items():
        if value is not None:
            problem = control_problem(value, f"run-time setting {key}")
            if problem is not None:
                problems.append(problem)
    return problems


def _xml_escape(text: str) -> str:
    """libvirt's virBufferEscapeString as used for the file names in the conf."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def lease_time(lease: Lease | None) -> str | None:
    """``200s`` / ``10m`` / ``1h`` / ``infinite`` (networkBuildDnsmasqLeaseTime)."""
    if lease is None:
        return None
    if lease.expiry == 0:
        return "infinite"
    unit = lease.unit or "minutes"
    if unit not in _LEASE_UNITS or lease.expiry < 0:
        raise _refuse(f"lease expiry='{lease.expiry}' unit='{unit}' is invalid; use a "
                               "non-negative expiry and unit seconds, minutes or hours")
    return f"{lease.expiry}{unit[0]}"


def dnsmasq_needed(net: Network) -> bool:
    """Whether starting the network runs dnsmasq at all (networkStartDhcpDaemon).

    Only networks on a kvmnet-owned bridge with at least one ``<ip>``, and then
    only if DHCP/TFTP is wanted or DNS is not disabled.
    """
    if not owns_bridge(net.forward_mode.value) or not net.ips:
        return False
    wants_service = any(
        (ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts)) or ip.tftp_root
        for ip in net.ips
    )
    dns_disabled = net.dns is not None and net.dns.enable is False
    return wants_service or not dns_disabled


# ---------------------------------------------------------------- rendering

def _has_dhcp(ip: IPDef) -> bool:
    return ip.dhcp is not None and bool(ip.dhcp.ranges or ip.dhcp.hosts)


def _dhcp_host_entry(host: DhcpHost, ipv6: bool) -> str | None:
    """One dhcp-hostsfile line (dnsmasq hostsfileAdd); None for a host without an ip."""
    if host.ip is None:
        return None
    ipstr = format_addr(_parse_addr(host.ip, "DHCP host ip"))
    if ipv6:
        if host.name and host.id:
            entry = f"id:{host.id},{host.name}"
        elif host.name:
            entry = host.name
        elif host.id:
            entry = f"id:{host.id}"
        else:
            entry = ""
        entry += f",[{ipstr}]"
    elif host.name and host.mac:
        entry = f"{host.mac},{ipstr},{host.name}"
    elif host.name:
        entry = f"{host.name},{ipstr}"
    elif host.mac:
        entry = f"{host.mac},{ipstr}"
    else:
        raise _refuse(f"DHCP host {ipstr} has neither mac nor name; give at least one")
    lease = lease_time(host.lease)
    return f"{entry},{lease}" if lease else entry


def _dhcp_lines(ip: IPDef, bridge: str, hosts: list[str]) -> tuple[list[str], int]:
    """networkDnsmasqConfDHCP for the chosen <ip>: option lines and lease count."""
    assert ip.dhcp is not None and ip.address is not None
    addr = _parse_addr(ip.address, "<ip> address")
    ipv6 = isinstance(addr, ipaddress.IPv6Address)
    prefix = ip_prefix(ip)
    if prefix is None:
        raise _refuse(f"bridge '{bridge}' has an invalid prefix for {ip.address}; give "
                               "prefix= or a contiguous netmask=")
    lines: list[str] = []
    leases = 0
    for rng in ip.dhcp.ranges:
        start = _parse_addr(rng.start, "DHCP range start")
        end = _parse_addr(rng.end, "DHCP range end")
        if ipv6:
            line = f"dhcp-range={format_addr(start)},{format_addr(end)},{prefix}"
        else:
            if prefix > 32:
                raise _refuse(f"prefix {prefix} of bridge '{bridge}' is too long for "
                                       "IPv4; use at most 32")
            line = f"dhcp-range={format_addr(start)},{format_addr(end)},{_prefix_netmask_v4(prefix)}"
        lease = lease_time(rng.lease)
        lines.append(f"{line},{lease}" if lease else line)
        leases += _range_size(start, end, addr, prefix)
    if not ip.dhcp.ranges and ip.dhcp.hosts:
        # static-only DHCP: dnsmasq needs a range to enable the service at all
        lines.append(f"dhcp-range={format_addr(addr)},static" + (f",{prefix}" if ipv6 else ""))
    for host in ip.dhcp.hosts:
        entry = _dhcp_host_entry(host, ipv6)
        if entry is not None:
            hosts.append(entry)
    if not ipv6:
        if ip.dhcp.ranges or ip.dhcp.hosts:
            lines += ["dhcp-no-override", "dhcp-authoritative"]
        if ip.dhcp.bootp_file:
            if ip.dhcp.bootp_server:
                server = format_addr(_parse_addr(ip.dhcp.bootp_server, "<bootp server>"))
                lines.append(f"dhcp-boot={ip.dhcp.bootp_file},,{server}")
            else:
                lines.append(f"dhcp-boot={ip.dhcp.bootp_file}")
    return lines, leases


def _srv_line(net: Network, index: int) -> str:
    assert net.dns is not None
    srv = net.dns.srvs[index]
    if not srv.service or not srv.protocol:
        missing = "service" if not srv.service else "protocol"
        raise _refuse(f"SRV record {index + 1} of network '{net.name}' lacks the required "
                               f"'{missing}' attribute; add it")
    # RFC 2782: service and protocol labels start with an underscore
    line = f"srv-host=_{srv.service}._{srv.protocol}"
    if srv.domain:
        line += f".{srv.domain}"
    # an empty or "." target means "no such service": port etc. are irrelevant
    if srv.target and srv.target != ".":
        line += f",{srv.target}"
        port, priority, weight = srv.port or 0, srv.priority or 0, srv.weight or 0
        # fields are positional, so a later one forces the earlier defaults out
        if port or priority or weight:
            line += f",{port or 1}"
        if priority or weight:
            line += f",{priority}"
        if weight:
            line += f",{weight}"
    return line


def _addn_hosts(net: Network) -> str | None:
    """addn-hosts text: one line per address, names tab-separated (libvirt's addnhostsWrite)."""
    if net.dns is None:
        return None
    by_ip: dict[str, list[str]] = {}
    for host in net.dns.hosts:
        if host.ip is None:
            continue
        ipstr = format_addr(_parse_addr(host.ip, "DNS host ip"))
        by_ip.setdefault(ipstr, []).extend(host.hostnames)
    if not by_ip:
        return None
    return "".join(ip + "\t" + "".join(f"{n}\t" for n in names) + "\n" for ip, names in by_ip.items())


def render_dnsmasq(
    net: Network,
    *,
    config_dir: str,
    pid_file: str | None = None,
    lease_helper: str | None = None,
    lease_file: str | None = None,
    user: str | None = None,
    group: str | None = None,
    script_user: str | None = None,
    bridge: str | None = None,
) -> DnsmasqFiles:
    """Render dnsmasq.conf, the dhcp-hostsfile and the addn-hosts file for ``net``.

    ``config_dir`` is where the side files live (libvirt: /var/lib/libvirt/dnsmasq);
    their names are ``NAME.hostsfile`` / ``NAME.addnhosts`` with the name
    XML-escaped, as libvirt does.  ``bridge`` overrides the definition's bridge
    name (e.g. one assigned at define time).

    Run-time keys, each written only when given:
    ``pid_file`` -> ``pid-file=``; ``user``/``group`` -> ``user=``/``group=``
    (the account dnsmasq drops to); ``lease_helper`` -> ``dhcp-script=`` (an
    executable dnsmasq calls as ``HELPER add|old|del|init MAC IP [NAME]``);
    ``script_user`` -> ``dhcp-scriptuser=``; ``lease_file`` ->
    ``dhcp-leasefile=``.  With a helper and no lease file, ``leasefile-ro`` is
    written: the helper owns the lease database, as with libvirt's
    leaseshelper (it must then answer ``init``).
    """
    runtime: dict[str, str | None] = {
        "config_dir": config_dir, "pid_file": pid_file, "lease_helper": lease_helper,
        "lease_file": lease_file, "user": user, "group": group, "script_user": script_user,
        "bridge": bridge,
    }
    problems = list(dict.fromkeys(_unsafe_values(net, runtime)))
    if problems:
        raise ValidationError(problems, subject=f"network {net.name!r}")
    if not net.name or "/" in net.name:
        raise _refuse(f"network name {net.name!r} cannot name dnsmasq files; use a "
                               "non-empty name without '/'")
    if not owns_bridge(net.forward_mode.value):
        raise _refuse(f"network '{net.name}' has forward mode '{net.forward_mode.value}'; "
                               "dnsmasq only serves nat, route, open and isolated networks")
    bridge_name = bridge if bridge is not None else net.bridge_name
    if not bridge_name:
        raise _refuse(f"network '{net.name}' has no bridge name; define the network "
                               "first (it assigns virbrN) or pass the bridge to use")

    dns = net.dns
    want_dns = dns is None or dns.enable is not False
    out: list[str] = [
        "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE",
        "##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:",
        f"##    virsh net-edit {net.name}",
        "## or other application using the libvirt API.",
        "##",
        "## dnsmasq conf file created by libvirt",
        "strict-order",
    ]
    if not want_dns:
        out.append("port=0")  # dnsmasq stops listening for DNS
    if want_dns and dns is not None and dns.forwarders:
        # no-resolv only once some address takes all otherwise unclaimed queries
        no_resolv = False
        for fwd in dns.forwarders:
            line = "server=" + (f"/{fwd.domain}/" if fwd.domain else "")
            if fwd.addr:
                line += format_addr(_parse_addr(fwd.addr, "DNS forwarder addr"))
                no_resolv = no_resolv or not fwd.domain
            else:
                line += "#"  # "do not forward this domain"
            out.append(line)
        if no_resolv:
            out.append("no-resolv")
    if net.domain is not None:
        if net.domain.local_only:
            out.append(f"local=/{net.domain.name}/")
        out += [f"domain={net.domain.name}", "expand-hosts"]
    if want_dns:
        for ip in net.ips:
            if not ip.local_ptr or ip.address is None:
                continue
            addr = _parse_addr(ip.address, "<ip> address")
            prefix = ip_prefix(ip)
            zone = None if prefix is None else ptr_domain(addr, prefix)
            if zone is None:
                family = "IPv4" if addr.version == 4 else "IPv6"
                step = 8 if addr.version == 4 else 4
                raise _refuse(f"PTR domain for {family} network with prefix {prefix} cannot be "
                              f"automatically created; use a prefix divisible by {step} or drop "
                              "localPtr")
            out.append(f"local=/{zone}/")
    if want_dns and dns is not None and dns.forward_plain_names is False:
        out += ["domain-needed", "local=//"]
    if pid_file:
        out.append(f"pid-file={pid_file}")
    if user:
        out.append(f"user={user}")
    if group:
        out.append(f"group={group}")
    if lease_file:
        out.append(f"dhcp-leasefile={lease_file}")
    elif lease_helper:
        out.append("leasefile-ro")
    if lease_helper:
        out.append(f"dhcp-script={lease_helper}")
    if script_user:
        out.append(f"dhcp-scriptuser={script_user}")
    # dnsmasq always listens on loopback unless told otherwise
    out += ["except-interface=lo", "bind-dynamic", f"interface={bridge_name}"]
    if net.forward_mode is ForwardMode.NONE:
        # isolated: no default route over DHCP, no upstream DNS, RA route lifetime 0
        out += ["dhcp-option=3", "no-resolv", "ra-param=*,0,0"]
    if want_dns and dns is not None:
        for txt in dns.txts:
            if txt.value is None:
                raise _refuse(f"DNS TXT record '{txt.name}' has no value; add value=")
            out.append(f"txt-record={txt.name},{txt.value}")
        out += [_srv_line(net, i) for i in range(len(dns.srvs))]

    ipv4def: IPDef | None = None
    ipv6def: IPDef | None = None
    tftp_enabled = False
    for ip in net.ips:
        if ip.address is None:
            continue
        addr = _parse_addr(ip.address, "<ip> address")
        if isinstance(addr, ipaddress.IPv4Address):
            if _has_dhcp(ip):
                if ipv4def is not None:
                    raise _refuse("For IPv4, multiple DHCP definitions cannot be specified; "
                                           "keep <dhcp> on one IPv4 <ip> only")
                ipv4def = ip
            if ip.tftp_root:
                if not tftp_enabled:
                    out.append("enable-tftp")
                    tftp_enabled = True
                out.append(f"tftp-root={ip.tftp_root}")
        elif _has_dhcp(ip):
            if ipv6def is not None:
                raise _refuse("For IPv6, multiple DHCP definitions cannot be specified; "
                                       "keep <dhcp> on one IPv6 <ip> only")
            ipv6def = ip

    hosts: list[str] = []
    leases = 0
    for chosen in (ipv4def, ipv6def):
        if chosen is not None:
            lines, count = _dhcp_lines(chosen, bridge_name, hosts)
            out += lines
            leases += count
    if leases > 0:
        out.append(f"dhcp-lease-max={leases}")

    base = f"{config_dir}/{_xml_escape(net.name)}"
    hostsfile_path = f"{base}.hostsfile" if (ipv4def or ipv6def) else None
    addnhosts_path = f"{base}.addnhosts" if want_dns else None
    # both files are named even when empty, so that entries can be added at run time
    if hostsfile_path:
        out.append(f"dhcp-hostsfile={hostsfile_path}")
    if addnhosts_path:
        out.append(f"addn-hosts={addnhosts_path}")
    if net.mtu is not None and net.mtu > 0:
        out.append(f"dhcp-option=option:mtu,{net.mtu}")
    if ipv6def is not None:
        out.append("enable-ra")
    else:
        for ip in net.ips:
            if ip.address is None or _has_dhcp(ip):
                continue
            addr = _parse_addr(ip.address, "<ip> address")
            if isinstance(addr, ipaddress.IPv6Address):
                out.append(f"dhcp-range={format_addr(addr)},ra-only")
    out += list(net.dnsmasq_options)

    return DnsmasqFiles(
        conf="".join(line + "\n" for line in out),
        hostsfile="".join(h + "\n" for h in hosts) if hosts else None,
        # libvirt writes this file even with DNS off; the conf then just does not name it
        addnhosts=_addn_hosts(net),
        hostsfile_path=hostsfile_path,
        addnhosts_path=addnhosts_path,
    )
