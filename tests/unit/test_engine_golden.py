"""Golden step lists of network start, teardown and convergence, on the recording host.

No root: :class:`kvmnet.engine.recording.RecordingHost` writes down each step's
``describe()`` instead of applying it, and keeps what would exist.  The lists below are what
``net-plan`` prints and ``net-start`` applies, in order (heredoc bodies -- nft documents,
dnsmasq files, which golden render tests cover -- are left out: :func:`outline`).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmnet.config.store import Store
from kvmnet.engine.executor import Context, run, undo
from kvmnet.engine.journal import Journal
from kvmnet.engine.recording import Killed, RecordingHost
from kvmnet.engine.step import Step, steps_from_json
from kvmnet.engine.steps.link import CreateBridge
from kvmnet.engine.steps.sysctl import SetSysctl
from kvmnet.host import procnet
from kvmnet.network import runtime
from kvmnet.network import start as starter
from kvmnet.network.compile import compile_program, start_steps
from kvmnet.paths import Paths
from kvmnet.xmlio.network import parse_network

UUID = "c0ffee00-0000-4000-8000-00000000000"


def xml(name: str, n: int, body: str, forward: str = "") -> str:
    return (f"<network><name>{name}</name><uuid>{UUID}{n}</uuid>{forward}"
            f"<bridge name='virbr1{n}' stp='on' delay='0'/><mac address='52:54:00:0a:00:0{n}'/>"
            f"{body}</network>")


V4 = ("<ip address='192.0.2.1' netmask='255.255.255.0'><dhcp>"
      "<range start='192.0.2.2' end='192.0.2.254'/></dhcp></ip>")
NETWORKS = {
    "nat": xml("nat1", 1, V4, "<forward mode='nat'/>"),
    "route": xml("route1", 2, V4 + "<route address='198.51.100.0' prefix='24' gateway='192.0.2.9'/>",
                 "<forward mode='route'/>"),
    "open": xml("open1", 3, "<ip address='192.0.2.1' prefix='24'/>", "<forward mode='open'/>"),
    "isolated": xml("iso1", 4, "<domain name='iso.test'/>" + V4.replace(
        "</dhcp>", "<host mac='52:54:00:00:00:05' name='h1' ip='192.0.2.5'/></dhcp>")
        + "<ip family='ipv6' address='2001:db8:4::1' prefix='64'><dhcp>"
          "<range start='2001:db8:4::100' end='2001:db8:4::1ff'/></dhcp></ip>"),
    "bridge": ("<network><name>br1</name><uuid>" + UUID + "5</uuid><forward mode='bridge'/>"
               "<bridge name='br0'/></network>"),
}

DNSMASQ = [
    "cat > $ROOT/var/lib/kvmnet/dnsmasq/{n}.conf <<'EOF'",
    "cat > $ROOT/var/lib/kvmnet/dnsmasq/{n}.hostsfile <<'EOF'",
    "cat > $ROOT/var/lib/kvmnet/dnsmasq/{n}.addnhosts <<'EOF'",
    "cat > $ROOT/var/lib/kvmnet/dnsmasq/{n}.helper <<'EOF'",
    "chmod 755 $ROOT/var/lib/kvmnet/dnsmasq/{n}.helper",
    ("sed -n 's/^nameserver[[:space:]]*\\([^[:space:]]*\\).*/server=\\1/p' /etc/resolv.conf"
    " > $ROOT/var/lib/kvmnet/dnsmasq/{n}.servers"),
    "dnsmasq --conf-file=$ROOT/var/lib/kvmnet/dnsmasq/{n}.conf",
]


def v4_only(n: int) -> list[str]:
    return [
        (f"ip link add virbr1{n} address 52:54:00:0a:00:0{n} type bridge stp_state 1 "
        "forward_delay 0"),
    ]


GOLDEN: dict[str, list[str]] = {
    "nat": [
        *v4_only(1),
        "sysctl -w net.ipv4.ip_forward=1  # NAT network forwards IPv4 off virbr11",
        "sysctl -w net.ipv6.conf.virbr11.disable_ipv6=1  # the network has no IPv6 address",
        "ip link set virbr11 up",
        "ip addr add 192.0.2.1/24 dev virbr11",
        "nft -f - <<'EOF'",
        *(line.format(n="nat1") for line in DNSMASQ),
    ],
    "route": [
        *v4_only(2),
        "sysctl -w net.ipv4.ip_forward=1  # routed network forwards IPv4 off virbr12",
        "sysctl -w net.ipv6.conf.virbr12.disable_ipv6=1  # the network has no IPv6 address",
        "ip link set virbr12 up",
        "ip addr add 192.0.2.1/24 dev virbr12",
        "ip route add 198.51.100.0/24 via 192.0.2.9",
        "nft -f - <<'EOF'",
        *(line.format(n="route1") for line in DNSMASQ),
    ],
    "open": [
        *v4_only(3),
        "sysctl -w net.ipv4.ip_forward=1  # open network forwards IPv4 off virbr13",
        "sysctl -w net.ipv6.conf.virbr13.disable_ipv6=1  # the network has no IPv6 address",
        "ip link set virbr13 up",
        "ip addr add 192.0.2.1/24 dev virbr13",
        # no DHCP: no hosts file
        *(line.format(n="open1") for line in DNSMASQ if "hostsfile" not in line),
    ],
    "isolated": [
        *v4_only(4),
        "sysctl -w net.ipv6.conf.virbr14.disable_ipv6=0  # IPv6 wanted",
        ("sysctl -w net.ipv6.conf.virbr14.accept_ra=0  # the bridge routes for its guests; "
        "ignore their RAs"),
        "sysctl -w net.ipv6.conf.virbr14.autoconf=0  # no SLAAC address on the bridge",
        "ip link set virbr14 up",
        "ip addr add 192.0.2.1/24 dev virbr14",
        "ip addr add 2001:db8:4::1/64 dev virbr14 nodad",
        "nft -f - <<'EOF'",
        *(line.format(n="iso1") for line in DNSMASQ),
    ],
    "bridge": ["# needs the existing link br0"],
}


def outline(text: str) -> list[str]:
    """The lines of a describe() without heredoc bodies (and without their EOF line)."""
    out, body = [], False
    for line in text.splitlines():
        if body:
            body = line != "EOF"
            continue
        out.append(line)
        body = line.endswith("<<'EOF'")
    return out


def outlines(texts: list[str], root: Path) -> list[str]:
    return [line.replace(str(root), "$ROOT") for text in texts for line in outline(text)]


@pytest.fixture(autouse=True)
def quiet_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Preflight reads the namespace's routes and binds ports: nothing there in these tests."""
    monkeypatch.setattr(procnet, "routes_within", lambda spans: [])
    monkeypatch.setattr(procnet, "can_bind", lambda address, port, proto: True)
    monkeypatch.setattr(starter, "missing_programs", lambda steps: [])
    hook = threading.excepthook  # a "killed" undo thread just ends, as in a real kill
    monkeypatch.setattr(threading, "excepthook",
                        lambda args: None if args.exc_type is Killed else hook(args))
    yield


