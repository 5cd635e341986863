"""libvirt network XML: parse (:func:`parse_network`) and format (:func:`format_network`).

The implementation is split into :mod:`.network_parse` (with :mod:`.network_parse_ip`
for ``<ip>``/``<dhcp>``/``<route>``), :mod:`.network_format` and :mod:`.network_fragments`
(the pieces ``net-update`` edits); this module is the stable import point for all of them.
"""
from __future__ import annotations

from kvmnet.xmlio.network_format import escape, format_network
from kvmnet.xmlio.network_fragments import (
    expect_tag,
    parse_bandwidth,
    parse_dhcp_host,
    parse_dhcp_range,
    parse_dns_host,
    parse_dns_srv,
    parse_dns_txt,
    parse_forward_interface,
    parse_lease,
    parse_portgroup,
    parse_virtualport,
    parse_vlan,
    require_complete_dhcp_host,
    require_complete_dns_host,
    require_complete_dns_srv,
    require_complete_dns_txt,
)
from kvmnet.xmlio.network_parse import DNSMASQ_NS, network_from_element, parse_network

__all__ = [
    "DNSMASQ_NS",
    "escape",
    "expect_tag",
    "format_network",
    "network_from_element",
    "parse_bandwidth",
    "parse_dhcp_host",
    "parse_dhcp_range",
    "parse_dns_host",
    "parse_dns_srv",
    "parse_dns_txt",
    "parse_forward_interface",
    "parse_lease",
    "parse_network",
    "parse_portgroup",
    "parse_virtualport",
    "parse_vlan",
    "require_complete_dhcp_host",
    "require_complete_dns_host",
    "require_complete_dns_srv",
    "require_complete_dns_txt",
]
