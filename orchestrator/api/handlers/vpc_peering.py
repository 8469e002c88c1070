"""VPC peering connections."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.domain.vpc_peering import VPC_PEERING
from orchestrator.services import tags as tag_service
from orchestrator.services import vpc_peering as pcx


@action("CreateVpcPeeringConnection")
async def create_vpc_peering_connection(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), VPC_PEERING)
    record = await pcx.create_live(ctx.backend, ctx.region, req, tags)
    return {"VpcPeeringConnection": pcx.describe_one(record, tags)}


@action("AcceptVpcPeeringConnection")
async def accept_vpc_peering_connection(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = await pcx.accept_live(ctx.backend, ctx.region, req["VpcPeeringConnectionId"])
    return {"VpcPeeringConnection": pcx.shown(ctx.backend, record)}


@action("RejectVpcPeeringConnection")
async def reject_vpc_peering_connection(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await pcx.reject_live(ctx.backend, ctx.region, req["VpcPeeringConnectionId"])
    return {"Return": True}


@action("DeleteVpcPeeringConnection")
async def delete_vpc_peering_connection(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await pcx.delete_live(ctx.backend, ctx.region, req["VpcPeeringConnectionId"])
    return {"Return": True}


def _side(key: str, field: str) -> Any:
    return lambda p: p[key][field]


_FILTERS = {
    "vpc-peering-connection-id": lambda p: p["VpcPeeringConnectionId"],
    "status-code": lambda p: p["Status"]["Code"],
    "status-message": lambda p: p["Status"]["Message"],
    "expiration-time": lambda p: p.get("ExpirationTime"),
    **{f"{prefix}.{name}": _side(key, field)
       for prefix, key in (("accepter-vpc-info", "AccepterVpcInfo"), ("requester-vpc-info", "RequesterVpcInfo"))
       for name, field in (("vpc-id", "VpcId"), ("cidr-block", "CidrBlock"), ("owner-id", "OwnerId"),
                           ("region", "Region"))},
}


@action("DescribeVpcPeeringConnections")
def describe_vpc_peering_connections(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = pcx.describe(ctx.backend, ctx.region, req.get("VpcPeeringConnectionIds"))
    return respond(req, items, _FILTERS, "VpcPeeringConnections", page=(5, 1000))
