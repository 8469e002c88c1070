"""libvirt domain XML config objects: they only encode and decode, they decide nothing.

Policy (which devices, which CPU model, which SMBIOS strings) lives in ``designer.py``.

Each XML field is declared once, as a dataclass field carrying its location: a path of element
names relative to the object's own element (``""`` is the element itself; a segment may carry
attribute predicates, ``entry[@name='serial']``, which are created on write and matched on read),
an optional attribute name (else the element text) and a codec. ``to_xml`` and ``from_xml`` are
generic over those declarations, so what is written is exactly what is read back. Nested objects
(devices, sysinfo) are fields too, declared with ``xchild``/``xchildren``.

``from_xml`` accepts what ``virsh dumpxml`` returns: elements and attributes this module does not
model are ignored, memory in any libvirt unit is converted to MiB.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

__all__ = [
    "ConfigError",
    "ConsoleConfig",
    "DiskConfig",
    "DomainConfig",
    "InterfaceConfig",
    "RngConfig",
    "SerialConfig",
    "SysinfoConfig",
    "XmlObject",
]


class ConfigError(ValueError):
    """The XML cannot be decoded into a config object."""


# --------------------------------------------------------------------------------------------
# codecs


class Codec:
    """Converts one field value to and from XML text (element text or attribute value)."""

    def encode(self, value: Any) -> str:
        return str(value)

    def decode(self, text: str, elem: ET.Element) -> Any:
        return text


class _Str(Codec):
    pass


class _Int(Codec):
    def decode(self, text: str, elem: ET.Element) -> Any:
        return int(text.strip())


class _Bool(Codec):
    """A boolean spelled as a pair of words (``yes``/``no``, ``on``/``off``)."""

    def __init__(self, true: str, false: str) -> None:
        self.true, self.false = true, false

    def encode(self, value: Any) -> str:
        return self.true if value else self.false

    def decode(self, text: str, elem: ET.Element) -> Any:
        return text.strip() == self.true


class _Present(Codec):
    """A boolean that is the presence of an (empty) element, e.g. ``<readonly/>``."""


class _MemMiB(Codec):
    """Memory amount in MiB, written with ``unit='MiB'``; read back from any libvirt unit."""

    _UNITS: ClassVar[dict[str, int]] = {
        "b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2,
        "mb": 1000**2, "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4,
        "tb": 1000**4,
    }

    def decode(self, text: str, elem: ET.Element) -> Any:
        unit = elem.get("unit", "KiB").lower()
        if unit not in self._UNITS:
            raise ConfigError(f"unknown memory unit {unit!r}")
        return int(text.strip()) * self._UNITS[unit] // 1024**2


STR: Codec = _Str()
INT: Codec = _Int()
YESNO: Codec = _Bool("yes", "no")
ONOFF: Codec = _Bool("on", "off")
PRESENT: Codec = _Present()
MEM_MIB: Codec = _MemMiB()


@dataclass(frozen=True)
class _Loc:
    path: str
    attr: str | None
    codec: Codec
    extra_attrs: tuple[tuple[str, str], ...] = ()  # written next to the value (e.g. unit='MiB')


@dataclass(frozen=True)
class _Child:
    path: str
    cls: type[XmlObject]
    many: bool


def xfield(path: str, attr: str | None = None, codec: Codec = STR, default: Any = None,
           extra_attrs: tuple[tuple[str, str], ...] = ()) -> Any:
    """Declare a scalar field stored at ``path`` (element text, or attribute ``attr``)."""
    if codec is PRESENT and default is None:
        default = False
    return field(default=default, metadata={"xml": _Loc(path, attr, codec, extra_attrs)})


def xchild(path: str, cls: type[XmlObject]) -> Any:
    """Declare an optional nested object whose element sits under ``path``."""
    return field(default=None, metadata={"xml": _Child(path, cls, many=False)})


def xchildren(path: str, cls: type[XmlObject]) -> Any:
    """Declare a list of nested objects whose elements sit under ``path``."""
    return field(default_factory=list, metadata={"xml": _Child(path, cls, many=True)})


# --------------------------------------------------------------------------------------------
# element paths

_SEGMENT = re.compile(r"^(?P<tag>[A-Za-z_][\w.-]*)(?P<preds>(\[@[\w.-]+='[^']*'\])*)$")
_PRED = re.compile(r"\[@([\w.-]+)='([^']*)'\]")


def _split(path: str) -> list[tuple[str, str, dict[str, str]]]:
    """``a/b[@k='v']`` -> [(segment, tag, {attrs})]."""
    out = []
    for seg in path.split("/") if path else []:
        m = _SEGMENT.match(seg)
        if not m:
            raise ValueError(f"bad XML path segment {seg!r}")
        out.append((seg, m.group("tag"), dict(_PRED.findall(m.group("preds")))))
    return out


def _ensure(root: ET.Element, path: str) -> ET.Element:
    elem = root
    for seg, tag, attrs in _split(path):
        child = elem.find(seg)
        if child is None:
            child = ET.SubElement(elem, tag, attrs)
        elem = child
    return elem


def _find(root: ET.Element, path: str) -> ET.Element | None:
    return root if not path else root.find(path)


# --------------------------------------------------------------------------------------------
# base class


class XmlObject:
    """Base of the config objects: generic encode/decode driven by the field declarations."""

    TAG: ClassVar[str] = ""

    @classmethod
    def matches(cls, elem: ET.Element) -> bool:
        """Whether an element found under a parent's child path is decoded as this class."""
        return elem.tag == cls.TAG

    def to_element(self) -> ET.Element:
        root = ET.Element(self.TAG)
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            loc = f.metadata.get("xml")
            value = getattr(self, f.name)
            if isinstance(loc, _Child):
                items = value if loc.many else ([] if value is None else [value])
                for item in items:
                    _ensure(root, loc.path).append(item.to_element())
            elif isinstance(loc, _Loc):
                if value is None:
                    continue
                if loc.codec is PRESENT:
                    if value:
                        _ensure(root, loc.path)
                    continue
                elem = _ensure(root, loc.path)
                text = loc.codec.encode(value)
                if loc.attr is None:
                    elem.text = text
                else:
                    elem.set(loc.attr, text)
                for k, v in loc.extra_attrs:
                    elem.set(k, v)
        return root

    def to_xml(self) -> str:
        elem = self.to_element()
        ET.indent(elem, space="  ")
        return ET.tostring(elem, encoding="unicode") + "\n"

    @classmethod
    def from_element(cls, root: ET.Element) -> Self:
        if root.tag != cls.TAG:
            raise ConfigError(f"expected <{cls.TAG}>, got <{root.tag}>")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            loc = f.metadata.get("xml")
            if isinstance(loc, _Child):
                parent = _find(root, loc.path)
                found = [] if parent is None else [e for e in parent if loc.cls.matches(e)]
                objs = [loc.cls.from_element(e) for e in found]
                kwargs[f.name] = objs if loc.many else (objs[0] if objs else None)
            elif isinstance(loc, _Loc):
                elem = _find(root, loc.path)
                if loc.codec is PRESENT:
                    kwargs[f.name] = elem is not None
                    continue
                if elem is None:
                    continue  # keep the dataclass default
                raw = elem.text if loc.attr is None else elem.get(loc.attr)
                if raw is None:
                    continue  # keep the dataclass default
                try:
                    kwargs[f.name] = loc.codec.decode(raw, elem)
                except ValueError as exc:
                    raise ConfigError(f"<{cls.TAG}> field {f.name}: {exc}") from exc
        return cls(**kwargs)

    @classmethod
    def from_xml(cls, xml: str) -> Self:
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as exc:
            raise ConfigError(f"not XML: {exc}") from exc
        return cls.from_element(root)


