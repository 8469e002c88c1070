"""Root-namespace safety routes: an ``unreachable`` route for every VPC CIDR, the public pool and
the VPCs' IPv6 pool (``domain/ipv6_pools.VPC_POOL``).

Nothing of a VPC may ever leave through the uplink. With these routes in the root namespace's main
table, a packet for a VPC or public address that has no more specific route into one of ec2d's own
namespaces fails closed (``ip route get 10.0.1.5`` -> "Network is unreachable") instead of following
the default route out of the machine.

Routes are tagged so they can be found again: protocol :data:`RTPROT_EC2D` (236) and a metric
derived from the host-object prefix (:func:`metric_for_prefix`). IPv4 keys routes by
(dst, metric), so the same CIDR can be protected independently by two prefixes (a daemon and a test
session), and a sweep of one prefix never removes the other's routes. More specific routes (a
host's own connected networks, later routes into a namespace) still win by longest-prefix match.
"""

from __future__ import annotations

import ipaddress
import socket
import zlib

from . import netlink_routes
from .names import check_prefix

RTPROT_EC2D = 236
_METRIC_BASE = 0x7EC00000


def metric_for_prefix(prefix: str) -> int:
    """Metric of the unreachable routes of ``prefix`` (stable, distinct per prefix)."""
    return _METRIC_BASE + (zlib.crc32(check_prefix(prefix).encode()) & 0xFFFFF)


def _cidr(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr))  # IPv4, or IPv6 (the VPCs' IPv6 pool)


def ensure_unreachable(cidr: str, *, prefix: str = "ec2d") -> None:
    """Install ``unreachable CIDR`` in the root main table for ``prefix``; present is fine."""
    netlink_routes.ensure_route(
        None, _cidr(cidr), type="unreachable", proto=RTPROT_EC2D, metric=metric_for_prefix(prefix)
    )


def delete_unreachable(cidr: str, *, prefix: str = "ec2d") -> None:
    """Remove that route; absent is fine."""
    netlink_routes.delete_route(None, _cidr(cidr), type="unreachable", metric=metric_for_prefix(prefix))


def list_unreachable(*, prefix: str | None = None) -> list[str]:
    """CIDRs protected by ec2d unreachable routes (of ``prefix`` only, when given)."""
    metric = metric_for_prefix(prefix) if prefix is not None else None
    found = netlink_routes.list_routes(None, proto=RTPROT_EC2D) + netlink_routes.list_routes(
        None, proto=RTPROT_EC2D, family=socket.AF_INET6)
    return sorted(r.dst for r in found if r.type == "unreachable" and (metric is None or r.metric == metric))


def sweep_unreachable(prefix: str) -> list[str]:
    """Remove every unreachable route of ``prefix``; returns the CIDRs removed."""
    removed = list_unreachable(prefix=prefix)
    for cidr in removed:
        delete_unreachable(cidr, prefix=prefix)
    return removed


# --------------------------------------------------------------------------- what a VPC may not shadow

# Never VPC space: "this network", loopback, link-local (the metadata and DNS addresses of every
# VPC, and the host's own cloud metadata), multicast, reserved and broadcast.
SPECIAL_RANGES = ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
RESOLV_CONF = "/etc/resolv.conf"
_MAIN, _LOCAL = 254, 255


def nameservers(path: str = RESOLV_CONF) -> list[str]:
    """IPv4 name servers of the host (``nameserver`` lines of resolv.conf; none when unreadable)."""
    out = []
    try:
        with open(path) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        out.append(str(ipaddress.IPv4Address(parts[1])))
                    except ValueError:
                        continue
    except OSError:
        return []
    return out


def conflicts(cidr: str, host_routes: list[netlink_routes.RouteInfo], servers: list[str]) -> list[str]:
    """Why an ``unreachable`` route for ``cidr`` in the root namespace would hurt the host: the
    special ranges it overlaps, host routes (main and local tables) it overlaps, gateways and name
    servers it contains. The default route and ec2d's own unreachable routes (of any prefix: two
    daemons may protect the same CIDR) do not count. Empty: safe."""
    net = ipaddress.IPv4Network(cidr)
    found = [f"reserved range {r}" for r in SPECIAL_RANGES if net.overlaps(ipaddress.IPv4Network(r))]
    for r in host_routes:
        dst = ipaddress.IPv4Network(r.dst)
        if dst.prefixlen == 0:
            pass  # the default route: everything overlaps it
        elif r.proto == RTPROT_EC2D and r.type == "unreachable":
            continue
        elif dst.overlaps(net):
            kind = "address" if r.type in ("local", "broadcast") else "route"
            found.append(f"host {kind} {dst if dst.prefixlen < 32 else dst.network_address}")
        if r.gateway and ipaddress.IPv4Address(r.gateway) in net:
            found.append(f"host gateway {r.gateway}")
    found += [f"host name server {s}" for s in servers if ipaddress.IPv4Address(s) in net]
    return list(dict.fromkeys(found))


def host_conflicts(cidr: str) -> list[str]:
    """:func:`conflicts` against the root namespace's real routing table and resolv.conf."""
    table = netlink_routes.list_routes(None, table=_MAIN) + netlink_routes.list_routes(None, table=_LOCAL)
    return conflicts(str(ipaddress.IPv4Network(cidr)), table, nameservers())
