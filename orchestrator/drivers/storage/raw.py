"""Raw volume files: the format of Multi-Attach volumes.

A qcow2 file cannot be written by two QEMU processes (its metadata - refcounts, L2 tables - has
one writer, and QEMU's image locking refuses a second), so a volume several guests share is a raw
file, which every attached domain opens with libvirt's ``<shareable/>`` (QEMU ``share-rw=on``,
``cache=none``). A raw file has no backing chain: one made from a snapshot layer is a full copy
(``qemu-img convert``, O(data)), and a snapshot of it is converted into a standalone qcow2 layer,
the format every other layer has (read with ``-U``: the guests keep running; the copy is what the
file holds while it is read, as a crash-consistent snapshot of a shared disk can only be
when its writers do not pause).
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.drivers.storage import qcow2
from orchestrator.drivers.storage.qcow2 import StorageError

SUFFIX = ".raw"
FILE_MODE = 0o600


def is_raw(path: str | os.PathLike[str]) -> bool:
    return str(path).endswith(SUFFIX)


def create_blank(path: Path, size_bytes: int) -> Path:
    """A sparse file of ``size_bytes`` (no qemu-img: a raw blank volume is an empty sparse file)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except OSError as exc:
        raise StorageError(f"cannot create {path.name}: {exc.strerror or exc}") from exc
    try:
        os.ftruncate(fd, size_bytes)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise StorageError(f"cannot size {path.name}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return path


def create_from_layer(path: Path, layer: Path, size_bytes: int | None, roots: tuple[Path, ...]) -> Path:
    """A raw copy of the whole chain of ``layer`` (a layer, or a volume's qcow2 top: O(data)),
    grown to ``size_bytes`` when larger."""
    qcow2.check_chain(layer, roots)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.unlink(missing_ok=True)
    try:
        qcow2.run_qemu_img(["convert", "-q", "-f", "qcow2", str(layer), "-O", "raw", str(tmp)], f"convert {layer}")
        if size_bytes is not None:
            grow(tmp, size_bytes)
        os.rename(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def to_layer(path: Path, layer: Path) -> Path:
    """The raw file's content as a new standalone qcow2 layer, sealed read-only before it gets
    its name (``layer_sealed``)."""
    return to_qcow2(path, layer, mode=qcow2.LAYER_MODE)


def to_qcow2(path: Path, dst: Path, mode: int = FILE_MODE) -> Path:
    """The raw file's content as a standalone qcow2 at ``dst`` (``mode`` set before it gets its name)."""
    tmp = dst.with_name(f".tmp-{dst.name}")
    tmp.unlink(missing_ok=True)
    try:
        qcow2.run_qemu_img(["convert", "-q", "-U", "-f", "raw", str(path), "-O", "qcow2", str(tmp)], f"convert {path}")
        os.chmod(tmp, mode)
        os.rename(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def size(path: Path) -> int:
    return os.stat(path).st_size


def grow(path: Path, size_bytes: int) -> None:
    cur = size(path)
    if size_bytes < cur:
        raise StorageError(f"refusing to shrink {path} from {cur} to {size_bytes}")
    if size_bytes > cur:
        os.truncate(path, size_bytes)
