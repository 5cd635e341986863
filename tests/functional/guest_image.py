"""A tiny test guest built from Debian packages only, cached between runs.

The guest is a Debian kernel (``linux-image-*-cloud-amd64``, the flavour with the fewest
built-in drivers, which boots fastest under TCG) and an initramfs holding a static busybox
(``busybox-static``), the virtio-net kernel modules with their dependencies, and an ``/init``
that:

* loads the modules, brings up ``eth0`` with ``udhcpc`` and prints markers on the serial
  console: ``KVMNET-GUEST: lease 10.10.10.5 dev eth0 mask 24 router 10.10.10.1``;
* runs the tests named on the kernel command line, comma separated, each printing one marker:
  ``kvmnet.test=ping:10.10.10.1`` -> ``KVMNET-GUEST: ping 10.10.10.1 ok`` (or ``fail``),
  ``kvmnet.test=connect:203.0.113.2:8080`` -> ``KVMNET-GUEST: connect 203.0.113.2:8080 ok``,
  ``poweroff`` powers the guest off (QEMU then exits); then ``KVMNET-GUEST: tests done``;
* watches for hot-plugged and unplugged NICs (``KVMNET-GUEST: nic eth1 added mac ...``, a lease
  marker for it, ``KVMNET-GUEST: nic eth1 removed``);
* leaves a shell on the serial console for ``kvmnet console``.

The packages are fetched with ``apt-get download`` (never installed on the host) and unpacked
with ``dpkg-deb -x``; the initramfs is written as a newc cpio archive by Python's own code.
Everything lives under ``$KVMNET_TEST_CACHE`` (default ``~/.cache/kvmnet-test-guest``) and is
rebuilt only when the kernel version apt offers or this file's guest recipe changes.

Build by hand (prints the kernel and initrd paths)::

    .venv/bin/python -m tests.functional.guest_image [--force]

The ``tiny_guest`` fixture builds it once per session, or skips the test with the reason when
neither the cache nor Debian's package registry can provide it.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The kernel flavour's meta package: apt resolves it to the current ABI's image package.
KERNEL_META = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
#: Modules the guest needs for virtio NICs (their dependencies are added from modinfo).
WANTED_MODULES = ("virtio_pci", "virtio_net")
#: Kernel command line the runner's tests use (plus kvmnet.test=...).
CMDLINE = "console=ttyS0 quiet panic=-1"
MARKER = "KVMNET-GUEST:"

#: pytest marks for tests that boot a guest (with kvmnet_env.requires_kvmnet_root).
requires_guests = [
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                       reason="needs qemu-system-x86_64 (Debian package qemu-system-x86)"),
    pytest.mark.skipif(os.environ.get("KVMNET_SKIP_GUESTS") == "1",
                       reason="KVMNET_SKIP_GUESTS=1: guest boots skipped"),
]

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
say() { echo "KVMNET-GUEST: $*"; }
say "init kernel $(uname -r) uptime $(cut -d' ' -f1 /proc/uptime)"
for m in $(cat /etc/modules); do
  insmod "/lib/modules/$m.ko" || say "insmod $m failed"
done
ip link set lo up
tests=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in kvmnet.test=*) tests="${arg#kvmnet.test=}" ;; esac
done

lease() {  # lease IFACE: one DHCP exchange, the event script prints the marker
  ip link set "$1" up
  udhcpc -i "$1" -n -q -f -t 8 -T 2 -A 1 -s /etc/udhcpc.sh >/dev/null 2>&1 \
    || say "lease $1 failed"
}

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do usleep 100000; i=$((i+1)); done
if [ -e /sys/class/net/eth0 ]; then
  say "nic eth0 mac $(cat /sys/class/net/eth0/address)"
  lease eth0
else
  say "no eth0"
fi

IFS_SAVE="$IFS"; IFS=,
for t in $tests; do
  IFS="$IFS_SAVE"
  case "$t" in
    ping:*)
      ip="${t#ping:}"
      if ping -c 3 -w 10 "$ip" >/dev/null 2>&1; then say "ping $ip ok"; else say "ping $ip fail"; fi ;;
    connect:*)
      dst="${t#connect:}"; host="${dst%:*}"; port="${dst##*:}"
      if nc -w 5 "$host" "$port" </dev/null >/dev/null 2>&1; then say "connect $dst ok"
      else say "connect $dst fail"; fi ;;
    poweroff)
      say "poweroff"; poweroff -f ;;
    *) say "unknown test $t" ;;
  esac
  IFS=,
done
IFS="$IFS_SAVE"
say "tests done uptime $(cut -d' ' -f1 /proc/uptime)"

# Hot-plug watcher: report NICs as they come and go, and lease new ones.
(
  known="$(ls /sys/class/net)"
  while true; do
    now="$(ls /sys/class/net)"
    for n in $now; do
      case " $(echo $known) " in *" $n "*) ;; *)
        say "nic $n added mac $(cat /sys/class/net/$n/address)"; lease "$n" & ;;
      esac
    done
    for n in $known; do
      case " $(echo $now) " in *" $n "*) ;; *) say "nic $n removed" ;; esac
    done
    known="$now"
    sleep 1
  done
) &

say "ready"
while true; do setsid cttyhack sh; done
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ] && ! ip route | grep -q '^default'; then
      set -- $router; ip route add default via "$1" dev "$interface"
    fi
    echo "KVMNET-GUEST: lease $ip dev $interface mask ${mask:-24} router ${router:-none}" \
      >/dev/console ;;
esac
exit 0
"""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    version: str  # the kernel release, e.g. 6.1.0-56-cloud-amd64
    cmdline: str = CMDLINE

    def append(self, *tests: str) -> str:
        """The kernel command line running ``tests`` (e.g. ``ping:10.0.0.1``)."""
        return self.cmdline + (f" kvmnet.test={','.join(tests)}" if tests else "")


