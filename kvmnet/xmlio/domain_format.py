"""Format a guest definition as libvirt formats domain XML (see :mod:`kvmnet.xmlio.domain`).

Two-space indentation, single-quoted attributes, memory in KiB and libvirt's element order,
with the elements kept verbatim slotted into their places.  ``live=True`` adds what only a
running guest has: the ``id``, tap names, aliases and port ids.
"""
from __future__ import annotations

from kvmnet.model.domain import CharDev, Disk, Domain, Interface, OSDef, RawElement
from kvmnet.xmlio.domain_hostdev import format_hostdev, managed_attr, source_lines
from kvmnet.xmlio.network_format import escape

# Top-level elements kept verbatim, with libvirt's formatting rank (position in the document).
KEPT_TOP = {
    "genid": 15, "metadata": 35, "maxMemory": 38, "blkiotune": 55, "memtune": 56,
    "memoryBacking": 57, "vcpus": 65, "iothreads": 66, "cputune": 67, "numatune": 68,
    "resource": 69, "sysinfo": 70, "idmap": 85, "features": 90, "cpu": 91, "clock": 92,
    "pm": 97, "perf": 98, "seclabel": 110, "keywrap": 111,
}
# Ranks of the elements kvmnet models itself.
RANK = {"name": 10, "uuid": 12, "title": 20, "description": 30, "memory": 40,
        "currentMemory": 41, "vcpu": 60, "os": 80, "on_poweroff": 93, "on_reboot": 94,
        "on_crash": 95, "devices": 100}
REFUSED_TOP = {
    "launchSecurity": "confidential-guest launch security (SEV/TDX) needs libvirt; remove it",
    "bootloader": "host-side boot loaders (Xen's pygrub) do not exist for QEMU; use "
                  "<os><kernel> or boot from a disk",
    "bootloader_args": "host-side boot loaders do not exist for QEMU; remove it",
    "throttlegroups": "disk throttle groups are not supported; remove them",
}
# Devices kept verbatim but not emulated: kvmnet runs guests headless with a minimal machine.
KEPT_DEVICES = ("controller", "input", "memballoon", "video", "graphics", "sound", "audio",
                "channel", "rng", "watchdog", "panic")
DEVICE_ORDER = ("disk", "controller", "interface", "input", "graphics", "video", "sound",
                "audio", "hostdev", "serial", "console", "channel", "watchdog", "memballoon", "rng",
                "panic")


def _a(name: str, value: object | None) -> str:
    return "" if value is None else f" {name}='{escape(str(value))}'"


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0

    def add(self, line: str) -> None:
        self.lines.append("  " * self.level + line)

    def raw(self, item: RawElement) -> None:
        for line in item.xml.splitlines():
            self.add(line)


def format_domain(dom: Domain, *, live: bool = False) -> str:
    """The definition as libvirt formats it; ``live`` adds runtime-only parts."""
    o = _Out()
    head = f"<domain type='{dom.type}'"
    if live and dom.id is not None:
        head += f" id='{dom.id}'"
    o.add(head + ">")
    o.level = 1
    # (rank, emitter): libvirt's element order with the kept elements slotted in.
    parts: list[tuple[int, list[str]]] = []

    def part(rank: int, lines: list[str]) -> None:
        parts.append((rank, lines))

    part(RANK["name"], [f"<name>{escape(dom.name)}</name>"])
    if dom.uuid:
        part(RANK["uuid"], [f"<uuid>{dom.uuid}</uuid>"])
    if dom.title is not None:
        part(RANK["title"], [f"<title>{escape(dom.title)}</title>"])
    if dom.description is not None:
        part(RANK["description"], [f"<description>{escape(dom.description)}</description>"])
    part(RANK["memory"], [f"<memory unit='KiB'>{dom.memory_kib}</memory>"])
    current = dom.current_memory_kib if dom.current_memory_kib is not None else dom.memory_kib
    part(RANK["currentMemory"], [f"<currentMemory unit='KiB'>{current}</currentMemory>"])
    vcpu = (f"<vcpu placement='{dom.vcpu_placement or 'static'}'"
            f"{_a('cpuset', dom.vcpu_cpuset)}{_a('current', dom.vcpu_current)}>{dom.vcpus}</vcpu>")
    part(RANK["vcpu"], [vcpu])
    part(RANK["os"], _os_lines(dom.os))
    for tag in ("on_poweroff", "on_reboot", "on_crash"):
        value = getattr(dom, tag)
        if value is not None:
            part(RANK[tag], [f"<{tag}>{value}</{tag}>"])
    for item in dom.extra:
        part(KEPT_TOP.get(item.tag, 99), item.xml.splitlines())
    part(RANK["devices"], _device_lines(dom, live))
    for _, lines in sorted(parts, key=lambda p: p[0]):
        for line in lines:
            o.add(line)
    o.level = 0
    o.add("</domain>")
    return "\n".join(o.lines) + "\n"


def _os_lines(os_def: OSDef) -> list[str]:
    type_line = (f"  <type{_a('arch', os_def.arch)}{_a('machine', os_def.machine)}>"
                 f"{os_def.type}</type>")
    lines = ["<os>", type_line]
    for tag in ("kernel", "initrd", "cmdline"):
        value = getattr(os_def, tag)
        if value is not None:
            lines.append(f"  <{tag}>{escape(value)}</{tag}>")
    lines.extend(f"  <boot dev='{dev}'/>" for dev in os_def.boot)
    for item in os_def.extra:
        lines.extend("  " + ln for ln in item.xml.splitlines())
    lines.append("</os>")
    return lines


