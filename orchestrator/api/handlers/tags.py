"""CreateTags, DeleteTags, DescribeTags."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.services import tags

_FILTERS = {
    "key": lambda t: t["Key"],
    "value": lambda t: t["Value"],
    "resource-id": lambda t: t["ResourceId"],
    "resource-type": lambda t: t["ResourceType"],
}


@action("CreateTags")
def create_tags(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags.create_tags(ctx.backend, ctx.region, req["Resources"], req["Tags"])
    return {}


@action("DeleteTags")
def delete_tags(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    tags.delete_tags(ctx.backend, ctx.region, req["Resources"], req.get("Tags"))
    return {}


@action("DescribeTags")
def describe_tags(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    filters = []
    for f in req.get("Filters") or []:
        if f.get("Name", "").startswith("tag:"):
            # DescribeTags' tag:KEY filter selects tags with that key and a matching value.
            filters.append({"Name": "key", "Values": [f["Name"][4:]]})
            filters.append({"Name": "value", "Values": f.get("Values") or []})
        else:
            filters.append(f)
    rows = tags.describe_tags(ctx.backend, ctx.region, _exact(filters, "resource-id"), _exact(filters, "key"))
    return respond({**req, "Filters": filters}, rows, _FILTERS, "Tags", tags_of=None)


def _exact(filters: list[dict[str, Any]], name: str) -> list[str] | None:
    """The values of the first ``name`` filter when none is a pattern: the store reads only those
    rows (respond still applies every filter, so this only narrows what it is given)."""
    for f in filters:
        if f.get("Name") == name:
            values = f.get("Values") or []
            patterns = any(not isinstance(v, str) or "*" in v or "?" in v or "\\" in v for v in values)
            return None if patterns or not values or len(values) > 500 else list(values)
    return None
