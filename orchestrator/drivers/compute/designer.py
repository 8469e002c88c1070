"""Decisions: an instance's wanted shape (``InstanceSpec``) -> libvirt ``DomainConfig``.

All policy for the domain XML sits here; ``config.py`` only encodes. Choices and why:

- UUID: ``ec2`` + 29 hex digits of sha256(instance id), version-4/variant bits set, so it is a
  valid RFC 4122 UUID, stable for the instance and starts with ``ec2`` (cloud-init's EC2 platform
  check reads DMI product_uuid). SMBIOS system serial = uuid = the domain uuid (older cloud-init
  also wants product_serial == product_uuid; libvirt requires sysinfo uuid == domain uuid).
- SMBIOS: manufacturer / BIOS vendor / chassis asset tag ``Amazon EC2``, product = instance type,
  baseBoard asset tag = instance id (as on Nitro), ``<os><smbios mode='sysinfo'/>``.
- CPU: KVM -> ``host-passthrough``. TCG -> ``<cpu mode='maximum'>`` (QEMU ``-cpu max``: every
  feature TCG emulates, which includes x86-64-v2 - SSE4.2, POPCNT, CX16 - that newer distribution
  userlands require; plain ``qemu64`` lacks them). Verified to boot the Debian cloud kernel here.
- Machine ``pc`` (i440fx): PCI hot-plug of virtio disks and NICs works without pre-allocated
  PCIe root ports.
- Serial console: ``<serial type='pty'>`` with ``<log file=... append='on'/>``: virtlogd writes
  every byte the guest prints to the file (GetConsoleOutput reads it) whether or not anyone has the
  pty open, the log survives stop/start (append), and ``virsh console`` still works for debugging.
- Disks: qcow2 with the format pinned (never probed), ``cache='none'`` + ``discard='unmap'``,
  virtio-blk; serial = EC2 volume id without the dash (``vol0123...``, 20 characters: the
  virtio-blk serial limit), the way Nitro exposes it as the NVMe serial.
- Device names: root disk ``vda``; an EC2 device name keeps its letter(s): ``/dev/sdf`` and
  ``/dev/xvdf`` -> ``vdf``, ``/dev/sda1`` / ``/dev/xvda`` -> ``vda``. A pure function of the name,
  so attach/detach need no allocation table.
- Lifecycle: on_poweroff=destroy, on_reboot=restart, on_crash=destroy; no memballoon; virtio rng.
"""

from __future__ import annotations

import hashlib
import re
import uuid as uuidlib
from dataclasses import dataclass
from typing import NamedTuple

from orchestrator.drivers.compute.config import (
    ConsoleConfig,
    DiskConfig,
    DomainConfig,
    InterfaceConfig,
    RngConfig,
    SerialConfig,
    SysinfoConfig,
)

__all__ = [
    "DEFAULT_CMDLINE",
    "InstanceSpec",
    "NicSpec",
    "DiskEncryption",
    "VolumeSpec",
    "design_disk",
    "design_domain",
    "design_interface",
    "ec2_device_to_target",
    "instance_uuid",
    "volume_serial",
]

VIRT_TYPES = ("qemu", "kvm")
DEFAULT_CMDLINE = "console=ttyS0 panic=-1"
SMBIOS_VENDOR = "Amazon EC2"


class DiskEncryption(NamedTuple):
    """An encrypted volume's libvirt secret and the files below its top (path, encrypted)."""

    secret_uuid: str
    backing: tuple[tuple[str, bool], ...] = ()


class VolumeSpec(NamedTuple):
    """An EBS volume to attach: ``device`` is an EC2 device name (``/dev/sdf``) or a target."""

    volume_id: str
    path: str
    device: str
    readonly: bool = False
    encryption: DiskEncryption | None = None


class NicSpec(NamedTuple):
    """A network interface: libvirt creates the tap ``tap_name`` (<= 15 chars)."""

    tap_name: str
    mac: str


