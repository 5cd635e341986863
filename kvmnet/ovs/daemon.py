"""``kvmnet ovs start|stop|status``: a private Open vSwitch for the current network namespace.

Everything lives under ``$KVMNET_ROOT``: the database ``var/lib/openvswitch/conf.db`` (created
from the installed schema by ``ovsdb-tool create``), the sockets, pid files and control sockets
in ``run/openvswitch/`` (``db.sock`` is the one clients use), the logs in
``var/log/openvswitch/``.  ``OVS_RUNDIR``/``OVS_DBDIR``/``OVS_LOGDIR`` point there too, so
nothing of it lands in the system's ``/var/run/openvswitch``.

Order matters: ovsdb-server first, then the Open_vSwitch row with
``other_config:userspace-tso-enable=true`` (ovs-vswitchd reads it only when it starts; TCP
across the userspace datapath needs it), then ovs-vswitchd.  Start is idempotent (what runs
stays; only what is missing starts); stop ends each daemon by its pid file's PID (checked
against its command line, through a pidfd: kvmnet.host.process) and removes the sockets.  The
system's Open vSwitch is never started or stopped here.
"""
from __future__ import annotations

import os
from pathlib import Path

from kvmnet.errors import OvsError
from kvmnet.host import ovsdb

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DAEMONS = ("ovsdb-server", "ovs-vswitchd")
#: How long a daemon may take to exit after SIGTERM before it is killed (see :func:`stop`).
STOP_TIMEOUT = 30.0
#: Set before ovs-vswitchd starts: it reads these only then.
BOOT_CONFIG = {"userspace-tso-enable": "true"}


class Layout:
    """Where the private Open vSwitch keeps its files."""

    def __init__(self, root: str | None = None) -> None:
        base = Path(root if root is not None else os.environ.get("KVMNET_ROOT") or "/")
        self.run = base / "run" / "openvswitch"
        self.db_dir = base / "var" / "lib" / "openvswitch"
        self.log_dir = base / "var" / "log" / "openvswitch"
        self.db = self.db_dir / "conf.db"
        self.socket = self.run / "db.sock"

    def pidfile(self, daemon: str) -> Path:
        return self.run / f"{daemon}.pid"

    def ctl(self, daemon: str) -> Path:
        return self.run / f"{daemon}.ctl"

    def log(self, daemon: str) -> Path:
        return self.log_dir / f"{daemon}.log"

    def env(self) -> dict[str, str]:
        return {"OVS_RUNDIR": str(self.run), "OVS_DBDIR": str(self.db_dir),
                "OVS_LOGDIR": str(self.log_dir)}


def running_pid(layout: Layout, daemon: str) -> int | None:
    """The daemon's PID from its pid file when that process is alive and is ours."""
    from kvmnet.host import process

    try:
        pid = int(layout.pidfile(daemon).read_text().strip())
    except (OSError, ValueError):
        return None
    if pid > 1 and process.is_alive(pid) and process.cmdline_matches(pid, str(layout.pidfile(daemon))):
        return pid
    return None


def status(root: str | None = None) -> dict[str, Any]:
    """``{"ovsdb-server": PID|None, "ovs-vswitchd": PID|None, "socket": PATH, "running": bool}``."""
    layout = Layout(root)
    pids = {d: running_pid(layout, d) for d in DAEMONS}
    return {**pids, "socket": str(layout.socket),
            "running": all(pids.values()) and layout.socket.exists()}


def _argv(layout: Layout, daemon: str) -> list[str]:
    common = [f"--pidfile={layout.pidfile(daemon)}", f"--unixctl={layout.ctl(daemon)}",
              f"--log-file={layout.log(daemon)}", "-vconsole:off", "--detach", "--no-chdir"]
    if daemon == "ovsdb-server":
        return ["ovsdb-server", str(layout.db), f"--remote=punix:{layout.socket}", *common]
    return ["ovs-vswitchd", f"unix:{layout.socket}", *common]


def _clear_stale(layout: Layout, daemon: str) -> None:
    """A daemon that died leaves its pid file and sockets: remove them before a new start."""
    paths = [layout.pidfile(daemon), layout.ctl(daemon)]
    if daemon == "ovsdb-server":
        paths.append(layout.socket)
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def start(root: str | None = None) -> dict[str, Any]:
    """Start whatever of the two daemons is not running; returns :func:`status`."""
    from kvmnet.host.run import run

    layout = Layout(root)
    for d in (layout.run, layout.db_dir, layout.log_dir):
        d.mkdir(parents=True, exist_ok=True)
    if running_pid(layout, "ovsdb-server") is None:
        _clear_stale(layout, "ovsdb-server")
        if not layout.db.exists():
            run(["ovsdb-tool", "create", str(layout.db),
                 os.environ.get("KVMNET_OVS_SCHEMA", ovsdb.SCHEMA)])
        run(_argv(layout, "ovsdb-server"), env=layout.env(), timeout=30)
    if running_pid(layout, "ovs-vswitchd") is None:
        _clear_stale(layout, "ovs-vswitchd")
        with ovsdb.Switch.open("unix:" + str(layout.socket), wait=False) as sw:
            sw.initialise(BOOT_CONFIG)
        run(_argv(layout, "ovs-vswitchd"), env=layout.env(), timeout=30)
    state = status(root)
    if not state["running"]:
        raise OvsError(f"Open vSwitch did not stay up (ovsdb-server: {state['ovsdb-server']}, "
                       f"ovs-vswitchd: {state['ovs-vswitchd']}): see the logs in "
                       f"{layout.log_dir}")
    return state


def stop(root: str | None = None) -> dict[str, Any]:
    """Stop the private daemons (vswitchd first) by their pid files' PIDs; remove sockets.

    ovs-vswitchd gets :data:`STOP_TIMEOUT` after SIGTERM: with many ports it first finishes
    the reconfiguration under way and then closes every port, each close waiting for the
    kernel (seconds with 1,000 ports; killed midway it would sit in the kernel as long).  A
    daemon that does not go is an error, but the other is stopped all the same; its pid file
    stays, so ``status`` shows it and the next ``stop`` tries again."""
    from kvmnet.errors import HostError
    from kvmnet.host import process

    layout = Layout(root)
    failed = []
    for daemon in reversed(DAEMONS):
        pid = running_pid(layout, daemon)
        if pid is not None:
            try:
                process.terminate(pid, expected_cmdline_contains=str(layout.pidfile(daemon)),
                                  timeout=STOP_TIMEOUT)
            except HostError as exc:
                failed.append(f"{daemon}: {exc.message}")
                continue
        _clear_stale(layout, daemon)
    if failed:
        raise OvsError("Open vSwitch did not stop: " + "; ".join(failed) + ": run `kvmnet ovs "
                       "stop` again once the kernel let it go")
    return status(root)
