"""What one data dir owns on the host, and how to remove it.

Every host object ec2d makes for a data dir carries that data dir's prefix
(:meth:`orchestrator.config.Config.resolve_prefix`): libvirt domains ``{prefix}-i-…``, VPC
namespaces ``{prefix}-vpc-…`` with their dnsmasq and HAProxy processes (load balancers' files
under ``/run/{prefix}/lb``), the public namespace ``{prefix}-public``, taps
(``tap_tag(prefix)…``), root ``unreachable`` routes (metric per prefix), the host link
``{prefix}-h`` and root nft table ``{prefix}_host`` (``--host-routes`` / ``--uplink-nat``), and the
run dir ``/run/{prefix}``. So two daemons with different data dirs never touch each other's objects,
and ``ec2d uninstall`` removes exactly one data dir's (:func:`sweep`, which also clears crashed
test runs: ``python -m orchestrator.cli.sweep``). The S3 engine is not named by prefix: it is the data
dir's (``DATA_DIR/s3/weed.pid``), dies with its ec2d (``PR_SET_PDEATHSIG``), and a leftover is killed
at the next start and by ``ec2d uninstall``.

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
from orchestrator.drivers.objectstore.seaweed import sweep_leftover as sweep_s3_engine

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
    report: dict[str, list[str]] = {}
    fd = lock_data_dir(config.data_dir) if config.data_dir.exists() else None
    try:
        prefix = config.resolve_prefix(create=False)
        if prefix is not None:
            report = sweep(prefix)
        else:
            log.info("no host objects were ever made for %s", config.data_dir)
        engine = sweep_s3_engine(config.s3_dir)  # an S3 engine a killed ec2d left (by its pid file)
        if engine:
            report["s3 engine"] = engine
        if purge and config.data_dir.exists():
            shutil.rmtree(config.data_dir)
            report["data_dir"] = [str(config.data_dir)]
    finally:
        if fd is not None:
            unlock_data_dir(fd)
    return report


def _prefixes_in_use(family: str) -> set[str]:
    """Concrete prefixes (``ec2dt1a2b``) of namespaces and domains that start with ``family``."""
    from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute
    from orchestrator.drivers.loadbalancer.haproxy import haproxy_pids
    from orchestrator.drivers.network import host_names, netlink
    from orchestrator.drivers.network.names import prefix_of_netns

    found: set[str] = {p for p in (prefix_of_netns(ns) for ns in netlink.list_netns(family)) if p}
    found |= host_names.prefixes()  # a crashed run's load balancer names in /etc/hosts
    for conf in haproxy_pids(Path("/run")).values():  # /run/{prefix}/lb/NAME/haproxy.cfg
        owner = Path(conf).relative_to("/run").parts[0]
        if owner.startswith(family):  # never another family's (a user's ``ec2d`` when sweeping ``ec2dt``)
            found.add(owner)
    try:
        for name in LibvirtCompute().list_domains(family):
            found.add(name.split("-", 1)[0])
    except Exception:  # libvirt down: nothing to sweep there
        log.debug("libvirt not reachable", exc_info=True)
    return {p for p in found if p.startswith(family)}


def sweep(prefix: str, family: bool = False) -> dict[str, list[str]]:
    from orchestrator.drivers.compute.libvirt_driver import LibvirtCompute
    from orchestrator.drivers.loadbalancer.haproxy import HaproxyDriver
    from orchestrator.drivers.network import netlink
    from orchestrator.drivers.network.vpc import LinuxVpcNetwork

    prefixes = _prefixes_in_use(prefix) | {prefix} if family else {prefix}
    report: dict[str, list[str]] = {"domains": [], "namespaces": [], "taps": [], "routes": [], "run dirs": [],
                                    "load balancers": [], "secrets": []}
    compute = LibvirtCompute()
    for p in sorted(prefixes):
        try:
            for name in compute.list_domains(f"{p}-"):
                compute.destroy(name)
                compute.undefine(name)
                report["domains"].append(name)
            report["secrets"] += compute.undefine_secrets(f"{p}-ebs-key-")  # encrypted volumes' keys
        except Exception:
            log.warning("could not sweep libvirt domains of %s", p, exc_info=True)
        from orchestrator.drivers.network.public import LinuxPublicNetwork

        try:
            if netlink.netns_exists(f"{p}-public"):
                report["namespaces"].append(f"{p}-public")
            LinuxPublicNetwork(p).delete()  # host link, root nft table, public namespace
        except Exception:
            log.warning("could not sweep the public network of %s", p, exc_info=True)
        try:  # before the namespaces go: a process would keep its namespace alive
            report["load balancers"] += HaproxyDriver(Path(f"/run/{p}"), p).sweep()
        except Exception:
            log.warning("could not sweep the load balancers of %s", p, exc_info=True)
        net = LinuxVpcNetwork(p, f"/run/{p}")
        r = net.sweep(p)
        report["namespaces"] += r.namespaces
        report["taps"] += r.taps
        report["routes"] += [str(x) for x in r.routes]
        if os.path.isdir(f"/run/{p}"):
            shutil.rmtree(f"/run/{p}", ignore_errors=True)
            report["run dirs"].append(f"/run/{p}")
    compute.close()
    return report