class BuildUnavailable(Exception):
    """The image is not cached and the packages cannot be fetched (no apt, no registry)."""


def cache_dir() -> Path:
    value = os.environ.get("KVMNET_TEST_CACHE")
    return Path(value) if value else Path.home() / ".cache" / "kvmnet-test-guest"


def _recipe_hash() -> str:
    h = hashlib.sha256()
    for part in (INIT, UDHCPC_SCRIPT, " ".join(WANTED_MODULES), "newc-v1"):
        h.update(part.encode())
    return h.hexdigest()[:16]


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600,
                              check=False)
    except FileNotFoundError:
        raise BuildUnavailable(f"{argv[0]} is not installed (Debian's apt/dpkg are needed to "
                               "fetch the test guest's packages)") from None
    if proc.returncode != 0:
        raise BuildUnavailable(f"{' '.join(argv)} failed (exit {proc.returncode}):\n"
                               f"{proc.stdout}{proc.stderr}")
    return proc.stdout


def _kernel_package(update: bool = True) -> str:
    """The image package the kernel meta package depends on (the version apt offers)."""
    try:
        out = _run(["apt-cache", "depends", KERNEL_META])
    except BuildUnavailable:
        out = ""
    for line in out.splitlines():
        word = line.strip()
        if word.startswith("Depends:") and "linux-image-" in word:
            return word.split()[1]
    if update and os.geteuid() == 0:
        # A fresh machine may have no package lists yet.
        _run(["apt-get", "update", "-qq"])
        return _kernel_package(update=False)
    raise BuildUnavailable(f"apt knows no {KERNEL_META}; run 'apt-get update' first")


def _download(package: str, debs: Path) -> Path:
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    with tempfile.TemporaryDirectory(dir=debs) as tmp:
        # Download as root without apt's _apt sandbox user (which cannot write here).
        _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package], cwd=Path(tmp))
        got = sorted(Path(tmp).glob(f"{package}_*.deb"))
        if not got:
            raise BuildUnavailable(f"apt-get download {package} produced no .deb")
        target = debs / got[-1].name
        os.replace(got[-1], target)
    return target


def _modinfo_depends(ko: Path) -> list[str]:
    # The .modinfo section is NUL-separated key=value strings; "depends=" lists the modules
    # this one needs (what depmod would put in modules.dep, which the package does not ship).
    data = ko.read_bytes()
    for chunk in data.split(b"\0"):
        if chunk.startswith(b"depends="):
            value = chunk[len(b"depends="):].decode()
            return [d for d in value.split(",") if d]
    return []


def _module_order(moddir: Path, wanted: tuple[str, ...]) -> list[Path]:
    """``wanted`` modules and their dependencies, dependencies first."""
    index: dict[str, Path] = {}
    for ko in moddir.rglob("*.ko"):
        index[ko.stem.replace("-", "_")] = ko
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        key = name.replace("-", "_")
        if key in seen:
            return
        seen.add(key)
        ko = index.get(key)
        if ko is None:
            return  # built into the kernel
        for dep in _modinfo_depends(ko):
            visit(dep)
        order.append(ko)

    for name in wanted:
        visit(name)
    return order


