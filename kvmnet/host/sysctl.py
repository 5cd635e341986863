"""Kernel parameters through ``/proc/sys``.

Keys use sysctl(8)'s dotted form.  Because a dot separates components, a dot *inside* a
component (an interface name such as ``eth0.1``) is written as ``/``:
``net.ipv6.conf.eth0/1.accept_ra`` is the file ``/proc/sys/net/ipv6/conf/eth0.1/accept_ra``.
:func:`iface_key` builds such keys from parts so callers never split names themselves.

``net.*`` keys are per network namespace: the kernel resolves them in the namespace of the
process that opens the file, so kvmnet acts on the namespace it runs in.
"""
from __future__ import annotations

import errno as errno_mod
import os

from kvmnet.errors import HostError
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

PROC_SYS = "/proc/sys"

_FAMILIES = {4: "ipv4", 6: "ipv6", "ipv4": "ipv4", "ipv6": "ipv6", "4": "ipv4", "6": "ipv6"}


def _component(text: str) -> str:
    """Escape one path component for the dotted form (``.`` -> ``/``)."""
    if not text or text in (".", "..") or "/" in text or "\0" in text:
        raise ValueError(f"invalid sysctl key component {text!r}")
    return text.replace(".", "/")


def key(*components: str) -> str:
    """Join raw components (which may contain dots) into a dotted key."""
    return ".".join(_component(c) for c in components)


def iface_key(family: int | str, ifname: str, leaf: str) -> str:
    """The key of a per-interface setting, e.g. ``iface_key(6, "eth0.1", "accept_ra")``.

    ``family`` is 4, 6, "ipv4" or "ipv6"; ``ifname`` may also be ``all`` or ``default``.
    """
    fam = _FAMILIES.get(family)
    if fam is None:
        raise ValueError(f"family must be 4 or 6, not {family!r}")
    return key("net", fam, "conf", ifname, leaf)


def path_of(dotted: str) -> str:
    """The ``/proc/sys`` file of a dotted key (``/`` in a component becomes ``.``)."""
    parts = dotted.split(".")
    if any(not p or p.replace("/", ".") in (".", "..") for p in parts):
        raise ValueError(f"invalid sysctl key {dotted!r}")
    return os.path.join(PROC_SYS, *(p.replace("/", ".") for p in parts))


def read(dotted: str) -> str | None:
    """The current value (surrounding whitespace stripped), None if the key does not exist."""
    try:
        with open(path_of(dotted), encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None
    except PermissionError as exc:
        raise HostError(
            f"cannot read {dotted}: permission denied; run kvmnet as root",
            f"sysctl -n {dotted}",
            exc.errno,
        ) from exc


def write(dotted: str, value: str | int, *, missing_ok: bool = False) -> str | None:
    """Set a key and return its previous value, so that the caller can record the undo.

    Nothing is written (and nothing logged) when the value is already set.  A missing key raises
    HostError unless ``missing_ok``, in which case nothing happens and None is returned (e.g.
    IPv6 keys on a host booted with ``ipv6.disable=1``).
    """
    text = str(value)
    command = f"sysctl -w {dotted}={text}"
    previous = read(dotted)
    if previous is None:
        if missing_ok:
            return None
        raise HostError(
            f"kernel parameter {dotted} does not exist: check the interface name, or whether the "
            "kernel has this feature (e.g. IPv6 disabled on the kernel command line)",
            command,
            errno_mod.ENOENT,
        )
    if previous == text:
        return previous
    log.debug("%s", command)
    try:
        with open(path_of(dotted), "w", encoding="utf-8") as f:
            f.write(text)
    except PermissionError as exc:
        raise HostError(
            f"cannot set {dotted}: permission denied; run kvmnet as root (CAP_NET_ADMIN in this "
            "network namespace)",
            command,
            exc.errno,
        ) from exc
    except OSError as exc:
        if exc.errno == errno_mod.EINVAL:
            why = f"the kernel rejected the value {text!r} for {dotted}: check the allowed range"
        else:
            why = f"cannot set {dotted}: {exc.strerror}"
        raise HostError(why, command, exc.errno) from exc
    return previous