# --------------------------------------------------------------------------------------------
# devices


@dataclass
class DiskConfig(XmlObject):
    """``<disk type='file' device='disk'>``: a file-backed virtio disk (qcow2 by default)."""

    TAG: ClassVar[str] = "disk"

    type: str = xfield("", "type", default="file")
    device: str = xfield("", "device", default="disk")
    driver_name: str = xfield("driver", "name", default="qemu")
    driver_type: str = xfield("driver", "type", default="qcow2")  # pinned: never probed
    cache: str | None = xfield("driver", "cache")  # none | writeback | ...
    discard: str | None = xfield("driver", "discard")  # unmap | ignore
    io: str | None = xfield("driver", "io")  # native | threads | io_uring
    source_file: str | None = xfield("source", "file")
    target_dev: str | None = xfield("target", "dev")  # vda, vdb, ...
    target_bus: str = xfield("target", "bus", default="virtio")
    serial: str | None = xfield("serial")  # EC2 volume id without the dash: vol0123...
    readonly: bool = xfield("readonly", codec=PRESENT)
    shareable: bool = xfield("shareable", codec=PRESENT)  # several domains write it (Multi-Attach, raw)
    boot_order: int | None = xfield("boot", "order", INT)
    encryption_format: str | None = xfield("source/encryption", "format")  # luks
    secret_uuid: str | None = xfield("source/encryption/secret", "uuid", extra_attrs=(("type", "passphrase"),))
    backing: list[tuple[str, bool]] = field(default_factory=list)
    """An encrypted disk's backing files below the top (path, encrypted), written as libvirt's
    explicit ``<backingStore>`` chain with each encrypted file's ``<encryption>`` (libvirt cannot
    open an encrypted backing file it finds by probing). Written only: libvirt's own chain in a
    live XML is not read back."""

    @classmethod
    def matches(cls, elem: ET.Element) -> bool:
        return elem.tag == cls.TAG and elem.get("device", "disk") == "disk"

    def to_element(self) -> ET.Element:
        root = super().to_element()
        parent = root
        for path, encrypted in self.backing:
            store = ET.SubElement(parent, "backingStore", type="file")
            ET.SubElement(store, "format", type="qcow2")
            source = ET.SubElement(store, "source", file=path)
            if encrypted and self.secret_uuid:
                enc = ET.SubElement(source, "encryption", format=self.encryption_format or "luks")
                ET.SubElement(enc, "secret", type="passphrase", uuid=self.secret_uuid)
            parent = store
        if self.backing:
            ET.SubElement(parent, "backingStore")  # the chain ends here
        return root


