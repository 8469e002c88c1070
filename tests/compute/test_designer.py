"""designer.py: golden XML, libvirt validation on test:///default, SMBIOS/uuid and device naming.

Regenerate the golden files after an intended change with EC2D_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import libvirt
import pytest

from orchestrator.drivers.compute.config import DomainConfig
from orchestrator.drivers.compute.designer import (
    InstanceSpec,
    NicSpec,
    VolumeSpec,
    design_domain,
    ec2_device_to_target,
    instance_uuid,
    volume_serial,
)
from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute

GOLDEN = Path(__file__).parent / "golden"

DIRECT = InstanceSpec(
    instance_id="i-0123456789abcdef0",
    domain_name="ec2d-i-0123456789abcdef0",
    instance_type="t3.micro",
    vcpus=1,
    memory_mib=256,
    root_disk="/var/lib/ec2d/volumes/vol-0aaaaaaaaaaaaaaaa.qcow2",
    root_volume_id="vol-0aaaaaaaaaaaaaaaa",
    kernel="/var/cache/ec2d/kernel/6.1.192-2/boot/vmlinuz-6.1.0-56-cloud-amd64",
    initrd="/var/cache/ec2d/images/tiny/initrd.gz",
    cmdline="console=ttyS0 panic=-1 root=/dev/vda rw",
    volumes=(VolumeSpec("vol-0123456789abcdef0", "/var/lib/ec2d/volumes/vol-0123456789abcdef0.qcow2",
                        "/dev/sdf"),),
    nics=(NicSpec("ec2dt0123abcd", "02:AB:CD:00:11:22"),),
    console_log="/var/lib/ec2d/console/i-0123456789abcdef0.log",
    account_id="123456789012",
    region="us-east-1",
)

BOOTLOADER = InstanceSpec(
    instance_id="i-0fedcba9876543210",
    domain_name="ec2d-i-0fedcba9876543210",
    instance_type="m5.large",
    vcpus=2,
    memory_mib=8192,
    root_disk="/var/lib/ec2d/volumes/vol-0bbbbbbbbbbbbbbbb.qcow2",
    root_volume_id="vol-0bbbbbbbbbbbbbbbb",
    nics=(NicSpec("ec2d0fedcba9", "02:00:00:00:00:01"), NicSpec("ec2d0fedcbaa", "02:00:00:00:00:02")),
    console_log="/var/lib/ec2d/console/i-0fedcba9876543210.log",
    rng=False,
)

CASES = {
    "direct_kernel_tcg": (DIRECT, "qemu"),
    "bootloader_kvm": (BOOTLOADER, "kvm"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    spec, virt_type = CASES[case]
    xml = design_domain(spec, virt_type).to_xml()
    path = GOLDEN / f"{case}.xml"
    if os.environ.get("EC2D_UPDATE_GOLDEN"):
        path.write_text(xml)
    assert xml == path.read_text()


@pytest.mark.parametrize("case", sorted(CASES))
def test_libvirt_validates_and_reads_back(case: str, prefix: str) -> None:
    """Define (with schema validation) and start on test:///default; the readback is equal."""
    spec, virt_type = CASES[case]
    cfg = design_domain(spec, virt_type)
    cfg.name = prefix + case
    conn = libvirt.open("test:///default")
    try:
        dom = conn.defineXMLFlags(cfg.to_xml(), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        try:
            assert DomainConfig.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == cfg
        finally:
            dom.undefine()
    finally:
        conn.close()
    driver = LibvirtCompute("test:///default")
    try:
        driver.spawn(cfg)
        assert driver.get_config(cfg.name) == cfg
        assert driver.tap_names(cfg.name) == [n.tap_name for n in spec.nics]
    finally:
        driver.destroy(cfg.name)
        driver.undefine(cfg.name)
        driver.close()


def test_smbios_and_uuid() -> None:
    cfg = design_domain(DIRECT, "qemu")
    u = cfg.uuid
    assert u is not None and u.startswith("ec2") and str(uuid.UUID(u)) == u
    assert u == instance_uuid(DIRECT.instance_id) == instance_uuid("i-0123456789abcdef0")
    assert instance_uuid("i-0123456789abcdef1") != u
    si = cfg.sysinfo
    assert si is not None
    assert (si.system_manufacturer, si.system_product) == ("Amazon EC2", "t3.micro")
    assert si.system_uuid == si.system_serial == u
    assert si.baseboard_asset == "i-0123456789abcdef0"
    assert cfg.smbios_mode == "sysinfo"


def test_policy_choices() -> None:
    tcg = design_domain(DIRECT, "qemu")
    kvm = design_domain(DIRECT, "kvm")
    assert (tcg.virt_type, tcg.cpu_mode) == ("qemu", "maximum")
    assert (kvm.virt_type, kvm.cpu_mode) == ("kvm", "host-passthrough")
    assert (tcg.on_poweroff, tcg.on_reboot, tcg.on_crash) == ("destroy", "restart", "destroy")
    assert tcg.memballoon_model == "none"
    root, vol = tcg.disks
    assert (root.target_dev, root.driver_type, root.serial) == ("vda", "qcow2", "vol0aaaaaaaaaaaaaaaa")
    assert (vol.target_dev, vol.serial) == ("vdf", "vol0123456789abcdef0")
    assert tcg.interfaces[0].mac == "02:ab:cd:00:11:22"
    assert tcg.serials[0].type == "pty" and tcg.serials[0].log_file == DIRECT.console_log
    boot = design_domain(BOOTLOADER, "kvm")
    assert boot.kernel is None and boot.cmdline is None and boot.boot_dev == "hd"


def test_rejects_bad_specs() -> None:
    from dataclasses import replace

    with pytest.raises(ValueError):
        design_domain(DIRECT, "xen")
    with pytest.raises(ValueError):
        design_domain(replace(DIRECT, volumes=(VolumeSpec("vol-1", "/a", "/dev/sda1"),)), "qemu")
    with pytest.raises(ValueError):
        design_domain(replace(DIRECT, nics=(NicSpec("a-very-long-tap-name", "02:00:00:00:00:01"),)),
                      "qemu")


@pytest.mark.parametrize("name,target", [
    ("/dev/sda1", "vda"), ("/dev/xvda", "vda"), ("sda", "vda"), ("/dev/sdf", "vdf"),
    ("/dev/xvdf", "vdf"), ("xvdp", "vdp"), ("vdg", "vdg"), ("f", "vdf"), ("/dev/xvdba", "vdba"),
])
def test_ec2_device_to_target(name: str, target: str) -> None:
    assert ec2_device_to_target(name) == target


@pytest.mark.parametrize("name", ["", "/dev/nvme1n1", "/dev/sd", "/dev/sdF", "/dev/sdabc", "hda"])
def test_ec2_device_to_target_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        ec2_device_to_target(name)


def test_volume_serial() -> None:
    assert volume_serial("vol-0123456789abcdef0") == "vol0123456789abcdef0"
    assert len(volume_serial("vol-0123456789abcdef0")) == 20
