"""libvirt domain XML, the subset kvmnet runs: :func:`parse_domain` and :func:`format_domain`.

Parsing follows libvirt's ``virDomainDefParseXML`` for the elements kvmnet supports (see
:mod:`kvmnet.model.domain`), with its parse-time normalisations: memory scaled to KiB (rounded
up), MACs lower-cased, auto-generated tap names (``vnet*``) and aliases dropped from an
inactive definition, ``currentMemory`` clamped to ``memory``, and the first ``<console>``
mirrored by ``<serial>`` and vice versa.  Elements that do not change what the guest is given
(``<features>``, ``<clock>``, ``<video>``, ``<address>`` ...) are kept verbatim; anything that
would need emulation kvmnet does not do is refused with an :class:`XMLParseError` naming the
element path (``/domain/devices/interface[2]/vlan``) and saying what to do instead.

Formatting (:mod:`kvmnet.xmlio.domain_format`, re-exported here) writes libvirt's layout;
``live=True`` adds what only a running guest has: the ``id``, tap names, aliases, port ids.
"""
from __future__ import annotations

import copy
import re

from lxml import etree

from kvmnet.errors import XMLParseError
from kvmnet.model.domain import (
    NIC_MODELS,
    CharDev,
    Disk,
    Domain,
    Hostdev,
    Interface,
    OSDef,
    RawElement,
)
from kvmnet.model.network import Bandwidth, VirtualPort, Vlan
from kvmnet.xmlio import values as v
from kvmnet.xmlio.domain_format import KEPT_DEVICES, KEPT_TOP, RANK, REFUSED_TOP, format_domain
from kvmnet.xmlio.domain_hostdev import managed, parse_hostdev, pci_source
from kvmnet.xmlio.network_format import escape
from kvmnet.xmlio.safe import parse_document

__all__ = ["format_domain", "parse_domain", "raw"]

ROOT = "/domain"

_LIFECYCLE = ("destroy", "restart", "preserve", "rename-restart", "coredump-destroy",
              "coredump-restart")
_BOOT_DEVS = ("hd", "cdrom", "network", "fd")
_BUSES = ("virtio", "ide", "sata", "scsi")
_SCALE = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5,
          "e": 1024**6}
_MAX_MEMORY_KIB = 1 << 42  # 4 PiB: far beyond any host; keeps the arithmetic sane
_IFNAME = re.compile(r"^[^/\s:]{1,15}$")


def parse_domain(data: str | bytes, *, live: bool = False) -> Domain:
    """Parse domain XML; ``live`` keeps runtime-only parts (id, vnet tap names, aliases)."""
    root = parse_document(data, "domain XML")
    if root.tag != "domain":
        raise XMLParseError(f"root element is <{root.tag}>, expected <domain>; is this a "
                            "guest (domain) definition?", "/")
    return _Parser(live).domain(root)


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return v.text_of(el).strip() or None


def raw(el: etree._Element) -> RawElement:
    """An element as canonical text (no comments, two-space indentation) for keeping."""
    tag = str(el.tag) if isinstance(el.tag, str) else "?"
    if any(isinstance(n.tag, str) and (n.tag.startswith("{") or any(
            str(k).startswith("{") for k in n.attrib)) for n in el.iter()):
        # Namespaced content (<metadata>): lxml writes the declarations correctly.
        clone = copy.deepcopy(el)
        clone.tail = None
        for node in [n for n in clone.iter() if n is not clone and not isinstance(n.tag, str)]:
            parent = node.getparent()
            if parent is not None:
                parent.remove(node)
        etree.indent(clone, space="  ")
        return RawElement(tag, etree.tostring(clone, encoding="unicode").strip())
    return RawElement(tag, "\n".join(_serialize(el)))


def _serialize(el: etree._Element) -> list[str]:
    """libvirt's style: single-quoted attributes, two-space indentation, text kept inline."""
    attrs = "".join(f" {k!s}='{escape(str(val))}'" for k, val in el.attrib.items())
    kids = [c for c in el if isinstance(c.tag, str)]
    text = (el.text or "").strip()
    if not kids:
        if text:
            return [f"<{el.tag}{attrs}>{escape(text)}</{el.tag}>"]
        return [f"<{el.tag}{attrs}/>"]
    lines = [f"<{el.tag}{attrs}>"]
    for child in kids:
        lines.extend("  " + ln for ln in _serialize(child))
    lines.append(f"</{el.tag}>")
    return lines


