"""Host interfaces in libvirt's interface XML (iface-*).

Imports nothing at import time, so that a cold command pays only for what it uses.
"""
