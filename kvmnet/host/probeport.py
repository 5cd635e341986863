"""A short-lived port on a bridge from which ``kvmnet doctor`` sends one test frame.

A frame that must be judged by the host's firewalls as a guest's would be has to *arrive* on
the bridge: the kernel then sees it come in on the bridge (``iif`` the bridge, as a guest's
packet does) and runs it through the same prerouting, forward and input hooks.  Sending on the
bridge device itself would go out to its ports instead, so the probe is a veth pair: one end
(``PEER``) is enslaved to the bridge, frames are written to the other (``NAME``) with a packet
socket.  IPv6 is disabled on both ends before they come up, so they send nothing of their own
(no router solicitations, no DAD).  :meth:`ProbePort.close` deletes the pair (deleting one end
deletes both); the names carry the process id, so two doctors never collide.
"""
from __future__ import annotations

import os
import socket
import time

from kvmnet.errors import HostError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Self

BR_FORWARDING = "3"  # /sys/class/net/PORT/brport/state: BR_STATE_FORWARDING


def _ip(*args: str, check: bool = True) -> str:
    from kvmnet.host.run import run

    return run(["ip", *args], check=check, timeout=30).stdout


def _sysfs(path: str) -> str | None:
    try:
        with open(os.path.join(os.environ.get("KVMNET_SYSFS", "/sys"), path), encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return None


def link_mac(ifname: str) -> str | None:
    import json

    out = _ip("-j", "link", "show", "dev", ifname, check=False)
    try:
        links = json.loads(out or "[]")
    except ValueError:
        return None
    return str(links[0].get("address")) if links else None


class ProbePort:
    """A veth pair with one end on ``bridge``; :meth:`send` writes a frame into the bridge."""

    def __init__(self, bridge: str) -> None:
        self.bridge = bridge
        self.name = f"kvdp{os.getpid() % 1000000}"
        self.peer = f"{self.name}b"
        self._sock: socket.socket | None = None

    def open(self, settle: float = 5.0) -> Self:
        """Create and plug the pair; wait up to ``settle`` s for the bridge to forward on it (an
        STP bridge keeps a new port listening and learning for twice its forward delay)."""
        from kvmnet.host import sysctl

        _ip("link", "add", self.name, "type", "veth", "peer", "name", self.peer)
        try:
            for end in (self.name, self.peer):
                sysctl.write(sysctl.iface_key(6, end, "disable_ipv6"), "1", missing_ok=True)
            _ip("link", "set", self.peer, "master", self.bridge)
            _ip("link", "set", self.peer, "up")
            _ip("link", "set", self.name, "up")
            deadline = time.monotonic() + settle
            while _sysfs(f"class/net/{self.peer}/brport/state") not in (BR_FORWARDING, None):
                if time.monotonic() > deadline:
                    raise HostError(f"bridge {self.bridge} did not start forwarding on a new "
                                    f"port within {settle:g} s (STP forward delay); the "
                                    "traced-packet check was skipped")
                time.sleep(0.02)
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            self._sock.bind((self.name, 0))
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, frame: bytes) -> None:
        assert self._sock is not None
        self._sock.send(frame)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        _ip("link", "del", self.name, check=False)
