"""Port forwards in a network document: ``<kvmnet:forwards>`` in kvmnet's own XML namespace.

libvirt has no port forwards; like ``<dnsmasq:options>`` (libvirt's own namespaced
extension), they sit at the end of ``<network>`` in a namespace of their own, so a libvirt
reader sees an element of a namespace it does not know (and drops it) rather than a
misspelt libvirt element::

    <network xmlns:kvmnet='https://kvmnet.dev/xmlns/network/1'>
      ...
      <kvmnet:forwards>
        <kvmnet:forward address='203.0.113.5' protocol='tcp' ports='80,443'
                        target='192.168.122.10' targetPorts='8080,8443'/>
      </kvmnet:forwards>
    </network>

``targetPorts`` is left out when the target ports are the listen ports.  Parsing checks
each value by itself; the rules that need the whole network (target inside the subnet,
overlaps) are :func:`kvmnet.model.forward.forward_problems`, run by validation.
"""
from __future__ import annotations

from kvmnet.errors import XMLParseError
from kvmnet.model.forward import PROTOCOLS, PortForward, PortSpecError, parse_ports
from kvmnet.xmlio import values as v

TYPE_CHECKING = False  # annotations only: define reads networks without lxml (expat_tree)
if TYPE_CHECKING:
    from kvmnet.xmlio.expat_tree import Element as Node

KVMNET_NS = "https://kvmnet.dev/xmlns/network/1"
PREFIX = "kvmnet"


def parse_forwards(root: Node, parent_path: str) -> tuple[PortForward, ...]:
    """The ``<kvmnet:forward>`` children of ``root``'s ``<kvmnet:forwards>``, in order."""
    lists = v.children(root, f"{{{KVMNET_NS}}}forwards")
    if not lists:
        return ()
    path = f"{parent_path}/{PREFIX}:forwards"
    out: list[PortForward] = []
    for i, el in enumerate(v.children(lists[0], f"{{{KVMNET_NS}}}forward"), 1):
        out.append(_forward(el, f"{path}/{PREFIX}:forward[{i}]"))
    return tuple(out)


def _required(el: Node, name: str, path: str) -> str:
    value = v.attr(el, name)
    if value is None or not value.strip():
        raise XMLParseError(f"<{PREFIX}:forward> needs a '{name}' attribute", path)
    return value.strip()


def _ports(el: Node, name: str, path: str, *, required: bool) -> tuple[
        tuple[int, int], ...]:
    text = _required(el, name, path) if required else v.attr(el, name)
    if text is None:
        return ()
    try:
        return parse_ports(text, f"attribute '{name}'")
    except PortSpecError as exc:
        raise XMLParseError(str(exc), path) from None


def _forward(el: Node, path: str) -> PortForward:
    # either IP version; a listen address and target of different versions is a rule of
    # the whole forward (kvmnet.model.forward.family_problem), checked by validation
    address = v.ip_address(_required(el, "address", path), path, "address")
    protocol = v.choice(_required(el, "protocol", path), PROTOCOLS, path, "protocol")
    ports = _ports(el, "ports", path, required=True)
    target = v.ip_address(_required(el, "target", path), path, "target")
    target_ports = _ports(el, "targetPorts", path, required=False)
    return PortForward(address=address, protocol=protocol, ports=ports, target=target,
                       target_ports=() if target_ports == ports else target_ports)


def namespace_attribute() -> str:
    return f" xmlns:{PREFIX}='{KVMNET_NS}'"


def format_forwards(forwards: tuple[PortForward, ...]) -> list[str]:
    """The ``<kvmnet:forwards>`` element as lines, indented for a child of ``<network>``."""
    if not forwards:
        return []
    lines = [f"<{PREFIX}:forwards>"]
    for f in forwards:
        line = (f"  <{PREFIX}:forward address='{f.address}' protocol='{f.protocol}' "
                f"ports='{f.ports_text}' target='{f.target}'")
        if f.target_ports and f.target_ports != f.ports:
            line += f" targetPorts='{f.target_ports_text}'"
        lines.append(line + "/>")
    lines.append(f"</{PREFIX}:forwards>")
    return lines
