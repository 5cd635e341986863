"""XML parsing and formatting for libvirt's document formats.

``safe`` loads untrusted XML; ``network`` parses and formats network
definitions the way libvirt does.  Every parse error carries the path of the
offending element, e.g. ``/network/ip[2]/dhcp/range[1]``.
"""
from __future__ import annotations

from kvmnet.xmlio.safe import MAX_DOCUMENT_BYTES, parse_document

__all__ = ["MAX_DOCUMENT_BYTES", "parse_document"]
