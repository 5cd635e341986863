"""Define-time rules of the macvtap and hostdev modes, against libvirt's verdicts.

Each case was defined with ``virsh net-define`` on the lab's libvirt 9.0 (2026-12-07,
``../shared/tools/libvirt-lab``) and the verdict recorded here: kvmnet accepts what libvirt
accepts and refuses what it refuses, with the one documented exception of issue 11 (a
macvtap mode with nothing to attach to is refused at define, where libvirt fails only when a
guest plugs in).  What this host cannot run is refused at net-start, not here.
"""
from __future__ import annotations

import pytest

from kvmnet.config.define import assign, prepare
from kvmnet.errors import KvmnetError

POOL = "<interface dev='eth0'/>"
QBG = ("<virtualport type='802.1Qbg'><parameters managerid='11' typeid='1193047' "
       "typeidversion='2'/></virtualport>")
PCI = "<address type='pci' domain='0' bus='3' slot='0x10' function='1'/>"

# (forward element, the rest, libvirt 9.0 accepts it, a fragment of kvmnet's refusal)
CASES = [
    (f"<forward mode='vepa'>{PCI}</forward>", "", False, "only supported with forward mode='hostdev'"),
    (f"<forward mode='vepa'>{POOL}</forward>", "<vlan><tag id='10'/></vlan>", False, "<vlan>"),
    (f"<forward mode='passthrough'>{POOL}</forward>", "<vlan><tag id='10'/></vlan>", True, ""),
    (f"<forward mode='vepa'>{POOL}</forward>", QBG + "<vlan><tag id='10'/></vlan>", False, "<vlan>"),
    (f"<forward mode='private'>{POOL}</forward>", "<virtualport type='openvswitch'/>", True, ""),
    (f"<forward mode='bridge'>{POOL}</forward>",
     "<portgroup name='a'><virtualport type='openvswitch'/><vlan><tag id='3'/></vlan></portgroup>",
     True, ""),
    (f"<forward mode='hostdev'>{POOL}</forward>", "", False, "by device name"),
    (f"<forward mode='vepa'>{POOL}</forward>", "<bandwidth><inbound average='1000'/></bandwidth>",
     False, "<bandwidth>"),
    (f"<forward mode='vepa'>{POOL}</forward>", "<mac address='52:54:00:00:00:01'/>", False, "<mac>"),
    ("<forward mode='passthrough'><pf dev='eth0'/></forward>", "", True, ""),
    ("<forward mode='bridge' dev='eth0'/>", "", True, ""),
    (f"<forward mode='vepa'>{POOL}</forward>", QBG, True, ""),
]


@pytest.mark.parametrize("forward, rest, accepted, fragment", CASES)
def test_define_agrees_with_libvirt(forward: str, rest: str, accepted: bool,
                                    fragment: str) -> None:
    xml = f"<network><name>t</name>{forward}{rest}</network>"
    if accepted:
        net = assign(prepare(xml), [])
        assert net.name == "t"
        return
    with pytest.raises(KvmnetError) as exc:
        assign(prepare(xml), [])
    assert fragment in str(exc.value)


def test_a_macvtap_mode_without_devices_is_the_documented_exception() -> None:
    # libvirt 9.0 defines <forward mode='vepa'/> and fails when a guest plugs in (issue 11)
    with pytest.raises(KvmnetError, match="no forward device"):
        assign(prepare("<network><name>t</name><forward mode='vepa'/></network>"), [])
