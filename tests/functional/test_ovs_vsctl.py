"""``kvmnet ovs VERB`` against the real ovs-vsctl on the same database (root).

Each test runs a private Open vSwitch in its own namespace (tests/functional/ovs_env.py).
kvmnet's verbs build a switch (bridges, access and trunk ports, an internal port, external_ids,
QoS), then every reading verb must print what ``ovs-vsctl`` prints for the same database, byte
for byte, with the same exit status; bad input is refused with one ``error:`` line, exit 1,
and the database unchanged (``ovs-vsctl list`` dumps before and after).
"""
from __future__ import annotations

import json

import pytest

from tests.functional.kvmnet_env import KVMNET
from tests.functional.netns import requires_root
from tests.functional.ovs_env import OvsEnv, ovs

pytestmark = requires_root
_ = ovs  # the private Open vSwitch fixture

TABLES = ("Open_vSwitch", "Bridge", "Port", "Interface", "QoS", "Queue")
# What configures the switch (ovs-vswitchd's counters and statistics move on by themselves).
CONFIG = {"Open_vSwitch": "bridges,other_config,external_ids",
          "Bridge": "name,ports,datapath_type,fail_mode,other_config,external_ids",
          "Port": "name,interfaces,tag,trunks,vlan_mode,qos,other_config,external_ids",
          "Interface": "name,type,options,ingress_policing_rate,other_config,external_ids",
          "QoS": "type,queues,other_config", "Queue": "other_config"}


def _config(env: OvsEnv) -> list[str]:
    return [env.vsctl(f"--columns={CONFIG[t]}", "list", t).stdout for t in TABLES]


def _build(env: OvsEnv) -> None:
    for tap in ("vnet0", "vnet1", "vnet2"):
        env.tap(tap)
    env.kvmnet("ovs", "add-br", "br0")
    env.kvmnet("ovs", "add-br", "--may-exist", "br0")
    env.kvmnet("ovs", "add-br", "br-int")
    env.kvmnet("ovs", "add-port", "br0", "vnet0", "tag=10", "external_ids:iface-id=guest-0",
               "other_config:stp-enable=false")
    env.kvmnet("ovs", "add-port", "br0", "vnet1", "trunks=10,20-22", "vlan_mode=trunk",
               "--", "set", "Interface", "vnet1", 'external_ids:attached-mac="52:54:00:aa:bb:01"')
    env.kvmnet("ovs", "--may-exist", "add-port", "br0", "vnet1")
    env.kvmnet("ovs", "add-port", "br-int", "int0", "--", "set", "Interface", "int0",
               "type=internal")
    env.kvmnet("ovs", "add-port", "br-int", "vnet2", "tag=0")
    env.kvmnet("ovs", "set", "Bridge", "br0", "fail_mode=secure", "other_config:a=b c")
    env.kvmnet("ovs", "set", "Port", "vnet2", "tag=20", "external_ids={x=1, y=\"z z\"}")
    env.kvmnet("ovs", "clear", "Port", "vnet2", "external_ids")
    with env.switch() as sw:
        sw.set_port_qos("vnet0", max_rate=10_000_000, burst=100_000)
    # rows enough for ovs-vsctl's hash-map order to matter (written by ovs-vsctl itself)
    for n in range(30):
        env.vsctl("--no-wait", "add-port", "br-int", f"x{n}", "--", "set", "Interface", f"x{n}",
                  "type=internal")


READS = [
    ["show"], ["list-br"], ["list-ports", "br0"], ["list-ports", "br-int"], ["br-exists", "br0"],
    ["br-exists", "br9"], ["port-to-br", "vnet1"], ["iface-to-br", "int0"],
    ["list", "Bridge"], ["list", "Port"], ["list", "Interface"], ["list", "QoS"], ["list", "Queue"],
    ["list", "Open_vSwitch"], ["list", "Port", "vnet1", "vnet0"], ["list", "interface", "x3"],
    ["--columns=name,tag,trunks", "list", "Port"], ["--columns=_uuid,name", "list", "Bridge"],
    ["find", "Port", "tag=10"], ["find", "Port", "tag!=10"], ["find", "Port", "trunks{>=}21"],
    ["find", "Interface", "type=internal"], ["find", "Port", "external_ids:iface-id=guest-0"],
    ["find", "Interface", "name{in}[x1,x2,vnet0]"], ["find", "Port", "tag{in}[10,20]"], ["--columns=name", "find", "Port", "tag>5"],
    ["get", "Port", "vnet1", "trunks", "vlan_mode", "tag", "_uuid"],
    ["get", "Bridge", "br0", "other_config", "other_config:a", "fail_mode", "datapath_type"],
    ["get", "Interface", "vnet1", "external_ids:attached-mac"],
    ["get", "Open_vSwitch", ".", "other_config:userspace-tso-enable"],
    ["--if-exists", "get", "Port", "nope", "tag"],
    ["--format=json", "list", "Port"], ["--format=json", "find", "Interface", "type=internal"],
]


