"""Guest (domain) XML, define, the QEMU command line and the guest verbs that need no QEMU."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kvmnet.cli.main import main
from kvmnet.errors import ConflictError, KvmnetError, ValidationError, XMLParseError
from kvmnet.guests import Guests
from kvmnet.guests.define import problems
from kvmnet.guests.qemu import Accel, SerialPlan, build_argv, choose_accel
from kvmnet.model.domain import Domain, Interface
from kvmnet.xmlio.domain import format_domain, parse_domain

U1 = "6c2e0b5e-8a11-4b58-9d0e-2a9a6f1d3c01"
U2 = "6c2e0b5e-8a11-4b58-9d0e-2a9a6f1d3c02"

FULL = f"""<domain type='kvm'>
  <name>demo</name>
  <uuid>{U1}</uuid>
  <title>A demo</title>
  <description>for tests</description>
  <metadata>
    <app:info xmlns:app='http://example.org/app'>x</app:info>
  </metadata>
  <memory unit='KiB'>262144</memory>
  <currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>/boot/vmlinuz</kernel>
    <initrd>/boot/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/images/demo.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/iso/x.iso'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default' portgroup='web'/>
      <model type='virtio'/>
      <mtu size='1400'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:12:34:57'/>
      <source bridge='br0'/>
      <target dev='mytap0'/>
      <model type='e1000'/>
    </interface>
    <input type='tablet' bus='usb'/>
    <serial type='pty'>
      <target type='isa-serial' port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
  </devices>
