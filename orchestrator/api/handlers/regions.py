"""DescribeRegions, DescribeAvailabilityZones, DescribeAccountAttributes."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.filters import apply_filters
from orchestrator.api.registry import action
from orchestrator.domain import errors
from orchestrator.domain.regions import Zone
from orchestrator.services import vpcs, zones

_REGION_FILTERS = {
    "endpoint": lambda r: r["Endpoint"],
    "region-name": lambda r: r["RegionName"],
    "opt-in-status": lambda r: r["OptInStatus"],
}

_ZONE_FILTERS = {
    "group-name": lambda z: z["GroupName"],
    "group-long-name": lambda z: z["GroupLongName"],
    "message": lambda z: [m["Message"] for m in z["Messages"]],
    "network-border-group": lambda z: z["NetworkBorderGroup"],
    "opt-in-status": lambda z: z["OptInStatus"],
    "region-name": lambda z: z["RegionName"],
    "state": lambda z: z["State"],
    "zone-id": lambda z: z["ZoneId"],
    "zone-name": lambda z: z["ZoneName"],
    "zone-type": lambda z: z["ZoneType"],
    "parent-zone-id": lambda z: z.get("ParentZoneId"),  # local and Wavelength zones only: none in ec2d
    "parent-zone-name": lambda z: z.get("ParentZoneName"),
}


@action("DescribeRegions")
def describe_regions(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    catalogue = ctx.backend.regions
    names = req.get("RegionNames")
    for name in names or []:
        if name not in catalogue:
            raise errors.InvalidParameterValue(f"Invalid region: {name}")
    regions = [
        {"RegionName": r.name, "Endpoint": catalogue.endpoint(r.name), "OptInStatus": "opt-in-not-required"}
        for r in catalogue.regions.values()
        if not names or r.name in names
    ]
    return {"Regions": apply_filters(regions, req.get("Filters"), _REGION_FILTERS)}


def zone_info(zone: Zone, state: str = zones.AVAILABLE) -> dict[str, Any]:
    return {
        "State": state,
        "OptInStatus": "opt-in-not-required",
        "Messages": zones.messages(zone.name, state),
        "RegionName": zone.region,
        "ZoneName": zone.name,
        "ZoneId": zone.zone_id,
        "GroupName": zone.region,
        "GroupLongName": zone.region,
        "NetworkBorderGroup": zone.region,
        "ZoneType": "availability-zone",
    }


@action("DescribeAvailabilityZones")
def describe_availability_zones(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    region = ctx.backend.regions.get(ctx.region)
    assert region is not None  # the API layer checked the request's region
    names = req.get("ZoneNames") or []
    zone_ids = req.get("ZoneIds") or []
    known_names = {z.name for z in region.zones}
    known_ids = {z.zone_id for z in region.zones}
    for name in names:
        if name not in known_names:
            raise errors.InvalidParameterValue(f"The zone '{name}' does not exist.")
    for zid in zone_ids:
        if zid not in known_ids:
            raise errors.InvalidParameterValue(f"The zone ID '{zid}' does not exist.")
    found = [
        zone_info(z, zones.state(ctx.backend, z.name))
        for z in region.zones
        if (not names and not zone_ids) or z.name in names or z.zone_id in zone_ids
    ]
    return {"AvailabilityZones": apply_filters(found, req.get("Filters"), _ZONE_FILTERS)}


def _default_vpc(ctx: RequestContext) -> str:
    record = vpcs.default_vpc(ctx.backend, ctx.region)
    return record.id if record is not None else "none"


_ATTRIBUTES = {
    "supported-platforms": lambda ctx: ["VPC"],
    "default-vpc": lambda ctx: [_default_vpc(ctx)],
    "max-instances": lambda ctx: ["20"],
    "vpc-max-security-groups-per-interface": lambda ctx: ["5"],
    "max-elastic-ips": lambda ctx: ["5"],
    "vpc-max-elastic-ips": lambda ctx: ["5"],
}


@action("DescribeAccountAttributes")
def describe_account_attributes(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    names = req.get("AttributeNames") or list(_ATTRIBUTES)
    return {
        "AccountAttributes": [
            {
                "AttributeName": name,
                "AttributeValues": [{"AttributeValue": v} for v in _ATTRIBUTES[name](ctx)],
            }
            for name in names
        ]
    }
