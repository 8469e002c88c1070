"""Blank volumes copied from a per-size template (drivers/storage/templates.py) are the very
bytes ``qemu-img create`` writes, and work as volumes; encrypted ones are still made by qemu-img."""

from __future__ import annotations

import subprocess
from pathlib import Path

from orchestrator.drivers.storage import qcow2
from orchestrator.drivers.storage.volumes import Qcow2Storage

from .conftest import GiB, MiB, has_pattern, write_pattern


def test_blank_volume_is_a_copy_of_what_qemu_img_makes(storage: Qcow2Storage, tmp_path: Path) -> None:
    made = tmp_path / "by-qemu-img.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(made), str(3 * GiB)], check=True)
    a = storage.create_volume("vol-a", 3 * GiB)
    b = storage.create_volume("vol-b", 3 * GiB)
    assert [p.name for p in storage.templates_dir.iterdir()] == [f"blank-{3 * GiB}.qcow2"]
    assert a.read_bytes() == made.read_bytes() == b.read_bytes()
    assert a.stat().st_mode & 0o777 == 0o600
    write_pattern(a, 0x11, 2 * MiB)  # each copy is its own volume
    assert has_pattern(a, 0x11, 2 * MiB) and not has_pattern(b, 0x11, 2 * MiB)
    assert qcow2.check(a)["check-errors"] == 0 and storage.volume_size("vol-b") == 3 * GiB
    storage.create_volume("vol-c", GiB)
    assert len(list(storage.templates_dir.iterdir())) == 2


def test_encrypted_blank_volume_is_not_a_template_copy(storage: Qcow2Storage) -> None:
    storage.use_keys(lambda vid: "k" * 64 if vid == "vol-e" else None)
    e = storage.create_volume("vol-e", GiB)
    assert qcow2.read_header(e).encrypted
    assert list(storage.templates_dir.iterdir()) == []
