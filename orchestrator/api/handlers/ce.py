"""Cost Explorer actions (JSON protocol): GetCostAndUsage, GetCostAndUsageWithResources,
GetCostForecast, GetDimensionValues, read from the usage ledger (``services/cost_explorer.py``)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.services import cost_explorer


@action("GetCostAndUsage", service="ce")
def get_cost_and_usage(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return cost_explorer.cost_and_usage(ctx.backend, req)


@action("GetCostAndUsageWithResources", service="ce")
def get_cost_and_usage_with_resources(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return cost_explorer.cost_and_usage(ctx.backend, req, with_resources=True)


@action("GetCostForecast", service="ce")
def get_cost_forecast(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return cost_explorer.forecast(ctx.backend, req)


@action("GetDimensionValues", service="ce")
def get_dimension_values(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    page = cost_explorer.dimension_values(ctx.backend, req)
    return {"DimensionValues": [{"Value": v, "Attributes": a} for v, a in page.values],
            "ReturnSize": len(page.values), "TotalSize": page.total, "NextPageToken": page.next_token}
