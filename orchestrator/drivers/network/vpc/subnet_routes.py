"""Routes to ENIs in a VPC's namespace: per subnet, policy routing.

What a subnet's route table sends to an ENI (a router or middlebox instance) is routed, for
packets arriving on that subnet's bridge, to the ENI's address as next hop: one rule
``iif <bridge> lookup <table>`` (priority :data:`PRIORITY`) per subnet with such routes, and in
that table one route per destination, ``via`` the ENI's address on its subnet's bridge, or a
``blackhole`` when the ENI carries no traffic (its instance stopped, the ENI detached). What the
table does not hold falls through to the main table (local delivery comes first anyway: the
``local`` table's rule precedes). Tables are numbered from :data:`TABLES`, kept per bridge while
its rule stays, and each is filled before its rule points to it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument
from ..names import bridge_name
from ..netlink import ipr_in, translated

__all__ = ["PRIORITY", "TABLES", "SubnetRoute", "apply", "check", "current"]

PRIORITY = 1000
TABLES = range(1000, 2000)


@dataclass(frozen=True)
class SubnetRoute:
    """Traffic from subnet ``subnet_id`` to ``cidr`` goes to ``via`` (an ENI's address in subnet
    ``via_subnet_id``); ``via`` None: dropped (a blackhole route)."""

    subnet_id: str
    cidr: str
    via: str | None = None
    via_subnet_id: str | None = None


def check(routes: Sequence[SubnetRoute], subnets: Mapping[str, str]) -> None:
    """Every route's subnets are the VPC's (``subnets``: id -> CIDR), its next hop inside its
    subnet, its destination an IPv4 CIDR."""
    for r in routes:
        if r.subnet_id not in subnets:
            raise InvalidArgument(f"route from unknown subnet {r.subnet_id}")
        ipaddress.IPv4Network(r.cidr)
        if r.via is None:
            continue
        if r.via_subnet_id not in subnets or ipaddress.IPv4Address(r.via) not in ipaddress.IPv4Network(
                subnets[r.via_subnet_id]):
            raise InvalidArgument(f"next hop {r.via} is not in subnet {r.via_subnet_id}")


def _key(dst: str, via: str | None) -> tuple[str, str | None]:
    return str(ipaddress.IPv4Network(dst)), via


def _table_routes(ipr: Any, table: int) -> dict[tuple[str, str | None], dict[str, Any]]:
    out = {}
    for m in ipr.get_routes(family=socket.AF_INET, table=table):
        if (m.get_attr("RTA_TABLE") or m["table"]) != table:
            continue
        dst = f"{m.get_attr('RTA_DST') or '0.0.0.0'}/{m['dst_len']}"
        out[_key(dst, m.get_attr("RTA_GATEWAY"))] = {"dst": dst, "type": m["type"]}
    return out


def _rules(ipr: Any) -> dict[str, int]:
    """bridge -> table of ec2d's per-subnet rules."""
    return {m.get_attr("FRA_IIFNAME"): m.get_attr("FRA_TABLE") or m["table"]
            for m in ipr.get_rules(family=socket.AF_INET) if m.get_attr("FRA_PRIORITY") == PRIORITY}


def _fill(ipr: Any, table: int, routes: Iterable[SubnetRoute], links: Mapping[str, int]) -> None:
    have = _table_routes(ipr, table)
    want = {_key(r.cidr, r.via): r for r in routes}
    for key, old in have.items():
        if key not in want:
            ipr.route("del", table=table, dst=old["dst"], type=old["type"], family=socket.AF_INET)
    for key, r in want.items():
        if key in have:
            continue
        if r.via is None:
            ipr.route("replace", table=table, dst=key[0], type="blackhole", family=socket.AF_INET)
        else:
            ipr.route("replace", table=table, dst=key[0], gateway=r.via,
                      oif=links[bridge_name(str(r.via_subnet_id))], family=socket.AF_INET)


def apply(ns: str, routes: Sequence[SubnetRoute]) -> None:
    """The namespace's per-subnet routes to ENIs exactly ``routes`` (rules and tables of subnets
    no longer listed are removed)."""
    wanted: dict[str, list[SubnetRoute]] = {}
    for r in routes:
        wanted.setdefault(bridge_name(r.subnet_id), []).append(r)
    with translated(f"subnet routes in {ns}"), ipr_in(ns) as ipr:
        links = {m.get_attr("IFLA_IFNAME"): m["index"] for m in ipr.get_links()}
        rules = _rules(ipr)
        for bridge, table in rules.items():
            if bridge not in wanted:
                ipr.rule("del", table=table, priority=PRIORITY, iifname=bridge, family=socket.AF_INET)
                _fill(ipr, table, (), links)
        used = {t for b, t in rules.items() if b in wanted}
        free = (t for t in TABLES if t not in used)
        for bridge, rs in sorted(wanted.items()):
            table = rules.get(bridge) or next(free)
            _fill(ipr, table, rs, links)
            if bridge not in rules:
                ipr.rule("add", table=table, priority=PRIORITY, iifname=bridge, family=socket.AF_INET)


def current(ns: str) -> dict[str, list[tuple[str, str | None]]]:
    """What :func:`apply` left: bridge -> sorted (destination, next hop) pairs (None: blackhole)."""
    with translated(f"subnet routes in {ns}"), ipr_in(ns) as ipr:
        return {bridge: sorted(_table_routes(ipr, table)) for bridge, table in _rules(ipr).items()}
