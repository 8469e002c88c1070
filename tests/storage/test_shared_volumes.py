"""Shared (Multi-Attach) volumes on Qcow2Storage with real qemu-img: a raw file, its snapshot a
standalone qcow2 layer, a shared volume from a layer a raw copy of the layer's chain, growing,
usage, sweep; and the disk the designer writes for it (raw, ``<shareable/>``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.drivers.compute.designer import design_disk
from orchestrator.drivers.storage import qcow2
from orchestrator.drivers.storage.driver import AlreadyExists, StorageError
from orchestrator.drivers.storage.volumes import Qcow2Storage

from .conftest import GiB, MiB, has_pattern, write_pattern


def raw_io(path: Path, cmd: str, *, read_only: bool = False) -> str:
    args = ["qemu-io", "-f", "raw", *(["-r"] if read_only else []), "-c", cmd, str(path)]
    cp = subprocess.run(args, capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return cp.stdout + cp.stderr


def test_blank_shared_volume_is_a_sparse_raw_file(storage: Qcow2Storage) -> None:
    path = storage.create_volume("vol-s", 2 * GiB, shared=True)
    assert path.name == "shared.raw" and path == storage.volume_path("vol-s")
    assert path.stat().st_size == 2 * GiB and path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes()[:4] != b"QFI\xfb"  # no qcow2 header: the guest's bytes from offset 0
    assert storage.usage("vol-s") < MiB  # sparse
    assert storage.list_volumes() == ["vol-s"] and storage.has_volume("vol-s")
    assert storage.chain_depth("vol-s") == 1 and storage.chain("vol-s") == [(path, False)]
    assert storage.volume_size("vol-s") == 2 * GiB
    with pytest.raises(AlreadyExists):
        storage.create_volume("vol-s", GiB, shared=True)
    storage.resize_volume("vol-s", 3 * GiB)
    assert storage.volume_size("vol-s") == 3 * GiB
    with pytest.raises(StorageError):
        storage.resize_volume("vol-s", GiB)
    assert storage.flatten_volume("vol-s") == path
    storage.delete_volume("vol-s")
    assert storage.list_volumes() == []


def test_snapshot_and_volume_from_it(storage: Qcow2Storage) -> None:
    src = storage.create_volume("vol-src", GiB)  # an ordinary qcow2 volume with data
    write_pattern(src, 0x5A, offset=4 * MiB)
    storage.snapshot_volume("vol-src", "snap-1")
    shared = storage.create_volume("vol-s", 2 * GiB, from_layer="snap-1", shared=True)
    assert shared.name == "shared.raw" and storage.volume_size("vol-s") == 2 * GiB
    assert "verification failed" not in raw_io(shared, f"read -P 0x5a {4 * MiB} {MiB}", read_only=True)
    assert storage.users_of("snap-1") == ["vol-src"]  # the raw copy does not build on the layer
    raw_io(shared, f"write -P 0x77 {8 * MiB} {MiB}")
    layer = storage.snapshot_volume("vol-s", "snap-2")  # a standalone qcow2 layer, sealed
    assert qcow2.read_header(layer).backing_file is None and storage.layer_sealed("snap-2")
    assert has_pattern(layer, 0x5A, 4 * MiB) and has_pattern(layer, 0x77, 8 * MiB)
    plain = storage.create_volume("vol-plain", None, from_layer="snap-2")  # back to qcow2 overlays
    assert has_pattern(plain, 0x77, 8 * MiB)
    assert storage.volume_path("vol-s") == shared  # the shared volume kept its one file


def test_sweep_keeps_known_shared_volumes(storage: Qcow2Storage) -> None:
    keep = storage.create_volume("vol-keep", GiB, shared=True)
    gone = storage.create_volume("vol-gone", GiB, shared=True)
    result = storage.sweep(["vol-keep"], [], in_use=[])
    assert keep.exists() and not gone.exists() and gone in result.removed
    assert storage.list_volumes() == ["vol-keep"]


def test_shared_volume_is_never_encrypted(storage: Qcow2Storage) -> None:
    storage.use_keys(lambda _id: "k" * 64)
    with pytest.raises(StorageError):
        storage.create_volume("vol-e", GiB, shared=True)
    assert storage.list_volumes() == []


def test_designer_writes_a_shareable_raw_disk() -> None:
    xml = design_disk("/x/volumes/vol-1/shared.raw", "vdf", "vol-1").to_xml()
    assert "<shareable />" in xml and "type=\"raw\"" in xml and "cache=\"none\"" in xml
    plain = design_disk("/x/volumes/vol-1/gen-000001.qcow2", "vdf", "vol-1").to_xml()
    assert "shareable" not in plain and "type=\"qcow2\"" in plain


def test_set_shared_converts_both_ways(storage: Qcow2Storage) -> None:
    src = storage.create_volume("vol-src", GiB)
    write_pattern(src, 0x21, MiB)
    storage.snapshot_volume("vol-src", "snap-1")
    vol = storage.create_volume("vol-v", GiB, from_layer="snap-1")  # an overlay: a chain of two
    write_pattern(vol, 0x42, 3 * MiB)
    shared = storage.set_shared("vol-v", True)
    assert shared.name == "shared.raw" and [p.name for p in shared.parent.iterdir()] == ["shared.raw"]
    assert "verification failed" not in raw_io(shared, f"read -P 0x21 {MiB} {MiB}", read_only=True)
    assert "verification failed" not in raw_io(shared, f"read -P 0x42 {3 * MiB} {MiB}", read_only=True)
    assert storage.set_shared("vol-v", True) == shared  # repeatable
    raw_io(shared, f"write -P 0x63 {5 * MiB} {MiB}")
    back = storage.set_shared("vol-v", False)
    assert back.name == "gen-000001.qcow2" and [p.name for p in back.parent.iterdir()] == ["gen-000001.qcow2"]
    assert qcow2.read_header(back).backing_file is None and back.stat().st_mode & 0o777 == 0o600
    assert all(has_pattern(back, pat, off) for pat, off in ((0x21, MiB), (0x42, 3 * MiB), (0x63, 5 * MiB)))
    assert storage.users_of("snap-1") == ["vol-src"]