def _unknown(el: etree._Element, path: str, supported: str) -> XMLParseError:
    return XMLParseError(f"<{el.tag}> is not supported here; kvmnet supports {supported} — "
                         "remove it", path)


class _Parser:
    def __init__(self, live: bool) -> None:
        self.live = live

    # -- top level -------------------------------------------------------------------------
    def domain(self, root: etree._Element) -> Domain:
        dtype = root.get("type")
        if dtype is None:
            raise XMLParseError("missing attribute 'type'; write <domain type='kvm'> (KVM, "
                                "falling back to TCG where KVM cannot run the guest) or "
                                "<domain type='qemu'> (always TCG)", ROOT)
        v.choice(dtype, ("kvm", "qemu"), ROOT, "type")
        name = _text(v.first_child(root, "name"))
        if name is None:
            raise XMLParseError("missing <name>; every guest needs a name, e.g. "
                                "<name>demo</name>", ROOT)
        uuid_el = v.first_child(root, "uuid")
        uuid = None
        if _text(uuid_el) is not None:
            uuid = v.uuid_text(_text(uuid_el) or "", f"{ROOT}/uuid")
        dom_id = None
        if self.live and root.get("id") not in (None, "-1"):
            dom_id = v.unsigned(root.get("id") or "", ROOT, "id")
        extra: list[RawElement] = []
        seen: set[str] = set()
        for child in root:
            if not isinstance(child.tag, str):
                continue
            tag = child.tag
            path = f"{ROOT}/{tag}"
            if tag in RANK:
                if tag in seen and tag != "devices":
                    raise XMLParseError(f"<{tag}> appears more than once; keep one", path)
                seen.add(tag)
            elif tag in KEPT_TOP:
                extra.append(raw(child))
            elif tag in REFUSED_TOP:
                raise XMLParseError(f"<{tag}> is not supported: {REFUSED_TOP[tag]}", path)
            else:
                raise XMLParseError(
                    f"unknown element <{tag}> in <domain>; kvmnet runs the libvirt subset "
                    "name, uuid, title, description, memory, currentMemory, vcpu, os, "
                    "on_poweroff/on_reboot/on_crash, devices (and keeps "
                    + ", ".join(sorted(KEPT_TOP)) + " as written) — remove it", path)
        memory = self.memory(root, "memory")
        if memory is None:
            raise XMLParseError("missing <memory>; give the guest memory, e.g. "
                                "<memory unit='MiB'>256</memory>", ROOT)
        current = self.memory(root, "currentMemory")
        if current is None or current == 0 or current > memory:
            current = memory  # libvirt's post-parse: the balloon cannot exceed the maximum
        vcpus, vcpu_current, placement, cpuset = self.vcpu(root)
        devices = v.children(root, "devices")
        if len(devices) > 1:
            raise XMLParseError("<devices> appears more than once; merge them", f"{ROOT}/devices[2]")
        dev = self.devices(devices[0]) if devices else _Devices()
        serials, consoles = _pair_consoles(dev.serials, dev.consoles)
        return Domain(
            name=name, type=dtype, uuid=uuid, id=dom_id,
            title=_text(v.first_child(root, "title")),
            description=_text(v.first_child(root, "description")),
            memory_kib=memory, current_memory_kib=current, vcpus=vcpus,
            vcpu_current=vcpu_current, vcpu_placement=placement, vcpu_cpuset=cpuset,
            os=self.os(root), on_poweroff=self.lifecycle(root, "on_poweroff"),
            on_reboot=self.lifecycle(root, "on_reboot"),
            on_crash=self.lifecycle(root, "on_crash"), emulator=dev.emulator,
            disks=tuple(dev.disks), interfaces=tuple(dev.interfaces), serials=serials,
            consoles=consoles, extra=tuple(extra), extra_devices=tuple(dev.kept),
            hostdevs=tuple(dev.hostdevs))

    def memory(self, root: etree._Element, tag: str) -> int | None:
        el = v.first_child(root, tag)
        if el is None:
            return None
        path = f"{ROOT}/{tag}"
        text = _text(el)
        if text is None:
            raise XMLParseError(f"<{tag}> is empty; write a size such as 256 with "
                                "unit='MiB'", path)
        amount = v.unsigned(text, path, tag)
        scale = _unit_scale(el.get("unit"), path)
        kib = -(-amount * scale // 1024)  # libvirt rounds up to whole KiB
        if kib > _MAX_MEMORY_KIB:
            raise XMLParseError(f"<{tag}> of {text} {el.get('unit') or 'KiB'} is far more "
                                "memory than any host has; check the unit", path)
        if tag == "memory" and kib == 0:
            raise XMLParseError("<memory> is 0; a guest needs memory, e.g. "
                                "<memory unit='MiB'>256</memory>", path)
        return kib

    def vcpu(self, root: etree._Element) -> tuple[int, int | None, str | None, str | None]:
        el = v.first_child(root, "vcpu")
        if el is None:
            return 1, None, None, None
        path = f"{ROOT}/vcpu"
        count = v.unsigned(_text(el) or "", path, "vcpu", minimum=1, maximum=255)
        current = None
        if el.get("current") is not None:
            current = v.unsigned(el.get("current") or "", path, "current", minimum=1,
                                 maximum=count)
        placement = el.get("placement")
        if placement is not None:
            v.choice(placement, ("static", "auto"), path, "placement")
        return count, current, placement, el.get("cpuset")

    def lifecycle(self, root: etree._Element, tag: str) -> str | None:
        el = v.first_child(root, tag)
        value = _text(el)
        if el is None or value is None:
            return None
        return v.choice(value, _LIFECYCLE, f"{ROOT}/{tag}", tag)

    def os(self, root: etree._Element) -> OSDef:
        el = v.first_child(root, "os")
        path = f"{ROOT}/os"
        if el is None:
            raise XMLParseError("missing <os>; write <os><type>hvm</type></os> (plus <kernel> "
                                "or <boot dev='hd'/>)", ROOT)
        if el.get("firmware") is not None:
            raise XMLParseError(f"firmware='{el.get('firmware')}' is not supported: kvmnet "
                                "boots guests with SeaBIOS or a direct kernel; remove it",
                                path)
        type_el = v.first_child(el, "type")
        if type_el is None or _text(type_el) is None:
            raise XMLParseError("missing <type>; write <type>hvm</type>", path)
        os_type = v.choice(_text(type_el) or "", ("hvm",), f"{path}/type", "type")
        arch = type_el.get("arch")
        if arch is not None:
            v.choice(arch, ("x86_64", "i686"), f"{path}/type", "arch")
        boot: list[str] = []
        extra: list[RawElement] = []
        single: dict[str, str | None] = {"kernel": None, "initrd": None, "cmdline": None}
        for child in el:
            if not isinstance(child.tag, str) or child.tag == "type":
                continue
            cpath = f"{path}/{child.tag}"
            if child.tag in single:
                single[child.tag] = v.text_of(child) or None  # exact text: cmdline spaces matter
            elif child.tag == "boot":
                dev = child.get("dev")
                if dev is None:
                    raise XMLParseError("missing attribute 'dev'; write <boot dev='hd'/>", cpath)
                boot.append(v.choice(dev, _BOOT_DEVS, cpath, "dev"))
            elif child.tag in ("bootmenu", "bios", "smbios", "acpi"):
                extra.append(raw(child))
            elif child.tag in ("loader", "nvram"):
                raise XMLParseError(f"<{child.tag}> (UEFI firmware) is not supported: kvmnet "
                                    "boots with SeaBIOS or a direct <kernel>; remove it", cpath)
            else:
                raise _unknown(child, cpath, "type, kernel, initrd, cmdline, boot (and keeps "
                               "bootmenu, bios, smbios, acpi)")
        if single["kernel"] is None and (single["initrd"] or single["cmdline"]):
            raise XMLParseError("<initrd> or <cmdline> without <kernel>: they only apply to a "
                                "direct kernel boot; add <kernel> or remove them", path)
        return OSDef(type=os_type, arch=arch, machine=type_el.get("machine"),
                     kernel=single["kernel"], initrd=single["initrd"],
                     cmdline=single["cmdline"], boot=tuple(boot), extra=tuple(extra))

    # -- devices ---------------------------------------------------------------------------
    def devices(self, el: etree._Element) -> _Devices:
        out = _Devices()
        base = f"{ROOT}/devices"
        counts: dict[str, int] = {}
        for child in el:
            if not isinstance(child.tag, str):
                continue
            tag = child.tag
            counts[tag] = counts.get(tag, 0) + 1
            path = f"{base}/{tag}[{counts[tag]}]"
            if tag == "emulator":
                out.emulator = _text(child)
            elif tag == "disk":
                out.disks.append(self.disk(child, path))
            elif tag == "interface":
                out.interfaces.append(self.interface(child, path))
            elif tag == "hostdev":
                out.hostdevs.append(parse_hostdev(child, path, self.live, raw))
            elif tag in ("serial", "console"):
                (out.serials if tag == "serial" else out.consoles).append(
                    self.chardev(child, path, tag))
            elif tag in KEPT_DEVICES:
                out.kept.append(raw(child))
            else:
                raise XMLParseError(
                    f"device <{tag}> is not supported: kvmnet gives guests disks, network "
                    "interfaces and serial consoles (and keeps " + ", ".join(KEPT_DEVICES)
                    + " without emulating them) — remove it", path)
        return out

    def boot_order(self, el: etree._Element, path: str) -> int | None:
        boot = v.first_child(el, "boot")
        if boot is None:
            return None
        return v.unsigned(boot.get("order") or "", f"{path}/boot", "order", minimum=1)

    def disk(self, el: etree._Element, path: str) -> Disk:
        dtype = v.choice(el.get("type") or "file", ("file", "block"), path, "type")
        device = v.choice(el.get("device") or "disk", ("disk", "cdrom"), path, "device")
        source = None
        src = v.first_child(el, "source")
        if src is not None:
            key = "file" if dtype == "file" else "dev"
            source = src.get(key)
            if source is None and len(src.attrib):
                raise XMLParseError(f"a type='{dtype}' disk names its source with '{key}', "
                                    f"e.g. <source {key}='/path'/>", f"{path}/source")
        if source is None and device == "disk":
            raise XMLParseError("a disk needs <source file='/path/to/image'/> (only a cdrom "
                                "may be empty)", path)
        target = v.first_child(el, "target")
        if target is None or not target.get("dev"):
            raise XMLParseError("missing <target dev='...'/>; write e.g. <target dev='vda' "
                                "bus='virtio'/>", path)
        dev = target.get("dev") or ""
        bus = target.get("bus")
        if bus is not None:
            v.choice(bus, _BUSES, f"{path}/target", "bus")
        elif not any(dev.startswith(p) for p in ("vd", "hd", "sd")):
            raise XMLParseError(f"cannot tell the bus of target dev '{dev}'; name it vdX "
                                "(virtio), hdX (ide) or sdX (scsi), or add bus='...'",
                                f"{path}/target")
        driver = v.first_child(el, "driver")
        dname = dformat = dcache = None
        if driver is not None:
            dpath = f"{path}/driver"
            for key in map(str, driver.attrib):
                if key not in ("name", "type", "cache"):
                    raise XMLParseError(f"driver attribute '{key}' is not supported; kvmnet "
                                        "takes name, type and cache — remove it", dpath)
            dname = driver.get("name")
            if dname is not None:
                v.choice(dname, ("qemu",), dpath, "name")
            dformat = driver.get("type")
            if dformat is not None:
                v.choice(dformat, ("raw", "qcow2"), dpath, "type")
            dcache = driver.get("cache")
            if dcache is not None:
                v.choice(dcache, ("default", "none", "writethrough", "writeback", "directsync",
                                  "unsafe"), dpath, "cache")
        extra: list[RawElement] = []
        alias = None
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag == "address":
                extra.append(raw(child))
            elif child.tag == "alias":
                alias = child.get("name") if self.live else None
            elif child.tag not in ("source", "target", "driver", "readonly", "shareable",
                                   "serial", "boot"):
                raise _unknown(child, f"{path}/{child.tag}", "driver, source, target, "
                               "readonly, shareable, serial, boot (and keeps address)")
        return Disk(target_dev=dev, type=dtype, device=device, source=source, bus=bus,
                    driver_name=dname, driver_type=dformat, driver_cache=dcache,
                    readonly=v.first_child(el, "readonly") is not None,
                    shareable=v.first_child(el, "shareable") is not None,
                    serial=_text(v.first_child(el, "serial")),
                    boot_order=self.boot_order(el, path), alias=alias, extra=tuple(extra))

    def interface(self, el: etree._Element, path: str) -> Interface:
        itype = el.get("type")
        if itype not in ("network", "bridge", "direct", "hostdev"):
            shown = f"type='{itype}'" if itype is not None else "no type"
            raise XMLParseError(f"interface {shown} is not supported; kvmnet plugs guests into "
                                "a virtual network (type='network', <source network='NAME'/>), "
                                "a host bridge (type='bridge', <source bridge='br0'/>) or a "
                                "macvtap on a host device (type='direct', <source dev='eth0' "
                                "mode='bridge'/>), or gives them an SR-IOV VF (type='hostdev')",
                                path)
        mac = None
        mac_el = v.first_child(el, "mac")
        if mac_el is not None:
            mac = v.mac_address(mac_el.get("address") or "", f"{path}/mac")
        src = v.first_child(el, "source")
        spath = f"{path}/source"
        network = portgroup = bridge = port_id = source_dev = source_mode = pci = None
        if itype == "direct":
            source_dev, source_mode = self.direct_source(src, path)
            if self.live and src is not None and src.get("portid"):  # its macvtap's port
                port_id = v.uuid_text(src.get("portid") or "", spath, "portid")
        elif itype == "hostdev":  # an SR-IOV VF given to the guest (kvmnet.xmlio.domain_hostdev)
            pci = pci_source(el, path, need_type=True)
        elif itype == "network":
            network = src.get("network") if src is not None else None
            if not network:
                raise XMLParseError("missing <source network='NAME'/> for a type='network' "
                                    "interface", path)
            portgroup = src.get("portgroup") if src is not None else None
            if self.live and src is not None:
                bridge = src.get("bridge")
                if src.get("portid"):
                    port_id = v.uuid_text(src.get("portid") or "", spath, "portid")
        else:
            bridge = src.get("bridge") if src is not None else None
            if not bridge:
                raise XMLParseError("missing <source bridge='BRIDGE'/> for a type='bridge' "
                                    "interface", path)
            if self.live and src is not None and src.get("portid"):
                port_id = v.uuid_text(src.get("portid") or "", spath, "portid")
        target_dev = None
        target = v.first_child(el, "target")
        if target is not None and target.get("dev"):
            target_dev = target.get("dev") or ""
            if not _IFNAME.match(target_dev):
                raise XMLParseError(f"target dev '{target_dev}' is not a valid interface name "
                                    "(1-15 characters, no '/', ':' or spaces)", f"{path}/target")
            # As libvirt: names it generates itself are runtime state, not configuration.
            if not self.live and target_dev.startswith(("vnet", "macvtap", "macvlan")):
                target_dev = None
        model = None
        model_el = v.first_child(el, "model")
        if model_el is not None:
            model = v.choice(model_el.get("type") or "", tuple(NIC_MODELS), f"{path}/model",
                             "type")
        mtu = None
        mtu_el = v.first_child(el, "mtu")
        if mtu_el is not None:
            mtu = v.unsigned(mtu_el.get("size") or "", f"{path}/mtu", "size", minimum=68,
                             maximum=65535)
        extra: list[RawElement] = []
        alias = None
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag in ("address", "driver", "rom"):
                extra.append(raw(child))
            elif child.tag == "alias":
                alias = child.get("name") if self.live else None
            elif child.tag not in ("mac", "source", "target", "model", "mtu", "boot",
                                   "virtualport", "vlan", "bandwidth"):
                raise _unknown(child, f"{path}/{child.tag}", "mac, source, target, model, mtu, "
                               "boot, virtualport, vlan, bandwidth (and keeps address, "
                               "driver, rom)")
        vport, vlan, bandwidth = _port_settings(el, path, itype)
        return Interface(type=itype, mac=mac, network=network, portgroup=portgroup,
                         bridge=bridge, source_dev=source_dev, source_mode=source_mode,
                         port_id=port_id, target_dev=target_dev, model=model,
                         mtu=mtu, boot_order=self.boot_order(el, path), alias=alias,
                         extra=tuple(extra), virtualport=vport, vlan=vlan, bandwidth=bandwidth,
                         pci_address=pci,
                         managed=managed(el, path) if itype == "hostdev" else None)

    def direct_source(self, src: etree._Element | None, path: str) -> tuple[str, str | None]:
        """``<source dev='eth0' mode='bridge'/>`` of a type='direct' interface at ``path``."""
        from kvmnet.model.port import DIRECT_MODES

        dev = src.get("dev") if src is not None else None
        if not dev:
            raise XMLParseError("missing <source dev='eth0'/> for a type='direct' interface: "
                                "name the host device its macvtap goes on", path)
        assert src is not None
        if not _IFNAME.match(dev):
            raise XMLParseError(f"source dev '{dev}' is not a valid interface name (1-15 "
                                "characters, no '/', ':' or spaces)", f"{path}/source")
        mode = src.get("mode")
        if mode is not None:
            v.choice(mode, DIRECT_MODES, f"{path}/source", "mode")
        return dev, mode

    def chardev(self, el: etree._Element, path: str, kind: str) -> CharDev:
        ctype = el.get("type") or "pty"
        if ctype not in ("pty", "file"):
            raise XMLParseError(f"{kind} type='{ctype}' is not supported; use type='pty' "
                                "(reach it with 'kvmnet console') or type='file' with "
                                "<source path='/var/log/guest.log'/>", path)
        src = v.first_child(el, "source")
        source_path = src.get("path") if src is not None else None
        if ctype == "file" and not source_path:
            raise XMLParseError(f"a type='file' {kind} needs <source path='/path/to/log'/>",
                                path)
        if ctype == "pty" and not self.live:
            source_path = None  # the pty is allocated at start
        target = v.first_child(el, "target")
        ttype = tport = tmodel = None
        if target is not None:
            tpath = f"{path}/target"
            ttype = target.get("type")
            allowed = ("isa-serial",) if kind == "serial" else ("serial",)
            if ttype is not None and ttype not in allowed:
                raise XMLParseError(f"{kind} target type '{ttype}' is not supported; kvmnet "
                                    f"gives guests ISA serial ports ({kind} target type "
                                    f"'{allowed[0]}')", tpath)
            if target.get("port") is not None:
                tport = v.unsigned(target.get("port") or "", tpath, "port", maximum=3)
            model = v.first_child(target, "model")
            if model is not None:
                tmodel = v.choice(model.get("name") or "", ("isa-serial",), f"{tpath}/model",
                                  "name")
        log_file = None
        log_append = None
        log = v.first_child(el, "log")
        if log is not None:
            log_file = log.get("file")
            if not log_file:
                raise XMLParseError("missing attribute 'file'", f"{path}/log")
            if log.get("append") is not None:
                log_append = v.on_off(log.get("append") or "", f"{path}/log", "append")
        alias = None
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag == "alias":
                alias = child.get("name") if self.live else None
            elif child.tag not in ("source", "target", "log"):
                raise _unknown(child, f"{path}/{child.tag}", "source, target and log")
        return CharDev(type=ctype, source_path=source_path, target_type=ttype, target_port=tport,
                       target_model=tmodel, log_file=log_file, log_append=log_append,
                       alias=alias)


class _Devices:
    def __init__(self) -> None:
        self.emulator: str | None = None
        self.disks: list[Disk] = []
        self.interfaces: list[Interface] = []
        self.serials: list[CharDev] = []
        self.consoles: list[CharDev] = []
        self.hostdevs: list[Hostdev] = []
        self.kept: list[RawElement] = []


def _unit_scale(unit: str | None, path: str) -> int:
    """Bytes per unit, as libvirt's virScaleInteger reads a memory unit (default KiB)."""
    if unit is None or unit == "":
        return 1024
    u = unit.lower()
    if u in ("b", "byte", "bytes"):
        return 1
    if u[0] in _SCALE and u[0] != "b":
        rest = u[1:]
        if rest in ("", "ib"):
            return _SCALE[u[0]]
        if rest == "b":
            return int(1000 ** "bkmgtpe".index(u[0]))
    raise XMLParseError(f"unknown unit '{unit}'; use KiB, MiB, GiB (powers of 1024), KB, MB, GB "
                        "(powers of 1000) or bytes", path)


def _pair_consoles(serials: list[CharDev], consoles: list[CharDev]
                   ) -> tuple[tuple[CharDev, ...], tuple[CharDev, ...]]:
    """libvirt's post-parse: number the serial ports, and make console 0 mirror serial 0."""
    numbered: list[CharDev] = []
    used: set[int] = set()
    for s in serials:
        port = s.target_port
        if port is None:
            port = next(p for p in range(8) if p not in used)
        if port in used:
            raise XMLParseError(f"two <serial> devices use target port {port}; give each its "
                                "own port (0-3)", f"{ROOT}/devices/serial")
        used.add(port)
        numbered.append(CharDev(s.type, s.source_path, s.target_type or "isa-serial", port,
                                s.target_model, s.log_file, s.log_append, s.alias))
    if len(numbered) > 4:
        raise XMLParseError("more than 4 <serial> devices; an x86 guest has at most 4 ISA serial "
                            "ports", f"{ROOT}/devices/serial[5]")
    fixed: list[CharDev] = []
    for i, c in enumerate(consoles):
        c = CharDev(c.type, c.source_path, c.target_type or "serial",
                    c.target_port if c.target_port is not None else 0, None, c.log_file,
                    c.log_append, c.alias)
        if i == 0 and not numbered:
            # A console on a serial port with no <serial>: that serial port exists all the same.
            numbered.append(CharDev(c.type, c.source_path, "isa-serial", c.target_port, None,
                                    c.log_file, c.log_append, c.alias))
        fixed.append(c)
    if not fixed and numbered:
        s = numbered[0]
        fixed.append(CharDev(s.type, s.source_path, "serial", s.target_port, None, s.log_file,
                             s.log_append, s.alias))
    elif fixed and numbered and fixed[0].target_port == numbered[0].target_port:
        # As libvirt: console 0 on serial 0 is the same device, so it shows serial 0's source.
        s = numbered[0]
        fixed[0] = CharDev(s.type, s.source_path, "serial", s.target_port, None, s.log_file,
                           s.log_append, s.alias)
    return tuple(numbered), tuple(fixed)


def _port_settings(el: etree._Element, path: str, itype: str
                   ) -> tuple[VirtualPort | None, Vlan | None, Bandwidth | None]:
    """An interface's ``<virtualport>``, ``<vlan>`` and ``<bandwidth>`` (the network's
    readers: one reader per element).  As libvirt: on a type='network' interface the
    virtualport may leave its type to the network; on a bridge it must say openvswitch.  An
    empty ``<virtualport/>`` is kept: defining the guest gives it its identifiers
    (:func:`kvmnet.model.precedence.with_missing_ids`)."""
    from kvmnet.xmlio.network_fragments import parse_bandwidth, parse_virtualport, parse_vlan

    vport = vlan = bandwidth = None
    found = v.first_child(el, "virtualport")
    if found is not None:
        vpath = f"{path}/virtualport"
        vport = parse_virtualport(found, vpath, require_type=itype == "bridge")
        if itype == "bridge" and vport.type != "openvswitch":
            raise XMLParseError(f"<virtualport type='{vport.type}'> is not supported on a "
                                "type='bridge' interface; use type='openvswitch' (an Open "
                                "vSwitch bridge) or no virtualport (a Linux bridge)", vpath)
    found = v.first_child(el, "vlan")
    if found is not None:
        vlan = parse_vlan(found, f"{path}/vlan")
    found = v.first_child(el, "bandwidth")
    if found is not None:
        bandwidth = parse_bandwidth(found, f"{path}/bandwidth")
    return vport, vlan, bandwidth
