#!/usr/bin/env python3
"""The main demo: the cookbook chapter with a real guest, told step by step.

Run it as root with ``make demo`` (or ``scripts/demo.sh``).  Everything happens in a sandbox
that this script makes and removes again, also when it is interrupted (Ctrl-C) or fails:

* a network namespace that plays the KVM host: kvmnet runs there, with a temporary
  ``KVMNET_ROOT`` for its files, so its bridges, dnsmasq, nftables table and QEMU guests never
  touch this machine's own networking;
* a second namespace, "wan", plays the internet: a tiny TCP server there records who connects;
* the guest is the tiny test guest (a Debian kernel and a busybox initramfs, built once with
  ``apt-get download`` and cached in ``$KVMNET_TEST_CACHE``, default
  ``~/.cache/kvmnet-test-guest``).

The story: the networks ``default`` and ``nat_net`` (examples/networks/) are defined and
started; guest ``kvm1`` starts on ``default``, gets a 192.168.122.x lease and pings its gateway;
``kvmnet edit`` moves it to ``nat_net``; after a restart it gets a 10.10.10.x lease, pings
10.10.10.1 and reaches the wan server, which sees the host's address (NAT), not the guest's.
Every kvmnet command is printed as you would type it, followed by its real output.
"""
from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.chdir(REPO)

# The sandbox helpers of kvmnet's functional tests: namespaces named kvh-*, each process in
# them stopped by PID when they are deleted.
from tests.functional.guest_image import MARKER, BuildUnavailable, build
from tests.functional.kvmnet_env import IP, KVMNET, WAN_HOST_IP, WAN_IP, WAN_PORT, KvEnv

BOOT_TIMEOUT = 300.0
BOLD, DIM, GREEN, RED, RESET = (("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m")
                                if sys.stdout.isatty() else ("",) * 5)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc")
# The editor command goes through /bin/sh (as virsh does it), which removes the backslashes.
EDITOR = r"sed -i s/network=\'default\'/network=\'nat_net\'/"


class DemoFailed(Exception):
    """Something the story promises did not happen."""


# -- telling the story --------------------------------------------------------------------------
T0 = time.monotonic()


def step(n: int, title: str, *explain: str) -> None:
    print(f"\n{BOLD}== {n}. {title}{RESET}  {DIM}[{time.monotonic() - T0:.0f} s]{RESET}")
    for line in explain:
        print(textwrap.fill(line, 96))


def note(text: str) -> None:
    print(f"{DIM}{textwrap.fill(text, 96)}{RESET}")


def good(text: str) -> None:
    print(f"{GREEN}ok:{RESET} {text}")


def check(cond: bool, text: str) -> None:
    if not cond:
        raise DemoFailed(text)


