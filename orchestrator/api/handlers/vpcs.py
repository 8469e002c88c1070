"""DescribeVpcs, DescribeSubnets (the default VPC and its subnets; more in the networking issue)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.filter_paths import absent
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.services import ipv6_native, subnet_attributes, vpc_ipv6, vpcs
from orchestrator.services import tags as tag_service


def _cidr_assocs(v: dict[str, Any], key: str) -> list[Any]:
    return [a.get(key) for a in v["CidrBlockAssociationSet"]]


def _ipv6_assocs(item: dict[str, Any], key: str) -> list[Any]:
    return [a.get(key) for a in item.get("Ipv6CidrBlockAssociationSet") or []]


# every name DescribeVpcs documents, and the aliases EC2 still honours (``cidr-block``, camelCase)
_VPC_FILTERS = {
    "vpc-id": lambda v: v["VpcId"], "vpcId": lambda v: v["VpcId"],
    "cidr": lambda v: v["CidrBlock"], "cidr-block": lambda v: v["CidrBlock"], "cidrBlock": lambda v: v["CidrBlock"],
    "cidr-block-association.cidr-block": lambda v: _cidr_assocs(v, "CidrBlock"),
    "cidr-block-association.association-id": lambda v: _cidr_assocs(v, "AssociationId"),
    "cidr-block-association.state": lambda v: [a["CidrBlockState"]["State"] for a in v["CidrBlockAssociationSet"]],
    "ipv6-cidr-block-association.ipv6-cidr-block": lambda v: _ipv6_assocs(v, "Ipv6CidrBlock"),
    "ipv6-cidr-block-association.ipv6-pool": lambda v: _ipv6_assocs(v, "Ipv6Pool"),
    "ipv6-cidr-block-association.association-id": lambda v: _ipv6_assocs(v, "AssociationId"),
    "ipv6-cidr-block-association.state": lambda v: [a["Ipv6CidrBlockState"]["State"]
                                                    for a in v.get("Ipv6CidrBlockAssociationSet") or []],
    "is-default": lambda v: v["IsDefault"], "isDefault": lambda v: v["IsDefault"],
    "state": lambda v: v["State"],
    "owner-id": lambda v: v["OwnerId"],
    "dhcp-options-id": lambda v: v["DhcpOptionsId"], "dhcpOptionsId": lambda v: v["DhcpOptionsId"],
    "instance-tenancy": lambda v: v["InstanceTenancy"],
}

_DNS_ON_LAUNCH = "PrivateDnsNameOptionsOnLaunch"
_SUBNET_FILTERS = {
    "subnet-id": lambda s: s["SubnetId"], "subnet-arn": lambda s: s["SubnetArn"],
    "vpc-id": lambda s: s["VpcId"], "vpcId": lambda s: s["VpcId"],
    "cidr-block": lambda s: s.get("CidrBlock"), "cidr": lambda s: s.get("CidrBlock"),
    "cidrBlock": lambda s: s.get("CidrBlock"),
    "availability-zone": lambda s: s["AvailabilityZone"], "availabilityZone": lambda s: s["AvailabilityZone"],
    "availability-zone-id": lambda s: s["AvailabilityZoneId"], "availabilityZoneId": lambda s: s["AvailabilityZoneId"],
    "default-for-az": lambda s: s["DefaultForAz"], "defaultForAz": lambda s: s["DefaultForAz"],
    "map-public-ip-on-launch": lambda s: s["MapPublicIpOnLaunch"],
    "map-customer-owned-ip-on-launch": lambda s: s["MapCustomerOwnedIpOnLaunch"],
    "customer-owned-ipv4-pool": absent, "outpost-arn": absent, "enable-lni-at-device-index": absent,
    "enable-dns64": lambda s: s["EnableDns64"], "ipv6-native": lambda s: s["Ipv6Native"],
    "ipv6-cidr-block-association.ipv6-cidr-block": lambda s: _ipv6_assocs(s, "Ipv6CidrBlock"),
    "ipv6-cidr-block-association.association-id": lambda s: _ipv6_assocs(s, "AssociationId"),
    "ipv6-cidr-block-association.state": lambda s: [a["Ipv6CidrBlockState"]["State"]
                                                    for a in s["Ipv6CidrBlockAssociationSet"]],
    "assign-ipv6-address-on-creation": lambda s: s["AssignIpv6AddressOnCreation"],
    "private-dns-name-options-on-launch.hostname-type": lambda s: s[_DNS_ON_LAUNCH]["HostnameType"],
    "private-dns-name-options-on-launch.enable-resource-name-dns-a-record":
        lambda s: s[_DNS_ON_LAUNCH]["EnableResourceNameDnsARecord"],
    "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record":
        lambda s: s[_DNS_ON_LAUNCH]["EnableResourceNameDnsAAAARecord"],
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
    amazon_ipv6 = vpc_ipv6.wants_amazon_block(req)
    if amazon_ipv6:
        vpc_ipv6.check_source({k: v for k, v in req.items() if k != "CidrBlock"})
    record = await vpcs.open_vpc(ctx.backend, ctx.region, req["CidrBlock"], tags, amazon_ipv6)
    return {"Vpc": vpcs.describe_vpc(record, tags)}


@action("DeleteVpc")
async def delete_vpc(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await vpcs.close_vpc(ctx.backend, ctx.region, req["VpcId"])
    return {}


@action("CreateSubnet")
async def create_subnet(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    ipv6_native.check_create(req)
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "subnet")
    record = await vpcs.open_subnet(ctx.backend, ctx.region, req["VpcId"], req.get("CidrBlock"),
                                    req.get("AvailabilityZone"), req.get("AvailabilityZoneId"), tags,
                                    req.get("Ipv6CidrBlock"))
    return {"Subnet": vpcs.describe_subnet(ctx.backend, record, tags)}


@action("DeleteSubnet")
async def delete_subnet(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await vpcs.close_subnet(ctx.backend, ctx.region, req["SubnetId"])
    return {}


@action("ModifySubnetAttribute")
def modify_subnet_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    subnet_attributes.modify_subnet_attribute(ctx.backend, ctx.region, req["SubnetId"], req)
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


@action("AssociateSubnetCidrBlock")
async def associate_subnet_cidr_block(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    subnet, assoc = await vpc_ipv6.associate_subnet_block_live(ctx.backend, ctx.region, req["SubnetId"], req)
    return {"SubnetId": subnet.id, "Ipv6CidrBlockAssociation": assoc}


@action("DisassociateSubnetCidrBlock")
async def disassociate_subnet_cidr_block(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    subnet, assoc = await vpc_ipv6.disassociate_subnet_block_live(ctx.backend, ctx.region, req["AssociationId"])
    return {"SubnetId": subnet.id, "Ipv6CidrBlockAssociation": assoc}