@dataclass
class InterfaceConfig(XmlObject):
    """``<interface type='ethernet'>``: libvirt creates the tap named ``target_dev``."""

    TAG: ClassVar[str] = "interface"

    type: str = xfield("", "type", default="ethernet")
    mac: str | None = xfield("mac", "address")
    target_dev: str | None = xfield("target", "dev")
    model: str = xfield("model", "type", default="virtio")


@dataclass
class SerialConfig(XmlObject):
    """``<serial>``: ``type='pty'`` with a virtlogd-written ``<log>``, or ``type='file'``."""

    TAG: ClassVar[str] = "serial"

    type: str = xfield("", "type", default="pty")
    source_path: str | None = xfield("source", "path")  # for type='file'
    source_append: bool | None = xfield("source", "append", ONOFF)
    log_file: str | None = xfield("log", "file")  # for type='pty'
    log_append: bool | None = xfield("log", "append", ONOFF)
    target_port: int = xfield("target", "port", INT, default=0)


@dataclass
class ConsoleConfig(XmlObject):
    """``<console>``: the console bound to serial port ``target_port``."""

    TAG: ClassVar[str] = "console"

    type: str = xfield("", "type", default="pty")
    target_type: str = xfield("target", "type", default="serial")
    target_port: int = xfield("target", "port", INT, default=0)


@dataclass
class RngConfig(XmlObject):
    """``<rng model='virtio'>`` fed from a host random device."""

    TAG: ClassVar[str] = "rng"

    model: str = xfield("", "model", default="virtio")
    backend_model: str = xfield("backend", "model", default="random")
    backend_device: str = xfield("backend", default="/dev/urandom")