class Demo:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kvmnet-demo-"))
        # dnsmasq drops to 'nobody' and must still read its files, as under a real / (0755).
        self.root.chmod(0o755)
        self.env = KvEnv(self.root)
        self.guests: list[str] = []

    # -- commands ------------------------------------------------------------------------------
    def kvmnet(self, *args: str, shown: str | None = None, env: dict[str, str] | None = None,
               quiet: bool = False, grep_o: str | None = None,
               timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run ``kvmnet ARGS`` in the host namespace; print it as typed and its real output."""
        line = shown or "kvmnet " + " ".join(_quote(a) for a in args)
        if not quiet:
            print(f"{BOLD}${RESET} {line}")
        proc = self.env.kv(*args, env=env, timeout=timeout)
        if not quiet:
            out = proc.stdout
            if grep_o is not None:  # what `| grep -o REGEX` prints
                out = "".join(m[0] + "\n" for m in re.finditer(grep_o, out))
            # kvmnet writes notices (stderr) before its result (stdout), as a terminal shows.
            sys.stdout.write(proc.stderr)
            sys.stdout.write(out)
            if not out.endswith("\n\n"):
                print()
        if proc.returncode != 0:
            raise DemoFailed(f"'{line}' failed (exit status {proc.returncode}):\n"
                             f"{proc.stdout}{proc.stderr}")
        return proc

    # -- the guest's console -------------------------------------------------------------------
    def console_log(self, name: str) -> str:
        path = self.root / "var" / "log" / "kvmnet" / "guests" / f"{name}.log"
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_marker(self, name: str, pattern: str, timeout: float = BOOT_TIMEOUT
                    ) -> re.Match[str]:
        rx = re.compile(re.escape(MARKER) + " " + pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.console_log(name))
            if m is not None:
                return m
            if time.monotonic() > deadline:
                raise DemoFailed(f"guest {name} never printed '{MARKER} {pattern}' within "
                                 f"{timeout:.0f} s; its console so far:\n"
                                 + ANSI.sub("", self.console_log(name))[-3000:])
            time.sleep(0.2)

    def console_session(self, name: str, commands: list[tuple[str, str]]) -> list[str]:
        """``kvmnet console NAME`` on a pseudo-terminal, typing each command as a user would.

        ``commands`` holds (command, regex its output must match); prints the session as seen
        on the terminal and returns each command's output.
        """
        master, slave = pty.openpty()
        full = dict(os.environ, KVMNET_ROOT=str(self.root))
        p = subprocess.Popen([IP, "netns", "exec", self.env.host.name, KVMNET, "console", name],
                             stdin=slave, stdout=slave, stderr=slave, env=full)
        os.close(slave)
        buf = b""

        def read_until(done: re.Pattern[str], start: int, limit: float) -> str:
            nonlocal buf
            deadline = time.monotonic() + limit
            while True:
                text = ANSI.sub("", buf[start:].decode(errors="replace")).replace("\r", "")
                if done.search(text):
                    return text
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoFailed(f"the console of {name} did not answer within "
                                     f"{limit:.0f} s:\n{text[-1500:]}")
                ready, _, _ = select.select([master], [], [], left)
                if ready:
                    try:
                        buf += os.read(master, 4096)
                    except OSError:
                        raise DemoFailed(f"the console of {name} closed:\n{text}") from None

        print(f"{BOLD}${RESET} kvmnet console {name}")
        outputs: list[str] = []
        try:
            print(read_until(re.compile(r"Escape character is \^\]"), 0, 30), end="")
            # Like virsh, kvmnet console flushes what was typed before its terminal went raw.
            deadline = time.monotonic() + 10
            while termios.tcgetattr(master)[3] & termios.ICANON:
                check(time.monotonic() < deadline, "kvmnet console never attached")
                time.sleep(0.02)
            mark = len(buf)
            os.write(master, b"\r")
            print(read_until(re.compile(r"# $"), mark, 30).lstrip("\n"), end="")
            for command, expect in commands:
                mark = len(buf)
                os.write(master, command.encode() + b"\r")
                # Done when the shell prompts again after the command's output.
                text = read_until(re.compile(r"\n[^\n]*# $"), mark, 60)
                print(text, end="")
                output = text.split("\n", 1)[1] if "\n" in text else ""
                outputs.append(output)
                check(re.search(expect, output) is not None,
                      f"'{command}' in guest {name} printed:\n{output}")
            os.write(master, b"\x1d")
            print("^]")
            p.wait(timeout=15)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
        print()
        return outputs

    # -- clean-up ------------------------------------------------------------------------------
    def cleanup(self, show: bool) -> None:
        """Stop the guests, then the networks, then delete the namespaces and files."""
        for name in self.guests:
            if show:
                if self.env.kv("list", "--name").stdout.split().count(name):
                    self.kvmnet("destroy", name)
                self.kvmnet("undefine", name)
            else:
                self.env.kv("destroy", name, timeout=60)
        if show:
            for net in ("nat_net", "default"):
                self.kvmnet("net-destroy", net)
                self.kvmnet("net-undefine", net)
            self.kvmnet("net-list", "--all")
        self.env.cleanup()  # net-destroy of whatever is left, then the namespaces go
        shutil.rmtree(self.root, ignore_errors=True)


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def guest_xml(kernel: Path, initrd: Path, cmdline: str, name: str = "kvm1",
              network: str = "default") -> str:
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <interface type='network'>
      <source network='{network}'/>
    </interface>
    <serial type='pty'/>
  </devices>
</domain>
"""


# -- the story ------------------------------------------------------------------------------
def story(demo: Demo) -> None:
    env = demo.env
    step(1, "The sandbox",
         f"kvmnet acts on the network namespace it runs in. This demo made the namespace "
         f"{env.host.name} to play the KVM host, and keeps kvmnet's files in {demo.root} "
         f"(KVMNET_ROOT). Every 'kvmnet' command below runs there; this machine's own "
         f"networking is not touched.")
    wan = env.wan()
    peers = env.tcp_server(wan)
    print(textwrap.fill(
        f"A second namespace, {wan.name}, plays the internet: it is {WAN_IP}, one cable away "
        f"from the host's wan address {WAN_HOST_IP}, and runs a small TCP server on port "
        f"{WAN_PORT} that writes down the address of everyone who connects.", 96))

    step(2, "The test guest",
         "A tiny guest: a Debian kernel and a busybox initramfs that gets an address by DHCP, "
         f"prints '{MARKER} ...' lines on its serial console and then offers a shell there.")
    t = time.monotonic()
    try:
        image = build()
    except BuildUnavailable as exc:
        raise DemoFailed(f"cannot build the test guest: {exc}") from None
    print(f"kernel {image.kernel}\ninitrd {image.initrd}\n"
          f"({time.monotonic() - t:.1f} s; cached for the next run)")

    step(3, "Define and start the cookbook's networks",
         "Two libvirt network definitions, used unchanged: 'default' (NAT, 192.168.122.0/24 on "
         "bridge virbr0) and 'nat_net' (NAT, 10.10.10.0/24 on virbr1), each with a DHCP range.")
    demo.kvmnet("net-define", "examples/networks/default.xml")
    demo.kvmnet("net-define", "examples/networks/nat_net.xml")
    demo.kvmnet("net-start", "default")
    demo.kvmnet("net-start", "nat_net")
    note("Starting made a bridge, gave it the gateway address, added the NAT rules to "
         "kvmnet's own nftables table and started one dnsmasq per network for DHCP and DNS.")
    demo.kvmnet("net-list")
    demo.kvmnet("net-info", "default")

    step(4, "Define and start guest kvm1 on 'default'",
         "A libvirt domain definition: the kernel and initrd, 256 MiB, one NIC on network "
         "'default', a serial console.")
    xml = guest_xml(image.kernel, image.initrd, image.cmdline)
    path = env.write_xml("kvm1", xml)
    print(f"{BOLD}${RESET} cat {path}")
    print(xml)
    demo.kvmnet("define", str(path))
    demo.guests.append("kvm1")
    t_start = time.monotonic()
    demo.kvmnet("start", "kvm1")
    started = time.monotonic()
    note(f"'start' took {started - t_start:.1f} s: it plugged a tap (vnet0) into virbr0 and "
         "started QEMU, which opens that tap as the guest's NIC.")
    demo.kvmnet("list")
    demo.kvmnet("domiflist", "kvm1")

    accel = json.loads((demo.root / "run" / "kvmnet" / "guests" / "kvm1.json").read_text())
    step(5, "The guest boots and gets its lease",
         "Under TCG (QEMU's emulator: this machine cannot run it with KVM) the boot takes a "
         "little while..." if accel.get("accel") == "tcg" else "It boots with KVM...")
    lease = demo.wait_marker("kvm1", r"lease (\S+) dev eth0 mask (\d+) router (\S+)")
    ip1 = lease.group(1)
    print(f"(lease after {time.monotonic() - started:.1f} s)\n")
    demo.wait_marker("kvm1", "ready", 60)
    demo.kvmnet("console", "kvm1", shown=f"kvmnet console kvm1 | grep -o '{MARKER}.*'",
                grep_o=re.escape(MARKER) + r"[^\r\n]*")
    note("Without a terminal, 'console' prints what the guest wrote on its serial console.")
    check(ip1.startswith("192.168.122."), f"kvm1 got {ip1}, not an address of 'default'")
    _wait_lease(demo, "default", ip1)
    demo.kvmnet("domifaddr", "kvm1")
    demo.kvmnet("net-dhcp-leases", "default")
    good(f"kvm1 got {ip1}/24 from the network's dnsmasq; kvmnet knows it.")

    step(6, "Ping the gateway from the guest",
         "On the guest's console (^] leaves it):")
    demo.console_session("kvm1", [("ping -c 3 192.168.122.1", r" 0% packet loss")])
    good("kvm1 reaches its gateway 192.168.122.1.")

    step(7, "Move kvm1 to 'nat_net' with 'kvmnet edit'",
         "'edit' opens the definition in $EDITOR and redefines the guest from what you saved. "
         "Here the editor is a sed script that changes the NIC's source network.")
    demo.kvmnet("edit", "kvm1", env={"EDITOR": EDITOR, "VISUAL": ""},
                shown=f'EDITOR="{EDITOR}" kvmnet edit kvm1')
    note("The running guest keeps its NIC on 'default'; the definition (--inactive) now says "
         "'nat_net' and applies from the next start:")
    demo.kvmnet("domiflist", "kvm1")
    demo.kvmnet("domiflist", "kvm1", "--inactive")
    demo.kvmnet("destroy", "kvm1")
    t_start = time.monotonic()
    demo.kvmnet("start", "kvm1")
    started = time.monotonic()
    demo.kvmnet("domiflist", "kvm1")
    lease = demo.wait_marker("kvm1", r"lease (\S+) dev eth0 mask (\d+) router (\S+)")
    ip2 = lease.group(1)
    print(f"(lease after {time.monotonic() - started:.1f} s)\n")
    demo.wait_marker("kvm1", "ready", 60)
    check(ip2.startswith("10.10.10."), f"kvm1 got {ip2}, not an address of 'nat_net'")
    _wait_lease(demo, "nat_net", ip2)
    demo.kvmnet("domifaddr", "kvm1")
    demo.kvmnet("net-dhcp-leases", "nat_net")
    good(f"kvm1 is on nat_net now, with {ip2}/24.")

    step(8, "NAT: out through the host",
         f"From the guest: ping the new gateway, then connect to the wan server at "
         f"{WAN_IP}:{WAN_PORT} (it answers 'hello').")
    before = peers.read_text().split()
    demo.console_session("kvm1", [("ping -c 3 10.10.10.1", r" 0% packet loss"),
                                  (f"nc -w 5 {WAN_IP} {WAN_PORT} </dev/null", r"hello")])
    seen = peers.read_text().split()[len(before):]
    print(f"The wan server's log of who connected: {', '.join(seen) or '(nobody)'}")
    check(seen == [WAN_HOST_IP], f"the wan server saw {seen}, expected only the host's "
                                 f"wan address {WAN_HOST_IP}")
    good(f"the server saw {WAN_HOST_IP}, the host's wan address, not the guest's {ip2}: "
         "kvmnet's nftables rules masqueraded the connection.")

    step(9, "Clean up",
         "Stop and undefine the guest and the networks; then the sandbox goes (namespaces, "
         "files).")
    demo.cleanup(show=True)


def _wait_lease(demo: Demo, network: str, ip: str, timeout: float = 10.0) -> None:
    """dnsmasq reports a lease to kvmnet's helper right after it acks it: wait for that."""
    deadline = time.monotonic() + timeout
    while ip + "/" not in demo.env.kv("net-dhcp-leases", network).stdout:
        if time.monotonic() > deadline:
            raise DemoFailed(f"net-dhcp-leases {network} never listed {ip}")
        time.sleep(0.2)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(title: str, finished: str, tell: Callable[[Demo], None], tools: tuple[str, ...],
        cleanup: Callable[[Demo], None] | None = None) -> int:
    """A demo chapter's main: root and the tools checked, signals caught, the story told;
    then the chapter's own ``cleanup`` (always), or, without one, the sandbox's when the
    story did not get to its end (the story cleans up itself, on screen)."""
    if os.geteuid() != 0:
        print("error: the demo needs root: it creates network namespaces (run 'sudo make demo')",
              file=sys.stderr)
        return 1
    missing = [t for t in tools if shutil.which(t) is None]
    if missing or not os.access(KVMNET, os.X_OK):
        print(f"error: missing {', '.join(missing) or KVMNET}; run scripts/setup.sh first",
              file=sys.stderr)
        return 1
    # SIGINT too: a shell without job control starts background jobs with SIGINT ignored,
    # and the demo must still clean up when someone sends it.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)
    demo = Demo()
    status = 0
    done = False
    try:
        print(f"{BOLD}kvmnet demo: {title}{RESET}")
        tell(demo)
        done = True
        print(f"\n{GREEN}{BOLD}{finished}{RESET} in {time.monotonic() - T0:.0f} s; "
              "nothing is left behind.")
    except KeyboardInterrupt:
        print(f"\n{RED}interrupted{RESET}: cleaning up", file=sys.stderr)
        status = 130
    except DemoFailed as exc:
        print(f"\n{RED}demo failed:{RESET} {exc}\ncleaning up", file=sys.stderr)
        status = 1
    finally:
        if cleanup is not None or not done:
            # A second Ctrl-C must not cut the clean-up short.
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            if cleanup is not None:
                cleanup(demo)
            else:
                demo.cleanup(show=False)
    return status


def main() -> int:
    return run("the cookbook's networks with a real guest", "Demo complete", story,
               ("ip", "dnsmasq", "nft", "qemu-system-x86_64", "busybox"))


if __name__ == "__main__":
    raise SystemExit(main())
