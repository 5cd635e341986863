"""Parse a libvirt ``<network>`` document into :class:`kvmnet.model.network.Network`.

Follows libvirt 11.3.0's ``virNetworkDefParseXML``: syntax and per-attribute
type checks raise :class:`XMLParseError` with the element path, and the
parse-time normalisations libvirt applies are applied here too (canonical IP
and MAC text, ``<forward dev='X'>`` becoming the first pool interface, the
``stp='on' delay='0'`` bridge defaults of nat/route/open/isolated networks,
``ipv6='no'`` dropped, lease units filled in).  Cross-element rules (ranges
inside subnets, duplicates, forward mode vs. devices) live in
:mod:`kvmnet.config.validate` so that every problem is reported at once.  ``<ip>`` (with
its ``<dhcp>``) and ``<route>`` are read in :mod:`kvmnet.xmlio.network_parse_ip`.
"""
from __future__ import annotations

from kvmnet.errors import VIR_ERR_CONFIG_UNSUPPORTED, VIR_ERR_NO_NAME, XMLParseError, quote
from kvmnet.model.modes import owns_bridge
from kvmnet.model.network import (
    Bridge,
    Dns,
    DnsForwarder,
    DnsHost,
    DnsSrv,
    DnsTxt,
    Domain,
    Forward,
    ForwardInterface,
    ForwardMode,
    HostdevDriver,
    Nat,
    Network,
    PciAddress,
    PortGroup,
)
from kvmnet.xmlio import strict
from kvmnet.xmlio import values as v
from kvmnet.xmlio.canon import FORWARD_MODE_DEFAULT
from kvmnet.xmlio.expat_tree import declarations, parse_tree, split_tag, xml_text
from kvmnet.xmlio.forward import parse_forwards
from kvmnet.xmlio.network_fragments import (
    parse_bandwidth,
    parse_dns_host,
    parse_dns_srv,
    parse_dns_txt,
    parse_forward_interface,
    parse_portgroup,
    parse_virtualport,
    parse_vlan,
    require_complete_dns_host,
    require_complete_dns_srv,
    require_complete_dns_txt,
)
from kvmnet.xmlio.network_parse_ip import parse_ip, parse_route

TYPE_CHECKING = False  # typing costs ~10 ms of a cold net-define: annotations only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from kvmnet.xmlio.expat_tree import Element as Node

    _T = TypeVar("_T")

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"
ROOT = "/network"
_MODES = tuple(m.value for m in ForwardMode)


def parse_network(data: str | bytes, *, unknown: list[str] | None = None) -> Network:
    """Parse network XML text; raises :class:`XMLParseError` naming the element.

    With ``unknown`` (a list), the paths of the elements and attributes that the parser
    ignored are appended to it (:mod:`.strict`); libvirt ignores them too.
    """
    root = parse_tree(data, "network XML")
    if unknown is None:
        return network_from_element(root)
    with strict.reading() as rec:
        net = network_from_element(root)
    unknown.extend(strict.unread(root, rec))
    return net


def _optional_text(root: Node, tag: str) -> str | None:
    el = v.first_child(root, tag)
    if el is None:
        return None
    # libvirt's XPath string() yields NULL for an empty element.
    return v.text_of(el) or None


