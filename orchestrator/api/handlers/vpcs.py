"""DescribeVpcs, DescribeSubnets (the default VPC and its subnets; more in the networking issue)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import item_tags, select
from orchestrator.api.filters import apply_filters, paginate
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.services import tags as tag_service
from orchestrator.services import vpcs

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


@action("DescribeVpcs")
def describe_vpcs(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = ctx.backend.store.tags_by_resource("vpc", ctx.region)
    items = [vpcs.describe_vpc(r, tags.get(r.id, {})) for r in select(ctx.backend.store.list(vpcs.VPC, ctx.region), req.get("VpcIds"), "vpc")]
    items = apply_filters(items, req.get("Filters"), _VPC_FILTERS, tags_of=item_tags)
    page, token = paginate(items, req.get("MaxResults"), req.get("NextToken"), low=5, high=1000)
    return {"Vpcs": page, "NextToken": token}


@action("DescribeSubnets")
def describe_subnets(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = ctx.backend.store.tags_by_resource("subnet", ctx.region)
    records = select(ctx.backend.store.list(vpcs.SUBNET, ctx.region), req.get("SubnetIds"), "subnet")
    items = [vpcs.describe_subnet(ctx.backend, r, tags.get(r.id, {})) for r in records]
    items = apply_filters(items, req.get("Filters"), _SUBNET_FILTERS, tags_of=item_tags)
    page, token = paginate(items, req.get("MaxResults"), req.get("NextToken"), low=5, high=1000)
    return {"Subnets": page, "NextToken": token}


@action("CreateVpc")
async def create_vpc(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if not req.get("CidrBlock"):
        raise errors.MissingParameter("CidrBlock")
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "vpc")
    record = await vpcs.open_vpc(ctx.backend, ctx.region, req["CidrBlock"], tags)
    return {"Vpc": vpcs.describe_vpc(record, tags)}


@action("DeleteVpc")
async def delete_vpc(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await vpcs.close_vpc(ctx.backend, ctx.region, req["VpcId"])
    return {}


@action("CreateSubnet")
async def create_subnet(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "subnet")
    record = await vpcs.open_subnet(ctx.backend, ctx.region, req["VpcId"], req.get("CidrBlock") or "",
                                    req.get("AvailabilityZone"), req.get("AvailabilityZoneId"), tags)
    return {"Subnet": vpcs.describe_subnet(ctx.backend, record, tags)}


@action("DeleteSubnet")
async def delete_subnet(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await vpcs.close_subnet(ctx.backend, ctx.region, req["SubnetId"])
    return {}


@action("ModifySubnetAttribute")
def modify_subnet_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = vpcs.get_subnet(ctx.backend, ctx.region, req["SubnetId"])
    value = (req.get("MapPublicIpOnLaunch") or {}).get("Value")
    if value is None:
        raise errors.Ec2Error("ec2d supports the MapPublicIpOnLaunch attribute only.", code="UnsupportedOperation")
    record.data["MapPublicIpOnLaunch"] = bool(value)
    ctx.backend.store.update(record)
    return {}


_VPC_ATTRIBUTES = {"enableDnsSupport": ("EnableDnsSupport", True), "enableDnsHostnames": ("EnableDnsHostnames", None),
                   "enableNetworkAddressUsageMetrics": ("EnableNetworkAddressUsageMetrics", False)}


@action("ModifyVpcAttribute")
def modify_vpc_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = vpcs.get_vpc(ctx.backend, ctx.region, req["VpcId"])
    changed = False
    for key, _default in _VPC_ATTRIBUTES.values():
        if req.get(key) is not None:
            record.data[key] = bool(req[key].get("Value"))
            changed = True
    if not changed:
        raise errors.MissingParameter("EnableDnsSupport or EnableDnsHostnames")
    ctx.backend.store.update(record)
    return {}


@action("DescribeVpcAttribute")
def describe_vpc_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = vpcs.get_vpc(ctx.backend, ctx.region, req["VpcId"])
    key, default = _VPC_ATTRIBUTES[req["Attribute"]]
    if default is None:  # EC2: DNS hostnames on for default VPCs, off for others
        default = bool(record.data.get("IsDefault"))
    return {"VpcId": record.id, key: {"Value": record.data.get(key, default)}}
