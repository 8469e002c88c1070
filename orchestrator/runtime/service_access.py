"""Who in a VPC may reach S3's addresses, as on AWS: a pure function of the VPC's records.

S3's address of each region (``domain/vpc_endpoints.s3_address``) is served inside every VPC
namespace, so a guest's packet to it is the namespace's own input, never forwarded: the route
tables decide it here instead. For each subnet, the most specific route of its table for the
address (a gateway endpoint's ``pl-... -> vpce-...`` route stands for the list's CIDRs) says:

- a gateway endpoint: the whole subnet, through the endpoint;
- the attached internet gateway: only the addresses that have a public IP (1:1 NAT);
- a working NAT gateway whose own subnet routes the address to the internet gateway: the subnet;
- anything else (no route, a blackhole, a peering): nobody.

The result, ``{S3 address: allowed source CIDRs}``, is what the VPC driver's input filter lets
through (``set_service_access``). The S3 front asks the same question of one source address
(:func:`route_for`) to know whether a request came through an endpoint, and which.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from orchestrator.domain import vpc_endpoints as ved
from orchestrator.runtime import route_plan
from orchestrator.runtime.vpc_state import VpcView, nat_table
from orchestrator.store.sqlite import Record


def s3_lists(regions: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The AWS-managed S3 prefix lists of ``regions``: id -> CIDRs."""
    return {ved.s3_prefix_list_id(r): (ved.s3_cidr(r),) for r in regions}


def route_for(tables: Sequence[Record], subnet_id: str, live: set[str], regions: Sequence[str],
              address: str, lists: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """The target of the subnet's route for ``address`` (None: no route; ``blackhole``); routes
    may name the S3 lists or the customer lists of ``lists``."""
    table = route_plan.table_for(tables, subnet_id)
    if table is None:
        return None
    named = {**(lists or {}), **s3_lists(regions)}
    return route_plan.target_of(route_plan.decide(table.data["Routes"], live, named), address)


def _live(view: VpcView) -> set[str]:
    return route_plan.live_targets(view.igw.id if view.igw is not None else None, view.nat_gateways,
                                   [p.pcx_id for p in view.peerings], view.endpoints)


def _via_nat(view: VpcView, nat_id: str, live: set[str], address: str) -> bool:
    nat = next((n for n in view.nat_gateways if n.id == nat_id), None)
    if nat is None or view.igw is None or nat_id not in live:
        return False
    return route_for(view.route_tables, nat.data["SubnetId"], live, view.regions, address,
                     view.prefix_lists) == view.igw.id


def s3_access(view: VpcView) -> dict[str, tuple[str, ...]]:
    """``{S3 address: the source CIDRs of the VPC that may reach it}`` for every served region."""
    live = _live(view)
    with_public_ip = [(ip, ipaddress.IPv4Address(ip)) for ip in sorted(nat_table(view).values())]  # parsed once
    out: dict[str, tuple[str, ...]] = {}
    for region in view.regions:
        address = ved.s3_address(region)
        allowed: list[str] = []
        for subnet in route_plan.ipv4_subnets(view.subnets):
            cidr = subnet.data["CidrBlock"]
            target = route_for(view.route_tables, subnet.id, live, view.regions, address, view.prefix_lists)
            if target is None or target == route_plan.BLACKHOLE:
                continue
            if target.startswith("vpce-") or (target.startswith("nat-") and _via_nat(view, target, live, address)):
                allowed.append(cidr)
            elif view.igw is not None and target == view.igw.id:
                net = ipaddress.IPv4Network(cidr)
                allowed += [f"{ip}/32" for ip, address_of in with_public_ip if address_of in net]
        out[address] = tuple(sorted(set(allowed)))
    return out


def endpoint_of(view_tables: Sequence[Record], subnets: Mapping[str, Record], live: set[str],
                regions: Sequence[str], source: str, address: str) -> str | None:
    """The gateway endpoint (``vpce-...``) a request from ``source`` to S3's ``address`` came
    through, or None (the internet, a NAT gateway)."""
    try:
        src = ipaddress.IPv4Address(source)
    except ValueError:
        return None
    subnet = next((s for s in route_plan.ipv4_subnets(subnets) if src in ipaddress.IPv4Network(s.data["CidrBlock"])),
                  None)
    if subnet is None:
        return None
    target = route_for(view_tables, subnet.id, live, regions, address)
    return target if target is not None and target.startswith("vpce-") else None
