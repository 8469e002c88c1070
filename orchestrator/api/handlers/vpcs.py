"""DescribeVpcs, DescribeSubnets (the default VPC and its subnets; more in the networking issue)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
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
    return respond(req, vpcs.describe_vpcs(ctx.backend, ctx.region, req.get("VpcIds")), _VPC_FILTERS, "Vpcs")


@action("DescribeSubnets")
def describe_subnets(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = vpcs.describe_subnets(ctx.backend, ctx.region, req.get("SubnetIds"))
    return respond(req, items, _SUBNET_FILTERS, "Subnets")


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
    vpcs.modify_subnet_attribute(ctx.backend, ctx.region, req["SubnetId"],
                                 (req.get("MapPublicIpOnLaunch") or {}).get("Value"))
    return {}


@action("ModifyVpcAttribute")
def modify_vpc_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    vpcs.modify_vpc_attribute(ctx.backend, ctx.region, req["VpcId"],
                              {key: req[key].get("Value") for key, _ in vpcs.VPC_ATTRIBUTES.values()
                               if req.get(key) is not None})
    return {}


@action("DescribeVpcAttribute")
def describe_vpc_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    key, value = vpcs.vpc_attribute(ctx.backend, ctx.region, req["VpcId"], req["Attribute"])
    return {"VpcId": req["VpcId"], key: {"Value": value}}