class Env:
    def __init__(self, root: Path, kind: str) -> None:
        self.root = root
        self.paths = Paths(root)
        self.store = Store(self.paths)
        self.host = RecordingHost(links={"br0"})
        self.net = parse_network(NETWORKS[kind])
        self.program = compile_program(self.net, self.paths)

    def start(self) -> None:
        starter.start(self.program, self.store, self.paths, self.host)

    def destroy(self) -> None:
        runtime.destroy(self.store, self.paths, self.net.name, self.host)

    def journals(self) -> list[str]:
        d = self.paths.run_networks
        return sorted(p.name for p in d.glob("*.json")) if d.is_dir() else []


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_start_applies_the_golden_steps_and_plan_prints_them(tmp_path: Path, kind: str) -> None:
    env = Env(tmp_path, kind)
    planned = start_steps(env.net, env.paths)
    assert outlines([s.describe() for s in planned], tmp_path) == GOLDEN[kind]
    # the cached program is the same steps, through JSON
    assert steps_from_json(env.program["steps"]) == planned
    env.start()
    assert outlines(env.host.log, tmp_path) == GOLDEN[kind]
    assert env.store.is_active(env.net.name)


@pytest.mark.parametrize("kind", ["nat", "isolated"])
def test_teardown_undoes_in_phases(tmp_path: Path, kind: str) -> None:
    env = Env(tmp_path, kind)
    env.start()
    env.host.log.clear()
    env.destroy()
    n, name = env.net.name, env.net.bridge_name
    dnsmasq = (f"kill $(cat $ROOT/run/kvmnet/networks/{n}.pid)  # dnsmasq "
               f"--conf-file=$ROOT/var/lib/kvmnet/dnsmasq/{n}.conf")
    log = outlines(env.host.log, tmp_path)
    # dnsmasq's stop and the nft transaction run in threads while the link goes: any order
    assert sorted(log[:3]) == sorted([dnsmasq, "nft -f - <<'EOF'", f"ip link del {name}"])
    files = [f"$ROOT/var/lib/kvmnet/dnsmasq/{n}.{ext}"
             for ext in ("conf", "hostsfile", "addnhosts", "helper", "servers", "status",
                         "status.lock")]
    assert log[3:] == ["rm -f " + " ".join(files)]  # last: dnsmasq no longer reads them
    assert env.host.leftovers() == [] and env.journals() == []
    assert not env.store.is_active(n)


