"""Golden step lists of a guest start and destroy, on the recording host (no root, no QEMU).

A guest start is engine steps run by the one executor with the guest's journal
(:mod:`kvmnet.guests.runner`); the recording host writes down each step's ``describe()``
instead of applying it, so a developer without root sees what ``start`` and ``destroy`` do,
in order, and that a start or destroy killed at any change converges on the next command.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import kvmnet
from kvmnet.engine.executor import Context
from kvmnet.engine.journal import ACTIVE
from kvmnet.engine.recording import Killed, RecordingHost
from kvmnet.engine.step import Step, step_class
from kvmnet.engine.steps.port import PlugPort, SweepOwner
from kvmnet.engine.steps.qemu import QemuFiles, StartQemu
from kvmnet.errors import HostError, OperationInvalidError
from kvmnet.guests import Guests
from kvmnet.guests import runner as runner_mod
from kvmnet.guests.runner import Runner

GUEST_UUID = "c7a5fdbd-edaf-9455-926a-d65c16db1809"


def domain_xml(root: Path) -> str:
    kernel = root / "vmlinuz"
    kernel.write_bytes(b"")
    return f"""<domain type='qemu'>
  <name>g1</name><uuid>{GUEST_UUID}</uuid>
  <memory unit='MiB'>64</memory>
  <os><type>hvm</type><kernel>{kernel}</kernel><cmdline>console=ttyS0</cmdline></os>
  <devices>
    <emulator>/bin/true</emulator>
    <interface type='network'><source network='default' portgroup='fast'/>
      <mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>
    <interface type='bridge'><source bridge='br0'/><target dev='tapx'/>
      <mac address='52:54:00:00:00:02'/><model type='e1000'/></interface>
    <serial type='pty'/>
  </devices>
</domain>"""


class Env:
    """A state root with guest g1 defined, and a runner on a recording host."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.conn = kvmnet.open(str(root))
        Guests(self.conn).defineXML(domain_xml(root))
        self.host = RecordingHost()
        self.runner = Runner(self.conn, host=self.host)
        counter = iter(range(1, 1000))
        monkeypatch.setattr(runner_mod, "uuid_mod", SimpleNamespace(
            uuid4=lambda: f"00000000-0000-4000-8000-{next(counter):012d}"))

    def log(self) -> list[str]:
        return outlines(self.host.log, self.root)

    def journal(self) -> dict[str, Any] | None:
        path = self.root / "run" / "kvmnet" / "guests" / "g1.json"
        return json.loads(path.read_text()) if path.exists() else None


def outlines(texts: list[str], root: Path) -> list[str]:
    """describe() lines without heredoc bodies (the live XML), with the root as $ROOT."""
    out, body = [], False
    for line in (ln for text in texts for ln in text.splitlines()):
        if body:
            body = line != "EOF"
            continue
        out.append(line.replace(str(root), "$ROOT"))
        body = line.endswith("<<'EOF'") and "networkport" not in line and "net-port" not in line
    return out


RUN = "$ROOT/run/kvmnet/guests"
QEMU = (
    f"/bin/true -name guest=g1,debug-threads=on -uuid {GUEST_UUID} -machine pc,accel=tcg "
    f"-m 64 -smp 1 -nodefaults -no-user-config -nographic -daemonize -pidfile {RUN}/g1.pid "
    f"-qmp unix:{RUN}/{GUEST_UUID}.qmp,server=on,wait=off -msg timestamp=on "
    "-kernel $ROOT/vmlinuz -append console=ttyS0 "
    "-netdev tap,id=hostnet0,ifname=vnet%d,script=no,downscript=no "
    "-device virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:00:00:01 "
    "-netdev tap,id=hostnet1,ifname=tapx,script=no,downscript=no "
    "-device e1000,netdev=hostnet1,id=net1,mac=52:54:00:00:00:02 "
    f"-chardev socket,id=charserial0,path={RUN}/{GUEST_UUID}.serial0,server=on,wait=off,"
    "logfile=$ROOT/var/log/kvmnet/guests/g1.log,logappend=off "
    "-device isa-serial,chardev=charserial0,id=serial0,index=0")
SETTLE = ("# the switches took ports 00000000-0000-4000-8000-000000000001 "
          "00000000-0000-4000-8000-000000000002 (Open vSwitch: ovs-vsctl sync, and no error "
          "on their Interfaces)")
START = [
    f"# unplug any port guest g1 ({GUEST_UUID}) still owns",
    "kvmnet net-port-create default /dev/stdin <<'EOF'",
    "<networkport>",
    "  <uuid>00000000-0000-4000-8000-000000000001</uuid>",
    "  <owner>",
    "    <name>g1</name>",
    f"    <uuid>{GUEST_UUID}</uuid>",
    "  </owner>",
    "  <group>fast</group>",
    "  <mac address='52:54:00:00:00:01'/>",
    "</networkport>",
    "EOF",
    "ip tuntap add dev tapx mode tap",
    "ip link set dev tapx address fe:54:00:00:00:02 up",
    "ip link set dev tapx master br0",
    SETTLE,
    "mkdir -p $ROOT/var/log/kvmnet/guests",
    QEMU,
    f"cat > {RUN}/g1.xml <<'EOF'",
    f"chmod 600 {RUN}/g1.xml",
]
DESTROY = [
    f"kill $(cat {RUN}/g1.pid)  # QEMU with -qmp unix:{RUN}/{GUEST_UUID}.qmp",
    "ip link del $TAP  # port 00000000-0000-4000-8000-000000000002 on bridge br0",
    "kvmnet net-port-delete default 00000000-0000-4000-8000-000000000001",
    f"# unplug any port guest g1 ({GUEST_UUID}) still owns",
    f"rm -f {RUN}/g1.xml",
    f"rm -f {RUN}/g1.pid {RUN}/{GUEST_UUID}.qmp {RUN}/{GUEST_UUID}.serial0",
]


