"""Host capacity: instances are admitted only while their memory fits the host.

Capacity is ``host memory x overcommit ratio - reserve``; each instance in an active state
(pending, running, stopping, shutting-down) holds its type's memory. Stopped instances hold none,
as on EC2 (a start may then fail with InsufficientInstanceCapacity).
"""

from __future__ import annotations

from orchestrator.api import errors
from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.states import ACTIVE
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
        for r in backend.store.list("instance", region):
            if r.state in ACTIVE and r.id != exclude:
                itype = catalogue.get(r.data["InstanceType"])
                used += itype.memory_mib if itype else 0
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