def test_shared_sysctl_already_set_is_neither_written_nor_journalled(tmp_path: Path) -> None:
    env = Env(tmp_path, "nat")
    env.host.sysctls["net.ipv4.ip_forward"] = "1"
    env.start()
    rec = Journal.load(env.paths.run_networks / "nat1.json")
    assert rec is not None and [s["kind"] for s in rec.steps] == ["link", "nft", "files",
                                                                  "dnsmasq"]


def test_ipv6_forwarding_is_preceded_by_the_accept_ra_guard(tmp_path: Path) -> None:
    net = parse_network(NETWORKS["isolated"].replace("<name>iso1</name>",
                                                     "<name>r6</name><forward mode='route'/>"))
    lines = outlines([s.describe() for s in start_steps(net, Paths(tmp_path))], tmp_path)
    guard = next(i for i, line in enumerate(lines) if line.startswith("# before"))
    assert lines[guard + 1].startswith("sysctl -w net.ipv6.conf.all.forwarding=1")


def _changes(tmp_path: Path, kind: str, during: str) -> int:
    env = Env(tmp_path / "count", kind)
    if during == "destroy":
        env.start()
    env.host.log.clear()
    env.start() if during == "start" else env.destroy()
    return len(env.host.log)


@pytest.mark.parametrize("during", ["start", "destroy"])
def test_kill_at_each_step_converges(tmp_path: Path, during: str) -> None:
    """Killed at each change of a start (or a destroy), the next commands a user runs
    converge: a start or destroy works, and after a final destroy nothing is left."""
    total = _changes(tmp_path, "isolated", during)
    assert total >= (10 if during == "start" else 4)
    for k in range(1, total + 1):
        env = Env(tmp_path / f"k{k}", "isolated")
        if during == "destroy":
            env.start()
        env.host.kill_at, env.host.changes = k, 0
        with pytest.raises(Killed):
            env.start() if during == "start" else env.destroy()
        env.host.kill_at = None
        try:
            if env.store.is_active("iso1"):
                with pytest.raises(Exception, match="already active"):
                    env.start()
            else:
                env.start()  # finishes what the kill left, then starts
                assert env.store.is_active("iso1")
            env.destroy()
            assert env.host.leftovers() == [] and env.journals() == []
        except BaseException as exc:
            raise AssertionError(f"killed at change {k} of {total} during {during}: {exc!r}; "
                                 f"left {env.host.leftovers()} {env.journals()}") from exc


