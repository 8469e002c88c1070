"""Where a VPC's route tables send each subnet's traffic, as pure functions of the records.

A route table is matched as EC2 does, by the longest prefix: the most specific route containing a
destination decides, and a route whose target is gone (a deleted NAT gateway, a detached internet
gateway) is a *blackhole*: it still wins the match and drops the traffic, it never falls back to a
less specific route. From that, per subnet: the destinations that leave through the internet
gateway as they are (1:1 NAT applies), and those that leave through a NAT gateway (its subnet must
itself route them to the internet gateway, as on AWS), translated to its Elastic IP.

IPv6 routes (``decide6``, ``egress6``) are matched the same way against the IPv6 space, the VPC's
own /56s routed ``local``: per subnet, what goes to the internet gateway (both ways) and what to an
egress-only internet gateway (out, and the replies back).

Ranges are half-open ``(first, last + 1)`` pairs of integers, turned into CIDRs at the end.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Mapping, Sequence

from orchestrator.domain.lifecycle import NatGatewayState
from orchestrator.drivers.network.public.driver import SubnetEgress, SubnetEgress6
from orchestrator.store.sqlite import Record

Range = tuple[int, int]
SPACE: Range = (0, 1 << 32)
LOCAL = "local"
BLACKHOLE = "blackhole"
NAT_WORKS = (str(NatGatewayState.AVAILABLE),)  # states in which a NAT gateway translates


def route_target(route: Mapping[str, object]) -> str:
    """The route's target id (a NAT gateway, a peering connection, an ENI, an egress-only or an
    internet gateway, ``local``)."""
    return str(route.get("NatGatewayId") or route.get("VpcPeeringConnectionId") or route.get("NetworkInterfaceId")
               or route.get("EgressOnlyInternetGatewayId") or route.get("GatewayId") or "")


def live_targets(igw_id: str | None, nat_gateways: Iterable[Record], peerings: Iterable[str] = (),
                 endpoints: Iterable[str] = (), eigws: Iterable[str] = ()) -> set[str]:
    """The targets that can carry traffic: ``local``, the VPC's attached IGW, available NAT
    gateways, the active peering connections ``peerings``, gateway ``endpoints`` and egress-only
    internet gateways ``eigws`` (ids)."""
    live = {LOCAL} | ({igw_id} if igw_id else set())
    return live | {n.id for n in nat_gateways if n.state in NAT_WORKS} | set(peerings) | set(endpoints) | set(eigws)


def route_state(route: Mapping[str, object], live: set[str]) -> str:
    """``active``, or ``blackhole`` when the target is gone (what DescribeRouteTables shows)."""
    return "active" if route_target(route) in live else BLACKHOLE


def table_for(tables: Sequence[Record], subnet_id: str) -> Record | None:
    """The subnet's route table: the one associated with it, else the VPC's main table."""
    own = next((t for t in tables if any(a.get("SubnetId") == subnet_id for a in t.data["Associations"])), None)
    return own or next((t for t in tables if any(a.get("Main") for a in t.data["Associations"])), None)


def _range(cidr: str) -> Range:
    net = ipaddress.IPv4Network(cidr)
    return int(net.network_address), int(net.network_address) + net.num_addresses


def decide(routes: Sequence[Mapping[str, object]], live: set[str],
           lists: Mapping[str, Sequence[str]] | None = None) -> list[tuple[Range, str]]:
    """The address space cut into ranges, each with the target of its longest matching route
    (``blackhole`` for a dead target); ranges no route covers are left out. A route to a prefix
    list stands for one route per CIDR of the list (``lists``: list id -> CIDRs)."""
    nets = []
    for r in routes:
        pl_id = r.get("DestinationPrefixListId")
        destinations = (lists or {}).get(str(pl_id), ()) if pl_id else (r.get("DestinationCidrBlock"),)
        for destination in destinations:
            try:
                nets.append((_range(str(destination)), route_target(r)))
            except ValueError:
                continue  # not IPv4 (an IPv6 list's entry): no effect on IPv4 forwarding
    return _longest_match(nets, live)


def decide6(routes: Sequence[Mapping[str, object]], live: set[str], local_blocks: Sequence[str] = ()
            ) -> list[tuple[Range, str]]:
    """:func:`decide` for the IPv6 routes (``DestinationIpv6CidrBlock``), the VPC's own blocks
    (``local_blocks``, kept by the VPC, not in the table) routed ``local``."""
    nets = [(_range6(b), LOCAL) for b in local_blocks]
    nets += [(_range6(str(r["DestinationIpv6CidrBlock"])), route_target(r))
             for r in routes if r.get("DestinationIpv6CidrBlock")]
    return _longest_match(nets, live)


def _range6(cidr: str) -> Range:
    net = ipaddress.IPv6Network(cidr)
    return int(net.network_address), int(net.network_address) + net.num_addresses


def _longest_match(nets: Sequence[tuple[Range, str]], live: set[str]) -> list[tuple[Range, str]]:
    cuts = sorted({b for (lo, hi), _ in nets for b in (lo, hi)})
    out: list[tuple[Range, str]] = []
    for lo, hi in itertools.pairwise(cuts):
        covering = [(h - low, t) for (low, h), t in nets if low <= lo and hi <= h]
        if not covering:
            continue
        target = min(covering)[1]  # the smallest (most specific) route containing the piece
        target = target if target in live else BLACKHOLE
        if out and out[-1][1] == target and out[-1][0][1] == lo:
            out[-1] = ((out[-1][0][0], hi), target)
        else:
            out.append(((lo, hi), target))
    return out


def target_of(decided: Sequence[tuple[Range, str]], address: str) -> str | None:
    """The target the decision sends ``address`` to (None: no route covers it)."""
    value = int(ipaddress.IPv4Address(address))
    return next((t for (lo, hi), t in decided if lo <= value < hi), None)


def ranges_to(decided: Sequence[tuple[Range, str]], target: str) -> list[Range]:
    return [r for r, t in decided if t == target]


def intersect(a: Sequence[Range], b: Sequence[Range]) -> list[Range]:
    out = []
    for lo1, hi1 in a:
        for lo2, hi2 in b:
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)


def cidrs(ranges: Sequence[Range], version: int = 4) -> tuple[str, ...]:
    address = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    out: list[str] = []
    for lo, hi in ranges:
        out += [str(n) for n in ipaddress.summarize_address_range(address(lo), address(hi - 1))]  # type: ignore[type-var]
    return tuple(out)


Lists = Mapping[str, Sequence[str]] | None  # prefix list id -> CIDRs (routes may name a list)


def internet_ranges(tables: Sequence[Record], subnet_id: str, igw_id: str | None, live: set[str],
                    lists: Lists = None) -> list[Range]:
    """The destinations the subnet's route table sends to the VPC's attached internet gateway."""
    table = table_for(tables, subnet_id)
    if table is None or igw_id is None:
        return []
    return ranges_to(decide(table.data["Routes"], live, lists), igw_id)


def egress(tables: Sequence[Record], subnets: Mapping[str, Record], igw_id: str | None,
           nat_gateways: Sequence[Record], lists: Lists = None) -> list[SubnetEgress]:
    """Per subnet of the VPC, what may leave through the internet gateway: directly (the
    destinations routed to the IGW) and through each NAT gateway (the destinations routed to it
    that its own subnet routes to the IGW), sorted by subnet CIDR."""
    live = live_targets(igw_id, nat_gateways)
    nat_ips = {n.id: _public_ip(n) for n in nat_gateways}
    out = []
    for subnet in ipv4_subnets(subnets):
        table = table_for(tables, subnet.id)
        decided = decide(table.data["Routes"], live, lists) if table is not None else []
        direct = ranges_to(decided, igw_id) if igw_id else []
        via: list[tuple[str, tuple[str, ...]]] = []
        for nat in nat_gateways:
            public_ip = nat_ips[nat.id]
            if nat.id not in live or public_ip is None or nat.data["SubnetId"] not in subnets:
                continue
            onward = internet_ranges(tables, nat.data["SubnetId"], igw_id, live, lists)
            ranges = intersect(ranges_to(decided, nat.id), onward)
            if ranges:
                via.append((public_ip, cidrs(ranges)))
        out.append(SubnetEgress(subnet.data["CidrBlock"], cidrs(direct), tuple(via)))
    return out


def ipv4_subnets(subnets: Mapping[str, Record]) -> list[Record]:
    """The subnets with an IPv4 CIDR (not the IPv6-only ones), sorted by it."""
    return sorted((s for s in subnets.values() if s.data.get("CidrBlock")), key=lambda s: _range(s.data["CidrBlock"]))


def _public_ip(nat: Record) -> str | None:
    return next((a["PublicIp"] for a in nat.data["NatGatewayAddresses"] if a.get("PublicIp")), None)


def peering_ranges(tables: Sequence[Record], subnets: Mapping[str, Record], live: set[str], pcx_id: str,
                   peer_cidrs: Sequence[str], lists: Lists = None) -> list[tuple[str, tuple[str, ...]]]:
    """Per subnet (CIDR), the destinations inside the peer VPC's ``peer_cidrs`` that its route
    table sends to the peering connection ``pcx_id``; subnets that send none are left out."""
    out = []
    for subnet in ipv4_subnets(subnets):
        table = table_for(tables, subnet.id)
        decided = decide(table.data["Routes"], live, lists) if table is not None else []
        ranges = intersect(ranges_to(decided, pcx_id), sorted(_range(c) for c in peer_cidrs))
        if ranges:
            out.append((subnet.data["CidrBlock"], cidrs(ranges)))
    return out


def public_ips(nat_gateways: Sequence[Record]) -> list[str]:
    """The Elastic IPs of the NAT gateways that translate (routed to the VPC on the public side)."""
    return sorted(ip for n in nat_gateways if n.state in NAT_WORKS and (ip := _public_ip(n)))


def egress6(tables: Sequence[Record], subnets: Mapping[str, Record], blocks: Sequence[str], igw_id: str | None,
            eigw_ids: Sequence[str]) -> list[SubnetEgress6]:
    """Per subnet of the VPC with an IPv6 /64, the IPv6 destinations its route table sends to the
    attached internet gateway (``internet``: both ways) and to an egress-only one
    (``outbound_only``: connections the subnet opens, and their replies), sorted by /64."""
    live = live_targets(igw_id, (), eigws=eigw_ids)
    out = []
    for subnet in subnets.values():
        cidr6 = next((a["Ipv6CidrBlock"] for a in subnet.data.get("Ipv6CidrBlockAssociationSet") or []), None)
        if cidr6 is None:
            continue
        table = table_for(tables, subnet.id)
        decided = decide6(table.data["Routes"], live, blocks) if table is not None else []
        internet = ranges_to(decided, igw_id) if igw_id else []
        outbound = sorted(r for e in eigw_ids for r in ranges_to(decided, e))
        out.append(SubnetEgress6(cidr6, cidrs(internet, 6), cidrs(outbound, 6)))
    return sorted(out, key=lambda e: _range6(e.cidr))


def peering_ranges6(tables: Sequence[Record], subnets: Mapping[str, Record], live: set[str], pcx_id: str,
                    peer_blocks: Sequence[str], local_blocks: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """:func:`peering_ranges` for IPv6: per subnet /64, the destinations inside the peer VPC's /56s
    (``peer_blocks``) its route table sends to ``pcx_id``; subnets that send none are left out."""
    out = []
    for subnet in subnets.values():
        cidr6 = next((a["Ipv6CidrBlock"] for a in subnet.data.get("Ipv6CidrBlockAssociationSet") or []), None)
        table = table_for(tables, subnet.id)
        if cidr6 is None or table is None:
            continue
        decided = decide6(table.data["Routes"], live, local_blocks)
        ranges = intersect(ranges_to(decided, pcx_id), sorted(_range6(c) for c in peer_blocks))
        if ranges:
            out.append((cidr6, cidrs(ranges, 6)))
    return sorted(out, key=lambda e: _range6(e[0]))


def eni_routes(tables: Sequence[Record], subnets: Mapping[str, Record], eni_ips: Mapping[str, tuple[str, str]],
               lists: Lists = None) -> list[tuple[str, str, tuple[str, str] | None]]:
    """Per subnet, the destinations its route table sends to an ENI: ``(subnet id, CIDR, (ENI's
    address, its subnet id))``, or ``None`` instead of the next hop when the ENI carries no traffic
    (not in ``eni_ips``: a blackhole, dropped). Longest prefix wins, so a route to an ENI more
    specific than ``local`` sends that part of the VPC through it (middlebox routing)."""
    out: list[tuple[str, str, tuple[str, str] | None]] = []
    for subnet in ipv4_subnets(subnets):
        table = table_for(tables, subnet.id)
        if table is None or not any(r.get("NetworkInterfaceId") for r in table.data["Routes"]):
            continue
        every = {route_target(r) for r in table.data["Routes"]}  # decide the targets as routed, none dead
        for (lo, hi), target in decide(table.data["Routes"], every, lists):
            if target.startswith("eni-"):
                out += [(subnet.id, cidr, eni_ips.get(target)) for cidr in cidrs([(lo, hi)])]
    return out