def network_from_element(root: Node) -> Network:
    """Build a Network from an already-parsed ``<network>`` element."""
    if root.tag != "network":
        raise XMLParseError(
            f"root element is <{root.tag}>, expected <network>; is this a network definition?", "/"
        )
    name = _optional_text(root, "name")
    if name is None:
        raise XMLParseError("missing <name>; every network needs a name, e.g. <name>default</name>",
                            ROOT, code=VIR_ERR_NO_NAME)
    uuid_raw = _optional_text(root, "uuid")
    uuid = None if uuid_raw is None else v.uuid_text(uuid_raw, v.child_path(ROOT, "uuid"))
    ipv6 = v.yes_no_attr(root, "ipv6", ROOT)
    trust = v.yes_no_attr(root, "trustGuestRxFilters", ROOT)
    v.known(root, "@connections")  # live status only (net-dumpxml of an active network)

    forward = _parse_forward(root)
    mode = forward.mode if forward is not None else ForwardMode.NONE

    return Network(
        name=name,
        uuid=uuid,
        title=_optional_text(root, "title"),
        description=_optional_text(root, "description"),
        metadata=_parse_metadata(root),
        ipv6=True if ipv6 else None,
        trust_guest_rx_filters=trust,
        forward=forward,
        bridge=_parse_bridge(root, mode),
        mtu=_parse_mtu(root),
        mac=_parse_mac(root),
        domain=_parse_domain(root),
        dns=_parse_dns(root),
        vlan=_sub(root, "vlan", lambda el, p: parse_vlan(el, p)),
        bandwidth=_sub(root, "bandwidth", lambda el, p: parse_bandwidth(el, p)),
        port_isolated=_parse_port(root),
        ips=tuple(parse_ip(el, v.child_path(ROOT, "ip", i))
                  for i, el in enumerate(v.children(root, "ip"), 1)),
        routes=tuple(parse_route(el, v.child_path(ROOT, "route", i))
                     for i, el in enumerate(v.children(root, "route"), 1)),
        virtualport=_sub(root, "virtualport",
                         lambda el, p: parse_virtualport(el, p, require_type=True)),
        portgroups=tuple(_parse_portgroup(el, v.child_path(ROOT, "portgroup", i))
                         for i, el in enumerate(v.children(root, "portgroup"), 1)),
        dnsmasq_options=_parse_dnsmasq_options(root),
        forwards=parse_forwards(root, ROOT),
    )


def _sub(root: Node, tag: str,
         fn: Callable[[Node, str], _T | None]) -> _T | None:
    el = v.first_child(root, tag)
    return None if el is None else fn(el, v.child_path(ROOT, tag))


def _parse_portgroup(el: Node, path: str) -> PortGroup:
    return parse_portgroup(el, path)


def _parse_metadata(root: Node) -> str | None:
    el = v.first_child(root, "metadata")
    if el is None:
        return None
    strict.took_whole(el)  # any namespaced content, kept as it is
    # lxml formats it (only a document with <metadata> imports lxml): libvirt keeps only
    # namespaced children, and only the first per namespace (virXMLNodeSanitizeNamespaces),
    # then pretty-prints them, with libxml2's choice of namespace declarations.  lxml gets
    # <metadata> written back as the document wrote it, under the root's declarations, so
    # its tree (and its copy) is the one it would have read from the document itself.
    import copy

    from lxml import etree

    top = etree.fromstring(" ".join(["<network", *declarations(root.nsdecl)]) + ">"
                           + xml_text(el) + "</network>",
                           etree.XMLParser(resolve_entities=False, no_network=True))
    md = copy.deepcopy(top[0])
    seen: set[str] = set()
    for child in list(md):
        if not isinstance(child.tag, str):
            continue
        ns = split_tag(child.tag)[0]
        if ns is None or ns in seen:
            md.remove(child)
        else:
            seen.add(ns)
    md.text = None
    md.tail = None
    for node in md.iter():
        if node is not md and node.tail is not None and not node.tail.strip():
            node.tail = None
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
    etree.cleanup_namespaces(md)
    text = etree.tostring(md, pretty_print=True, encoding="unicode")
    return text.rstrip("\n")


