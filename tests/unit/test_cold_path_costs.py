"""What the cold-path savings must not change: nft names, and dnsmasq's files' contents."""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kvmnet.engine.steps.files import WriteFiles
from kvmnet.fileio import FileLock
from kvmnet.network.firewall import nftables


def test_nft_names_use_the_same_sha256_as_hashlib() -> None:
    # the renderer takes the builtin sha256 (no OpenSSL binding to import); names must not move
    for name in ("default", "net-1", "ünïcode", "a" * 200):
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        assert nftables.chain_stem(name).endswith("_" + digest)
    text = "\n".join(nftables._base_lines())
    assert nftables.base_marker() == "base_" + hashlib.sha256(text.encode()).hexdigest()[:12]


def test_dnsmasq_files_are_written_whole_without_fsyncs(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\n")
    conf, helper, servers = (tmp_path / "d" / n for n in ("n.conf", "n.helper", "n.servers"))
    step = WriteFiles(files=[[str(conf), "user=nobody\n", 0o644, "dnsmasq-conf"],
                             [str(helper), "#!/bin/sh\n", 0o755, "dnsmasq-helper"]],
                      servers=[str(servers), str(resolv)])
    ctx: Any = None  # the files step does not use the context
    step.apply(ctx)
    assert synced == []
    assert conf.read_text() == "user=nobody\n"
    assert stat.S_IMODE(helper.stat().st_mode) == 0o755
    assert servers.read_text() == "server=192.0.2.53\n"
    assert sorted(os.listdir(tmp_path / "d")) == ["n.conf", "n.helper", "n.servers"]  # no temp files


NETWORK = """<network><name>cold</name><forward mode='nat'/><bridge name='kvcold0'/>
<ip address='10.99.7.1' prefix='24'><dhcp><range start='10.99.7.2' end='10.99.7.9'/></dhcp></ip>
</network>"""


def _modules_after(root: Path, *argv: str) -> set[str]:
    """The modules a cold ``kvmnet ARGV`` loads: the console script itself (bin/kvmnet, as
    installed), under ``-X importtime``, which lists every module imported."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "bin" / "kvmnet"
    p = subprocess.run([sys.executable, "-X", "importtime", str(script), "--root", str(root), "-q",
                        *argv], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    return {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_net_define_and_undefine_load_no_heavy_modules(tmp_path: Path) -> None:
    # net-define reads a network with expat (lxml.etree alone pulls in typing, inspect and
    # gzip: ~25 ms of a ~80 ms define), and precompiles without typing; net-undefine (lock,
    # remove a file or two, the claim index) needs neither re nor pathlib, enum or json
    # (~12 ms of a ~30 ms undefine, measured)
    doc = tmp_path / "cold.xml"
    doc.write_text(NETWORK)
    root = tmp_path / "root"
    loaded = _modules_after(root, "net-define", str(doc))
    assert "kvmnet.config.define" in loaded  # the listing works
    # the start program is compiled after the reply, by a child holding the cache's lock
    # (kvmnet.tasks.afterwards): once the lock is free, the program is there
    with FileLock(root / "var/lib/kvmnet/programs/cold.json.lock"):
        assert (root / "var/lib/kvmnet/programs/cold.json").is_file()
    assert "kvmnet.network.compile" not in loaded
    assert {"lxml", "lxml.etree", "typing", "inspect", "gzip"} & loaded == set()
    loaded = _modules_after(root, "net-undefine", "cold")
    assert "kvmnet.config.store" in loaded
    assert {"lxml", "typing", "re", "pathlib", "enum", "json"} & loaded == set()
    assert not (root / "etc/kvmnet/networks/cold.xml").exists()
