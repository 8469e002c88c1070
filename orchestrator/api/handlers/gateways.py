"""Internet gateways, route tables and Elastic IPs."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import item_tags
from orchestrator.api.filters import apply_filters, paginate
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.services import public_ips as pub
from orchestrator.services import tags as tag_service
from orchestrator.services import vpcs


async def _sync(ctx: RequestContext, vpc_id: str | None) -> None:
    await vpcs.sync_network(ctx.backend, ctx.region, vpc_id)


def _igw(record: Any, tags: dict[str, str]) -> dict[str, Any]:
    return {"InternetGatewayId": record.id, "OwnerId": record.data["OwnerId"],
            "Attachments": record.data["Attachments"], "Tags": tag_service.tag_list(tags)}


@action("CreateInternetGateway")
def create_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "internet-gateway")
    with ctx.backend.store.transaction():
        record = pub.create_igw(ctx.backend, ctx.region)
        if tags:
            ctx.backend.store.set_tags(record.id, pub.IGW, ctx.region, tags)
    return {"InternetGateway": _igw(record, tags)}


@action("AttachInternetGateway")
async def attach_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    pub.attach_igw(ctx.backend, ctx.region, req["InternetGatewayId"], req["VpcId"])
    await _sync(ctx, req["VpcId"])
    return {}


@action("DetachInternetGateway")
async def detach_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    pub.detach_igw(ctx.backend, ctx.region, req["InternetGatewayId"], req["VpcId"])
    await _sync(ctx, req["VpcId"])
    return {}


@action("DeleteInternetGateway")
def delete_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    pub.delete_igw(ctx.backend, ctx.region, req["InternetGatewayId"])
    return {}


@action("DescribeInternetGateways")
def describe_internet_gateways(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    records = ctx.backend.store.list(pub.IGW, ctx.region)
    if req.get("InternetGatewayIds"):
        records = [pub.get_igw(ctx.backend, ctx.region, i) for i in req["InternetGatewayIds"]]
    tags = ctx.backend.store.tags_by_resource(pub.IGW, ctx.region)
    items = [_igw(r, tags.get(r.id, {})) for r in records]
    items = apply_filters(items, req.get("Filters"), {
        "internet-gateway-id": lambda g: g["InternetGatewayId"],
        "attachment.vpc-id": lambda g: [a["VpcId"] for a in g["Attachments"]],
        "attachment.state": lambda g: [a["State"] for a in g["Attachments"]],
        "owner-id": lambda g: g["OwnerId"]}, tags_of=item_tags)
    page, token = paginate(items, req.get("MaxResults"), req.get("NextToken"), low=5, high=1000)
    return {"InternetGateways": page, "NextToken": token}


def _rtb(record: Any, tags: dict[str, str]) -> dict[str, Any]:
    return {"RouteTableId": record.id, "VpcId": record.data["VpcId"], "OwnerId": record.data["OwnerId"],
            "Routes": record.data["Routes"], "Associations": record.data["Associations"],
            "PropagatingVgws": [], "Tags": tag_service.tag_list(tags)}


@action("CreateRouteTable")
def create_route_table(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "route-table")
    with ctx.backend.store.transaction():
        record = pub.create_route_table(ctx.backend, ctx.region, req["VpcId"])
        if tags:
            ctx.backend.store.set_tags(record.id, pub.RTB, ctx.region, tags)
    return {"RouteTable": _rtb(record, tags)}


@action("CreateRoute")
async def create_route(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if not req.get("DestinationCidrBlock"):
        raise errors.MissingParameter("DestinationCidrBlock")
    pub.create_route(ctx.backend, ctx.region, req["RouteTableId"], req["DestinationCidrBlock"], req.get("GatewayId"))
    await _sync(ctx, pub.get_route_table(ctx.backend, ctx.region, req["RouteTableId"]).data["VpcId"])
    return {"Return": True}


@action("DeleteRoute")
async def delete_route(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    pub.delete_route(ctx.backend, ctx.region, req["RouteTableId"], req.get("DestinationCidrBlock") or "")
    await _sync(ctx, pub.get_route_table(ctx.backend, ctx.region, req["RouteTableId"]).data["VpcId"])
    return {}


@action("AssociateRouteTable")
async def associate_route_table(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if not req.get("SubnetId"):
        raise errors.MissingParameter("SubnetId")
    assoc = pub.associate_route_table(ctx.backend, ctx.region, req["RouteTableId"], req["SubnetId"])
    await _sync(ctx, pub.get_route_table(ctx.backend, ctx.region, req["RouteTableId"]).data["VpcId"])
    return {"AssociationId": assoc, "AssociationState": {"State": "associated"}}


@action("DisassociateRouteTable")
async def disassociate_route_table(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    table = pub.disassociate_route_table(ctx.backend, ctx.region, req["AssociationId"])
    await _sync(ctx, table.data["VpcId"])
    return {}


@action("DeleteRouteTable")
def delete_route_table(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    pub.delete_route_table(ctx.backend, ctx.region, req["RouteTableId"])
    return {}


@action("DescribeRouteTables")
def describe_route_tables(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    records = ctx.backend.store.list(pub.RTB, ctx.region)
    if req.get("RouteTableIds"):
        records = [pub.get_route_table(ctx.backend, ctx.region, i) for i in req["RouteTableIds"]]
    tags = ctx.backend.store.tags_by_resource(pub.RTB, ctx.region)
    items = [_rtb(r, tags.get(r.id, {})) for r in records]
    items = apply_filters(items, req.get("Filters"), {
        "route-table-id": lambda t: t["RouteTableId"], "vpc-id": lambda t: t["VpcId"],
        "association.main": lambda t: any(a.get("Main") for a in t["Associations"]),
        "association.subnet-id": lambda t: [a.get("SubnetId") for a in t["Associations"]],
        "route.gateway-id": lambda t: [r["GatewayId"] for r in t["Routes"]],
        "route.destination-cidr-block": lambda t: [r["DestinationCidrBlock"] for r in t["Routes"]],
        "owner-id": lambda t: t["OwnerId"]}, tags_of=item_tags)
    page, token = paginate(items, req.get("MaxResults"), req.get("NextToken"), low=5, high=100)
    return {"RouteTables": page, "NextToken": token}


@action("AllocateAddress")
def allocate_address(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "elastic-ip")
    record = pub.allocate_address(ctx.backend, ctx.region, tags)
    return {"PublicIp": record.data["PublicIp"], "AllocationId": record.id, "Domain": "vpc",
            "PublicIpv4Pool": "amazon", "NetworkBorderGroup": ctx.region}


@action("AssociateAddress")
async def associate_address(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    before = pub.get_eip(ctx.backend, ctx.region, req.get("AllocationId"), req.get("PublicIp"))
    previous = ctx.backend.store.get(before.data.get("InstanceId") or "")
    eip, instance = pub.associate_address(ctx.backend, ctx.region, req)
    await _sync(ctx, instance.data["VpcId"])  # where the address is now
    if previous is not None and previous.data["VpcId"] != instance.data["VpcId"]:
        await _sync(ctx, previous.data["VpcId"])  # and where it was
    return {"AssociationId": eip.data["AssociationId"]}


@action("DisassociateAddress")
async def disassociate_address(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    eip = pub.disassociate_address(ctx.backend, ctx.region, req.get("AssociationId"), req.get("PublicIp"))
    instance = ctx.backend.store.get(eip.data.get("_was_instance") or "")
    await _sync(ctx, instance.data["VpcId"] if instance else None)
    return {}


@action("ReleaseAddress")
def release_address(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    pub.release_address(ctx.backend, ctx.region, req.get("AllocationId"), req.get("PublicIp"))
    return {}


@action("DescribeAddresses")
def describe_addresses(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    records = ctx.backend.store.list(pub.EIP, ctx.region)
    if req.get("AllocationIds"):
        records = [pub.get_eip(ctx.backend, ctx.region, a, None) for a in req["AllocationIds"]]
    if req.get("PublicIps"):
        records = [pub.get_eip(ctx.backend, ctx.region, None, ip) for ip in req["PublicIps"]]
    tags = ctx.backend.store.tags_by_resource(pub.EIP, ctx.region)
    items = [pub.describe_address(r, tags.get(r.id, {})) for r in records]
    items = apply_filters(items, req.get("Filters"), {
        "allocation-id": lambda a: a["AllocationId"], "association-id": lambda a: a.get("AssociationId"),
        "instance-id": lambda a: a.get("InstanceId"), "public-ip": lambda a: a["PublicIp"],
        "network-interface-id": lambda a: a.get("NetworkInterfaceId"), "domain": lambda a: a["Domain"],
        "private-ip-address": lambda a: a.get("PrivateIpAddress")}, tags_of=item_tags)
    return {"Addresses": items}
