"""The hot verbs, cold, as a script runs them (root, in a namespace): net-start and net-destroy
load none of the standard modules whose import would dominate them (json with re and enum,
pathlib, subprocess, ipaddress, threading, signal's enums), and net-define leaves the start
program to a child that outlives it.  The speed itself is measured by bench/bench_networks.py."""
from __future__ import annotations

import os
import time

from kvmnet.host.process import is_alive
from tests.functional.kvmnet_env import KvEnv, kvenv  # noqa: F401
from tests.functional.netns import requires_root

pytestmark = requires_root

NAT = """<network>
  <name>cold1</name>
  <forward mode='nat'/>
  <bridge name='vbcold1'/>
  <ip address='10.77.0.1' netmask='255.255.255.0'>
    <dhcp><range start='10.77.0.10' end='10.77.0.20'/></dhcp>
  </ip>
</network>
"""

#: what a start or a destroy must not import (each costs ~1-8 ms of a ~50 ms command here)
HEAVY = {"json", "re", "enum", "pathlib", "subprocess", "ipaddress", "threading", "signal",
         "shlex", "typing", "lxml", "collections", "functools"}


def _loaded(env: KvEnv, *args: str) -> set[str]:
    proc = env.ok(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_start_and_destroy_load_no_heavy_modules(kvenv: KvEnv) -> None:  # noqa: F811
    kvenv.define(NAT)
    program = kvenv.root / "var/lib/kvmnet/programs/cold1.json"
    deadline = time.monotonic() + 10
    while not program.exists() and time.monotonic() < deadline:  # compiled after the reply
        time.sleep(0.01)
    assert program.exists()

    loaded = _loaded(kvenv, "net-start", "cold1")
    assert "kvmnet.network.start" in loaded  # the listing works
    assert HEAVY & loaded == set()
    assert kvenv.link_exists("vbcold1") and kvenv.dnsmasq_pid("cold1") is not None
    assert kvenv.info("cold1")["Active"] == "yes"

    pid = kvenv.dnsmasq_pid("cold1")
    loaded = _loaded(kvenv, "net-destroy", "cold1")
    assert "kvmnet.network.runtime" in loaded
    assert HEAVY & loaded == set()
    # the command returned once everything was gone: the bridge is not in the namespace
    # (the kernel may still be freeing it, in the head start's child), dnsmasq has exited
    assert not kvenv.link_exists("vbcold1")
    assert pid is not None and not is_alive(pid)  # gone, or a zombie for its reaper
    assert kvenv.info("cold1")["Active"] == "no"
    kvenv.assert_clean("cold1", "vbcold1")


def test_a_start_right_after_define_waits_for_the_compile(kvenv: KvEnv) -> None:  # noqa: F811
    """define then start at once, ten times: every start gets the program (from the
    define's child, or its own compile), and the network works."""
    for i in range(10):
        name = kvenv.define(NAT.replace("10.77.0.", f"10.77.{i}.").replace("cold1", f"cold{i}"))
        kvenv.ok("net-start", name)
        assert kvenv.link_exists(f"vb{name}")
        kvenv.ok("net-destroy", name)
        kvenv.ok("net-undefine", name)
        assert not os.path.exists(kvenv.root / f"var/lib/kvmnet/programs/{name}.json")
