"""Internet gateways, route tables and Elastic IPs."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.filter_paths import table
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.services import public_ips as pub
from orchestrator.services import route_tables as rtb
from orchestrator.services import tags as tag_service


@action("CreateInternetGateway")
def create_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "internet-gateway")
    return {"InternetGateway": pub.describe_igw(pub.create_internet_gateway(ctx.backend, ctx.region, tags), tags)}


@action("AttachInternetGateway")
async def attach_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await pub.attach_igw_live(ctx.backend, ctx.region, req["InternetGatewayId"], req["VpcId"])
    return {}


@action("DetachInternetGateway")
async def detach_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await pub.detach_igw_live(ctx.backend, ctx.region, req["InternetGatewayId"], req["VpcId"])
    return {}


@action("DeleteInternetGateway")
def delete_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    pub.delete_igw(ctx.backend, ctx.region, req["InternetGatewayId"])
    return {}


_IGW_FILTERS = {
    "internet-gateway-id": lambda g: g["InternetGatewayId"],
    "attachment.vpc-id": lambda g: [a["VpcId"] for a in g["Attachments"]],
    "attachment.state": lambda g: [a["State"] for a in g["Attachments"]],
    "owner-id": lambda g: g["OwnerId"],
}


@action("DescribeInternetGateways")
def describe_internet_gateways(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = pub.describe_igws(ctx.backend, ctx.region, req.get("InternetGatewayIds"))
    return respond(req, items, _IGW_FILTERS, "InternetGateways")


@action("CreateRouteTable")
def create_route_table(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "route-table")
    record = pub.create_route_table_tagged(ctx.backend, ctx.region, req["VpcId"], tags)
    return {"RouteTable": pub.describe_route_table(record, tags, ipv6_blocks=pub.ipv6_blocks_of(ctx.backend, req["VpcId"]))}


@action("CreateRoute")
async def create_route(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await rtb.create_route_live(ctx.backend, ctx.region, req["RouteTableId"], req.get("DestinationCidrBlock"),
                                req=req)
    return {"Return": True}


@action("ReplaceRoute")
async def replace_route(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await rtb.replace_route_live(ctx.backend, ctx.region, req["RouteTableId"], req.get("DestinationCidrBlock"), req)
    return {}


@action("DeleteRoute")
async def delete_route(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await rtb.delete_route_live(ctx.backend, ctx.region, req["RouteTableId"], req)
    return {}


@action("AssociateRouteTable")
async def associate_route_table(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    assoc = await rtb.associate_route_table_live(ctx.backend, ctx.region, req["RouteTableId"], req.get("SubnetId"))
    return {"AssociationId": assoc, "AssociationState": {"State": "associated"}}


@action("DisassociateRouteTable")
async def disassociate_route_table(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await rtb.disassociate_route_table_live(ctx.backend, ctx.region, req["AssociationId"])
    return {}


@action("ReplaceRouteTableAssociation")
async def replace_route_table_association(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    assoc = await rtb.replace_route_table_association_live(ctx.backend, ctx.region, req["AssociationId"],
                                                           req["RouteTableId"])
    return {"NewAssociationId": assoc, "AssociationState": {"State": "associated"}}


@action("DeleteRouteTable")
def delete_route_table(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    pub.delete_route_table(ctx.backend, ctx.region, req["RouteTableId"])
    return {}


_RTB_FILTERS = {
    "route-table-id": lambda t: t["RouteTableId"], "vpc-id": lambda t: t["VpcId"],
    "association.main": lambda t: any(a.get("Main") for a in t["Associations"]),
    "association.subnet-id": lambda t: [a.get("SubnetId") for a in t["Associations"]],
    "route.gateway-id": lambda t: [r.get("GatewayId") for r in t["Routes"]],
    "route.destination-cidr-block": lambda t: [r.get("DestinationCidrBlock") for r in t["Routes"]],
    "owner-id": lambda t: t["OwnerId"],
}


# the rest of DescribeRouteTables' filters (routes to targets ec2d may not have match nothing)
_RTB_FILTERS.update(table({
    "association.gateway-id": "Associations.GatewayId",
    "association.route-table-association-id": "Associations.RouteTableAssociationId",
    "association.route-table-id": "Associations.RouteTableId",
    **{f"route.{name}": f"Routes.{key}" for name, key in (
        ("destination-ipv6-cidr-block", "DestinationIpv6CidrBlock"),
        ("destination-prefix-list-id", "DestinationPrefixListId"),
        ("egress-only-internet-gateway-id", "EgressOnlyInternetGatewayId"), ("instance-id", "InstanceId"),
        ("nat-gateway-id", "NatGatewayId"), ("transit-gateway-id", "TransitGatewayId"), ("origin", "Origin"),
        ("state", "State"), ("vpc-peering-connection-id", "VpcPeeringConnectionId"))}}))


@action("DescribeRouteTables")
def describe_route_tables(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = pub.describe_route_tables(ctx.backend, ctx.region, req.get("RouteTableIds"))
    return respond(req, items, _RTB_FILTERS, "RouteTables", page=(5, 100))


@action("AllocateAddress")
def allocate_address(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "elastic-ip")
    record = pub.allocate_address(ctx.backend, ctx.region, tags)
    return {"PublicIp": record.data["PublicIp"], "AllocationId": record.id, "Domain": "vpc",
            "PublicIpv4Pool": "amazon", "NetworkBorderGroup": ctx.region}


@action("AssociateAddress")
async def associate_address(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if not req.get("AllocationId") and not req.get("PublicIp"):
        raise errors.MissingParameter("AllocationId or PublicIp")
    eip = await pub.associate_address_live(ctx.backend, ctx.region, req)
    return {"AssociationId": eip.data["AssociationId"]}


@action("DisassociateAddress")
async def disassociate_address(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if not req.get("AssociationId") and not req.get("PublicIp"):
        raise errors.MissingParameter("AssociationId or PublicIp")
    await pub.disassociate_address_live(ctx.backend, ctx.region, req.get("AssociationId"), req.get("PublicIp"))
    return {}


@action("ReleaseAddress")
def release_address(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if not req.get("AllocationId") and not req.get("PublicIp"):
        raise errors.MissingParameter("AllocationId or PublicIp")
    pub.release_address(ctx.backend, ctx.region, req.get("AllocationId"), req.get("PublicIp"))
    return {}


_EIP_FILTERS = {
    "allocation-id": lambda a: a["AllocationId"], "association-id": lambda a: a.get("AssociationId"),
    "instance-id": lambda a: a.get("InstanceId"), "public-ip": lambda a: a["PublicIp"],
    "network-interface-id": lambda a: a.get("NetworkInterfaceId"), "domain": lambda a: a["Domain"],
    "private-ip-address": lambda a: a.get("PrivateIpAddress"),
    "network-border-group": lambda a: a.get("NetworkBorderGroup"),
    "network-interface-owner-id": lambda a: a.get("NetworkInterfaceOwnerId"),
}


@action("DescribeAddresses")
def describe_addresses(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = pub.describe_addresses(ctx.backend, ctx.region, req.get("AllocationIds"), req.get("PublicIps"))
    return respond(req, items, _EIP_FILTERS, "Addresses", page=None)
