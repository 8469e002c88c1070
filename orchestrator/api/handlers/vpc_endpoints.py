"""VPC endpoints (Gateway for S3, Interface for ec2d's other services): Create/Describe/Modify/DeleteVpcEndpoints, DescribeVpcEndpointServices."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.services import endpoint_actions, vpc_endpoints


@action("CreateVpcEndpoint")
async def create_vpc_endpoint(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record, tags = await endpoint_actions.create_live(ctx.backend, ctx.region, req)
    out: dict[str, Any] = {"VpcEndpoint": endpoint_actions.rendered(ctx.backend, record, tags)}
    if req.get("ClientToken"):
        out["ClientToken"] = req["ClientToken"]
    return out


_FILTERS = {
    "service-name": lambda e: e["ServiceName"],
    "vpc-id": lambda e: e["VpcId"],
    "vpc-endpoint-id": lambda e: e["VpcEndpointId"],
    "vpc-endpoint-state": lambda e: e["State"],
    "vpc-endpoint-type": lambda e: e["VpcEndpointType"],
    "ip-address-type": lambda e: e["IpAddressType"],
}


@action("DescribeVpcEndpoints")
def describe_vpc_endpoints(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = endpoint_actions.describe(ctx.backend, ctx.region, req.get("VpcEndpointIds"))
    return respond(req, items, _FILTERS, "VpcEndpoints", page=(5, 1000))


@action("ModifyVpcEndpoint")
async def modify_vpc_endpoint(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await endpoint_actions.modify_live(ctx.backend, ctx.region, req)
    return {"Return": True}


@action("DeleteVpcEndpoints")
async def delete_vpc_endpoints(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"Unsuccessful": await endpoint_actions.delete_live(ctx.backend, ctx.region, req["VpcEndpointIds"])}


_SERVICE_FILTERS = {
    "service-name": lambda s: s["ServiceName"],
    "service-type": lambda s: [t["ServiceType"] for t in s["ServiceType"]],
    "service-region": lambda s: s["ServiceRegion"],
}


@action("DescribeVpcEndpointServices")
def describe_vpc_endpoint_services(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = vpc_endpoints.services(ctx.backend, ctx.region, req.get("ServiceNames"))
    out = respond(req, items, _SERVICE_FILTERS, "ServiceDetails", page=(5, 1000))
    out["ServiceNames"] = [s["ServiceName"] for s in out["ServiceDetails"]]
    return out
