"""Managed prefix lists: Create/Describe/Modify/DeleteManagedPrefixList,
RestoreManagedPrefixListVersion, GetManagedPrefixListEntries, GetManagedPrefixListAssociations,
and DescribePrefixLists (the AWS-managed lists: ec2d has none)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import no_tags, respond
from orchestrator.api.registry import action
from orchestrator.services import prefix_lists


@action("CreateManagedPrefixList")
def create_managed_prefix_list(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record, tags = prefix_lists.create_tagged(ctx.backend, ctx.region, req)
    return {"PrefixList": prefix_lists.describe_one(record, tags)}


_FILTERS = {
    "prefix-list-id": lambda p: p["PrefixListId"],
    "prefix-list-name": lambda p: p["PrefixListName"],
    "owner-id": lambda p: p["OwnerId"],
}


@action("DescribeManagedPrefixLists")
def describe_managed_prefix_lists(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = prefix_lists.describe(ctx.backend, ctx.region, req.get("PrefixListIds"))
    return respond(req, items, _FILTERS, "PrefixLists", page=(1, 100))


@action("GetManagedPrefixListEntries")
def get_managed_prefix_list_entries(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = prefix_lists.entries(ctx.backend, ctx.region, req["PrefixListId"], req.get("TargetVersion"))
    return respond(req, items, {}, "Entries", tags_of=None, page=(1, 100))


@action("GetManagedPrefixListAssociations")
def get_managed_prefix_list_associations(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = prefix_lists.associations(ctx.backend, ctx.region, req["PrefixListId"])
    return respond(req, items, {}, "PrefixListAssociations", tags_of=None, page=(5, 255))


@action("ModifyManagedPrefixList")
async def modify_managed_prefix_list(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = await prefix_lists.modify_live(ctx.backend, ctx.region, req)
    return {"PrefixList": prefix_lists.shown(ctx.backend, record)}


@action("RestoreManagedPrefixListVersion")
async def restore_managed_prefix_list_version(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = await prefix_lists.restore_live(ctx.backend, ctx.region, req["PrefixListId"],
                                             req.get("PreviousVersion"), req.get("CurrentVersion"))
    return {"PrefixList": prefix_lists.shown(ctx.backend, record)}


@action("DeleteManagedPrefixList")
def delete_managed_prefix_list(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = prefix_lists.delete(ctx.backend, ctx.region, req["PrefixListId"])
    return {"PrefixList": prefix_lists.describe_one(record, {})}


_AWS_FILTERS = {"prefix-list-id": lambda p: p["PrefixListId"], "prefix-list-name": lambda p: p["PrefixListName"]}


@action("DescribePrefixLists")
def describe_prefix_lists(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = prefix_lists.aws_managed(ctx.backend, ctx.region, req.get("PrefixListIds"))
    return respond(req, items, _AWS_FILTERS, "PrefixLists", tags_of=no_tags, page=(5, 1000))
