"""Pure renderers: model objects in, configuration text out (no I/O).

They live here rather than in ``kvmnet.host`` because host adapters must not
import the model; an adapter takes the rendered text and applies it.
"""
from __future__ import annotations

from .dnsmasq import DnsmasqFiles, dnsmasq_needed, render_dnsmasq

__all__ = ["DnsmasqFiles", "dnsmasq_needed", "render_dnsmasq"]
