"""A network's life: drivers plan it (drivers/), compile turns the plan into engine steps
and caches them (compile, program), preflight checks the host, start runs the steps through
the engine's executor, runtime tears them down; dnsmasq_setup owns what dnsmasq gets (conf,
hosts, servers, helper; rendered by dnsmasq), firewall/ renders the nft documents (where NAT
is realised), leases keeps DHCP leases.

Imports nothing at import time, so that a cold command pays only for what it uses.
"""
