"""Encrypted volumes on the real storage driver (qemu-img, qemu-io, and libvirt for the live
snapshot): every file of an encrypted volume's chain is LUKS-encrypted, the data is not in clear
in any file, a volume from a snapshot opens its chain with the lineage key, a copy under another
key is re-encrypted (and does not open with the old one), and a live snapshot of an attached
encrypted disk keeps the guest's new writes encrypted."""

from __future__ import annotations

import secrets
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.drivers.compute.designer import DiskEncryption, design_disk
from orchestrator.drivers.storage import luks, qcow2
from orchestrator.drivers.storage.volumes import Qcow2Storage

from .conftest import MiB

MARKER = b"ec2d-encrypted-marker-" + secrets.token_hex(8).encode()


def _io(path: Path, key: str | None, cmd: str, *, force_share: bool = False) -> subprocess.CompletedProcess[str]:
    root = next(p for p in path.parents if p.name == "storage")
    chain = qcow2.encrypted_chain(path, [root])
    with luks.secret_objects([key] if key else []) as objects:
        args = ["qemu-io", *objects, *(["-r", "-U"] if force_share else []), "--image-opts",
                luks.image_opts(path, chain, "sec0"), "-c", cmd]
        return subprocess.run(args, capture_output=True, text=True)


def write_marker(path: Path, key: str | None, offset: int = 0) -> None:
    cp = _io(path, key, f"write -P 0x5a {offset} 1M")
    assert cp.returncode == 0, cp.stderr
    # the marker itself, as text, at offset + 1 MiB (qemu-io writes it with -s from a file)
    src = path.parent / ".marker"
    src.write_bytes(MARKER * 64)
    try:
        cp = _io(path, key, f"write -s {src} {offset + MiB} {len(MARKER) * 64}")
        assert cp.returncode == 0, cp.stderr
    finally:
        src.unlink()


def reads_marker(path: Path, key: str | None, offset: int = 0, *, force_share: bool = False) -> bool:
    cp = _io(path, key, f"read -P 0x5a {offset} 1M", force_share=force_share)
    return cp.returncode == 0 and "verification failed" not in cp.stdout + cp.stderr and "read " in cp.stdout


def in_clear(*paths: Path) -> bool:
    return any(MARKER in p.read_bytes() for p in paths)