def _parse_bridge(root: Node, mode: ForwardMode) -> Bridge | None:
    el = v.first_child(root, "bridge")
    path = v.child_path(ROOT, "bridge")
    name = zone = mtm = None
    stp: bool | None = None
    delay: int | None = None
    if el is not None:
        name = v.attr(el, "name") or None
        zone = v.attr(el, "zone") or None
        stp_text = v.attr(el, "stp")
        if stp_text is not None:
            stp = v.on_off(stp_text, path, "stp")
        delay_text = v.attr(el, "delay")
        if delay_text is not None:
            delay = v.unsigned(delay_text, path, "delay", maximum=2**63 - 1)
        mtm_text = v.attr(el, "macTableManager")
        if mtm_text is not None:
            mtm = v.choice(mtm_text, ("kernel", "libvirt"), path, "macTableManager")
    if owns_bridge(mode.value):
        # libvirt's defaults for bridges it creates itself: STP on, no delay.
        return Bridge(name=name, stp=True if stp is None else stp, delay=delay or 0,
                      mac_table_manager=mtm, zone=zone)
    if el is None:
        return None
    # Kept as written so that validation can refuse stp/delay in these modes; an empty
    # <bridge/> says nothing and is not formatted, so it must not survive as a value.
    bridge = Bridge(name=name, stp=stp, delay=delay or None, mac_table_manager=mtm, zone=zone)
    return None if bridge == Bridge() else bridge


def _parse_mtu(root: Node) -> int | None:
    el = v.first_child(root, "mtu")
    if el is None:
        return None
    size = v.attr(el, "size")
    if size is None:
        return None
    mtu = v.unsigned(size, v.child_path(ROOT, "mtu"), "size", maximum=2**32 - 1)
    return mtu or None


def _parse_mac(root: Node) -> str | None:
    el = v.first_child(root, "mac")
    if el is None:
        return None
    text = v.attr(el, "address")
    if not text:  # libvirt treats an empty attribute as absent
        return None
    return v.mac_address(text, v.child_path(ROOT, "mac"), "address")


def _parse_domain(root: Node) -> Domain | None:
    el = v.first_child(root, "domain")
    if el is None:
        return None
    path = v.child_path(ROOT, "domain")
    local_only = v.yes_no_attr(el, "localOnly", path)
    register = v.yes_no_attr(el, "register", path)
    name = v.attr(el, "name")
    if name is None:
        return None
    v.no_line_breaks(name, path, "domain name")
    return Domain(name=name, local_only=local_only, register=register)


def _parse_port(root: Node) -> bool | None:
    el = v.first_child(root, "port")
    return None if el is None else v.yes_no_attr(el, "isolated", v.child_path(ROOT, "port"))


def _parse_dns(root: Node) -> Dns | None:
    el = v.first_child(root, "dns")
    if el is None:
        return None
    path = v.child_path(ROOT, "dns")
    forwarders: list[DnsForwarder] = []
    for i, f in enumerate(v.children(el, "forwarder"), 1):
        fpath = v.child_path(path, "forwarder", i)
        addr_text = v.attr(f, "addr")
        addr = None if addr_text is None else v.ip_address(addr_text, fpath, "addr")
        domain = v.attr(f, "domain")
        if domain is not None:
            v.no_line_breaks(domain, fpath, "DNS forwarder domain")
        if addr is None and domain is None:
            raise XMLParseError("DNS <forwarder> must have at least one of addr or domain", fpath)
        forwarders.append(DnsForwarder(addr=addr, domain=domain))
    hosts: list[DnsHost] = []
    for i, h in enumerate(v.children(el, "host"), 1):
        hpath = v.child_path(path, "host", i)
        host = parse_dns_host(h, hpath)
        require_complete_dns_host(host, hpath)
        for name in host.hostnames:
            v.no_line_breaks(name, hpath, "DNS hostname")
        hosts.append(host)
    srvs: list[DnsSrv] = []
    for i, s in enumerate(v.children(el, "srv"), 1):
        spath = v.child_path(path, "srv", i)
        srv = parse_dns_srv(s, spath)
        require_complete_dns_srv(srv, spath)
        srvs.append(srv)
    txts: list[DnsTxt] = []
    for i, t in enumerate(v.children(el, "txt"), 1):
        tpath = v.child_path(path, "txt", i)
        txt = parse_dns_txt(t, tpath)
        require_complete_dns_txt(txt, tpath)
        txts.append(txt)
    dns = Dns(
        enable=v.yes_no_attr(el, "enable", path),
        forward_plain_names=v.yes_no_attr(el, "forwardPlainNames", path),
        forwarders=tuple(forwarders),
        txts=tuple(txts),
        srvs=tuple(srvs),
        hosts=tuple(hosts),
    )
    # An empty <dns/> says nothing and is not formatted (as by libvirt): the stored
    # file must read back to the same definition.
    return None if dns == Dns() else dns


