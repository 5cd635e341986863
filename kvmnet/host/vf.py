"""SR-IOV VF settings through their PF (rtnetlink), and the addresses on a link.

A VF's MAC, VLAN (with its 802.1p priority), spoof check and trust are set through the PF,
as ``ip link set dev PF vf N mac M vlan V qos Q spoofchk on trust off`` does: an
``RTM_SETLINK`` on the PF carrying ``IFLA_VFINFO_LIST`` / ``IFLA_VF_INFO`` with one
``IFLA_VF_MAC``, ``IFLA_VF_VLAN``, ``IFLA_VF_SPOOFCHK``, ``IFLA_VF_TRUST`` each
(include/uapi/linux/if_link.h).  They are read back from the PF's ``RTM_GETLINK`` asked with
``IFLA_EXT_MASK = RTEXT_FILTER_VF``, which is what ``ip link show dev PF`` prints as its ``vf N``
lines.  pyroute2 (cold path: :mod:`.iproute`) encodes both; :func:`encode_set` builds the exact
request without sending it (the golden tests of hosts without SR-IOV hardware).

Settings are plain dicts: ``{"mac": "52:54:00:..", "vlan": 42, "qos": 0, "spoofchk": True,
"trust": False}``; ``vlan`` 0 is "no VLAN"; a key left out (or None) is left as it is.
"""
from __future__ import annotations

from typing import Any

from kvmnet.errors import HostError
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

RTEXT_FILTER_VF = 1
RTM_SETLINK = 19
NLM_F_REQUEST = 1
NLM_F_ACK = 4
#: the settings a VF port saves and restores, in ``ip link``'s order
KEYS = ("mac", "vlan", "qos", "spoofchk", "trust")


def command(pf: str, index: int, settings: dict[str, Any]) -> str:
    """``ip link set dev PF vf N ...``: the shell form of :func:`set_vf`."""
    words = [f"ip link set dev {pf} vf {index}"]
    if settings.get("mac") is not None:
        words.append(f"mac {settings['mac']}")
    if settings.get("vlan") is not None:
        words.append(f"vlan {settings['vlan']}")
        if settings.get("qos"):
            words.append(f"qos {settings['qos']}")
    for key in ("spoofchk", "trust"):
        if settings.get(key) is not None:
            words.append(f"{key} {'on' if settings[key] else 'off'}")
    return " ".join(words)


def vf_spec(index: int, settings: dict[str, Any]) -> dict[str, Any]:
    """pyroute2's ``link('set', vf=...)`` argument for these settings (None: left alone)."""
    spec: dict[str, Any] = {"vf": index}
    if settings.get("mac") is not None:
        spec["mac"] = str(settings["mac"]).lower()
    if settings.get("vlan") is not None:
        spec["vlan"] = {"vlan": int(settings["vlan"]), "qos": int(settings.get("qos") or 0)}
    for key in ("spoofchk", "trust"):
        if settings.get(key) is not None:
            spec[key] = 1 if settings[key] else 0
    return spec


def _vf_attrs(index: int, settings: dict[str, Any]) -> dict[str, Any]:
    """``IFLA_VFINFO_LIST``'s value, as pyroute2's link request builds it."""
    from pyroute2.requests.link import LinkIPRouteFilter

    return dict(LinkIPRouteFilter("set").get_vf(vf_spec(index, settings)))


def encode_set(pf_index: int, index: int, settings: dict[str, Any], seq: int = 0) -> bytes:
    """The ``RTM_SETLINK`` request :func:`set_vf` sends, encoded, not sent."""
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg()
    msg["family"] = 0
    msg["index"] = pf_index
    msg["attrs"] = [("IFLA_VFINFO_LIST", _vf_attrs(index, settings))]
    msg["header"]["type"] = RTM_SETLINK
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data[:msg["header"]["length"]])


def decode_vfinfo(vfinfo: Any) -> dict[str, Any]:
    """The settings in one decoded ``IFLA_VF_INFO`` (pyroute2's nla)."""
    mac = vfinfo.get_attr("IFLA_VF_MAC")
    vlan = vfinfo.get_attr("IFLA_VF_VLAN")
    spoof = vfinfo.get_attr("IFLA_VF_SPOOFCHK")
    trust = vfinfo.get_attr("IFLA_VF_TRUST")
    out: dict[str, Any] = {
        "index": int(mac["vf"]) if mac is not None else None,
        "mac": mac["mac"] if mac is not None else None,
        "vlan": int(vlan["vlan"]) if vlan is not None else 0,
        "qos": int(vlan["qos"]) if vlan is not None else 0,
        # the kernel reports -1 (0xffffffff) where the driver cannot say
        "spoofchk": None if spoof is None or spoof["spoofchk"] > 1 else bool(spoof["spoofchk"]),
        "trust": None if trust is None or trust["trust"] > 1 else bool(trust["trust"]),
    }
    return out


def get_vf(pf: str, index: int) -> dict[str, Any]:
    """The settings of VF ``index`` of ``pf`` (``ip link show dev PF``'s ``vf N`` line)."""
    from kvmnet.host import iproute

    shown = f"ip link show dev {pf}"
    ifindex = iproute.link_index(pf, shown)
    msg = iproute.query(shown, f"reading the VFs of {pf}", "link", "get", index=ifindex,
                        ext_mask=RTEXT_FILTER_VF)[0]
    vflist = msg.get_attr("IFLA_VFINFO_LIST")
    for vfinfo in (vflist.get_attrs("IFLA_VF_INFO") if vflist is not None else []):
        found = decode_vfinfo(vfinfo)
        if found["index"] == index:
            return {k: found[k] for k in KEYS}
    raise HostError(f"{pf} reports no VF {index}: its driver does not list it (sriov_numvfs "
                    "changed since the network started?); restart the network", shown)


def set_vf(pf: str, index: int, settings: dict[str, Any]) -> None:
    """Set VF ``index``'s settings through ``pf``; keys left out or None stay as they are."""
    from kvmnet.host import iproute

    shown = command(pf, index, settings)
    ifindex = iproute.link_index(pf, shown)
    iproute.call(shown, f"setting VF {index} of {pf}", "link", "set", index=ifindex,
                 vf=vf_spec(index, settings))


def addresses(ifname: str) -> list[str]:
    """The IP addresses on link ``ifname`` (``ip -br addr show dev IF``); [] if it does not
    exist in this namespace."""
    import _socket

    from kvmnet.host import iproute

    try:
        ifindex = int(_socket.if_nametoindex(ifname))
    except OSError:
        return []
    msgs = iproute.query(f"ip addr show dev {ifname}", f"reading {ifname}'s addresses",
                         "get_addr", index=ifindex)
    return [str(m.get_attr("IFA_ADDRESS")) for m in msgs]