@pytest.fixture(autouse=True)
def key_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own directory for passphrase files (not /dev/shm, which other tests and
    daemons running at the same time also use), so "no file outlives its qemu-img" is exact."""
    d = tmp_path / "key-files"
    d.mkdir()
    monkeypatch.setattr(luks, "_tmpfs_dir", lambda: str(d))
    return d


@pytest.fixture
def keyed(storage_root: Path) -> tuple[Qcow2Storage, dict[str, str]]:
    keys: dict[str, str] = {}
    s = Qcow2Storage(storage_root)
    s.use_keys(keys.get)
    return s, keys


def test_encrypted_chain_snapshot_clone_copy_flatten(keyed: tuple[Qcow2Storage, dict[str, str]], key_files: Path) -> None:
    s, keys = keyed
    k1, k2 = secrets.token_hex(32), secrets.token_hex(32)
    keys.update({"vol-a": k1, "snap-1": k1, "vol-b": k1, "snap-2": k2, "snap-3": k1})

    a = s.create_volume("vol-a", 64 * MiB)
    assert qcow2.read_header(a).encrypted
    write_marker(a, k1)
    assert not in_clear(a)
    assert not reads_marker(a, None)  # no key, no data

    # offline snapshot: the frozen layer and the volume's new top are both encrypted
    layer = s.snapshot_volume("vol-a", "snap-1")
    assert qcow2.read_header(layer).encrypted and qcow2.read_header(s.volume_path("vol-a")).encrypted
    assert reads_marker(s.volume_path("vol-a"), k1)

    # a volume from the snapshot: its chain opens with the lineage key
    b = s.create_volume("vol-b", 128 * MiB, from_layer="snap-1")
    assert [enc for _, enc in s.chain("vol-b")] == [True, True]
    assert reads_marker(b, k1)

    # a copy under another key: standalone, re-encrypted
    copy = s.copy_layer("snap-1", "snap-2")
    assert qcow2.read_header(copy).backing_file is None and qcow2.read_header(copy).encrypted
    assert reads_marker(copy, k2) and not reads_marker(copy, k1)
    assert copy.stat().st_ino != layer.stat().st_ino and not in_clear(copy)
    # a copy under the same key shares the layer file
    assert s.copy_layer("snap-1", "snap-3").stat().st_ino == layer.stat().st_ino

    # flatten and grow an encrypted volume offline: still encrypted, still readable
    s.resize_volume("vol-b", 192 * MiB)
    flat = s.flatten_volume("vol-b")
    assert qcow2.read_header(flat).backing_file is None and qcow2.read_header(flat).encrypted
    assert qcow2.read_header(flat).virtual_size == 192 * MiB
    assert reads_marker(flat, k1) and not in_clear(flat)
    assert not list(key_files.iterdir())  # no passphrase file outlives its qemu-img


def test_clear_snapshot_to_encrypted_volume(keyed: tuple[Qcow2Storage, dict[str, str]]) -> None:
    """A volume made encrypted from a clear snapshot: its own writes are encrypted; the clear
    layer below is what the snapshot already was."""
    s, keys = keyed
    k = secrets.token_hex(32)
    plain = s.create_volume("vol-p", 64 * MiB)
    write_marker(plain, None)
    assert in_clear(plain)  # the control: an unencrypted file shows the marker
    s.snapshot_volume("vol-p", "snap-p")
    keys["vol-e"] = k
    e = s.create_volume("vol-e", 64 * MiB, from_layer="snap-p")
    assert [enc for _, enc in s.chain("vol-e")] == [True, False]
    assert reads_marker(e, k)
    write_marker(e, k, offset=8 * MiB)
    assert reads_marker(e, k, 8 * MiB) and not in_clear(e)


libvirt = pytest.importorskip("libvirt")
URI = "qemu:///system"


def _domain_xml(name: str, disk: str) -> str:
    dom = ET.Element("domain", type="qemu")
    ET.SubElement(dom, "name").text = name
    ET.SubElement(dom, "memory", unit="MiB").text = "64"
    ET.SubElement(dom, "vcpu").text = "1"
    os_ = ET.SubElement(dom, "os")
    ET.SubElement(os_, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.SubElement(dom, "devices").append(ET.fromstring(disk))
    return ET.tostring(dom, encoding="unicode")


def test_live_snapshot_of_an_encrypted_disk(tmp_path: Path, prefix: str, key_files: Path) -> None:
    """A running domain's encrypted disk (over an encrypted backing layer, named in an explicit
    ``<backingStore>`` chain): a live snapshot freezes its top and the new top is encrypted."""
    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError as exc:
        pytest.skip(f"{URI} not reachable: {exc}")
    for p in (tmp_path, *tmp_path.parents):  # QEMU may run unprivileged elsewhere
        if p in (Path("/tmp"), Path("/")):
            break
        p.chmod(p.stat().st_mode | 0o755)
    s = Qcow2Storage(tmp_path / "storage", libvirt_uri=URI)
    k = secrets.token_hex(32)
    keys = {"vol-l": k, "snap-base": k, "snap-live": k}
    s.use_keys(keys.get)
    write_marker(s.create_volume("vol-l", 64 * MiB), k)
    s.snapshot_volume("vol-l", "snap-base")  # the disk starts as a two-file encrypted chain
    secret_uuid = str(uuid.uuid4())
    secret = conn.secretDefineXML(f"<secret ephemeral='yes' private='yes'><uuid>{secret_uuid}</uuid>"
                                  f"<usage type='volume'><volume>{prefix}key</volume></usage></secret>")
    secret.setValue(k.encode())
    below = tuple((str(p), enc) for p, enc in s.chain("vol-l")[1:])
    disk = design_disk(str(s.volume_path("vol-l")), "vdb", "vol-l", encryption=DiskEncryption(secret_uuid, below))
    name = prefix + "enc"
    dom = conn.createXML(_domain_xml(name, disk.to_xml()), 0)
    try:
        s.snapshot_volume("vol-l", "snap-live", attached_to=(name, "vdb"))
        top = s.volume_path("vol-l")
        assert top.name == "gen-000002.qcow2" and qcow2.read_header(top).encrypted
        assert reads_marker(s.layer_path("snap-live"), k, force_share=True)
        live_src = ET.fromstring(dom.XMLDesc(0)).find("./devices/disk/source")
        assert live_src is not None and live_src.get("file") == str(top)
    finally:
        dom.destroy()
        secret.undefine()
        conn.close()
    assert [enc for _, enc in s.chain("vol-l")] == [True, True, True]
    assert not list(key_files.iterdir())