def _parse_forward(root: Node) -> Forward | None:
    el = v.first_child(root, "forward")
    if el is None:
        return None
    path = v.child_path(ROOT, "forward")
    mode_text = v.attr(el, "mode")
    if mode_text is None:
        mode = ForwardMode(FORWARD_MODE_DEFAULT)
    else:
        if mode_text not in _MODES:
            raise XMLParseError(
                f"unknown forward mode {quote(mode_text)}; use one of: " + ", ".join(_MODES[1:]), path,
                code=VIR_ERR_CONFIG_UNSUPPORTED)
        mode = ForwardMode(mode_text)
    if mode is ForwardMode.NONE:
        return None
    managed_text = v.attr(el, "managed")
    managed = managed_text is not None and managed_text.lower() == "yes"

    driver = None
    drv = v.first_child(el, "driver")
    if drv is not None:
        dpath = v.child_path(path, "driver")
        dname = v.attr(drv, "name")
        if dname is not None:
            v.choice(dname, ("kvm", "vfio", "xen"), dpath, "name")
        dmodel = v.attr(drv, "model") or None
        if dname is not None or dmodel is not None:
            driver = HostdevDriver(name=dname, model=dmodel)

    nats = v.children(el, "nat")
    if len(nats) > 1:
        raise XMLParseError("only one <nat> element is allowed in <forward>", path)
    nat = _parse_nat(nats[0], v.child_path(path, "nat"), mode) if nats else None

    iface_els = v.children(el, "interface")
    addr_els = v.children(el, "address")
    pf_els = v.children(el, "pf")
    dev = v.attr(el, "dev") or None
    if dev is not None and (addr_els or pf_els):
        raise XMLParseError(
            "the <forward> dev attribute cannot be used together with <address> or <pf> "
            "sub-elements; remove dev", path)
    interfaces: list[ForwardInterface] = []
    if dev is not None:
        interfaces.append(ForwardInterface(dev=dev))
    for i, ie in enumerate(iface_els, 1):
        ipath = v.child_path(path, "interface", i)
        iface = parse_forward_interface(ie, ipath)
        if i == 1 and dev is not None:
            if iface.dev != dev:
                raise XMLParseError(
                    f"<forward dev={quote(dev)}> must match the first <interface dev={quote(iface.dev)}/>",
                    ipath)
            continue
        interfaces.append(iface)
    addresses = tuple(_parse_pci(a, v.child_path(path, "address", i))
                      for i, a in enumerate(addr_els, 1))
    if len(pf_els) > 1:
        raise XMLParseError("only one <pf> element is allowed in <forward>", path)
    pf = None
    if pf_els:
        pf = v.attr(pf_els[0], "dev")
        if not pf:
            raise XMLParseError("missing required dev attribute in <pf>",
                                v.child_path(path, "pf"))
    return Forward(
        mode=mode,
        # libvirt formats dev= from the first pool interface (not with a <pf>).
        dev=interfaces[0].dev if interfaces and pf is None else None,
        managed=managed if mode is ForwardMode.HOSTDEV else None,
        interfaces=tuple(interfaces),
        addresses=addresses,
        pf=pf,
        driver=driver,
        nat=nat,
        mode_given=mode_text is not None,
    )


