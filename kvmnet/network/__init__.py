"""A network's life: compile (driver -> start program), preflight, start, teardown,
dnsmasq configuration, firewall documents, leases, and the forward-mode drivers.

Imports nothing at import time, so that a cold command pays only for what it uses.
"""