# --------------------------------------------------------------------------------------------
# SMBIOS


@dataclass
class SysinfoConfig(XmlObject):
    """``<sysinfo type='smbios'>``: what the guest reads from DMI (/sys/class/dmi/id)."""

    TAG: ClassVar[str] = "sysinfo"

    type: str = xfield("", "type", default="smbios")
    bios_vendor: str | None = xfield("bios/entry[@name='vendor']")
    bios_version: str | None = xfield("bios/entry[@name='version']")
    system_manufacturer: str | None = xfield("system/entry[@name='manufacturer']")
    system_product: str | None = xfield("system/entry[@name='product']")
    system_version: str | None = xfield("system/entry[@name='version']")
    system_serial: str | None = xfield("system/entry[@name='serial']")
    system_uuid: str | None = xfield("system/entry[@name='uuid']")
    system_sku: str | None = xfield("system/entry[@name='sku']")
    system_family: str | None = xfield("system/entry[@name='family']")
    baseboard_manufacturer: str | None = xfield("baseBoard/entry[@name='manufacturer']")
    baseboard_product: str | None = xfield("baseBoard/entry[@name='product']")
    baseboard_asset: str | None = xfield("baseBoard/entry[@name='asset']")
    chassis_manufacturer: str | None = xfield("chassis/entry[@name='manufacturer']")
    chassis_asset: str | None = xfield("chassis/entry[@name='asset']")


# --------------------------------------------------------------------------------------------
# the domain


@dataclass
class DomainConfig(XmlObject):
    """``<domain>``. Direct kernel boot when ``kernel`` is set, else ``boot_dev`` (BIOS)."""

    TAG: ClassVar[str] = "domain"

    name: str | None = xfield("name")
    uuid: str | None = xfield("uuid")
    virt_type: str = xfield("", "type", default="qemu")  # qemu (TCG) | kvm
    memory_mib: int | None = xfield("memory", codec=MEM_MIB, extra_attrs=(("unit", "MiB"),))
    vcpus: int = xfield("vcpu", codec=INT, default=1)
    # <os>
    os_type: str = xfield("os/type", default="hvm")
    arch: str | None = xfield("os/type", "arch")
    machine: str | None = xfield("os/type", "machine")
    kernel: str | None = xfield("os/kernel")
    initrd: str | None = xfield("os/initrd")
    cmdline: str | None = xfield("os/cmdline")
    boot_dev: str | None = xfield("os/boot", "dev")  # hd: BIOS boot from the first disk
    smbios_mode: str | None = xfield("os/smbios", "mode")  # sysinfo
    sysinfo: SysinfoConfig | None = xchild("", SysinfoConfig)
    # <features>, <cpu>, <clock>
    acpi: bool = xfield("features/acpi", codec=PRESENT)
    apic: bool = xfield("features/apic", codec=PRESENT)
    cpu_mode: str | None = xfield("cpu", "mode")  # host-passthrough | maximum | custom
    cpu_model: str | None = xfield("cpu/model")  # for mode='custom'
    clock_offset: str | None = xfield("clock", "offset")
    # lifecycle
    on_poweroff: str | None = xfield("on_poweroff")
    on_reboot: str | None = xfield("on_reboot")
    on_crash: str | None = xfield("on_crash")
    # <devices>
    disks: list[DiskConfig] = xchildren("devices", DiskConfig)
    interfaces: list[InterfaceConfig] = xchildren("devices", InterfaceConfig)
    serials: list[SerialConfig] = xchildren("devices", SerialConfig)
    consoles: list[ConsoleConfig] = xchildren("devices", ConsoleConfig)
    rngs: list[RngConfig] = xchildren("devices", RngConfig)
    memballoon_model: str | None = xfield("devices/memballoon", "model")  # none

    def disk(self, target_dev: str) -> DiskConfig | None:
        return next((d for d in self.disks if d.target_dev == target_dev), None)

