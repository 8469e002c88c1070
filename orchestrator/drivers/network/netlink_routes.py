"""Kernel routes through netlink: list, add (idempotent) and delete routes in a namespace's tables.

Split from ``netlink.py`` (links, addresses, namespaces), whose namespace entry and error
translation it shares.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from .errors import AlreadyExists
from .netlink import ipr_in, translated, where


@dataclass(frozen=True)
class RouteInfo:
    dst: str  # CIDR
    type: str  # unicast, unreachable, blackhole, local, ...
    gateway: str | None
    proto: int
    metric: int | None
    table: int
    dev: str | None = None  # the output interface's name, when the route has one


_RTN = {
    1: "unicast",
    2: "local",
    3: "broadcast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
}


def list_routes(ns: str | None, *, proto: int | None = None, table: int = 254,
                family: int = socket.AF_INET) -> list[RouteInfo]:
    """IPv4 (or ``family`` AF_INET6) routes of ``table`` (main by default) in ``ns``, optionally
    only protocol ``proto``."""
    with translated(f"list routes in {where(ns)}"), ipr_in(ns) as ipr:
        out = []
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
        for r in ipr.get_routes(family=family, table=table):
            if proto is not None and r["proto"] != proto:
                continue
            dst = r.get_attr("RTA_DST") or ("::" if family == socket.AF_INET6 else "0.0.0.0")
            out.append(
                RouteInfo(
                    dst=f"{dst}/{r['dst_len']}",
                    type=_RTN.get(r["type"], str(r["type"])),
                    gateway=r.get_attr("RTA_GATEWAY"),
                    proto=r["proto"],
                    metric=r.get_attr("RTA_PRIORITY"),
                    table=r.get_attr("RTA_TABLE") or r["table"],
                    dev=names.get(r.get_attr("RTA_OIF")),
                )
            )
        return out


def _family(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int:
    return socket.AF_INET6 if net.version == 6 else socket.AF_INET


def _route_spec(
    dst: str, via: str | None, type_: str, proto: int | None, metric: int | None
) -> dict[str, Any]:
    net = ipaddress.ip_network(dst)
    spec: dict[str, Any] = {"dst": str(net), "type": type_, "family": _family(net)}
    if via:
        spec["gateway"] = via
    if proto is not None:
        spec["proto"] = proto
    if metric is not None:
        spec["priority"] = metric
    return spec


def ensure_route(
    ns: str | None,
    dst: str,
    *,
    via: str | None = None,
    type: str = "unicast",  # noqa: A002 - mirrors `ip route add TYPE`
    proto: int | None = None,
    metric: int | None = None,
) -> None:
    """Route ``dst`` (``via`` a gateway, or of ``type`` unreachable/blackhole) in the main table.

    Idempotent: an identical route (dst, metric, type, gateway) is left alone; a different route
    with the same key is an :class:`AlreadyExists` error (never silently replaced).
    """
    spec = _route_spec(dst, via, type, proto, metric)
    with translated(f"route {dst} in {where(ns)}"), ipr_in(ns) as ipr:
        try:
            ipr.route("add", **spec)
            return
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
    want = ipaddress.ip_network(dst)
    for r in list_routes(ns, family=_family(want)):
        if ipaddress.ip_network(r.dst) == want and r.metric == metric:
            if r.type == type and r.gateway == via:
                return
            raise AlreadyExists(f"another route for {dst} (metric {metric}) exists in {where(ns)}: {r}")


def delete_route(ns: str | None, dst: str, *, type: str = "unicast", metric: int | None = None) -> None:  # noqa: A002
    """Delete the route for ``dst`` with ``metric``; absent is fine."""
    spec = _route_spec(dst, None, type, None, metric)
    with translated(f"delete route {dst} in {where(ns)}"), ipr_in(ns) as ipr:
        try:
            ipr.route("del", **spec)
        except NetlinkError as exc:
            if exc.code not in (errno.ESRCH, errno.ENOENT):
                raise
