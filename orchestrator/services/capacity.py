"""Host capacity: instances are admitted only while their memory fits the host, volumes only
while their provisioned size fits the data dir's filesystem.

Memory: capacity is ``host memory x overcommit ratio - reserve``; each instance in an active state
(pending, running, stopping, shutting-down) holds its type's memory. Stopped instances hold none,
as on EC2 (a start may then fail with InsufficientInstanceCapacity).

Storage: volumes are thin qcow2 files on the filesystem that also holds ``state.db``, so a guest
writing its disk full could otherwise fill the host's disk. The space volumes may grow into is
``(free space + space ec2d's volume files already use - reserve) x storage overcommit``; every
volume record (whatever its state, until it is deleted) holds its provisioned size. With the
default ratio 1.0 every volume can be written full without the filesystem dropping below the
reserve (as long as nothing else on it grows); a ratio above 1 overcommits, as thin pools do.
A request that does not fit gets InsufficientVolumeCapacity before any record or file is made.
(Snapshot layers are not counted: freezing a volume's top moves its bytes into a layer, after
which the volume may grow by its size again; the reserve absorbs that.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from orchestrator.domain import errors
from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.states import ACTIVE, VolumeState
from orchestrator.services.backend import Backend


def host_memory_mib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def total_mib(backend: Backend) -> int:
    cfg = backend.config
    return int(host_memory_mib() * cfg.memory_overcommit) - cfg.memory_reserve_mib


def used_mib(backend: Backend, exclude: str | None = None) -> int:
    used = 0
    for region in backend.config.regions:
        for type_name, count in backend.store.count_by("instance", "InstanceType", region, states=ACTIVE,
                                                       skip_ids=[exclude] if exclude else ()):
            itype = catalogue.get(type_name)
            used += itype.memory_mib * count if itype else 0
    return used


def admit(backend: Backend, itype: catalogue.InstanceType, min_count: int, max_count: int,
          exclude: str | None = None) -> int:
    """How many of ``max_count`` fit (at least ``min_count``, else InsufficientInstanceCapacity)."""
    free = total_mib(backend) - used_mib(backend, exclude)
    fits = max(0, free // itype.memory_mib)
    if fits < min_count:
        raise errors.InsufficientInstanceCapacity(
            f"We currently do not have sufficient {itype.name} capacity to launch {min_count} instance(s) "
            f"on this host ({free} MiB free, {itype.memory_mib} MiB each). Stop or terminate instances, "
            "choose a smaller instance type, or raise ec2d's memory overcommit ratio.")
    return min(max_count, fits)


# ---------------------------------------------------------------------------------------------
# storage

GIB = 1024**3
MIB = 1024**2


def storage_root(backend: Backend) -> Path:
    return backend.config.data_dir / "storage"


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer could still allocate on the filesystem of ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def volume_files_bytes(backend: Backend) -> int:
    """Bytes the volume files (not the layers) occupy on the host now."""
    total = 0
    for dirpath, _dirs, files in os.walk(storage_root(backend) / "volumes"):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total


def storage_total_bytes(backend: Backend) -> int:
    cfg = backend.config
    where = storage_root(backend) if storage_root(backend).exists() else cfg.data_dir
    room = free_bytes(where) + volume_files_bytes(backend) - cfg.storage_reserve_mib * MIB
    return max(0, int(room * cfg.storage_overcommit))


def provisioned_bytes(backend: Backend, exclude: Iterable[str] = ()) -> int:
    used = 0
    for region in backend.config.regions:
        for size, count in backend.store.count_by("volume", "Size", region, skip_states=[VolumeState.DELETED],
                                                  skip_ids=exclude):
            used += int(size or 0) * GIB * count
    return used


def _no_room(what: str, need: int, free: int) -> errors.InsufficientVolumeCapacity:
    return errors.InsufficientVolumeCapacity(
        f"There is not enough capacity to fulfill your EBS volume provision request: {what} needs "
        f"{need // GIB} GiB, this host has {max(0, free) // GIB} GiB left for volumes. Delete volumes, "
        "choose a smaller size, free space on ec2d's data dir filesystem, or raise ec2d's storage "
        "overcommit ratio.")


def admit_volumes(backend: Backend, sizes_gib: Iterable[int], what: str = "the request",
                  exclude: Iterable[str] = ()) -> None:
    """Raise InsufficientVolumeCapacity unless volumes of ``sizes_gib`` (GiB each) fit beside
    every existing volume (``exclude``: volume ids whose current size is replaced, ModifyVolume)."""
    need = sum(int(s) for s in sizes_gib) * GIB
    free = storage_total_bytes(backend) - provisioned_bytes(backend, exclude)
    if need > free:
        raise _no_room(what, need, free)


def admit_instance_volumes(backend: Backend, per_instance_gib: int, min_count: int, max_count: int) -> int:
    """How many of ``max_count`` instances with ``per_instance_gib`` of new volumes each fit
    (at least ``min_count``, else InsufficientVolumeCapacity)."""
    per = int(per_instance_gib) * GIB
    free = storage_total_bytes(backend) - provisioned_bytes(backend)
    fits = max_count if per <= 0 else max(0, free // per)
    if fits < min_count:
        raise _no_room(f"{min_count} instance(s) with {per_instance_gib} GiB of volumes each", per * min_count,
                       free)
    return min(max_count, fits)
