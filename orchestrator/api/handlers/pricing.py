"""Price List actions (JSON protocol): DescribeServices, GetAttributeValues, GetProducts."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.services import pricing


@action("DescribeServices", service="pricing")
def describe_services(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    services, token = pricing.describe_services(ctx.backend.regions.regions, ctx.backend.prices, req.get("ServiceCode"),
                                                req.get("MaxResults"), req.get("NextToken"),
                                                req.get("FormatVersion"))
    return {"Services": [{"ServiceCode": code, "AttributeNames": names} for code, names in services.items()],
            "FormatVersion": pricing.FORMAT_VERSION, "NextToken": token}


@action("GetAttributeValues", service="pricing")
def get_attribute_values(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    page = pricing.attribute_values(ctx.backend.regions.regions, ctx.backend.prices, req["ServiceCode"],
                                    req["AttributeName"], req.get("MaxResults"), req.get("NextToken"))
    return {"AttributeValues": [{"Value": v} for v in page.items], "NextToken": page.next_token}


@action("GetProducts", service="pricing")
def get_products(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    page = pricing.get_products(ctx.backend.regions.regions, ctx.backend.prices, req["ServiceCode"],
                                list(req.get("Filters") or []), req.get("MaxResults"), req.get("NextToken"),
                                req.get("FormatVersion"))
    return {"FormatVersion": pricing.FORMAT_VERSION, "PriceList": page.items, "NextToken": page.next_token}
