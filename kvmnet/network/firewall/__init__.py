"""nftables documents for networks: pure renderers, applied by kvmnet.host.nftables.

Imports nothing at import time, so that a cold command pays only for what it uses.
"""