def test_every_reading_verb_prints_what_ovs_vsctl_prints(ovs: OvsEnv) -> None:
    _build(ovs)
    for words in READS:
        theirs = ovs.vsctl(*words, check=False)
        mine = ovs.kvmnet("ovs", *words, check=False)
        assert (mine.returncode, mine.stdout) == (theirs.returncode, theirs.stdout), words
    # --json is the same document as --format=json
    assert ovs.kvmnet("ovs", "--json", "list", "Bridge").stdout == \
        ovs.vsctl("--format=json", "list", "Bridge").stdout
    assert json.loads(ovs.kvmnet("ovs", "--json", "list-ports", "br0").stdout) == ["vnet0",
                                                                                  "vnet1"]
    tree = json.loads(ovs.kvmnet("ovs", "--json", "show").stdout)
    bridges = next(e["rows"] for e in tree["entries"] if e["column"] == "bridges")
    assert [b["title"] for b in bridges] == sorted(["Bridge br0", "Bridge br-int"],
                                                   key=lambda t: ovs.vsctl(
                                                       "get", "Bridge", t.split()[1], "_uuid"
                                                   ).stdout)


def test_the_switch_as_built(ovs: OvsEnv) -> None:
    _build(ovs)
    assert ovs.vsctl("get", "Interface", "int0", "type").stdout == "internal\n"
    assert ovs.vsctl("get", "Port", "vnet1", "trunks").stdout == "[10, 20, 21, 22]\n"
    assert ovs.vsctl("get", "Port", "vnet2", "tag", "external_ids").stdout == "20\n{}\n"
    assert ovs.vsctl("get", "Bridge", "br0", "other_config:a").stdout == '"b c"\n'
    assert ovs.vsctl("get", "Interface", "vnet0", "error").stdout == "[]\n"
    ovs.kvmnet("ovs", "del-port", "br0", "vnet0")
    ovs.kvmnet("ovs", "del-port", "--if-exists", "vnet0")
    ovs.kvmnet("ovs", "del-br", "br-int")
    ovs.kvmnet("ovs", "del-br", "--if-exists", "br-int")
    assert ovs.vsctl("list-br").stdout == "br0\n"
    assert ovs.vsctl("list", "QoS").stdout == ""  # vnet0's QoS went with it


BAD = [
    (["add-port", "br9", "vnet9"], "no bridge named br9"),
    (["add-port", "br0", "vnet9", "tag=4096"], "4096 is not in the valid range 0 to 4095"),
    (["add-port", "br0", "vnet9", "tag=-1"], "-1 is not in the valid range 0 to 4095"),
    (["add-port", "br0", "vnet9", "trunks=1,a"], '"a" is not a valid integer or range'),
    (["add-port", "br0", "vnet9", "trunks=[1,2"], 'missing "]" at end of data'),
    (["add-port", "br0", "vnet9", "trunks=5-2"], "Range end cannot be before start"),
    (["add-port", "br0", "vnet9", "vlan_mode=foo"], "foo is not one of the allowed values"),
    (["add-port", "br0", "a-name-of-16-byt"], "is 16 bytes"),
    (["add-port", "br-int", "vnet0"], "a port named vnet0 already exists on bridge br0"),
    (["--may-exist", "add-port", "br-int", "vnet0"], "vnet0 is actually attached to bridge br0"),
    (["add-port", "br0", "missing0"], "could not open network device missing0"),
    (["add-port", "br0", "vnet9", "nosuchcolumn=1"], 'does not contain a column whose name'),
    (["add-br", "a-bridge-name-of-16"], "is 19 bytes"),
    (["add-br", "br0"], "a bridge named br0 already exists"),
    (["del-br", "br9"], "no bridge named br9"),
    (["del-port", "br-int", "vnet0"], "bridge br-int does not have a port vnet0"),
    (["del-port", "nope"], "no port named nope"),
    (["set", "Port", "vnet0", "tag=5000"], "5000 is not in the valid range"),
    (["set", "Interface", "vnet0", "name=x"], "cannot modify read-only column name"),
    (["set", "Port", "nope", "tag=1"], 'no row "nope" in table Port'),
    (["get", "Bridge", "br0", "s"], 'more than one column whose name matches "s"'),
    (["list", "Foo"], 'unknown table "Foo"'),
    (["port-to-br", "nope"], "no port named nope"),
    (["find", "Port", "tag"], 'argument does not end in "="'),
    (["frobnicate"], "unknown command 'frobnicate'"),
]


@pytest.mark.parametrize(("words", "says"), BAD, ids=[" ".join(w) for w, _ in BAD])
def test_refusals_are_one_line_exit_1_and_change_nothing(ovs: OvsEnv, words: list[str],
                                                         says: str) -> None:
    ovs.tap("vnet0")
    ovs.kvmnet("ovs", "add-br", "br0")
    ovs.kvmnet("ovs", "add-br", "br-int")
    ovs.kvmnet("ovs", "add-port", "br0", "vnet0")
    before = _config(ovs)
    proc = ovs.kvmnet("ovs", *words, check=False)
    assert proc.returncode == 1, (words, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], proc.stderr
    assert _config(ovs) == before


def test_without_any_open_vswitch_the_error_says_what_to_do(ovs: OvsEnv) -> None:
    ovs.kvmnet("ovs", "stop")
    # no private one, and no system one either (a socket path where nothing answers, so the
    # test holds on a machine whose openvswitch-switch service runs)
    proc = ovs.ns.run(["env", f"KVMNET_ROOT={ovs.root}", "KVMNET_OVSDB=",
                       f"KVMNET_OVS_SYSTEM_SOCKET={ovs.root}/none.sock", KVMNET, "ovs", "show"],
                      check=False)
    assert proc.returncode == 1
    assert "Open vSwitch is not running: `kvmnet ovs start`, or start the openvswitch-switch " \
           "service" in proc.stderr
