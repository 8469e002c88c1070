"""Blank qcow2 volumes without a qemu-img process: a copy of a template of the same virtual size.

A fresh unencrypted qcow2 holds no id, no time stamp, nothing random: every ``qemu-img create -f
qcow2`` of one size writes the same bytes (header, L1 table, refcount table and block; ~200 KiB
for 4 GiB). So the first blank volume of a size makes ``templates/blank-<size>.qcow2`` with
qemu-img and every later one copies it (sub-millisecond, where spawning qemu-img costs tens of
milliseconds and more on a loaded host): the bulk of CreateVolume -> ``available`` for an empty
volume. An encrypted volume's LUKS header is unique (its own salt and key slots): always made by
qemu-img.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from orchestrator.drivers.storage import qcow2
from orchestrator.drivers.storage.qcow2 import StorageError


def template(templates_dir: Path, size_bytes: int) -> Path:
    """The template of ``size_bytes`` (made now if missing; two makers race harmlessly)."""
    if size_bytes <= 0:
        raise StorageError(f"invalid size {size_bytes}")
    path = templates_dir / f"blank-{size_bytes}.qcow2"
    if path.exists():
        return path
    tmp = templates_dir / f".tmp-{os.getpid()}-{os.urandom(4).hex()}.qcow2"
    try:
        qcow2.create_blank(tmp, size_bytes)  # 0600 as every file of the data dir (data_dir.py)
        os.replace(tmp, path)  # whole before it gets its name: a template is never half made
    except OSError as exc:
        raise StorageError(f"cannot make the template {path.name}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def create_blank(path: Path, size_bytes: int, templates_dir: Path) -> Path:
    """An empty standalone qcow2 of ``size_bytes`` at ``path`` (which must not exist), 0600."""
    if path.exists():
        raise StorageError(f"{path} already exists")
    src = template(templates_dir, size_bytes)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        os.rename(tmp, path)
    except OSError as exc:  # a full disk, ...: the driver's error, as qemu-img's failures are
        raise StorageError(f"cannot create {path.name}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path
