"""What one data dir owns on the host, and how to remove it.

Every host object ec2d makes for a data dir carries that data dir's prefix
(:meth:`orchestrator.config.Config.resolve_prefix`): libvirt domains ``{prefix}-i-…``, VPC
namespaces ``{prefix}-vpc-…`` with their dnsmasq, the public namespace ``{prefix}-public``, taps
(``tap_tag(prefix)…``), root ``unreachable`` routes (metric per prefix), the host link
``{prefix}-h`` and root nft table ``{prefix}_host`` (``--host-routes`` / ``--uplink-nat``), and the
run dir ``/run/{prefix}``. So two daemons with different data dirs never touch each other's objects,
and ``ec2d uninstall`` removes exactly one data dir's.

A serving daemon holds an exclusive ``flock`` on ``{data dir}/ec2d.lock`` (its pid written inside):
a second ``ec2d serve`` on the same data dir, and ``ec2d uninstall`` of a data dir in use, refuse.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path

from orchestrator.config import Config

log = logging.getLogger("ec2d.hostscope")
LOCK_FILE = "ec2d.lock"


class DataDirBusy(Exception):
    """Another ec2d process serves this data dir."""


def lock_data_dir(data_dir: Path) -> int:
    """Take the data dir's serving lock; returns the fd to keep open (closing it releases the lock)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirBusy(f"another ec2d serves {data_dir} (pid {_holder(path)}); stop it first") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def unlock_data_dir(fd: int) -> None:
    os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


def uninstall(config: Config, purge: bool = False) -> dict[str, list[str]]:
    """Remove every host object of ``config``'s data dir (domains, namespaces with dnsmasq, taps,
    routes, public namespace, host link, nft tables, run dir); with ``purge`` the data dir too.
    Refuses (:class:`DataDirBusy`) while an ec2d serves that data dir."""
    from orchestrator.cli.sweep import sweep

    report: dict[str, list[str]] = {}
    fd = lock_data_dir(config.data_dir) if config.data_dir.exists() else None
    try:
        prefix = config.resolve_prefix(create=False)
        if prefix is not None:
            report = sweep(prefix)
        else:
            log.info("no host objects were ever made for %s", config.data_dir)
        if purge and config.data_dir.exists():
            shutil.rmtree(config.data_dir)
            report["data_dir"] = [str(config.data_dir)]
    finally:
        if fd is not None:
            unlock_data_dir(fd)
    return report
