"""DescribeAddressesAttribute / ModifyAddressAttribute / ResetAddressAttribute (reverse DNS of EIPs)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.services import address_attributes


@action("DescribeAddressesAttribute")
def describe_addresses_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = address_attributes.describe(ctx.backend, ctx.region, req.get("AllocationIds"))
    return respond(req, items, {}, "Addresses", tags_of=None, page=(1, 1000))


@action("ModifyAddressAttribute")
async def modify_address_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    if not req.get("DomainName"):
        raise errors.MissingParameter("DomainName")
    return {"Address": await address_attributes.modify_live(ctx.backend, ctx.region, req["AllocationId"],
                                                            req["DomainName"])}


@action("ResetAddressAttribute")
async def reset_address_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"Address": await address_attributes.reset_live(ctx.backend, ctx.region, req["AllocationId"])}
