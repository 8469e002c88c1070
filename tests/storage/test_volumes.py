"""The StorageDriver contract on Qcow2Storage (real qemu-img) and FakeStorage, plus the
content-level scenario with qemu-io on the real one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.drivers.storage import qcow2
from orchestrator.drivers.storage.driver import (
    AlreadyExists,
    ForeignBackingFile,
    LayerInUse,
    LayerNotFound,
    NotADiskImage,
    StorageDriver,
    StorageError,
    VolumeNotFound,
)
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.drivers.storage.volumes import Qcow2Storage

from .conftest import GiB, MiB, has_pattern, write_pattern


@pytest.fixture(params=["qcow2", "fake"])
def driver(request: pytest.FixtureRequest, storage_root: Path) -> StorageDriver:
    return Qcow2Storage(storage_root) if request.param == "qcow2" else FakeStorage()


# -- contract (both drivers) -----------------------------------------------------------------------


def test_create_and_delete_volume(driver: StorageDriver) -> None:
    p = driver.create_volume("vol-a", GiB)
    assert p == driver.volume_path("vol-a")
    assert driver.volume_size("vol-a") == GiB and driver.chain_depth("vol-a") == 1
    assert driver.list_volumes() == ["vol-a"]
    assert driver.has_volume("vol-a") and not driver.has_volume("vol-b")
    with pytest.raises(AlreadyExists):
        driver.create_volume("vol-a", GiB)
    driver.delete_volume("vol-a")
    assert not driver.has_volume("vol-a")
    driver.delete_volume("vol-a")  # tolerates absence
    with pytest.raises(VolumeNotFound):
        driver.volume_path("vol-a")
    with pytest.raises(StorageError):
        driver.create_volume("../escape", GiB)
    with pytest.raises(StorageError):
        driver.create_volume("vol-b", None)


def test_snapshot_chain_and_layer_refcount(driver: StorageDriver) -> None:
    driver.create_volume("vol-a", GiB)
    layer = driver.snapshot_volume("vol-a", "snap-1")
    assert layer == driver.layer_path("snap-1")
    assert driver.chain_depth("vol-a") == 2
    driver.snapshot_volume("vol-a", "snap-2")
    assert driver.chain_depth("vol-a") == 3
    with pytest.raises(AlreadyExists):
        driver.snapshot_volume("vol-a", "snap-2")
    driver.create_volume("vol-b", 2 * GiB, from_layer="snap-2")
    assert driver.volume_size("vol-b") == 2 * GiB and driver.chain_depth("vol-b") == 3
    with pytest.raises(StorageError):
        driver.create_volume("vol-c", GiB // 2, from_layer="snap-2")
    with pytest.raises(LayerNotFound):
        driver.create_volume("vol-c", GiB, from_layer="snap-missing")
    assert driver.users_of("snap-1") == ["snap-2"]
    assert driver.users_of("snap-2") == ["vol-a", "vol-b"]
    with pytest.raises(LayerInUse) as ei:
        driver.delete_layer("snap-2")
    assert ei.value.users == ["vol-a", "vol-b"]
    # deleting a volume keeps its layers
    driver.delete_volume("vol-a")
    driver.delete_volume("vol-b")
    assert driver.users_of("snap-2") == []
    with pytest.raises(LayerInUse):
        driver.delete_layer("snap-1")
    driver.delete_layer("snap-2")
    driver.delete_layer("snap-1")
    driver.delete_layer("snap-1")  # tolerates absence
    assert driver.list_layers() == []


def test_copy_layer_and_sealed(driver: StorageDriver) -> None:
    """CopySnapshot's layer copy: the same content and chain, O(1), repeatable; a layer counts
    as sealed only once it is whole."""
    driver.create_volume("vol-a", GiB)
    driver.snapshot_volume("vol-a", "snap-1")
    assert driver.layer_sealed("snap-1") and not driver.layer_sealed("snap-none")
    copy = driver.copy_layer("snap-1", "snap-copy")
    assert copy == driver.layer_path("snap-copy") and driver.layer_sealed("snap-copy")
    assert driver.copy_layer("snap-1", "snap-copy") == copy  # a retry after a crash keeps it
    driver.create_volume("vol-b", None, from_layer="snap-copy")
    assert driver.volume_size("vol-b") == GiB
    with pytest.raises(LayerNotFound):
        driver.copy_layer("snap-missing", "snap-x")
    assert "snap-x" not in driver.list_layers()


def test_force_delete_layer(driver: StorageDriver) -> None:
    driver.create_volume("vol-a", GiB)
    driver.snapshot_volume("vol-a", "snap-1")
    driver.delete_layer("snap-1", force=True)
    with pytest.raises(LayerNotFound):
        driver.layer_path("snap-1")


def test_flatten_and_resize(driver: StorageDriver) -> None:
    driver.create_volume("vol-a", GiB)
    driver.snapshot_volume("vol-a", "snap-1")
    driver.flatten_volume("vol-a")
    assert driver.chain_depth("vol-a") == 1 and driver.users_of("snap-1") == []
    driver.resize_volume("vol-a", 2 * GiB)
    assert driver.volume_size("vol-a") == 2 * GiB
    with pytest.raises(StorageError):
        driver.resize_volume("vol-a", GiB)


def test_usage(driver: StorageDriver) -> None:
    driver.create_volume("vol-a", GiB)
    driver.snapshot_volume("vol-a", "snap-1")
    assert driver.usage("vol-a") >= 0 and driver.usage("snap-1") >= 0
    with pytest.raises(StorageError):
        driver.usage("vol-missing")


def test_sweep_removes_unknown_but_keeps_what_is_built_on(driver: StorageDriver) -> None:
    driver.create_volume("vol-keep", GiB)
    driver.snapshot_volume("vol-keep", "snap-used")  # unknown to the caller, but vol-keep uses it
    driver.create_volume("vol-orphan", GiB)
    driver.snapshot_volume("vol-orphan", "snap-orphan")
    result = driver.sweep(["vol-keep"], [])
    assert driver.list_volumes() == ["vol-keep"]
    assert driver.list_layers() == ["snap-used"]
    assert [p.name for p in result.kept_in_use] == ["snap-used.qcow2"]
    assert driver.sweep(["vol-keep"], ["snap-used"]).removed == []


# -- Qcow2Storage on real files ---------------------------------------------------------------------


def test_snapshot_content_scenario(storage: Qcow2Storage) -> None:
    vol = storage.create_volume("vol-1", GiB)
    write_pattern(vol, 0xAB)
    layer = storage.snapshot_volume("vol-1", "snap-1")
    assert storage.volume_path("vol-1") == vol  # offline: the path stays
    assert (layer.stat().st_mode & 0o777) == 0o400
    write_pattern(vol, 0xCD)  # later writes go to the volume only
    write_pattern(vol, 0xEE, 2 * MiB)
    clone = storage.create_volume("vol-2", 4 * GiB, from_layer="snap-1")
    assert has_pattern(clone, 0xAB) and not has_pattern(clone, 0xCD)
    assert has_pattern(clone, 0x00, 2 * MiB)
    assert has_pattern(vol, 0xCD) and has_pattern(vol, 0xEE, 2 * MiB)
    assert storage.chain_depth("vol-1") == 2
    storage.snapshot_volume("vol-1", "snap-2")
    assert storage.chain_depth("vol-1") == 3
    chain = qcow2.info(storage.volume_path("vol-1"), roots=storage.roots).chain
    assert [Path(e.filename).name for e in chain] == ["gen-000001.qcow2", "snap-2.qcow2", "snap-1.qcow2"]
    assert all(e.backing_format == "qcow2" for e in chain[:-1])
    # flatten: a standalone file with the same content, layers untouched
    storage.flatten_volume("vol-1")
    flat = storage.volume_path("vol-1")
    assert qcow2.read_header(flat).backing_file is None and storage.chain_depth("vol-1") == 1
    assert has_pattern(flat, 0xCD) and has_pattern(flat, 0xEE, 2 * MiB)
    assert qcow2.check(flat)["check-errors"] == 0
    assert has_pattern(storage.layer_path("snap-1"), 0xAB)
    assert storage.usage("snap-1") >= MiB and storage.usage("vol-1") >= 2 * MiB


def test_snapshot_copies_nothing(storage: Qcow2Storage) -> None:
    vol = storage.create_volume("vol-1", 100 * GiB)
    write_pattern(vol, 0x5A, 0, 32 * MiB)
    before = storage.usage("vol-1")
    storage.snapshot_volume("vol-1", "snap-1")
    assert storage.usage("snap-1") == before  # the very same file
    assert storage.usage("vol-1") < MiB  # the new top is an empty overlay


def test_import_reads_the_file_on_both_drivers(driver: StorageDriver, tmp_path: Path) -> None:
    """The fake accepts what the real driver accepts (a standalone qcow2, e.g. a cached image's
    disk: API-only mode imports them) at its virtual size, and refuses what it refuses."""
    src = qcow2.create_blank(tmp_path / "upload.qcow2", 64 * MiB)
    driver.import_image(src, "ami-layer")
    driver.create_volume("vol-root", None, from_layer="ami-layer")
    assert driver.volume_size("vol-root") == 64 * MiB
    text = tmp_path / "readme.txt"
    text.write_text("not an image\n")
    with pytest.raises(NotADiskImage):
        driver.import_image(text, "ami-text")
    with pytest.raises(NotADiskImage):
        driver.import_image(tmp_path / "missing.qcow2", "ami-missing")
    with pytest.raises(ForeignBackingFile):
        driver.import_image(qcow2.create_overlay(tmp_path / "backed.qcow2", src), "ami-backed")
    assert driver.list_layers() == ["ami-layer"]


def test_import_image(storage: Qcow2Storage, tmp_path: Path) -> None:
    src = qcow2.create_blank(tmp_path / "upload.qcow2", 64 * MiB)
    write_pattern(src, 0x42)
    layer = storage.import_image(src, "ami-layer")
    assert layer == storage.layer_path("ami-layer") and has_pattern(layer, 0x42)
    assert (layer.stat().st_mode & 0o777) == 0o400
    text = tmp_path / "readme.txt"
    text.write_text("not an image\n")
    with pytest.raises(NotADiskImage):
        storage.import_image(text, "ami-text")
    backed = qcow2.create_overlay(tmp_path / "backed.qcow2", src)
    with pytest.raises(ForeignBackingFile):
        storage.import_image(backed, "ami-backed")
    assert storage.list_layers() == ["ami-layer"]
    root_vol = storage.create_volume("vol-root", 8 * GiB, from_layer="ami-layer")
    assert has_pattern(root_vol, 0x42)


def test_foreign_backing_in_storage_refused(storage: Qcow2Storage, tmp_path: Path) -> None:
    outside = qcow2.create_blank(tmp_path / "outside.qcow2", 16 * MiB)
    # someone planted a layer that points outside the root
    planted = storage.layers_dir / "planted.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", str(outside), "-F", "qcow2",
                    str(planted), "16M"], check=True)
    with pytest.raises(ForeignBackingFile):
        storage.create_volume("vol-x", None, from_layer="planted")
    assert storage.list_volumes() == [] and not (storage.volumes_dir / "vol-x").exists()


def test_sweep_crash_leftovers(storage: Qcow2Storage) -> None:
    vol = storage.create_volume("vol-1", GiB)
    write_pattern(vol, 0xAB)
    # a half-made overlay from an interrupted create, and a stray temp file
    d = vol.parent
    (d / ".tmp-0123456789ab-gen-000001.qcow2").write_bytes(b"partial")
    (storage.layers_dir / ".tmp-0123456789ab-snap.qcow2").write_bytes(b"partial")
    # an interrupted live snapshot: next generation made, the domain never switched to it
    layer = storage.layers_dir / "snap-lost.qcow2"
    layer.hardlink_to(vol)
    nxt = d / "gen-000002.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", str(layer), "-F", "qcow2",
                    str(nxt), str(GiB)], check=True)
    assert storage.volume_path("vol-1") == nxt
    result = storage.sweep(["vol-1"], [], in_use=[vol])  # a domain still uses generation 1
    assert storage.volume_path("vol-1") == vol and has_pattern(vol, 0xAB)
    assert not nxt.exists() and not layer.exists()
    assert not list(d.glob(".tmp-*")) and not list(storage.layers_dir.glob(".tmp-*"))
    assert len(result.removed) == 4 and result.kept_in_use == []


def test_import_image_links_a_cache_file_and_copies_anything_else(storage: Qcow2Storage, tmp_path: Path) -> None:
    """``link=True`` (an image-cache entry, never written again): the layer is the same inode,
    so every data dir that publishes the image costs neither time nor space. Without it (or
    across filesystems) the layer is a copy that outlives changes to the source."""
    src = qcow2.create_blank(tmp_path / "disk.qcow2", 64 * MiB)
    write_pattern(src, 0x42)
    linked = storage.import_image(src, "ami-linked", link=True)
    assert os.path.samestat(linked.stat(), src.stat()) and (linked.stat().st_mode & 0o777) == 0o400
    copied = storage.import_image(src, "ami-copied")
    assert copied.stat().st_ino != src.stat().st_ino and has_pattern(copied, 0x42)
    vol = storage.create_volume("vol-root", 8 * GiB, from_layer="ami-linked")
    assert has_pattern(vol, 0x42) and storage.users_of("ami-linked") == ["vol-root"]
    storage.delete_volume("vol-root")
    storage.delete_layer("ami-linked")
    assert src.exists() and has_pattern(src, 0x42)  # the cache keeps its file