def test_start_then_destroy_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = Env(tmp_path, monkeypatch)
    record = env.runner.start("g1")
    assert env.log() == START
    assert record["ports"] == ["00000000-0000-4000-8000-000000000001",
                               "00000000-0000-4000-8000-000000000002"]
    data = env.journal()
    assert data is not None and data["owner"] == "g1" and data["state"] == ACTIVE
    assert [s["kind"] for s in data["steps"]] == ["port.owner", "port", "port",
                                                  "qemu.files", "qemu", "files"]
    assert data["info"]["accel"] == "tcg" and data["info"]["id"] == 1
    assert env.runner.live("g1") is not None  # the recording host's QEMU "runs"
    with pytest.raises(OperationInvalidError, match="already active"):
        env.runner.start("g1")
    env.host.log.clear()
    env.runner.destroy("g1")
    assert env.log() == DESTROY
    assert env.host.leftovers() == [] and env.journal() is None


def test_failed_qemu_start_undoes_everything_in_reverse(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    env = Env(tmp_path, monkeypatch)
    perform = env.host.perform

    def refuse_qemu(step: Step, ctx: Context) -> None:
        if step.kind == "qemu.start":
            raise HostError("QEMU could not start guest 'g1': bad disk")
        perform(step, ctx)

    monkeypatch.setattr(env.host, "perform", refuse_qemu)
    with pytest.raises(HostError, match="QEMU could not start guest 'g1'"):
        env.runner.start("g1")
    assert env.log() == [line for line in START if not line.startswith(("/bin/true", "cat",
                                                                         "chmod"))] + [
        line for line in DESTROY if "g1.xml" not in line]
    assert env.host.leftovers() == [] and env.journal() is None


def _changes(root: Path, monkeypatch: pytest.MonkeyPatch, during: str) -> int:
    env = Env(root, monkeypatch)
    env.runner.start("g1")
    if during == "destroy":
        env.host.log.clear()
        env.runner.destroy("g1")
    return len(env.host.log)


@pytest.mark.parametrize("during", ["start", "destroy"])
def test_kill_at_each_step_converges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     during: str) -> None:
    """Killed at each change of a start (or a destroy), the next start or destroy converges,
    and after a final destroy nothing is left: no QEMU, no port, no file, no journal."""
    total = _changes(tmp_path / "count", monkeypatch, during)
    # start: sweep, two ports, their settling, files, QEMU, live definition; destroy: the undos
    assert total == (7 if during == "start" else 6)
    for k in range(1, total + 1):
        env = Env(tmp_path / f"k{k}", monkeypatch)
        if during == "destroy":
            env.runner.start("g1")
        env.host.kill_at, env.host.changes = k, 0
        with pytest.raises(Killed):
            env.runner.start("g1") if during == "start" else env.runner.destroy("g1")
        env.host.kill_at = None
        try:
            try:
                env.runner.start("g1")  # undoes what the kill left, then starts
            except OperationInvalidError as exc:
                assert "already active" in str(exc)  # killed before QEMU was stopped
            assert env.runner.live("g1") is not None
            env.runner.destroy("g1")
            assert env.host.leftovers() == [] and env.journal() is None
        except BaseException as exc:
            raise AssertionError(f"killed at change {k} of {total} during {during}: {exc!r}; "
                                 f"left {env.host.leftovers()} {env.journal()}") from exc


def test_an_older_kvmnets_run_record_is_undone_as_a_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = Env(tmp_path, monkeypatch)
    run = tmp_path / "run" / "kvmnet" / "guests"
    run.mkdir(parents=True)
    qmp = f"{run}/{GUEST_UUID}.qmp"
    (run / "g1.json").write_text(json.dumps({
        "state": "running", "uuid": GUEST_UUID, "id": 3, "pid": None, "ports": ["p1"],
        "accel": "tcg", "qmp": qmp, "serials": [], "pidfile": f"{run}/g1.pid"}))
    assert env.runner.live("g1") is None  # no such QEMU: undone
    assert env.log() == [
        f"kill $(cat {RUN}/g1.pid)  # QEMU with -qmp unix:{RUN}/{GUEST_UUID}.qmp",
        "ip link del $TAP  # port p1 on bridge None",
        f"# unplug any port guest g1 ({GUEST_UUID}) still owns",
        f"rm -f {RUN}/g1.xml {RUN}/g1.pid {RUN}/{GUEST_UUID}.qmp",
    ]
    assert env.journal() is None


def test_guest_steps_round_trip_through_json() -> None:
    steps: list[Step] = [
        SweepOwner(owner_uuid=GUEST_UUID, owner_name="g1"),
        PlugPort(uuid="u1", network="default", mac="52:54:00:00:00:01", owner_name="g1",
                 owner_uuid=GUEST_UUID, tap_name="t1", mtu=9000),
        QemuFiles(dirs=["/d"], remove=["/d/x.pid"]),
        StartQemu(name="g1", argv=["qemu", "-name", "g1"], pidfile="/p", qmp="/q"),
    ]
    for step in steps:
        assert Step.from_json(json.loads(json.dumps(step.to_json()))) == step
        assert step_class(step.kind) is type(step)
    assert steps[1].describe().startswith(
        "kvmnet net-port-create default /dev/stdin --tap t1 --mtu 9000 <<'EOF'")
    assert steps[3].describe() == "qemu -name g1"
