"""net-update's one table (kvmnet.model.update): libvirt's numbers, virsh's names, the handlers."""
from __future__ import annotations

import pytest

from kvmnet import api
from kvmnet.config.update import apply_update, parse_command, parse_section
from kvmnet.errors import UnsupportedError
from kvmnet.model.network import Network
from kvmnet.model.update import COMMAND_NAMES, SECTION_NAMES, UNSUPPORTED, Command, Section


def test_libvirt_python_constants_are_the_tables_numbers() -> None:
    for sec in Section:
        assert getattr(api, f"VIR_NETWORK_SECTION_{sec.name}") == sec.number
    for cmd in Command:
        assert getattr(api, f"VIR_NETWORK_UPDATE_COMMAND_{cmd.name}") == cmd.number
    assert api.VIR_NETWORK_SECTION_NONE == 0 and api.VIR_NETWORK_UPDATE_COMMAND_NONE == 0
    # every VIR_NETWORK_SECTION_* constant is in the table (none defined beside it)
    names = {n.removeprefix("VIR_NETWORK_SECTION_") for n in dir(api)
             if n.startswith("VIR_NETWORK_SECTION_")}
    assert names == {"NONE", *(s.name for s in Section)}


def test_the_facade_and_cli_names_come_from_the_table() -> None:
    assert api.UPDATE_SECTIONS is SECTION_NAMES and api.UPDATE_COMMANDS is COMMAND_NAMES
    assert SECTION_NAMES[api.VIR_NETWORK_SECTION_IP_DHCP_HOST] == "ip-dhcp-host"
    assert COMMAND_NAMES[api.VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST] == "add-first"


@pytest.mark.parametrize("sec", list(Section))
def test_every_section_parses_by_virsh_and_enum_name(sec: Section) -> None:
    assert parse_section(sec.value) is sec
    assert parse_section(sec.name) is sec
    assert parse_section(f"VIR_NETWORK_SECTION_{sec.name}") is sec


@pytest.mark.parametrize("sec", [s for s in Section if not s.updatable])
def test_unsupported_sections_are_refused_with_libvirts_name(sec: Section) -> None:
    with pytest.raises(UnsupportedError, match=f"can't update '{UNSUPPORTED[sec]}' section"):
        apply_update(Network(name="n"), "add", sec.value, "<x/>")


def test_commands() -> None:
    assert parse_command("add") is Command.ADD_LAST
    assert [c.number for c in Command] == [1, 2, 3, 4]
