"""config.py: encode/decode round trips and reading what libvirt's dumpxml returns."""

from __future__ import annotations

import pytest

from orchestrator.drivers.compute.config import (
    ConfigError,
    ConsoleConfig,
    DiskConfig,
    DomainConfig,
    InterfaceConfig,
    RngConfig,
    SerialConfig,
    SysinfoConfig,
)


def full_config() -> DomainConfig:
    return DomainConfig(
        name="ec2dt-x", uuid="ec2a1b2c-0000-4000-8000-000000000001", virt_type="kvm", memory_mib=512,
        vcpus=2, arch="x86_64", machine="pc", kernel="/k", initrd="/i", cmdline="console=ttyS0",
        boot_dev="hd", smbios_mode="sysinfo",
        sysinfo=SysinfoConfig(bios_vendor="Amazon EC2", bios_version="1.0", system_manufacturer="Amazon EC2",
                              system_product="t3.micro", system_version="v1", system_serial="s",
                              system_uuid="ec2a1b2c-0000-4000-8000-000000000001", system_sku="sku",
                              system_family="fam", baseboard_manufacturer="Amazon EC2",
                              baseboard_product="bp", baseboard_asset="i-0abc", chassis_manufacturer="m",
                              chassis_asset="Amazon EC2"),
        acpi=True, apic=True, cpu_mode="custom", cpu_model="qemu64", clock_offset="utc",
        on_poweroff="destroy", on_reboot="restart", on_crash="destroy",
        disks=[DiskConfig(source_file="/r.qcow2", target_dev="vda", cache="none", discard="unmap",
                          io="threads", boot_order=1),
               DiskConfig(source_file="/v.raw", target_dev="vdf", driver_type="raw", serial="vol0123",
                          readonly=True)],
        interfaces=[InterfaceConfig(mac="52:54:00:00:00:01", target_dev="tap0"),
                    InterfaceConfig(mac="52:54:00:00:00:02", target_dev="tap1")],
        serials=[SerialConfig(type="pty", log_file="/c.log", log_append=True),
                 SerialConfig(type="file", source_path="/s.log", source_append=False, target_port=1)],
        consoles=[ConsoleConfig()],
        rngs=[RngConfig()],
        memballoon_model="none",
    )


def test_round_trip_every_field() -> None:
    cfg = full_config()
    assert DomainConfig.from_xml(cfg.to_xml()) == cfg


def test_defaults_round_trip() -> None:
    cfg = DomainConfig(name="a")
    assert DomainConfig.from_xml(cfg.to_xml()) == cfg


@pytest.mark.parametrize("cls,obj", [
    (DiskConfig, DiskConfig(source_file="/a", target_dev="vdb", serial="vol1", readonly=True)),
    (InterfaceConfig, InterfaceConfig(mac="52:54:00:aa:bb:cc", target_dev="t")),
    (SerialConfig, SerialConfig(log_file="/l", log_append=False)),
    (ConsoleConfig, ConsoleConfig(target_port=1)),
    (RngConfig, RngConfig(backend_device="/dev/random")),
    (SysinfoConfig, SysinfoConfig(system_uuid="u", baseboard_asset="i-1")),
])
def test_device_round_trip(cls: type, obj: object) -> None:
    assert cls.from_xml(obj.to_xml()) == obj


def test_falsy_presence_and_none_are_omitted() -> None:
    xml = DiskConfig(source_file="/a", target_dev="vdb").to_xml()
    assert "readonly" not in xml and "serial" not in xml and "cache" not in xml


def test_reads_libvirt_dumpxml() -> None:
    # trimmed `virsh dumpxml` of a running domain: KiB units, extra elements/attributes, a cdrom
    xml = """<domain type='qemu' id='3'>
  <name>ec2dt-1</name><uuid>ec2a1b2c-0000-4000-8000-000000000001</uuid>
  <memory unit='KiB'>262144</memory><currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><kernel>/k</kernel><boot dev='hd'/>
      <smbios mode='sysinfo'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='maximum' check='none'/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>
      <source file='/r.qcow2' index='1'/><backingStore/><target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/></disk>
    <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
    <interface type='ethernet'><mac address='52:54:00:12:34:56'/><target dev='ec2dt0' managed='no'/>
      <model type='virtio'/><alias name='net0'/></interface>
    <serial type='pty'><source path='/dev/pts/0'/><log file='/c.log' append='on'/>
      <target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>
    <console type='pty' tty='/dev/pts/0'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>"""
    cfg = DomainConfig.from_xml(xml)
    assert cfg.memory_mib == 256 and cfg.vcpus == 1 and cfg.machine == "pc-i440fx-7.2"
    assert [d.target_dev for d in cfg.disks] == ["vda"]  # the cdrom is not a DiskConfig
    assert cfg.interfaces == [InterfaceConfig(mac="52:54:00:12:34:56", target_dev="ec2dt0")]
    assert cfg.serials[0].log_file == "/c.log" and cfg.serials[0].log_append is True
    assert cfg.cpu_mode == "maximum" and cfg.acpi and cfg.apic and cfg.smbios_mode == "sysinfo"
    assert cfg.disk("vda") is not None and cfg.disk("vdz") is None


def test_memory_units() -> None:
    for unit, amount in (("KiB", 1048576), ("MiB", 1024), ("GiB", 1), ("b", 1 << 30)):
        xml = f"<domain><memory unit='{unit}'>{amount}</memory></domain>"
        assert DomainConfig.from_xml(xml).memory_mib == 1024
    with pytest.raises(ConfigError):
        DomainConfig.from_xml("<domain><memory unit='parsecs'>1</memory></domain>")


def test_wrong_root_and_bad_xml() -> None:
    with pytest.raises(ConfigError):
        DomainConfig.from_xml("<disk/>")
    with pytest.raises(ConfigError):
        DomainConfig.from_xml("<domain")
    with pytest.raises(ConfigError):
        DomainConfig.from_xml("<domain><vcpu>two</vcpu></domain>")
