"""Live snapshot/resize/flatten on a real running TCG domain (qemu:///system).

The guest boots nothing: SeaBIOS sits there with the disks attached. Guest writes are simulated
with QEMU's HMP ``qemu-io`` command on the disk's device (through libvirt's monitor passthrough),
so they go through the same block backend a guest would use. The domain is transient, named with
a unique ``ec2dt<hex>-`` prefix, and destroyed (files removed) also when a test fails.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.drivers.storage import live, qcow2
from orchestrator.drivers.storage.qcow2 import StorageError
from orchestrator.drivers.storage.volumes import Qcow2Storage

from .conftest import GiB, MiB, has_pattern, write_pattern

libvirt = pytest.importorskip("libvirt")
libvirt_qemu = pytest.importorskip("libvirt_qemu")

URI = "qemu:///system"


def domain_xml(name: str, disks: dict[str, Path]) -> str:
    dom = ET.Element("domain", type="qemu")
    ET.SubElement(dom, "name").text = name
    ET.SubElement(dom, "memory", unit="MiB").text = "64"
    ET.SubElement(dom, "vcpu").text = "1"
    os_ = ET.SubElement(dom, "os")
    ET.SubElement(os_, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.SubElement(os_, "boot", dev="hd")
    devices = ET.SubElement(dom, "devices")
    for dev, path in disks.items():
        d = ET.SubElement(devices, "disk", type="file", device="disk")
        ET.SubElement(d, "driver", name="qemu", type="qcow2")
        ET.SubElement(d, "source", file=str(path))
        ET.SubElement(d, "target", dev=dev, bus="virtio")
    return ET.tostring(dom, encoding="unicode")


def disk_sources(dom) -> dict[str, str]:
    return {d.target_dev: str(d.source) for d in live.attached_disks(dom)}


def guest_write(dom, dev: str, pattern: int, offset: int = 0, length: int = MiB) -> None:
    """Write through the running domain's block device (HMP qemu-io on the virtio device)."""
    root = ET.fromstring(dom.XMLDesc(0))
    qdev = next(d.find("alias").get("name") for d in root.findall("./devices/disk")
                if d.find("target").get("dev") == dev)
    # the virtio-blk-pci proxy has no block backend; its virtio-backend child has (QOM path)
    cmd = f'qemu-io -d /machine/peripheral/{qdev}/virtio-backend "write -P {pattern:#x} {offset} {length}"'
    out = libvirt_qemu.qemuMonitorCommand(dom, cmd, libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
    assert "error" not in out.lower(), out


@pytest.fixture
def conn():
    try:
        c = libvirt.open(URI)
    except libvirt.libvirtError as exc:
        pytest.skip(f"{URI} not reachable: {exc}")
    yield c
    c.close()


@pytest.fixture
def vm_storage(tmp_path: Path) -> Iterator[Qcow2Storage]:
    root = tmp_path / "storage"
    for p in (tmp_path, *tmp_path.parents):  # QEMU may run unprivileged elsewhere
        if p in (Path("/tmp"), Path("/")):
            break
        p.chmod(p.stat().st_mode | 0o755)
    s = Qcow2Storage(root, libvirt_uri=URI)
    yield s
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def domain(conn, prefix: str, vm_storage: Qcow2Storage):
    """A running persistent domain with vda (root), vdb (1 GiB data, 0xAB at 0) and vdc (64 MiB)."""
    s = vm_storage
    s.create_volume("vol-root", 16 * MiB)
    write_pattern(s.create_volume("vol-data", GiB), 0xAB)
    write_pattern(s.create_volume("vol-data2", 64 * MiB), 0x11)
    name = prefix + "st"
    xml = domain_xml(name, {"vda": s.volume_path("vol-root"), "vdb": s.volume_path("vol-data"),
                            "vdc": s.volume_path("vol-data2")})
    try:
        dom = conn.defineXML(xml)
        dom.create()
        yield dom
    finally:
        for d in conn.listAllDomains(0):
            if d.name().startswith(prefix):
                for op in (d.destroy, d.undefine):
                    try:
                        op()
                    except libvirt.libvirtError:
                        pass


def test_live_snapshot_resize_flatten(conn, domain, vm_storage: Qcow2Storage) -> None:
    s, name = vm_storage, domain.name()
    old_top = s.volume_path("vol-data")

    layer = s.snapshot_volume("vol-data", "snap-1", attached_to=(name, "vdb"))
    assert domain.isActive()
    new_top = s.volume_path("vol-data")
    assert new_top.name == "gen-000002.qcow2" and not old_top.exists()
    assert disk_sources(domain)["vdb"] == str(new_top)
    assert qcow2.read_header(new_top).backing_file == str(layer)
    assert (layer.stat().st_mode & 0o777) == 0o400

    # the guest keeps writing - into the new top only
    st = layer.stat()
    guest_write(domain, "vdb", 0xCD)
    guest_write(domain, "vdb", 0xEF, 8 * MiB, 4 * MiB)
    time.sleep(0.5)
    st2 = layer.stat()
    assert (st2.st_size, st2.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert has_pattern(layer, 0xAB, force_share=True)
    assert qcow2.info(layer, force_share=True).backing_file is None
    assert qcow2.info(new_top, force_share=True).depth == 2

    # a volume from the live-made layer sees snapshot-time content
    clone = s.create_volume("vol-clone", 2 * GiB, from_layer="snap-1")
    assert has_pattern(clone, 0xAB) and not has_pattern(clone, 0xCD)

    # two disks in one atomic snapshot
    layers = s.snapshot_volumes_live(name, [("vol-data", "snap-2", "vdb"), ("vol-data2", "snap-3", "vdc")])
    assert [p.name for p in layers] == ["snap-2.qcow2", "snap-3.qcow2"]
    srcs = disk_sources(domain)
    assert srcs["vdb"] == str(s.volume_path("vol-data")) and srcs["vdb"].endswith("gen-000003.qcow2")
    assert srcs["vdc"] == str(s.volume_path("vol-data2")) and srcs["vdc"].endswith("gen-000002.qcow2")
    assert s.chain_depth("vol-data") == 3 and s.chain_depth("vol-data2") == 2
    guest_write(domain, "vdc", 0x22)

    # online grow
    s.resize_volume("vol-data2", 128 * MiB, attached_to=(name, "vdc"))
    assert domain.blockInfo("vdc")[0] == 128 * MiB
    with pytest.raises(StorageError, match="shrink"):
        s.resize_volume("vol-data2", 64 * MiB, attached_to=(name, "vdc"))

    # online flatten (blockPull): the top keeps its path, the layers are untouched
    top = s.volume_path("vol-data")
    assert s.flatten_volume("vol-data", attached_to=(name, "vdb")) == top
    assert qcow2.read_header(top).backing_file is None
    assert s.users_of("snap-2") == [] and s.users_of("snap-1") == ["snap-2", "vol-clone"]
    assert domain.isActive()

    domain.destroy()
    # the persistent definition follows the new tops; the domain starts again on the chains
    inactive = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert {d.find("target").get("dev"): d.find("source").get("file") for d in inactive.findall("./devices/disk")} \
        == {"vda": str(s.volume_path("vol-root")), "vdb": str(s.volume_path("vol-data")),
            "vdc": str(s.volume_path("vol-data2"))}
    assert not inactive.findall("./devices/disk/backingStore")  # chains come from the headers
    # an offline snapshot while the domain is stopped: the next start sees the new chain
    s.snapshot_volume("vol-data2", "snap-4")
    domain.create()
    assert disk_sources(domain)["vdc"] == str(s.volume_path("vol-data2"))
    vdc = next(d for d in ET.fromstring(domain.XMLDesc(0)).findall("./devices/disk")
               if d.find("target").get("dev") == "vdc")
    live_chain = [src.get("file") for src in vdc.iter("source")]
    assert live_chain == [str(s.volume_path("vol-data2")), str(s.layer_path("snap-4")), str(s.layer_path("snap-3"))]
    guest_write(domain, "vdc", 0x33, 2 * MiB)
    domain.destroy()
    assert has_pattern(s.volume_path("vol-data2"), 0x33, 2 * MiB)
    chain = qcow2.info(s.volume_path("vol-data2"), roots=s.roots).chain
    assert [Path(e.filename).name for e in chain] == ["gen-000002.qcow2", "snap-4.qcow2", "snap-3.qcow2"]
    assert chain[0].backing_format == "qcow2" and chain[0].virtual_size == 128 * MiB
    assert has_pattern(s.volume_path("vol-data2"), 0x22) and has_pattern(s.layer_path("snap-3"), 0x11)
    flat = s.volume_path("vol-data")
    assert has_pattern(flat, 0xCD) and has_pattern(flat, 0xEF, 8 * MiB, 4 * MiB)
    assert has_pattern(s.layer_path("snap-1"), 0xAB) and has_pattern(s.layer_path("snap-2"), 0xCD)
    for p in (flat, s.volume_path("vol-data2"), *s.layers_dir.glob("*.qcow2")):
        assert qcow2.check(p)["check-errors"] == 0
    # nothing left behind: one file per volume directory, no temp files
    assert sorted(p.name for p in s.volumes_dir.rglob("*") if p.is_file()) == [
        "gen-000001.qcow2", "gen-000001.qcow2", "gen-000002.qcow2", "gen-000003.qcow2"]
    assert s.sweep(["vol-root", "vol-data", "vol-data2", "vol-clone"], ["snap-1", "snap-2", "snap-3", "snap-4"],
                   in_use=[]).removed == []


def test_live_snapshot_failures_leave_nothing(conn, domain, vm_storage: Qcow2Storage, tmp_path: Path) -> None:
    s, name = vm_storage, domain.name()
    top = s.volume_path("vol-data")
    before = sorted(p for p in s.root.rglob("*"))
    with pytest.raises(StorageError):  # unknown disk
        live.live_snapshot(name, "vdz", s.layers_dir / "x.qcow2", top.with_name("gen-000009.qcow2"), conn=conn)
    with pytest.raises(StorageError):  # overlay cannot be made: the hard link is rolled back
        live.live_snapshot(name, "vdb", s.layers_dir / "x.qcow2", tmp_path / "no-such-dir" / "top.qcow2",
                           conn=conn)
    with pytest.raises(StorageError, match="twice"):
        live.live_snapshot_many(name, [("vdb", s.layers_dir / "x.qcow2", top.with_name("gen-000009.qcow2")),
                                       ("vdb", s.layers_dir / "y.qcow2", top.with_name("gen-000010.qcow2"))],
                                conn=conn)
    with pytest.raises(StorageError, match="live snapshot"):  # libvirt refuses (no guest agent): rolled back
        live.live_snapshot_many(name, [("vdb", s.layers_dir / "x.qcow2", top.with_name("gen-000009.qcow2")),
                                       ("vdc", s.layers_dir / "y.qcow2", top.with_name("gen-000010.qcow2"))],
                                conn=conn, quiesce=True)
    assert sorted(p for p in s.root.rglob("*")) == before
    assert disk_sources(domain)["vdb"] == str(top) and domain.isActive()
    domain.destroy()
    with pytest.raises(StorageError, match="not running"):
        live.live_snapshot(name, "vdb", s.layers_dir / "x.qcow2", top.with_name("gen-000009.qcow2"), conn=conn)
    domain.undefine()
    with pytest.raises(StorageError, match="not found"):
        live.live_snapshot(name, "vdb", s.layers_dir / "x.qcow2", top.with_name("gen-000009.qcow2"), conn=conn)
    subprocess.run(["qemu-img", "check", "-q", str(top)], check=True)
