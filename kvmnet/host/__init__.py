"""Narrow adapters through which kvmnet changes the host.

Each module takes plain values (names, addresses, numbers), never model objects, and logs every
change it makes at debug level on the ``kvmnet.host`` logger, in the shell form a person would
type (``ip link add virbr0 type bridge ...``, ``sysctl -w net.ipv4.ip_forward=1``).  Failures are
:class:`kvmnet.errors.HostError` naming that command and the errno.

- :mod:`.run`: argv-only subprocess runner with clear "not installed" and "failed" errors.
- :mod:`.netlink`: links, addresses and routes over rtnetlink, on :mod:`.rtnl` (a synchronous
  socket loop around pyroute2's message classes: the only place pyroute2 is imported).
- :mod:`.bridgefs`: bridge and bridge-port settings and the MAC table (brctl's data).
- :mod:`.nftables`: one atomic nftables transaction per document (libnftables in-process, or nft).
- :mod:`.sysctl`: ``/proc/sys`` keys, read and write with the previous value returned.
- :mod:`.procnet`: parsers of ``/proc/net``: who listens on which port, and the route tables.
- :mod:`.dnsmasq`: start, stop, reload one dnsmasq per network; inotify limits.
- :mod:`.process`: PID-reuse-safe signalling (pidfd) and ``/proc/PID/cmdline`` checks.

This package imports nothing at import time so that importing one adapter stays cheap.
"""
