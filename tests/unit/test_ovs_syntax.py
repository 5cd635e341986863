"""ovs-vsctl's value syntax, printing, row order and show's text (kvmnet/ovs/syntax.py,
order.py, show.py; pure, no Open vSwitch).  The functional tests
(tests/functional/test_ovs_vsctl.py) hold the same rules against the real ovs-vsctl."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from kvmnet.errors import OvsError
from kvmnet.ovs import order, show, syntax

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


@pytest.fixture(scope="module")
def tables() -> Any:
    import ovs.db.schema

    if not SCHEMA.exists():  # the schema ships with openvswitch-common (scripts/setup.sh)
        pytest.skip("Open vSwitch's schema is not installed")
    return ovs.db.schema.DbSchema.from_json(json.loads(SCHEMA.read_text())).tables


def _type(tables: Any, table: str, column: str) -> Any:
    return tables[table].columns[column].type


@pytest.mark.parametrize(("text", "quoted"), [
    ("br0", "br0"), ("p1", "p1"), ("dot1q-tunnel", "dot1q-tunnel"), ("a.b_c", "a.b_c"),
    ("1abc", '"1abc"'), ("true", '"true"'), ("false", '"false"'), ("", '""'),
    ("a b", '"a b"'), ("52:54:00:aa:bb:01", '"52:54:00:aa:bb:01"'), ("x\ny", '"x\\ny"'),
    ("5d744f21-ba4a-4d6e-bdb2-30a35ff3207d", '"5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"'),
    ('say "hi"', '"say \\"hi\\""'), ("é", '"é"'),
])
def test_strings_print_bare_only_when_ovs_vsctl_would(text: str, quoted: str) -> None:
    assert syntax.atom_text(text, "string") == quoted


def test_values_print_as_ovs_vsctl_prints_them(tables: Any) -> None:
    t = lambda c: _type(tables, "Port", c)
    assert syntax.datum_text([], t("tag")) == "[]"
    assert syntax.datum_text([10], t("tag")) == "10"
    assert syntax.datum_text([10, 20], t("trunks")) == "[10, 20]"
    assert syntax.datum_text([], t("external_ids")) == "{}"
    assert syntax.datum_text([("a", "b c"), ("iface-id", "x1")], t("external_ids")) == \
        '{a="b c", iface-id=x1}'
    assert syntax.datum_text([True], _type(tables, "Bridge", "stp_enable")) == "true"
    assert syntax.datum_json([10, 20], t("trunks")) == ["set", [10, 20]]
    u = uuid.UUID("5d744f21-ba4a-4d6e-bdb2-30a35ff3207d")
    assert syntax.datum_json([u], t("qos")) == ["uuid", str(u)]
    assert syntax.datum_json([("k", "v")], t("external_ids")) == ["map", [["k", "v"]]]


def test_values_read_as_ovs_vsctl_reads_them(tables: Any) -> None:
    t = lambda c: _type(tables, "Port", c)
    assert syntax.parse_datum("20,10-12", t("trunks")) == [10, 11, 12, 20]
    assert syntax.parse_datum("[ 5 , 6 ]", t("trunks")) == [5, 6]
    assert syntax.parse_datum("[]", t("trunks")) == []
    assert syntax.parse_datum("7", t("tag")) == [7]
    assert syntax.parse_datum('{b=2, a="x y"}', t("external_ids")) == [("a", "x y"), ("b", "2")]
    assert syntax.parse_datum("k=v", t("external_ids")) == [("k", "v")]
    assert syntax.parse_datum("yes", _type(tables, "Bridge", "stp_enable")) == [True]
    assert syntax.parse_column_arg("external_ids:iface-id=abc") == (
        "external_ids", "iface-id", "=", "abc")
    assert syntax.parse_column_arg("tag>=5", ("=", ">", ">=")) == ("tag", None, ">=", "5")
    assert syntax.parse_column_arg("other_config:a\\:b=c") == ("other_config", "a:b", "=", "c")


@pytest.mark.parametrize(("column", "text", "message"), [
    ("tag", "4096", "constraint violation: 4096 is not in the valid range 0 to 4095 (inclusive)"),
    ("tag", "x", '"x" is not a valid integer or range'),
    ("trunks", "1-5000", ("constraint violation: 5000 is not in the valid range 0 to 4095 "
                          "(inclusive)")),
    ("tag", "1,2", "1,2: 2 value(s) specified but the maximum number is 1"),
    ("trunks", "1,a", '"a" is not a valid integer or range'),
    ("trunks", "[1,2", '[1,2: missing "]" at end of data'),
    ("trunks", "[1]x", '[1]x: trailing garbage after "]"'),
    ("trunks", "3,3", "3,3: set contains duplicate value"),
    ("trunks", "9-3", '"9-3" is not a valid range. Range end cannot be before start.'),
    ("trunks", "", 'use "[]" to specify the empty set'),
    ("vlan_mode", "foo", ("constraint violation: foo is not one of the allowed values "
                          "([access, dot1q-tunnel, native-tagged, native-untagged, trunk])")),
    ("external_ids", "a", 'a: syntax error at "" expecting "="'),
    ("external_ids", '"a', '"a: quoted string extends past end of argument'),
])
def test_bad_values_are_refused_in_ovs_vsctl_words(tables: Any, column: str, text: str,
                                                  message: str) -> None:
    with pytest.raises(OvsError) as info:
        syntax.parse_datum(text, _type(tables, "Port", column))
    assert str(info.value) == message


def test_names_match_as_ovs_vsctl_matches_them() -> None:
    cols = ["name", "sflow", "status", "stp_enable", "other_config"]
    assert syntax.match_column("Bridge", cols, "nam") == "name"
    assert syntax.match_column("Bridge", cols, "OTHER-CONFIG") == "other_config"
    with pytest.raises(OvsError, match='more than one column whose name matches "s": sflow, '
                                       "status, stp_enable"):
        syntax.match_column("Bridge", cols, "s")
    assert syntax.match_table(["Port", "Open_vSwitch", "QoS", "Queue"], "open") == "Open_vSwitch"
    with pytest.raises(OvsError, match='"Q" matches multiple table names: QoS, Queue'):
        syntax.match_table(["QoS", "Queue"], "Q")


def test_the_hash_map_order() -> None:
    # Open vSwitch's hmap: 3 rows grow it to 4 buckets; a bucket lists its newest node first
    rows = [("a", 0b01), ("b", 0b11), ("c", 0b01)]
    assert order.hmap_order(rows) == ["c", "a", "b"]
    # hash_string's value for a few inputs (murmur3 steps of lib/hash.c, as Debian builds it)
    assert [order.hash_string(s) & 3 for s in ("Open_vSwitch", "Bridge", "Port")] == [3, 1, 0]
    ids = [uuid.UUID(int=(i * 0x9E3779B97F4A7C15 << 64) % (1 << 128)) for i in range(40)]
    assert sorted(order.vsctl_row_order(ids)) == sorted(ids)  # a permutation


def test_show_text_golden() -> None:
    port = {"table": "Port", "title": "Port vnet0", "entries": [
        {"column": "tag", "text": "10", "value": 10},
        {"column": "interfaces", "rows": [{"table": "Interface", "title": "Interface vnet0",
                                           "entries": [{"column": "error",
                                                        "text": '"no such device"',
                                                        "value": "no such device"}]}]}]}
    root = {"table": "Open_vSwitch", "title": "0b9a2b4f-0000-4000-8000-000000000001",
            "entries": [{"column": "bridges", "rows": [
                {"table": "Bridge", "title": "Bridge br0", "entries": [
                    {"column": "datapath_type", "text": "netdev", "value": "netdev"},
                    {"column": "ports", "rows": [port]}]}]},
                {"column": "ovs_version", "text": '"3.1.0"', "value": "3.1.0"}]}
    assert show.text(root) == (
        "0b9a2b4f-0000-4000-8000-000000000001\n"
        "    Bridge br0\n"
        "        datapath_type: netdev\n"
        "        Port vnet0\n"
        "            tag: 10\n"
        "            Interface vnet0\n"
        '                error: "no such device"\n'
        '    ovs_version: "3.1.0"\n')