@dataclass(frozen=True)
class InstanceSpec:
    """What an instance should look like, in plain values (no store, no libvirt)."""

    instance_id: str
    domain_name: str
    instance_type: str
    vcpus: int
    memory_mib: int
    root_disk: str
    root_volume_id: str | None = None
    root_encryption: DiskEncryption | None = None
    kernel: str | None = None  # direct kernel boot when set; else BIOS boot from the root disk
    initrd: str | None = None
    cmdline: str | None = None  # None with a kernel -> DEFAULT_CMDLINE
    volumes: tuple[VolumeSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    console_log: str | None = None  # serial console log file (GetConsoleOutput)
    # carried for callers/metadata; the domain XML does not use them today
    account_id: str | None = None
    region: str | None = None
    availability_zone: str | None = None
    rng: bool = True


_DEVICE_RE = re.compile(r"^(?:(?:/dev/)?(?:sd|xvd|vd)([a-z]{1,2})\d*|([a-z]))$")


def ec2_device_to_target(name: str) -> str:
    """Map an EC2 block device name to the libvirt target dev.

    ``/dev/sda1``, ``/dev/xvda``, ``sda`` -> ``vda``; ``/dev/sdf``, ``xvdf``, ``vdf``, ``f`` ->
    ``vdf``; ``/dev/xvdba`` -> ``vdba``. Raises ValueError for anything else.
    """
    m = _DEVICE_RE.match(name.strip())
    if not m:
        raise ValueError(f"not an EC2 block device name: {name!r}")
    return "vd" + (m.group(1) or m.group(2))


def instance_uuid(instance_id: str) -> str:
    """The stable domain/SMBIOS UUID of an instance: ``ec2xxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx``."""
    digest = hashlib.sha256(instance_id.encode()).hexdigest()
    return str(uuidlib.UUID(hex="ec2" + digest[:29], version=4))


def volume_serial(volume_id: str) -> str:
    """``vol-0123abcd...`` -> ``vol0123abcd...`` (at most 20 chars, the virtio-blk limit)."""
    return volume_id.replace("-", "")[:20]


def design_disk(path: str, target: str, volume_id: str | None = None,
                readonly: bool = False, encryption: DiskEncryption | None = None) -> DiskConfig:
    """A qcow2 virtio disk; also used for live attach. An encrypted one names its libvirt secret
    on every encrypted file of its chain, which it lists explicitly. A ``.raw`` file is a
    Multi-Attach volume (the storage driver names only those so): a raw disk, ``<shareable/>``
    (QEMU opens it ``share-rw``, so several domains write it; ``cache=none`` as every disk)."""
    enc = encryption
    shared = str(path).endswith(".raw")
    return DiskConfig(
        shareable=shared,
        encryption_format="luks" if enc else None,
        secret_uuid=enc.secret_uuid if enc else None,
        backing=list(enc.backing) if enc else [],
        source_file=str(path),
        target_dev=target,
        driver_type="raw" if shared else "qcow2",
        cache="none",
        discard="unmap",
        serial=volume_serial(volume_id) if volume_id else None,
        readonly=readonly,
    )


def design_interface(nic: NicSpec) -> InterfaceConfig:
    """A virtio NIC on a libvirt-created tap; also used for live attach."""
    if len(nic.tap_name) > 15:
        raise ValueError(f"tap name longer than 15 characters: {nic.tap_name!r}")
    return InterfaceConfig(type="ethernet", target_dev=nic.tap_name, mac=nic.mac.lower(), model="virtio")


def design_domain(spec: InstanceSpec, virt_type: str) -> DomainConfig:
    """Build the domain config for ``spec`` on ``virt_type`` ('kvm' or 'qemu' = TCG)."""
    if virt_type not in VIRT_TYPES:
        raise ValueError(f"virt_type must be one of {VIRT_TYPES}, got {virt_type!r}")
    if spec.vcpus < 1 or spec.memory_mib < 16:
        raise ValueError("an instance needs at least 1 vCPU and 16 MiB")
    uuid = instance_uuid(spec.instance_id)

    disks = [design_disk(spec.root_disk, "vda", spec.root_volume_id, encryption=spec.root_encryption)]
    for vol in spec.volumes:
        target = ec2_device_to_target(vol.device)
        if any(d.target_dev == target for d in disks):
            raise ValueError(f"device {vol.device!r} ({target}) is used twice")
        disks.append(design_disk(vol.path, target, vol.volume_id, vol.readonly, vol.encryption))

    serials = [SerialConfig(type="pty", log_file=spec.console_log, log_append=True, target_port=0)
               if spec.console_log else SerialConfig(type="pty", target_port=0)]

    direct = spec.kernel is not None
    return DomainConfig(
        name=spec.domain_name,
        uuid=uuid,
        virt_type=virt_type,
        memory_mib=spec.memory_mib,
        vcpus=spec.vcpus,
        os_type="hvm",
        arch="x86_64",
        machine="pc",
        kernel=spec.kernel,
        initrd=spec.initrd if direct else None,
        cmdline=(spec.cmdline or DEFAULT_CMDLINE) if direct else None,
        boot_dev="hd",  # libvirt adds it anyway; the kernel wins with direct boot
        smbios_mode="sysinfo",
        sysinfo=SysinfoConfig(
            bios_vendor=SMBIOS_VENDOR,
            bios_version="1.0",
            system_manufacturer=SMBIOS_VENDOR,
            system_product=spec.instance_type,
            system_serial=uuid,
            system_uuid=uuid,
            system_family=None,
            baseboard_manufacturer=SMBIOS_VENDOR,
            baseboard_asset=spec.instance_id,
            chassis_manufacturer=SMBIOS_VENDOR,
            chassis_asset=SMBIOS_VENDOR,
        ),
        acpi=True,
        apic=True,
        cpu_mode="host-passthrough" if virt_type == "kvm" else "maximum",
        clock_offset="utc",
        on_poweroff="destroy",
        on_reboot="restart",
        on_crash="destroy",
        disks=disks,
        interfaces=[design_interface(n) for n in spec.nics],
        serials=serials,
        consoles=[ConsoleConfig(type="pty", target_type="serial", target_port=0)],
        rngs=[RngConfig(model="virtio", backend_model="random", backend_device="/dev/urandom")]
        if spec.rng else [],
        memballoon_model="none",
    )
