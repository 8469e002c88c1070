"""DescribeVpcs, DescribeSubnets (the default VPC and its subnets; more in the networking issue)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.filters import apply_filters, paginate
from orchestrator.api.registry import action
from orchestrator.domain import ids
from orchestrator.services import vpcs


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item["Tags"]}


_VPC_FILTERS = {
    "vpc-id": lambda v: v["VpcId"],
    "cidr": lambda v: v["CidrBlock"],
    "cidr-block-association.cidr-block": lambda v: [a["CidrBlock"] for a in v["CidrBlockAssociationSet"]],
    "is-default": lambda v: v["IsDefault"],
    "state": lambda v: v["State"],
    "owner-id": lambda v: v["OwnerId"],
    "dhcp-options-id": lambda v: v["DhcpOptionsId"],
}

_SUBNET_FILTERS = {
    "subnet-id": lambda s: s["SubnetId"],
    "vpc-id": lambda s: s["VpcId"],
    "cidr-block": lambda s: s["CidrBlock"],
    "availability-zone": lambda s: s["AvailabilityZone"],
    "availability-zone-id": lambda s: s["AvailabilityZoneId"],
    "default-for-az": lambda s: s["DefaultForAz"],
    "map-public-ip-on-launch": lambda s: s["MapPublicIpOnLaunch"],
    "state": lambda s: s["State"],
    "owner-id": lambda s: s["OwnerId"],
    "available-ip-address-count": lambda s: s["AvailableIpAddressCount"],
}


def _lookup(ctx: RequestContext, rtype: str, prefix: str, wanted: list[str] | None) -> list:
    records = ctx.backend.store.list(rtype, ctx.region)
    if not wanted:
        return records
    by_id = {r.id: r for r in records}
    for rid in wanted:
        ids.check(rid, prefix)
        if rid not in by_id:
            raise ids.KINDS[prefix].not_found_error(rid)
    return [by_id[r] for r in wanted]


@action("DescribeVpcs")
def describe_vpcs(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    vpcs.ensure_default_vpc(ctx.backend, ctx.region)
    tags = ctx.backend.store.tags_by_resource("vpc", ctx.region)
    items = [vpcs.describe_vpc(r, tags.get(r.id, {})) for r in _lookup(ctx, vpcs.VPC, "vpc", req.get("VpcIds"))]
    items = apply_filters(items, req.get("Filters"), _VPC_FILTERS, tags_of=_tags)
    page, token = paginate(items, req.get("MaxResults"), req.get("NextToken"), low=5, high=1000)
    return {"Vpcs": page, "NextToken": token}


@action("DescribeSubnets")
def describe_subnets(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    vpcs.ensure_default_vpc(ctx.backend, ctx.region)
    tags = ctx.backend.store.tags_by_resource("subnet", ctx.region)
    records = _lookup(ctx, vpcs.SUBNET, "subnet", req.get("SubnetIds"))
    items = [vpcs.describe_subnet(ctx.backend, r, tags.get(r.id, {})) for r in records]
    items = apply_filters(items, req.get("Filters"), _SUBNET_FILTERS, tags_of=_tags)
    page, token = paginate(items, req.get("MaxResults"), req.get("NextToken"), low=5, high=1000)
    return {"Subnets": page, "NextToken": token}