</domain>
"""


def minimal(devices: str = "", extra: str = "", os_extra: str = "", name: str = "g1",
            uuid: str | None = None) -> str:
    u = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (f"<domain type='kvm'><name>{name}</name>{u}<memory unit='MiB'>64</memory>"
            f"<os><type>hvm</type>{os_extra}</os>{extra}<devices>{devices}</devices></domain>")


def err_of(xml: str) -> XMLParseError:
    with pytest.raises(XMLParseError) as info:
        parse_domain(xml)
    return info.value


# -- parse / format ------------------------------------------------------------------------------
def test_full_document_round_trips_exactly() -> None:
    dom = parse_domain(FULL)
    assert format_domain(dom) == FULL.replace(
        "<app:info xmlns:app='http://example.org/app'>x</app:info>",
        '<app:info xmlns:app="http://example.org/app">x</app:info>')
    assert format_domain(parse_domain(format_domain(dom))) == format_domain(dom)


def test_parsed_values() -> None:
    dom = parse_domain(FULL)
    assert (dom.name, dom.uuid, dom.type, dom.vcpus) == ("demo", U1, "kvm", 2)
    assert (dom.memory_kib, dom.current_memory_kib) == (262144, 131072)
    assert dom.os.kernel == "/boot/vmlinuz" and dom.os.cmdline == "console=ttyS0 quiet"
    net, br = dom.interfaces
    assert (net.type, net.network, net.portgroup, net.model, net.mtu) == (
        "network", "default", "web", "virtio", 1400)
    assert (br.type, br.bridge, br.target_dev, br.model) == ("bridge", "br0", "mytap0", "e1000")
    assert [d.target_dev for d in dom.disks] == ["vda", "hdc"]
    assert dom.disks[1].readonly and dom.disks[1].device == "cdrom"
    assert [r.tag for r in dom.extra_devices] == ["input"]
    assert {r.tag for r in dom.extra} == {"metadata", "features", "clock"}


@pytest.mark.parametrize(("amount", "unit", "kib"), [
    ("256", "MiB", 262144), ("256", "M", 262144), ("1", "GiB", 1048576), ("1", "G", 1048576),
    ("1000", "KB", 977), ("1", "MB", 977), ("1500", "b", 2), ("1500", "bytes", 2),
    ("4096", None, 4096), ("2", "kib", 2), ("1", "gb", 976563),
])
def test_memory_units_scale_to_kib_rounding_up(amount: str, unit: str | None, kib: int) -> None:
    attr = f" unit='{unit}'" if unit else ""
    dom = parse_domain(f"<domain type='qemu'><name>m</name><memory{attr}>{amount}</memory>"
                       "<os><type>hvm</type></os></domain>")
    assert dom.memory_kib == kib
    assert f"<memory unit='KiB'>{kib}</memory>" in format_domain(dom)


def test_current_memory_defaults_and_clamps_to_memory() -> None:
    assert parse_domain(minimal()).current_memory_kib == 65536
    dom = parse_domain(minimal(extra="<currentMemory unit='GiB'>8</currentMemory>"))
    assert dom.current_memory_kib == 65536


def test_serial_alone_gets_a_console_and_console_alone_gets_a_serial() -> None:
    a = parse_domain(minimal("<serial type='pty'/>"))
    assert [(c.target_type, c.target_port) for c in a.serials] == [("isa-serial", 0)]
    assert [(c.target_type, c.target_port) for c in a.consoles] == [("serial", 0)]
    b = parse_domain(minimal("<console type='pty'/>"))
    assert [(c.target_type, c.target_port) for c in b.serials] == [("isa-serial", 0)]
    assert format_domain(a) == format_domain(b)


def test_file_serial_keeps_its_path_and_log_element() -> None:
    dom = parse_domain(minimal("<serial type='file'><source path='/var/log/g.log'/>"
                               "<log file='/var/log/g2.log' append='on'/></serial>"))
    text = format_domain(dom)
    assert "<source path='/var/log/g.log'/>" in text
    assert "<log file='/var/log/g2.log' append='on'/>" in text


def test_generated_tap_names_and_aliases_are_runtime_only() -> None:
    xml = minimal("<interface type='network'><source network='default'/><target dev='vnet3'/>"
                  "<alias name='net0'/></interface>")
    inactive = parse_domain(xml)
    assert inactive.interfaces[0].target_dev is None and inactive.interfaces[0].alias is None
    live = parse_domain(xml, live=True)
    assert live.interfaces[0].target_dev == "vnet3" and live.interfaces[0].alias == "net0"
    text = format_domain(live, live=True)
    assert "<target dev='vnet3'/>" in text and "<alias name='net0'/>" in text
    assert "vnet3" not in format_domain(live)


def test_live_format_has_id_portid_and_bridge() -> None:
    dom = Domain(name="x", memory_kib=1024, uuid=U1, id=7, interfaces=(
        Interface(type="network", mac="52:54:00:00:00:01", network="default", bridge="virbr0",
                  port_id=U2, target_dev="vnet0", alias="net0", model="virtio"),))
    text = format_domain(dom, live=True)
    assert text.startswith("<domain type='kvm' id='7'>\n")
    assert f"<source network='default' portid='{U2}' bridge='virbr0'/>" in text
    again = parse_domain(text, live=True)
    assert again.interfaces == dom.interfaces and again.id == 7
    assert format_domain(again, live=True) == text
    assert "id=" not in format_domain(dom) and "portid" not in format_domain(dom)


@pytest.mark.parametrize(("xml", "path", "words"), [
    ("<network/>", "/", "expected <domain>"),
    ("<domain><name>x</name></domain>", "/domain", "type='kvm'"),
    ("<domain type='xen'><name>x</name></domain>", "/domain", "unknown value 'xen'"),
    ("<domain type='kvm'><memory>1</memory><os><type>hvm</type></os></domain>", "/domain",
     "missing <name>"),
    ("<domain type='kvm'><name>x</name><os><type>hvm</type></os></domain>", "/domain",
     "missing <memory>"),
    ("<domain type='kvm'><name>x</name><memory>0</memory><os><type>hvm</type></os></domain>",
     "/domain/memory", "is 0"),
    ("<domain type='kvm'><name>x</name><memory unit='parsecs'>1</memory></domain>",
     "/domain/memory", "unknown unit 'parsecs'"),
    ("<domain type='kvm'><name>x</name><memory>1</memory></domain>", "/domain", "missing <os>"),
    (minimal(extra="<iommu/>"), "/domain/iommu", "unknown element <iommu>"),
    (minimal(extra="<launchSecurity type='sev'/>"), "/domain/launchSecurity", "SEV"),
    (minimal(os_extra="<loader>/x.fd</loader>"), "/domain/os/loader", "UEFI"),
    (minimal(os_extra="<initrd>/i</initrd>"), "/domain/os", "without <kernel>"),
    (minimal(os_extra="<boot dev='floppy'/>"), "/domain/os/boot", "unknown value 'floppy'"),
    (minimal("<hostdev mode='subsystem'/>"), "/domain/devices/hostdev[1]", "not supported"),
    (minimal("<interface type='user'/>"), "/domain/devices/interface[1]", "type='user'"),
    (minimal("<interface type='direct'/>"), "/domain/devices/interface[1]",
     "missing <source dev='eth0'/> for a type='direct' interface"),
    (minimal("<interface type='direct'><source dev='eth0' mode='bridged'/></interface>"),
     "/domain/devices/interface[1]/source", "unknown value 'bridged'"),
    (minimal("<interface type='network'/>"), "/domain/devices/interface[1]",
     "missing <source network"),
    (minimal("<interface type='bridge'><source network='x'/></interface>"),
     "/domain/devices/interface[1]", "missing <source bridge"),
    (minimal("<interface type='bridge'><source bridge='b'/><virtualport type='802.1Qbh'/>"
             "</interface>"), "/domain/devices/interface[1]/virtualport", "type='openvswitch'"),
    (minimal("<interface type='bridge'><source bridge='b'/><virtualport/></interface>"),
     "/domain/devices/interface[1]/virtualport", "missing required virtualport type"),
    (minimal("<interface type='network'><source network='d'/><vlan/></interface>"),
     "/domain/devices/interface[1]/vlan", "missing tag id"),
    (minimal("<interface type='network'><source network='d'/><mac address='01:00:00:00:00:01'/>"
             "</interface>"), "/domain/devices/interface[1]/mac", "multicast"),
    (minimal("<interface type='network'><source network='d'/><model type='ne2k_pci'/>"
             "</interface>"), "/domain/devices/interface[1]/model", "ne2k_pci"),
    (minimal("<disk type='network'/>"), "/domain/devices/disk[1]", "unknown value 'network'"),
    (minimal("<disk><source file='/x'/></disk>"), "/domain/devices/disk[1]", "target"),
    (minimal("<disk><target dev='vda'/></disk>"), "/domain/devices/disk[1]", "needs <source"),
    (minimal("<disk><source file='/x'/><target dev='xvda'/></disk>"),
     "/domain/devices/disk[1]/target", "bus"),
    (minimal("<disk><driver type='vmdk'/><source file='/x'/><target dev='vda'/></disk>"),
     "/domain/devices/disk[1]/driver", "unknown value 'vmdk'"),
    (minimal("<serial type='tcp'/>"), "/domain/devices/serial[1]", "type='pty'"),
    (minimal("<console type='pty'><target type='virtio'/></console>"),
     "/domain/devices/console[1]/target", "ISA serial"),
    (minimal("<serial type='pty'><target port='0'/></serial><serial type='pty'>"
             "<target port='0'/></serial>"), "/domain/devices/serial", "port 0"),
])
def test_refusals_name_the_element_and_the_fix(xml: str, path: str, words: str) -> None:
    exc = err_of(xml)
    assert exc.path == path, str(exc)
    assert words in str(exc)


def test_kept_devices_and_elements_round_trip() -> None:
    xml = minimal("<graphics type='vnc' port='-1'/><video><model type='vga' vram='16384'/>"
                  "</video><memballoon model='virtio'/>",
                  extra="<cpu mode='host-passthrough'/><pm><suspend-to-mem enabled='no'/></pm>")
    text = format_domain(parse_domain(xml))
    for piece in ("<graphics type='vnc' port='-1'/>", "<model type='vga' vram='16384'/>",
                  "<memballoon model='virtio'/>", "<cpu mode='host-passthrough'/>",
                  "<suspend-to-mem enabled='no'/>"):
        assert piece in text
    # libvirt's order: cpu before devices, pm after on_* and before devices.
    assert text.index("<cpu") < text.index("<pm>") < text.index("<devices>")


def test_semantic_problems_are_all_reported() -> None:
    dom = parse_domain(minimal(
        "<disk><source file='rel.img'/><target dev='vda'/></disk>"
        "<disk><source file='/b.img'/><target dev='vda'/><boot order='1'/></disk>"
        "<disk device='cdrom'><target dev='vdc'/></disk>"
        "<interface type='network'><mac address='52:54:00:00:00:01'/><source network='a'/>"
        "</interface><interface type='network'><mac address='52:54:00:00:00:01'/>"
        "<source network='b'/></interface>", os_extra="<boot dev='hd'/>"))
    found = problems(dom)
    assert any("relative path" in p for p in found)
    assert any("'vda' is used by 2 disks" in p for p in found)
    assert any("52:54:00:00:00:01 is used by 2" in p for p in found)
    assert any("per-device <boot" in p for p in found)
    assert any("cdrom vdc cannot be on the virtio bus" in p for p in found)


# -- define ---------------------------------------------------------------------------------------
@pytest.fixture
def guests(tmp_path: Path) -> Guests:
    from kvmnet.api import Connection

    return Guests(Connection(tmp_path / "root"))


def test_define_assigns_uuid_mac_model_and_machine(guests: Guests) -> None:
    dom = guests.defineXML(minimal("<interface type='network'><source network='default'/>"
                                   "</interface><interface type='bridge'><source bridge='br0'/>"
                                   "</interface>"))
    d = dom.definition()
    assert d.uuid is not None and len(d.uuid) == 36
    macs = [i.mac for i in d.interfaces]
    assert all(m is not None and m.startswith("52:54:00:") for m in macs)
    assert len(set(macs)) == 2
    assert [i.model for i in d.interfaces] == ["virtio", "virtio"]
    assert (d.os.arch, d.os.machine) == ("x86_64", "pc")
    # Redefining without a uuid keeps the guest's identity.
    again = guests.defineXML(minimal())
    assert again.UUIDString() == d.uuid


def test_define_gives_an_ovs_virtualport_a_lasting_interfaceid(guests: Guests) -> None:
    """As libvirt: an interface's Open vSwitch (or untyped) <virtualport> without an
    interfaceid gets one when the guest is defined, kept in the definition (it becomes the
    OVS port's iface-id, so an OVN binding survives restarts); a given one stays."""
    given = "9e7c3c56-2c4b-4d8e-8a7a-3f3d6f0b1a77"
    nics = ("<interface type='bridge'><source bridge='ovsbr0'/>"
            "<virtualport type='openvswitch'/></interface>"
            "<interface type='network'><source network='ovsnet'/><virtualport>"
            "<parameters profileid='silver'/></virtualport></interface>"
            "<interface type='network'><source network='ovsnet'/><virtualport "
            f"type='openvswitch'><parameters interfaceid='{given}' profileid='gold'/>"
            "</virtualport></interface>"
            "<interface type='bridge'><source bridge='br0'/></interface>")
    d = guests.defineXML(minimal(nics)).definition()
    ids = [i.virtualport.param("interfaceid") if i.virtualport is not None else None
           for i in d.interfaces]
    assert ids[0] is not None and ids[1] is not None and len({ids[0], ids[1], given}) == 3
    assert ids[2] == given and ids[3] is None
    assert d.interfaces[2].virtualport is not None
    assert d.interfaces[2].virtualport.param("profileid") == "gold"
    text = guests.lookupByName("g1").XMLDesc()
    assert f"<parameters interfaceid='{ids[0]}'/>" in text
    # the definition read back and defined again (virsh edit) keeps them
    again = guests.defineXML(text).definition()
    assert [i.virtualport.param("interfaceid") if i.virtualport is not None else None
            for i in again.interfaces] == ids


def test_define_refuses_uuid_clashes(guests: Guests) -> None:
    guests.defineXML(minimal(name="a", uuid=U1))
    with pytest.raises(ConflictError, match="already exists with uuid"):
        guests.defineXML(minimal(name="a", uuid=U2))
    with pytest.raises(ConflictError, match="'a' is already defined with uuid"):
        guests.defineXML(minimal(name="b", uuid=U1))


def test_define_refuses_bad_names_and_semantics(guests: Guests) -> None:
    with pytest.raises(KvmnetError, match="contains '/'"):
        guests.defineXML(minimal(name="a/b"))
    with pytest.raises(ValidationError, match="relative path"):
        guests.defineXML(minimal(os_extra="<kernel>vmlinuz</kernel>"))


def test_lookup_by_uuid_and_list_flags(guests: Guests) -> None:
    guests.defineXML(minimal(name="b", uuid=U2))
    guests.defineXML(minimal(name="a", uuid=U1))
    assert guests.lookup(U2).name() == "b"
    assert guests.lookup(U1.replace("-", "")).name() == "a"
    assert [d.name() for d in guests.listAllDomains()] == ["a", "b"]
    assert guests.listAllDomains(1) == []  # ACTIVE only
    assert guests.lookup("a").ID() == -1 and not guests.lookup("a").isActive()


# -- QEMU command line and accelerator --------------------------------------------------------------
def test_argv_for_a_live_definition() -> None:
    dom = parse_domain(FULL)
    from kvmnet.model.frozen import replace

    ifaces = tuple(replace(i, target_dev=f"vnet{n}", alias=f"net{n}")
                   for n, i in enumerate(dom.interfaces))
    dom = replace(dom, interfaces=ifaces)
    argv = build_argv(dom, binary="/usr/bin/qemu-system-x86_64", accel=Accel("tcg"),
                      qmp="/run/x.qmp", pidfile="/run/x.pid",
                      serials=[SerialPlan(0, "serial0", "/run/x.s0", "/log/x.log", False)])
    line = " ".join(argv)
    assert argv[:5] == ["/usr/bin/qemu-system-x86_64", "-name", "guest=demo,debug-threads=on",
                        "-uuid", U1]
    assert "-machine pc,accel=tcg" in line and "-cpu host" not in line
    assert "-m 256 -smp 2" in line
    for flag in ("-nodefaults", "-nographic", "-daemonize", "-pidfile /run/x.pid",
                 "-qmp unix:/run/x.qmp,server=on,wait=off", "-kernel /boot/vmlinuz",
                 "-initrd /boot/initrd.gz", "-append console=ttyS0 quiet"):
        assert flag in line, flag
    assert ("-netdev tap,id=hostnet0,ifname=vnet0,script=no,downscript=no -device "
            "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:12:34:56,host_mtu=1400") in line
    assert "-device e1000,netdev=hostnet1,id=net1,mac=52:54:00:12:34:57" in line
    assert ("-drive file=/var/lib/images/demo.qcow2,format=qcow2,if=none,id=drive-disk0 "
            "-device virtio-blk-pci,drive=drive-disk0,id=disk0") in line
    assert "ide-cd,bus=ide.1,unit=0,drive=drive-disk1" in line
    assert ("-chardev socket,id=charserial0,path=/run/x.s0,server=on,wait=off,"
            "logfile=/log/x.log,logappend=off -device isa-serial,chardev=charserial0,"
            "id=serial0,index=0") in line
    kvm = build_argv(dom, binary="q", accel=Accel("kvm"), qmp="/q", pidfile="/p", serials=[])
    assert "-cpu" in kvm and "accel=kvm" in " ".join(kvm)


def test_argv_gives_a_macvtap_nic_its_open_device_without_vhost_where_it_is_missing() -> None:
    from kvmnet.model.frozen import replace

    dom = parse_domain(minimal("<interface type='direct'><mac address='52:54:00:12:34:56'/>"
                               "<source dev='eth0' mode='bridge'/><model type='virtio'/>"
                               "</interface>", uuid=U1))
    (iface,) = dom.interfaces
    assert (iface.type, iface.source_dev, iface.source_mode) == ("direct", "eth0", "bridge")
    assert "<source dev='eth0' mode='bridge'/>" in format_domain(dom)
    dom = replace(dom, interfaces=(replace(iface, target_dev="macvtap0", alias="net0"),))
    for vhost in (False, True):
        argv = build_argv(dom, binary="q", accel=Accel("tcg"), qmp="/q", pidfile="/p",
                          serials=[], fds={"net0": 100}, vhost=vhost)
        assert (f"-netdev tap,id=hostnet0,fd=100,vhost={'on' if vhost else 'off'} -device "
                "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:12:34:56") in " ".join(argv)


def test_argv_escapes_commas_and_maps_boot_order() -> None:
    dom = parse_domain(minimal("<disk device='disk'><source file='/a,b.img'/>"
                               "<target dev='sda'/></disk>", name="x,y", uuid=U1,
                               os_extra="<boot dev='network'/><boot dev='hd'/>"))
    line = " ".join(build_argv(dom, binary="q", accel=Accel("tcg"), qmp="/q", pidfile="/p",
                               serials=[]))
    assert "guest=x,,y," in line and "file=/a,,b.img," in line
    assert "-boot order=nc" in line
    assert "-device virtio-scsi-pci,id=scsi0" in line and "scsi-hd,bus=scsi0.0" in line


def test_accel_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KVMNET_ACCEL", raising=False)
    sysfs = tmp_path / "sys"
    (sysfs / "module").mkdir(parents=True)
    assert choose_accel("qemu", sysfs=str(sysfs)) == Accel("tcg")
    missing = choose_accel("kvm", sysfs=str(sysfs), dev=str(tmp_path / "nokvm"))
    assert missing.name == "tcg" and missing.notice is not None and "no " in missing.notice
    (sysfs / "module" / "kvm_pvm").mkdir()
    pvm = choose_accel("kvm", sysfs=str(sysfs))
    assert pvm == Accel("tcg", "KVM cannot run this guest here (PVM): using TCG, expect it to "
                               "be slow")
    not_kvm = tmp_path / "notkvm"
    not_kvm.write_text("")
    (sysfs / "module" / "kvm_pvm").rmdir()
    bad = choose_accel("kvm", sysfs=str(sysfs), dev=str(not_kvm))
    assert bad.name == "tcg" and bad.notice is not None and "KVM_CREATE_VM" in bad.notice
    monkeypatch.setenv("KVMNET_ACCEL", "kvm")
    assert choose_accel("kvm", sysfs=str(sysfs)) == Accel("kvm")


# -- CLI (no QEMU needed) -----------------------------------------------------------------------------
def cli(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--root", str(root), *args], stdout=out, stderr=err, stdin=io.StringIO(""))
    return rc, out.getvalue(), err.getvalue()


def test_cli_define_list_dumpxml_domiflist(tmp_path: Path) -> None:
    root = tmp_path / "root"
    f = tmp_path / "g.xml"
    f.write_text(minimal("<interface type='network'><mac address='52:54:00:00:00:0a'/>"
                         "<source network='default'/></interface>", name="web", uuid=U1))
    assert cli(root, "define", str(f)) == (0, f"Domain 'web' defined from {f}\n\n", "")
    rc, out, _ = cli(root, "list")
    assert out == " Id   Name   State\n--------------------\n\n"
    rc, out, _ = cli(root, "list", "--all")
    assert out == (" Id   Name   State\n-----------------------\n"
                   " -    web    shut off\n\n")
    assert cli(root, "list", "--all", "--name")[1] == "web\n\n"
    assert json.loads(cli(root, "list", "--all", "--json")[1])[0]["uuid"] == U1
    rc, out, _ = cli(root, "dumpxml", "web")
    assert rc == 0 and out.startswith("<domain type='kvm'>\n  <name>web</name>\n")
    rc, out, _ = cli(root, "domiflist", "web")
    assert out == (" Interface   Type      Source    Model    MAC\n"
                   "-------------------------------------------------------------\n"
                   " -           network   default   virtio   52:54:00:00:00:0a\n\n")
    rc, _, err = cli(root, "domifaddr", "web")
    assert rc == 1 and "not running" in err
    rc, _, err = cli(root, "start", "nosuch")
    assert rc == 1 and "domain not found" in err
    assert cli(root, "undefine", "web")[1] == "Domain 'web' has been undefined\n\n"
    assert cli(root, "list", "--all", "--name")[1] == "\n"


def test_cli_attach_and_detach_interface_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    f = tmp_path / "g.xml"
    f.write_text(minimal(name="web"))
    cli(root, "define", str(f))
    rc, out, err = cli(root, "attach-interface", "web", "bridge", "br0", "--mac",
                       "52:54:00:AB:CD:EF", "--config")
    assert (rc, out) == (0, "Interface attached successfully\n\n"), err
    rc, out, err = cli(root, "attach-interface", "web", "network", "default")  # --current
    assert rc == 0, err
    rc, _, err = cli(root, "attach-interface", "web", "network", "default", "--live")
    assert rc == 1 and "not running" in err
    rc, _, err = cli(root, "attach-interface", "web", "bridge", "br0", "--mac",
                     "52:54:00:ab:cd:ef", "--config")
    assert rc == 1 and "already has an interface with MAC" in err
    d = parse_domain(cli(root, "dumpxml", "web")[1])
    assert [(i.type, i.source) for i in d.interfaces] == [("bridge", "br0"),
                                                          ("network", "default")]
    assert d.interfaces[0].mac == "52:54:00:ab:cd:ef"
    rc, _, err = cli(root, "detach-interface", "web", "bridge", "--mac", "52:54:00:00:00:99",
                     "--config")
    assert rc == 1 and "no interface found whose type is bridge" in err
    rc, out, err = cli(root, "detach-interface", "web", "bridge", "--mac", "52:54:00:AB:CD:EF")
    assert (rc, out) == (0, "Interface detached successfully\n\n"), err
    rc, out, _ = cli(root, "detach-interface", "web", "network", "--config")
    assert rc == 0
    assert parse_domain(cli(root, "dumpxml", "web")[1]).interfaces == ()


def test_cli_attach_print_xml(tmp_path: Path) -> None:
    rc, out, _ = cli(tmp_path, "attach-interface", "any", "network", "default", "--mac",
                     "52:54:00:00:00:01", "--model", "virtio", "--print-xml")
    assert rc == 0
    assert out == ("<interface type='network'>\n  <mac address='52:54:00:00:00:01'/>\n"
                   "  <source network='default'/>\n  <model type='virtio'/>\n</interface>\n")


def test_cli_attach_direct_print_xml_as_virsh(tmp_path: Path) -> None:
    """virsh writes no mode for a direct interface: libvirt's default, vepa, applies."""
    rc, out, _ = cli(tmp_path, "attach-interface", "any", "direct", "eth0", "--mac",
                     "52:54:00:00:00:02", "--model", "virtio", "--print-xml")
    assert rc == 0
    assert out == ("<interface type='direct'>\n  <mac address='52:54:00:00:00:02'/>\n"
                   "  <source dev='eth0'/>\n  <model type='virtio'/>\n</interface>\n")


def test_cli_attach_and_detach_direct_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    f = tmp_path / "g.xml"
    f.write_text(minimal(name="web"))
    cli(root, "define", str(f))
    rc, out, err = cli(root, "attach-interface", "web", "direct", "eth0", "--mac",
                       "52:54:00:00:00:0d", "--config")
    assert (rc, out) == (0, "Interface attached successfully\n\n"), err
    d = parse_domain(cli(root, "dumpxml", "web", "--inactive")[1])
    nic = d.interface_by_mac("52:54:00:00:00:0d")
    assert nic is not None and (nic.type, nic.source_dev, nic.source_mode) == (
        "direct", "eth0", None)
    rc, _, err = cli(root, "detach-interface", "web", "direct", "--mac", "52:54:00:00:00:0e")
    assert rc == 1 and "no interface found whose type is direct" in err
    rc, out, err = cli(root, "detach-interface", "web", "direct", "--config")
    assert (rc, out) == (0, "Interface detached successfully\n\n"), err
    d = parse_domain(cli(root, "dumpxml", "web", "--inactive")[1])
    assert d.interface_by_mac("52:54:00:00:00:0d") is None


def test_cli_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.xml"
    f.write_text(minimal("<interface type='user'/>"))
    rc, out, err = cli(tmp_path, "define", str(f))
    assert rc == 1 and out == "\n"  # virsh's empty line ends every command, failed or not
    assert err.startswith("error: /domain/devices/interface[1]: interface type='user' is not "
                          "supported")
    rc, _, err = cli(tmp_path, "attach-interface", "x", "user", "eth0")
    assert rc == 1 and err == ("error: interface type 'user' is not supported; use network, "
                               "bridge or direct\n")
    rc, _, err = cli(tmp_path, "attach-interface", "x", "hostdev", "0000:01:10.0")
    assert rc == 1 and err.startswith("error: attach-interface cannot add type 'hostdev'")
    assert "restart the guest" in err and err.count("\n") == 1
    rc, _, err = cli(tmp_path, "console", "nosuch")
    assert rc == 1 and "domain not found" in err


def test_cli_edit_redefines_and_reports_unchanged(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    f = tmp_path / "g.xml"
    f.write_text(minimal(name="web", uuid=U1))
    cli(root, "define", str(f))
    monkeypatch.setenv("EDITOR", "true")
    monkeypatch.delenv("VISUAL", raising=False)
    assert cli(root, "edit", "web")[1] == "Domain 'web' XML configuration not changed.\n\n"
    monkeypatch.setenv("EDITOR", "sed -i 's|>1</vcpu>|>2</vcpu>|'")
    rc, out, err = cli(root, "edit", "web")
    assert (rc, out) == (0, "Domain 'web' XML configuration edited.\n\n"), err
    assert "<vcpu placement='static'>2</vcpu>" in cli(root, "dumpxml", "web")[1]
    # A broken edit is refused and, with no answer on stdin, nothing changes.
    monkeypatch.setenv("EDITOR", "sed -i s/hvm/xen/")
    rc, out, err = cli(root, "edit", "web")
    assert rc == 1 and "unknown value 'xen'" in err and "Try again?" in out
    assert "<vcpu placement='static'>2</vcpu>" in cli(root, "dumpxml", "web")[1]
