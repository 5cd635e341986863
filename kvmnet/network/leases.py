"""DHCP leases of a network, kept by kvmnet's dnsmasq ``--dhcp-script`` helper.

dnsmasq runs with ``leasefile-ro`` and calls ``NAME.helper add|old|del MAC IP
[HOSTNAME]`` (DHCPv6: the DUID in place of the MAC) on every lease change and
``init`` when it starts, to learn the leases it handed out before a restart.
The helper keeps one JSON list per network (libvirt's ``NAME.status`` shape), so
``net-dhcp-leases`` is exact and a restarted dnsmasq keeps its guests' leases.
This module must stay light: dnsmasq waits for the helper on every lease, and net-start and
net-destroy name the files through it.  So it imports no pathlib, json or shlex (with the
``re`` and ``enum`` they load, ~15 ms of every helper call on the lab machine): plain
strings and :mod:`kvmnet.jsontext`.
"""
from __future__ import annotations

import os
import time

from kvmnet import jsontext
from kvmnet.fileio import FileLock, atomic_write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


def status_path(dnsmasq_dir: str | os.PathLike[str], name: str) -> str:
    return os.path.join(dnsmasq_dir, f"{name}.status")


def helper_path(dnsmasq_dir: str | os.PathLike[str], name: str) -> str:
    return os.path.join(dnsmasq_dir, f"{name}.helper")


def helper_script(python: str, root: str, name: str) -> str:
    """The executable dnsmasq calls: it cannot pass arguments of its own, so we wrap.

    dnsmasq waits for the helper (``init`` at every start, then each lease), so
    it runs Python isolated and without site (``-I -S``: ~10 ms instead of ~40)
    and imports only this module, found through kvmnet's own location.
    """
    from shlex import quote

    # the folder holding kvmnet/
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    status = status_path(os.path.join(root, "var", "lib", "kvmnet", "dnsmasq"), name)
    code = (f"import sys; sys.path.insert(0, {top!r}); from kvmnet.network.leases import main; "
            "sys.exit(main(sys.argv[1:]))")
    argv = [python, "-I", "-S", "-c", code, status]
    # A new network has no leases: answer dnsmasq's start-up 'init' from the shell alone.
    return ("#!/bin/sh\n"
            f'if [ "$1" = init ] && [ ! -s {quote(status)} ]; then exit 0; fi\n'
            "exec " + " ".join(quote(a) for a in argv) + ' "$@"\n')


def main(argv: Sequence[str]) -> int:
    """``helper STATUS_PATH ACTION [ARGS...]``: one dnsmasq script call."""
    import sys

    if len(argv) < 2:
        sys.stderr.write("error: usage: lease helper STATUS_PATH add|old|del|init [MAC IP [NAME]]\n")
        return 2
    sys.stdout.write(helper_main(argv[0], argv[1:], os.environ))
    return 0


def load(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            data = jsontext.loads(f.read())
    except (FileNotFoundError, ValueError):
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def status_text(leases: list[dict[str, Any]]) -> str:
    """The status file: libvirt's layout (a list of flat objects, indented by two)."""
    dumps = jsontext.dumps
    items = [("  {\n" + ",\n".join(f"    {dumps(k)}: {dumps(v)}" for k, v in lease.items())
              + "\n  }") if lease else "  {}" for lease in leases]
    return "[\n" + ",\n".join(items) + "\n]\n" if items else "[]\n"


def _save(path: str | os.PathLike[str], leases: list[dict[str, Any]]) -> None:
    atomic_write(path, status_text(leases).encode("utf-8"), mode=0o644)


def apply_event(leases: list[dict[str, Any]], argv: Sequence[str], env: Mapping[str, str],
                now: float) -> list[dict[str, Any]]:
    """The lease list after one dnsmasq script call (pure: no I/O)."""
    action = argv[0]
    if action not in ("add", "old", "del") or len(argv) < 3:
        return leases
    ident, ip = argv[1], argv[2]
    hostname = argv[3] if len(argv) > 3 else env.get("DNSMASQ_SUPPLIED_HOSTNAME")
    is_v6 = ":" in ip
    kept = [lease for lease in leases if lease.get("ip-address") != ip]
    if action == "del":
        return kept
    if "DNSMASQ_LEASE_EXPIRES" in env:
        expiry = int(env["DNSMASQ_LEASE_EXPIRES"])
    elif "DNSMASQ_LEASE_LENGTH" in env:
        expiry = int(now) + int(env["DNSMASQ_LEASE_LENGTH"])
    else:
        expiry = 0  # infinite
    lease: dict[str, Any] = {"ip-address": ip, "expiry-time": expiry}
    if is_v6:
        lease["type"] = "ipv6"
        lease["client-id"] = ident  # the DUID
        lease["iaid"] = env.get("DNSMASQ_IAID", "")
        lease["server-duid"] = env.get("DNSMASQ_SERVER_DUID", "")
        if env.get("DNSMASQ_MAC"):
            lease["mac-address"] = env["DNSMASQ_MAC"]
    else:
        lease["type"] = "ipv4"
        lease["mac-address"] = ident
        if env.get("DNSMASQ_CLIENT_ID"):
            lease["client-id"] = env["DNSMASQ_CLIENT_ID"]
    if hostname:
        lease["hostname"] = hostname
    if env.get("DNSMASQ_INTERFACE"):
        lease["interface"] = env["DNSMASQ_INTERFACE"]
    kept.append(lease)
    return kept


def init_lines(leases: list[dict[str, Any]], now: float) -> str:
    """What ``HELPER init`` prints: the leases in dnsmasq's lease-file format."""
    v4, v6 = [], []
    server_duid = ""
    for lease in leases:
        expiry = int(lease.get("expiry-time", 0))
        if expiry and expiry < now:
            continue
        name = lease.get("hostname") or "*"
        if lease.get("type") == "ipv6":
            server_duid = server_duid or lease.get("server-duid", "")
            v6.append(f"{expiry} {lease.get('iaid') or 0} {lease['ip-address']} {name} "
                      f"{lease.get('client-id', '*')}")
        else:
            v4.append(f"{expiry} {lease.get('mac-address')} {lease['ip-address']} {name} "
                      f"{lease.get('client-id') or '*'}")
    out = v4
    if v6 and server_duid:
        out = v4 + [f"duid {server_duid}"] + v6
    return "".join(line + "\n" for line in out)


def helper_main(path: str | os.PathLike[str], argv: Sequence[str], env: Mapping[str, str]) -> str:
    """Run one helper call under the network's lease lock; returns text for stdout."""
    with FileLock(f"{path}.lock"):
        now = time.time()
        leases = load(path)
        if argv and argv[0] == "init":
            return init_lines(leases, now)
        new = apply_event(leases, argv, env, now)
        if new is not leases:
            _save(path, new)
        return ""


def active(leases: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    return [lease for lease in leases
            if not lease.get("expiry-time") or int(lease["expiry-time"]) >= now]
