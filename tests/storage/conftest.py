"""Fixtures and helpers for the storage driver tests: qemu-io pattern writes/reads, a storage
root in a tmp dir, and a unique ``ec2dt<hex>-`` prefix for libvirt domains."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.drivers.storage.volumes import Qcow2Storage

MiB = 1 << 20
GiB = 1 << 30


def qemu_io(path: Path, cmd: str, *, read_only: bool = False, force_share: bool = False) -> subprocess.CompletedProcess[str]:
    args = ["qemu-io", "-f", "qcow2"]
    if read_only:
        args.append("-r")
    if force_share:
        args.append("-U")
    return subprocess.run([*args, "-c", cmd, str(path)], capture_output=True, text=True)


def write_pattern(path: Path, pattern: int, offset: int = 0, length: int = MiB) -> None:
    cp = qemu_io(path, f"write -P {pattern:#x} {offset} {length}")
    assert cp.returncode == 0 and "wrote" in cp.stdout, cp.stdout + cp.stderr


def has_pattern(path: Path, pattern: int, offset: int = 0, length: int = MiB, *, force_share: bool = False) -> bool:
    cp = qemu_io(path, f"read -P {pattern:#x} {offset} {length}", read_only=True, force_share=force_share)
    if "verification failed" in cp.stdout + cp.stderr:
        return False
    assert cp.returncode == 0 and "read " in cp.stdout, cp.stdout + cp.stderr
    return True


@pytest.fixture(scope="session", autouse=True)
def _need_qemu_tools() -> None:
    for tool in ("qemu-img", "qemu-io"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")


@pytest.fixture
def storage_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "storage"
    root.mkdir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def storage(storage_root: Path) -> Qcow2Storage:
    return Qcow2Storage(storage_root)


@pytest.fixture
def prefix() -> str:
    return f"ec2dt{secrets.token_hex(2)}-"
