"""Whether dnsmasq's unprivileged user can read its hosts files, decided from the mode bits."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmnet.errors import HostError
from kvmnet.host import dnsmasq
from kvmnet.host.readable import ANYONE, Identity, why_unreadable

NOBODY = Identity("nobody", 65534, {65534})


def _tree(base: Path, root_mode: int) -> tuple[Path, Path]:
    root = base / "root"
    d = root / "var" / "lib" / "kvmnet" / "dnsmasq"
    d.mkdir(parents=True)
    for p in (root / "var", root / "var" / "lib", root / "var" / "lib" / "kvmnet", d):
        p.chmod(0o755)
    root.chmod(root_mode)
    hosts = d / "net.hostsfile"
    hosts.write_text("52:54:00:12:34:56,192.168.122.42\n")
    hosts.chmod(0o644)
    conf = d / "net.conf"
    conf.write_text(f"interface=virbr0\nuser=nobody\ndhcp-hostsfile={hosts}\n")
    return root, conf


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A directory others may search (pytest's own tmp_path lies under a private one)."""
    path = Path(tempfile.mkdtemp(prefix="kvmnet-access-"))
    try:
        path.chmod(0o755)
        if why_unreadable(str(path / "x"), ANYONE) is not None:
            pytest.skip(f"{tempfile.gettempdir()} does not let others search it")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_private_state_root_blocks_nobody_and_names_the_directory(open_tmp: Path) -> None:
    root, conf = _tree(open_tmp, 0o700)
    hosts = str(conf.parent / "net.hostsfile")
    why = why_unreadable(hosts, NOBODY)
    assert why is not None and str(root) in why and "0700" in why, why
    assert why_unreadable(hosts, Identity("root", 0, {0})) is None
    owner = Identity("owner", os.stat(root).st_uid, set())
    assert why_unreadable(hosts, owner) is None  # the owner may search its own directory
    root.chmod(0o711)
    assert why_unreadable(hosts, NOBODY) is None  # search is enough, no listing needed
    (conf.parent / "net.hostsfile").chmod(0o600)
    assert "does not let nobody read it" in (why_unreadable(hosts, NOBODY) or "")


def test_a_missing_file_is_no_obstacle(open_tmp: Path) -> None:
    assert why_unreadable(str(open_tmp / "nothing" / "here"), NOBODY) is None


def test_dnsmasq_keeps_root_when_nobody_cannot_read_and_says_so(open_tmp: Path,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    root, conf = _tree(open_tmp, 0o700)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    notice = dnsmasq.settle_user(str(conf))
    assert notice is not None and "root" in notice and str(root) in notice
    lines = conf.read_text().splitlines()
    assert "user=root" in lines and "user=nobody" not in lines
    assert f"dhcp-hostsfile={conf.parent / 'net.hostsfile'}" in lines
    assert dnsmasq.settle_user(str(conf)) is None  # root reads anything: nothing more to do


def test_dnsmasq_that_cannot_read_fails_loudly_without_root(open_tmp: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    root, conf = _tree(open_tmp, 0o700)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(HostError, match="chmod o\\+x") as err:
        dnsmasq.settle_user(str(conf))
    assert str(root) in str(err.value)
    assert "user=nobody" in conf.read_text()


def test_searchable_state_root_changes_nothing(open_tmp: Path) -> None:
    _, conf = _tree(open_tmp, 0o755)
    before = conf.read_text()
    assert dnsmasq.settle_user(str(conf)) is None
    assert conf.read_text() == before
