"""NAT gateways."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.services import nat_gateways as nat
from orchestrator.services import tags as tag_service


@action("CreateNatGateway")
async def create_nat_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "natgateway")
    record = await nat.create_nat_gateway_live(ctx.backend, ctx.region, req, tags)
    out: dict[str, Any] = {"NatGateway": nat.describe_nat_gateway(record, tags)}
    if req.get("ClientToken"):
        out["ClientToken"] = req["ClientToken"]
    return out


@action("DeleteNatGateway")
async def delete_nat_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = await nat.delete_nat_gateway_live(ctx.backend, ctx.region, req["NatGatewayId"])
    return {"NatGatewayId": record.id}


_FILTERS = {
    "nat-gateway-id": lambda n: n["NatGatewayId"],
    "state": lambda n: n["State"],
    "subnet-id": lambda n: n["SubnetId"],
    "vpc-id": lambda n: n["VpcId"],
}


@action("DescribeNatGateways")
def describe_nat_gateways(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = nat.describe_nat_gateways(ctx.backend, ctx.region, req.get("NatGatewayIds"))
    # this action's filters come as ``Filter`` (botocore's member name), not ``Filters``
    return respond(dict(req, Filters=req.get("Filter")), items, _FILTERS, "NatGateways", page=(5, 1000))