# -- the executor on its own -------------------------------------------------------------------
class Boom(Step):
    kind = "test.boom"
    fields = ()

    def describe(self) -> str:
        return "false"

    def apply(self, ctx: Context) -> None:
        raise RuntimeError("boom")


def test_run_undoes_what_was_applied_in_reverse_on_failure(tmp_path: Path) -> None:
    class Failing(RecordingHost):
        def perform(self, step: Step, ctx: Context) -> None:
            if isinstance(step, Boom):
                step.apply(ctx)
            super().perform(step, ctx)

    host = Failing()
    journal = Journal(tmp_path / "j.json", "t")
    steps = [CreateBridge(name="br9", stp=False, delay=0),
             SetSysctl(key="net.ipv4.ip_forward", value="1", scope="shared"), Boom()]
    with pytest.raises(RuntimeError, match="boom"):
        run(steps, journal, Context(host))
    # the shared sysctl stays set (as libvirt leaves it): only the bridge is undone
    assert host.log == ["ip link add br9 type bridge stp_state 0 forward_delay 0",
                        "sysctl -w net.ipv4.ip_forward=1", "ip link del br9"]
    assert host.leftovers() == [] and not journal.path.exists()


def test_undo_is_idempotent_and_reports_unknown_kinds(tmp_path: Path) -> None:
    host = RecordingHost()
    journal = Journal(tmp_path / "j.json", "t", steps=[{"kind": "link", "name": "gone0"},
                                                        {"kind": "warp-drive", "x": 1}])
    assert undo(journal, Context(host)) == ["warp-drive: unknown to this kvmnet version"]
    assert undo(journal, Context(host)) == ["warp-drive: unknown to this kvmnet version"]
    assert host.log == ["ip link del gone0", "ip link del gone0"]


def test_every_step_round_trips_through_json(tmp_path: Path) -> None:
    for kind in NETWORKS:
        env = Env(tmp_path / kind, kind)
        for step in start_steps(env.net, env.paths):
            again = Step.from_json(step.to_json())
            assert again == step and again.describe() == step.describe()


def test_start_after_a_start_killed_after_nft_finishes_it_then_starts(tmp_path: Path) -> None:
    """The converge sequence, golden: what the killed start made is undone (in teardown's
    phases), then the whole start runs again."""
    env = Env(tmp_path, "nat")
    kill_after = GOLDEN["nat"].index("nft -f - <<'EOF'") + 1  # the change after nft
    env.host.kill_at = kill_after + 1
    with pytest.raises(Killed):
        env.start()
    env.host.kill_at = None
    assert not env.store.is_active("nat1")
    env.host.log.clear()
    env.start()
    log = outlines(env.host.log, tmp_path)
    # the killed start journalled its files before the kill: they are removed too (last)
    assert sorted(log[:2]) == sorted(["nft -f - <<'EOF'", "ip link del virbr11"])
    assert log[2].startswith("rm -f $ROOT/var/lib/kvmnet/dnsmasq/nat1.conf ")
    assert log[3:] == GOLDEN["nat"]
    env.destroy()
    assert env.host.leftovers() == [] and env.journals() == []


def test_destroy_after_a_destroy_killed_midway_finishes_it(tmp_path: Path) -> None:
    env = Env(tmp_path, "nat")
    env.start()
    env.host.kill_at, env.host.changes = 4, 0  # the files, after dnsmasq, nft and the link
    with pytest.raises(Killed):
        env.destroy()
    env.host.kill_at = None
    env.host.log.clear()
    env.destroy()  # no status any more, but a journal: finish it (idempotently)
    log = outlines(env.host.log, tmp_path)
    assert len(log) == 4 and log[3].startswith("rm -f ")
    assert env.host.leftovers() == [] and env.journals() == []
