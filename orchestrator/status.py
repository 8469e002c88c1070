"""``ec2d status``: is this host ready to run instances, and how?"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from orchestrator.config import Config
from orchestrator.drivers.network import rootops


def _version(cmd: list[str]) -> str:
    exe = shutil.which(cmd[0])
    if exe is None:
        return "missing"
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"error: {e}"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else f"exit {out.returncode}"


def _nft_version() -> str:
    """``nft --version`` through the network driver's root-operations module."""
    try:
        res = rootops.nft_version()
    except rootops.CommandFailed as e:
        return f"error: {e}"
    if res is None:
        return "missing"
    text = (res.stdout or res.stderr).strip().splitlines()
    return text[0] if text else f"exit {res.returncode}"


def _libvirt(uri: str) -> str:
    try:
        import libvirt

        conn = libvirt.open(uri)
        try:
            v = conn.getLibVersion()
            return f"ok (libvirt {v // 1000000}.{v // 1000 % 1000}.{v % 1000}, {uri})"
        finally:
            conn.close()
    except Exception as e:  # libvirt.libvirtError, ImportError
        return f"unreachable: {e}"


def _virtualization(config: Config, probe: bool) -> str:
    if not os.path.exists("/dev/kvm"):
        return "tcg (no /dev/kvm)"
    if not probe:
        return "unknown (probe skipped)"
    from orchestrator.drivers.compute.kvm_probe import probe_host

    try:
        result = probe_host(config.cache_dir)
    except Exception as e:
        return f"tcg (probe failed: {e})"
    mode = "kvm" if result.virt_type == "kvm" else "tcg"
    return f"{mode} ({result.reason})"


def _isolation(config: Config) -> tuple[dict[str, str], bool]:
    """Every host precondition security groups rely on (see drivers/network/hostprep.py)."""
    from orchestrator.drivers.network import hostprep, netlink

    checks = hostprep.host_checks()
    if os.geteuid() != 0:
        out = {c.name: c.line() for c in checks}
        out["namespaces"] = "not checked (needs root)"
        return out, all(c.ok for c in checks)
    checks += hostprep.probe_fresh_netns(config.prefix)  # a scratch namespace, removed again
    for ns in netlink.list_netns(f"{config.prefix}-vpc-"):
        checks += hostprep.netns_checks(ns)
    return {c.name: c.line() for c in checks}, all(c.ok for c in checks)


def collect(config: Config, probe: bool = True) -> dict[str, Any]:
    data_dir = Path(config.data_dir)
    writable = data_dir.exists() and os.access(data_dir, os.W_OK)
    report: dict[str, Any] = {
        "libvirt": _libvirt(config.libvirt_uri),
        "virtualization": _virtualization(config, probe),
        "nftables": _nft_version(),
        "dnsmasq": _version(["dnsmasq", "--version"]),
        "qemu-img": _version(["qemu-img", "--version"]),
        "data dir": f"{data_dir} ({'writable' if writable else 'missing or not writable'})",
        "cache dir": str(config.cache_dir),
        "endpoint": config.endpoint_url,
        "regions": {r: ", ".join(f"{r}{z}" for z in zs) for r, zs in config.regions.items()},
    }
    report["isolation"], isolated = _isolation(config)
    report["ok"] = isolated and report["libvirt"].startswith("ok") and not any(
        str(report[k]).startswith(("missing", "error")) for k in ("nftables", "dnsmasq", "qemu-img")
    )
    return report
