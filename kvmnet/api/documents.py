"""Network documents at the facade: the size cap, parsing, formatting, net-validate.

lxml (through :mod:`kvmnet.xmlio.network`) is imported only when a document must be parsed
or formatted, which keeps ``kvmnet net-list`` quick to start.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.api.constants import MAX_XML_BYTES, VIR_NETWORK_DEFINE_VALIDATE
from kvmnet.errors import XMLParseError

if TYPE_CHECKING:
    from collections.abc import Callable

    from kvmnet.model.network import Network as NetworkDef


def check_size(data: str | bytes, what: str = "network XML") -> None:
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_XML_BYTES:
        raise XMLParseError(
            f"{what} is {size} bytes; kvmnet accepts at most {MAX_XML_BYTES} bytes, "
            "which no network definition needs: check that this is the right file")


def parse_doc(text: str) -> NetworkDef:
    from kvmnet.xmlio.network import parse_network

    return parse_network(text)


def format_doc(net: NetworkDef, inactive: bool) -> str:
    from kvmnet.xmlio.network import format_network

    return format_network(net, inactive=inactive)


def canonicalNetworkXML(xml: str | bytes, flags: int = 0,
                        warn: Callable[[str], None] | None = None) -> str:
    """Parse and validate a network document; return it as libvirt formats a parsed network.

    Nothing is assigned (no UUID, bridge name or MAC): this is the document's
    own content after parse-time normalisation.  Raises the parse or
    validation error otherwise.  Backs ``kvmnet net-validate``.  Unknown elements and
    attributes: ``VIR_NETWORK_DEFINE_VALIDATE`` refuses them, else ``warn`` hears of each.
    """
    from kvmnet.config.define import prepare

    check_size(xml)
    net = prepare(xml, strict=bool(flags & VIR_NETWORK_DEFINE_VALIDATE), warn=warn)
    return format_doc(net, inactive=False)
