"""Real network namespaces for the IMDS integration test (root only; cleaned up by the caller).

Topology for one VPC (names carry a unique `ec2dt<hex>` prefix):

    <p>-vpc  [<p>v0: 10.99.0.1/24 + 169.254.169.254/32]   the VPC namespace, IMDS listens here
        | veth
    <p>-g1   [<p>g0: 10.99.0.5/24]  route 169.254.169.254 via 10.99.0.1; forwards (ip_forward=1)
        | veth (optional: a host routed *behind* the guest, one hop further away)
    <p>-g2   [<p>c0: 10.99.1.2/24]  routes to 169.254.169.254 and 10.99.0.0/24 via 10.99.1.1
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest


def require_root_and_ip() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=30)


def ip(netns: str, *args: str) -> None:
    sh("ip", "-n", netns, *args)


def unique_prefix() -> str:
    return "ec2dt" + secrets.token_hex(3)  # interface names stay <= 15 chars


@dataclass
class Topology:
    prefix: str
    namespaces: list[str] = field(default_factory=list)

    def add_netns(self, name: str) -> str:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        ip(name, "link", "set", "lo", "up")
        return name

    def cleanup(self) -> None:
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self.namespaces.clear()


def build_vpc(topo: Topology, tag: str = "", *, behind: bool = False) -> dict[str, str]:
    """VPC namespace + guest namespace (+ a namespace routed behind the guest when `behind`).
    Returns {"vpc": ..., "guest": ..., "behind": ...} namespace names."""
    p = topo.prefix + tag
    vpc = topo.add_netns(f"{p}-vpc")
    guest = topo.add_netns(f"{p}-g1")
    ip(vpc, "link", "add", f"{p}v0", "type", "veth", "peer", "name", f"{p}g0", "netns", guest)
    ip(vpc, "addr", "add", "10.99.0.1/24", "dev", f"{p}v0")
    ip(vpc, "addr", "add", "169.254.169.254/32", "dev", f"{p}v0")
    ip(vpc, "link", "set", f"{p}v0", "up")
    ip(guest, "addr", "add", "10.99.0.5/24", "dev", f"{p}g0")
    ip(guest, "link", "set", f"{p}g0", "up")
    ip(guest, "route", "add", "169.254.169.254", "via", "10.99.0.1")
    names = {"vpc": vpc, "guest": guest}
    if behind:
        far = topo.add_netns(f"{p}-g2")
        ip(guest, "link", "add", f"{p}g1", "type", "veth", "peer", "name", f"{p}c0", "netns", far)
        ip(guest, "addr", "add", "10.99.1.1/24", "dev", f"{p}g1")
        ip(guest, "link", "set", f"{p}g1", "up")
        sh("ip", "netns", "exec", guest, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ip(far, "addr", "add", "10.99.1.2/24", "dev", f"{p}c0")
        ip(far, "link", "set", f"{p}c0", "up")
        ip(far, "route", "add", "169.254.169.254", "via", "10.99.1.1")
        ip(far, "route", "add", "10.99.0.0/24", "via", "10.99.1.1")
        ip(vpc, "route", "add", "10.99.1.0/24", "via", "10.99.0.5")
        names["behind"] = far
    return names
