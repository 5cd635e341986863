"""Narrow adapters through which kvmnet changes the host.

Each module takes plain values (names, addresses, numbers), never model objects, and logs every
change it makes at debug level on the ``kvmnet.host`` logger, in the shell form a person would
type (``ip link add virbr0 type bridge ...``, ``sysctl -w net.ipv4.ip_forward=1``).  Failures are
:class:`kvmnet.errors.HostError` naming that command and the errno.

One path to the kernel per concern:

- rtnetlink on the hot path of ``net-start``/``net-destroy`` (and the link operations of the
  same shape that port plugging shares): :mod:`.netlink`'s :class:`~.netlink.Netlink`, whose
  few fixed-layout messages :mod:`.rtpack` packs and reads, on :mod:`.rtnl`'s synchronous
  socket; no pyroute2 (its import costs more than the verbs: bench/bench_netlink.py).
- rtnetlink for everything cold: pyroute2's public ``IPRoute``, one per process, in
  :mod:`.iproute` (bridge-port flags, bridge options, VLAN filtering, the FDB, vlan and bond
  links, the detailed link dump of :mod:`.bridgefs`).
- the tun driver's ioctls for taps (:mod:`.tap`: exclusive create, the kernel's ``vnet%d``
  name back, persistent only once set up -- what pyroute2's tuntap cannot do).
- ``tc`` argv (:mod:`.tap`'s bandwidth): libvirt's exact commands, kept as they are.

What is read back is one record style: typed NamedTuples in :mod:`.nltypes` (``Link``,
``Address``, ``Route``).

- :mod:`.run`: argv-only subprocess runner with clear "not installed" and "failed" errors.
- :mod:`.netlink`: links, addresses and routes over rtnetlink (the hot path, above), on
  :mod:`.rtnl`'s socket with :mod:`.rtpack`'s messages; its values and errors in :mod:`.nltypes`.
- :mod:`.iproute`: pyroute2's public API for the cold changes (above).
- :mod:`.tap`: tap devices for guest NICs and their per-port state (tc, VLANs, learning).
- :mod:`.vf`: SR-IOV VF settings (MAC, VLAN, spoof check, trust) read and set through the PF.
- :mod:`.bridgefs`: bridge and bridge-port settings and the MAC table (brctl's data).
- :mod:`.nftables`: one atomic nftables transaction per document (libnftables in-process, or nft).
- :mod:`.sysctl`: ``/proc/sys`` keys, read and write with the previous value returned.
- :mod:`.procnet`: parsers of ``/proc/net``: who listens on which port, and the route tables.
- :mod:`.dnsmasq`: start, stop, reload one dnsmasq per network; inotify limits.
- :mod:`.routemute`: keeps route-change notifications from waking a dnsmasq that needs none.
- :mod:`.process`: PID-reuse-safe signalling (pidfd) and ``/proc/PID/cmdline`` checks.
- :mod:`.which`: finding a program in PATH; :mod:`.readable`: whether another user can read a file.
- :mod:`.ovsdb`: Open vSwitch's database through the ``ovs`` library's IDL (bridges, ports, QoS;
  one transaction a change), :mod:`.ovsnames` (which database, names, ovs-vsctl's quoting),
  :mod:`.ovsjson` (the C JSON decoder for the library).

This package imports nothing at import time so that importing one adapter stays cheap.
"""
