"""Egress-only internet gateways."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.domain.egress_gateways import EGRESS_ONLY_IGW
from orchestrator.services import egress_gateways as eigws
from orchestrator.services import tags as tag_service


@action("CreateEgressOnlyInternetGateway")
async def create_egress_only_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), EGRESS_ONLY_IGW)
    gateway = await eigws.create_live(ctx.backend, ctx.region, req["VpcId"], tags, req.get("ClientToken"))
    out: dict[str, Any] = {"EgressOnlyInternetGateway": gateway}
    if req.get("ClientToken"):
        out["ClientToken"] = req["ClientToken"]
    return out


_FILTERS = {  # EC2 documents only the tag filters; the id and attachment ones as DescribeInternetGateways
    "egress-only-internet-gateway-id": lambda g: g["EgressOnlyInternetGatewayId"],
    "attachment.vpc-id": lambda g: [a["VpcId"] for a in g["Attachments"]],
    "attachment.state": lambda g: [a["State"] for a in g["Attachments"]],
}


@action("DescribeEgressOnlyInternetGateways")
def describe_egress_only_internet_gateways(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = eigws.describe(ctx.backend, ctx.region, req.get("EgressOnlyInternetGatewayIds"))
    return respond(req, items, _FILTERS, "EgressOnlyInternetGateways", page=(5, 255))


@action("DeleteEgressOnlyInternetGateway")
async def delete_egress_only_internet_gateway(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await eigws.delete_live(ctx.backend, ctx.region, req["EgressOnlyInternetGatewayId"])
    return {"ReturnCode": True}