def _device_lines(dom: Domain, live: bool) -> list[str]:
    out = _Out()
    out.add("<devices>")
    out.level = 1
    if dom.emulator:
        out.add(f"<emulator>{escape(dom.emulator)}</emulator>")
    kept = {tag: [r for r in dom.extra_devices if r.tag == tag] for tag in KEPT_DEVICES}
    for tag in DEVICE_ORDER:
        if tag == "disk":
            for d in dom.disks:
                _disk(out, d, live)
        elif tag == "interface":
            for i in dom.interfaces:
                _interface(out, i, live)
        elif tag == "hostdev":
            for h in dom.hostdevs:
                for line in format_hostdev(h, live):
                    out.add(line)
        elif tag == "serial":
            for s in dom.serials:
                _chardev(out, "serial", s, live)
        elif tag == "console":
            for c in dom.consoles:
                _chardev(out, "console", c, live)
        else:
            for item in kept.get(tag, ()):
                out.raw(item)
    out.level = 0
    out.add("</devices>")
    return out.lines


def _disk(o: _Out, d: Disk, live: bool) -> None:
    o.add(f"<disk type='{d.type}' device='{d.device}'>")
    o.level += 1
    if d.driver_name or d.driver_type or d.driver_cache:
        o.add(f"<driver{_a('name', d.driver_name)}{_a('type', d.driver_type)}"
              f"{_a('cache', d.driver_cache)}/>")
    if d.source is not None:
        o.add(f"<source {'file' if d.type == 'file' else 'dev'}='{escape(d.source)}'/>")
    o.add(f"<target dev='{escape(d.target_dev)}'{_a('bus', d.bus)}/>")
    if d.readonly:
        o.add("<readonly/>")
    if d.shareable:
        o.add("<shareable/>")
    if d.serial is not None:
        o.add(f"<serial>{escape(d.serial)}</serial>")
    if d.boot_order is not None:
        o.add(f"<boot order='{d.boot_order}'/>")
    if live and d.alias:
        o.add(f"<alias name='{escape(d.alias)}'/>")
    for item in d.extra:
        o.raw(item)
    o.level -= 1
    o.add("</disk>")


def _interface(o: _Out, i: Interface, live: bool) -> None:
    o.add(f"<interface type='{i.type}'{managed_attr(i.managed)}>")
    o.level += 1
    if i.mac:
        o.add(f"<mac address='{i.mac}'/>")
    if i.type == "hostdev":
        for line in source_lines(i.pci_address or "", with_type=True):
            o.add(line)
    elif i.type == "network":
        src = f"<source network='{escape(i.network or '')}'{_a('portgroup', i.portgroup)}"
        if live:
            src += _a("portid", i.port_id) + _a("bridge", i.bridge)
        o.add(src + "/>")
    elif i.type == "direct":
        o.add(f"<source dev='{escape(i.source_dev or '')}'{_a('mode', i.source_mode)}"
              f"{_a('portid', i.port_id) if live else ''}/>")
    else:
        o.add(f"<source bridge='{escape(i.bridge or '')}'"
              f"{_a('portid', i.port_id) if live else ''}/>")
    if i.virtualport is not None or i.vlan is not None or i.bandwidth is not None:
        _port_settings(o, i)
    if i.target_dev and (live or not i.target_dev.startswith(("vnet", "macvtap", "macvlan"))):
        o.add(f"<target dev='{escape(i.target_dev)}'/>")
    if i.model:
        o.add(f"<model type='{i.model}'/>")
    if i.mtu is not None:
        o.add(f"<mtu size='{i.mtu}'/>")
    if i.boot_order is not None:
        o.add(f"<boot order='{i.boot_order}'/>")
    if live and i.alias:
        o.add(f"<alias name='{escape(i.alias)}'/>")
    for item in i.extra:
        o.raw(item)
    o.level -= 1
    o.add("</interface>")


def _port_settings(o: _Out, i: Interface) -> None:
    """``<vlan>``, ``<virtualport>``, ``<bandwidth>`` in libvirt's order (after ``<source>``),
    by the network formatter's writers (one writer per element)."""
    from kvmnet.xmlio.network_format import _bandwidth, _Buf, _virtualport, _vlan

    b = _Buf()
    b.level = o.level
    if i.vlan is not None:
        _vlan(b, i.vlan)
    if i.virtualport is not None:
        _virtualport(b, i.virtualport)
    if i.bandwidth is not None:
        _bandwidth(b, i.bandwidth)
    o.lines += b.lines


def _chardev(o: _Out, kind: str, c: CharDev, live: bool) -> None:
    o.add(f"<{kind} type='{c.type}'>")
    o.level += 1
    if c.source_path and (c.type == "file" or live):
        o.add(f"<source path='{escape(c.source_path)}'/>")
    if c.log_file:
        append = None if c.log_append is None else ("on" if c.log_append else "off")
        o.add(f"<log file='{escape(c.log_file)}'{_a('append', append)}/>")
    head = f"<target{_a('type', c.target_type)}{_a('port', c.target_port)}"
    if c.target_model:
        o.add(head + ">")
        o.add(f"  <model name='{c.target_model}'/>")
        o.add("</target>")
    else:
        o.add(head + "/>")
    if live and c.alias:
        o.add(f"<alias name='{escape(c.alias)}'/>")
    o.level -= 1
    o.add(f"</{kind}>")
