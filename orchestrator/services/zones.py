"""Availability Zones' states as the API shows and obeys them (the outage itself, and what the
runtime does to an impaired zone's instances: ``runtime/zone_states.py``)."""

from __future__ import annotations

from orchestrator.domain import instance_types
from orchestrator.runtime import zone_states
from orchestrator.services.backend import Backend

AVAILABLE = zone_states.AVAILABLE


def state(backend: Backend, zone: str) -> str:
    return zone_states.state(backend.store, zone)


def messages(zone: str, state: str) -> list[dict[str, str]]:
    """DescribeAvailabilityZones' ``Messages`` of a zone in ``state``."""
    return [] if state == AVAILABLE else [{"Message": zone_states.message(zone)}]


def require(backend: Backend, region: str, zone: str, instance_type: str) -> None:
    """InsufficientInstanceCapacity when ``zone`` is impaired (``ec2d zone impair``), naming the
    region's zones that have capacity, as EC2 does."""
    if state(backend, zone) == AVAILABLE:
        return
    info = backend.regions.get(region)
    others = [z.name for z in info.zones if z.name != zone and state(backend, z.name) == AVAILABLE] if info else []
    raise zone_states.insufficient_capacity(instance_type, zone, others)


def first_available(backend: Backend, region: str) -> str:
    """The zone EC2 picks when a launch names none: the first one with capacity."""
    info = backend.regions.get(region)
    assert info is not None
    return next((z.name for z in info.zones if state(backend, z.name) == AVAILABLE), info.zones[0].name)


def type_offerings(backend: Backend, region: str, location_type: str | None) -> list[dict[str, str]]:
    """DescribeInstanceTypeOfferings' items: every catalogue type in the region, or in each of its
    zones (by name or zone id); ec2d runs every type in every zone it serves, and has no Outposts."""
    info = backend.regions.get(region)
    kind = location_type or "region"
    if kind == "region":
        locations = [region]
    elif kind == "availability-zone":
        locations = [z.name for z in info.zones] if info else []
    elif kind == "availability-zone-id":
        locations = [z.zone_id for z in info.zones] if info else []
    else:
        locations = []
    return [{"InstanceType": name, "LocationType": kind, "Location": where}
            for name in sorted(instance_types.CATALOGUE) for where in locations]