def _parse_pci(el: Node, path: str) -> PciAddress:
    # connections: live status only; multifunction: a guest-side PCI option, no use here
    v.known(el, "@connections", "@multifunction")
    atype = v.attr(el, "type")
    if atype is None:
        raise XMLParseError("missing address type; use <address type='pci' .../>", path)
    if atype != "pci":
        raise XMLParseError(f"unsupported address type {quote(atype)}; only 'pci' is supported", path)
    parts: dict[str, int] = {}
    for key, limit in (("domain", 0xFFFFFFFF), ("bus", 0xFF), ("slot", 0x1F), ("function", 7)):
        text = v.attr(el, key)
        parts[key] = 0 if text is None else v.unsigned(text, path, key, maximum=limit, base=0)
    if any(parts.values()) and not (parts["domain"] or parts["bus"] or parts["slot"]):
        raise XMLParseError("invalid PCI address 0000:00:00; at least one of domain, bus or "
                            "slot must be > 0", path)
    return PciAddress(domain=parts["domain"], bus=parts["bus"], slot=parts["slot"],
                      function=parts["function"])


def _parse_nat(el: Node, path: str, mode: ForwardMode) -> Nat:
    if mode is not ForwardMode.NAT:
        raise XMLParseError(
            f"<nat> can only be used with <forward mode='nat'>, not mode={mode.value!r}", path)
    ipv6 = v.yes_no_attr(el, "ipv6", path)
    start = end = None
    addrs = v.children(el, "address")
    if len(addrs) > 1:
        raise XMLParseError("only one <address> element is allowed in <nat>", path)
    if addrs:
        apath = v.child_path(path, "address")
        s_text, e_text = v.attr(addrs[0], "start"), v.attr(addrs[0], "end")
        if s_text is None:
            raise XMLParseError("missing 'start' attribute in <nat> <address>", apath)
        if e_text is None:
            raise XMLParseError("missing 'end' attribute in <nat> <address>", apath)
        start = v.ip_address(s_text, apath, "start", family="ipv4")
        end = v.ip_address(e_text, apath, "end", family="ipv4")
        s_oct = [int(x) for x in start.split(".")]
        e_oct = [int(x) for x in end.split(".")]
        if s_oct[:2] != e_oct[:2]:
            raise XMLParseError(f"NAT address range {start} - {end} is too large", apath)
        if (e_oct[2] - s_oct[2]) * 256 + (e_oct[3] - s_oct[3]) < 0:
            raise XMLParseError(f"NAT address range {start} - {end} is reversed; swap start "
                                "and end", apath)
    port_start = port_end = None
    ports = v.children(el, "port")
    if len(ports) > 1:
        raise XMLParseError("only one <port> element is allowed in <nat>", path)
    if ports:
        ppath = v.child_path(path, "port")
        s_text, e_text = v.attr(ports[0], "start"), v.attr(ports[0], "end")
        if s_text is None:
            raise XMLParseError("missing 'start' attribute in <nat> <port>", ppath)
        if e_text is None:
            raise XMLParseError("missing 'end' attribute in <nat> <port>", ppath)
        port_start = v.unsigned(s_text, ppath, "start", maximum=65535)
        port_end = v.unsigned(e_text, ppath, "end", maximum=65535)
        if port_end < port_start:
            raise XMLParseError(f"NAT port range {port_start}-{port_end} is reversed", ppath)
    return Nat(ipv6=ipv6, address_start=start, address_end=end, port_start=port_start,
               port_end=port_end)


def _parse_dnsmasq_options(root: Node) -> tuple[str, ...]:
    opts = v.children(root, f"{{{DNSMASQ_NS}}}options")
    if not opts:
        return ()
    path = f"{ROOT}/dnsmasq:options"
    values: list[str] = []
    for i, o in enumerate(v.children(opts[0], f"{{{DNSMASQ_NS}}}option"), 1):
        opath = f"{path}/dnsmasq:option[{i}]"
        value = v.attr(o, "value")
        if value is None:
            raise XMLParseError("no value specified for <dnsmasq:option>; add value='...'", opath)
        # One element is one dnsmasq config line.
        v.no_line_breaks(value, opath, "dnsmasq option value")
        values.append(value)
    return tuple(values)