class _Cpio:
    """A newc ("070701") cpio archive, as the kernel's initramfs unpacker reads it."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self.ino += 1
        self.buf.write(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        self.buf.write(b"\0" * (-self.buf.tell() % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def dir(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def _initramfs(busybox: Path, modules: list[Path]) -> bytes:
    a = _Cpio()
    for d in ("bin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "tmp", "root"):
        a.dir(d)
    a.chardev("dev/console", 5, 1)
    a.chardev("dev/null", 1, 3)
    a.file("bin/busybox", busybox.read_bytes(), 0o755)
    a.symlink("bin/sh", "busybox")
    a.file("init", INIT.encode(), 0o755)
    a.file("etc/udhcpc.sh", UDHCPC_SCRIPT.encode(), 0o755)
    names = []
    for ko in modules:
        a.file(f"lib/modules/{ko.stem}.ko", ko.read_bytes())
        names.append(ko.stem)
    a.file("etc/modules", ("\n".join(names) + "\n").encode())
    # mtime 0 and no file name: the same inputs give the same bytes.
    return gzip.compress(a.finish(), compresslevel=6, mtime=0)


def build(cache: Path | None = None, *, force: bool = False, offline_ok: bool = True
          ) -> GuestImage:
    """Build (or reuse from the cache) the test guest; raises BuildUnavailable if impossible."""
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    manifest = cache / "image.json"
    recipe = _recipe_hash()
    cached = _load_manifest(manifest)
    try:
        package = _kernel_package()
    except BuildUnavailable:
        # No apt lists (or no apt): a previously built image is still a good test guest.
        if cached is not None and not force and offline_ok:
            return cached[0]
        raise
    if cached is not None and not force and cached[1] == (package, recipe):
        return cached[0]
    try:
        return _build(cache, manifest, package, recipe)
    except BuildUnavailable:
        # A newer kernel is offered but cannot be fetched: the cached guest still does.
        if cached is not None and offline_ok:
            return cached[0]
        raise


def _build(cache: Path, manifest: Path, package: str, recipe: str) -> GuestImage:
    started = time.monotonic()
    debs = cache / "debs"
    kernel_deb = _download(package, debs)
    busybox_deb = _download(BUSYBOX_PACKAGE, debs)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        tree = Path(tmp)
        _run(["dpkg-deb", "-x", str(kernel_deb), str(tree / "k")])
        _run(["dpkg-deb", "-x", str(busybox_deb), str(tree / "b")])
        vmlinuz = sorted((tree / "k" / "boot").glob("vmlinuz-*"))
        if not vmlinuz:
            raise BuildUnavailable(f"{kernel_deb.name} holds no /boot/vmlinuz-*")
        version = vmlinuz[0].name.removeprefix("vmlinuz-")
        moddir = tree / "k" / "lib" / "modules" / version
        modules = _module_order(moddir, WANTED_MODULES)
        busybox = tree / "b" / "bin" / "busybox"
        initrd_data = _initramfs(busybox, modules)
        out = cache / version
        out.mkdir(exist_ok=True)
        kernel = out / "vmlinuz"
        initrd = out / "initrd.gz"
        shutil.copyfile(vmlinuz[0], kernel)
        tmp_initrd = out / "initrd.gz.tmp"
        tmp_initrd.write_bytes(initrd_data)
        os.replace(tmp_initrd, initrd)
    image = GuestImage(kernel, initrd, version)
    tmp_manifest = manifest.with_suffix(".tmp")
    tmp_manifest.write_text(json.dumps({
        "package": package, "recipe": recipe, "version": version, "kernel": str(kernel),
        "initrd": str(initrd), "modules": [m.stem for m in modules],
        "build_seconds": round(time.monotonic() - started, 2)}, indent=2) + "\n")
    os.replace(tmp_manifest, manifest)
    # Older kernel versions' images and .debs are dead weight once a newer one is built.
    for old in debs.glob("linux-image-*.deb"):
        if old != kernel_deb:
            old.unlink()
    for d in cache.iterdir():
        if d.is_dir() and d.name not in ("debs", version) and (d / "vmlinuz").exists():
            shutil.rmtree(d, ignore_errors=True)
    return image


def _load_manifest(path: Path) -> tuple[GuestImage, tuple[str, str]] | None:
    try:
        data = json.loads(path.read_text())
        image = GuestImage(Path(data["kernel"]), Path(data["initrd"]), data["version"])
        key = (str(data["package"]), str(data["recipe"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (image.kernel.is_file() and image.initrd.is_file()):
        return None
    return image, key


@pytest.fixture(scope="session")
def tiny_guest() -> Iterator[GuestImage]:
    """The test guest's kernel and initrd (built once, cached across runs)."""
    try:
        image = build()
    except BuildUnavailable as exc:
        pytest.skip(f"cannot build the test guest: {exc}")
    yield image


def main(argv: list[str]) -> int:
    force = "--force" in argv
    started = time.monotonic()
    try:
        image = build(force=force)
    except BuildUnavailable as exc:
        print(f"error: cannot build the test guest: {exc}", file=sys.stderr)
        return 1
    print(f"kernel  {image.kernel}\ninitrd  {image.initrd}\nversion {image.version}\n"
          f"({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
