"""DHCP options sets: Create/Describe/Delete/AssociateDhcpOptions."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.services import dhcp_options
from orchestrator.services import tags as tag_service


@action("CreateDhcpOptions")
def create_dhcp_options(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "dhcp-options")
    record = dhcp_options.create_tagged(ctx.backend, ctx.region, req.get("DhcpConfigurations"), tags)
    return {"DhcpOptions": dhcp_options.describe_one(record, tags, empty_tags=False)}


@action("DeleteDhcpOptions")
def delete_dhcp_options(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    dhcp_options.delete(ctx.backend, ctx.region, req["DhcpOptionsId"])
    return {}


@action("AssociateDhcpOptions")
async def associate_dhcp_options(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    await dhcp_options.associate_live(ctx.backend, ctx.region, req["DhcpOptionsId"], req["VpcId"])
    return {}


_FILTERS = {
    "dhcp-options-id": lambda d: d["DhcpOptionsId"],
    "key": lambda d: [c["Key"] for c in d["DhcpConfigurations"]],
    "value": lambda d: [v["Value"] for c in d["DhcpConfigurations"] for v in c["Values"]],
    "owner-id": lambda d: d["OwnerId"],
}


@action("DescribeDhcpOptions")
def describe_dhcp_options(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = dhcp_options.describe(ctx.backend, ctx.region, req.get("DhcpOptionsIds"))
    return respond(req, items, _FILTERS, "DhcpOptions", page=(5, 1000))
