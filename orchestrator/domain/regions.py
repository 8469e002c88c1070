"""Regions and availability zones served by this ec2d: region-scoped vs zone-scoped resources.

A zone's name is its region plus one letter (``us-east-1a``); its id is the region's short code
plus ``-az<N>`` (``use1-az1``), as EC2 names them.
"""

from __future__ import annotations

from dataclasses import dataclass

_SHORT = {
    "east": "e", "west": "w", "central": "c", "north": "n", "south": "s",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}


def region_short_code(region: str) -> str:
    parts = region.split("-")
    if len(parts) < 3:
        return region.replace("-", "")
    return parts[0] + "".join(_SHORT.get(p, p[:1]) for p in parts[1:-1]) + parts[-1]


@dataclass(frozen=True)
class Zone:
    name: str
    zone_id: str
    region: str
    letter: str


@dataclass(frozen=True)
class Region:
    name: str
    zones: tuple[Zone, ...]

    def zone(self, name: str) -> Zone | None:
        return next((z for z in self.zones if z.name == name), None)


class RegionCatalogue:
    def __init__(self, spec: dict[str, list[str]]) -> None:
        self.regions: dict[str, Region] = {}
        for name, letters in spec.items():
            short = region_short_code(name)
            zones = tuple(
                Zone(name=f"{name}{letter}", zone_id=f"{short}-az{i}", region=name, letter=letter)
                for i, letter in enumerate(letters, start=1)
            )
            self.regions[name] = Region(name=name, zones=zones)

    def __contains__(self, name: object) -> bool:
        return name in self.regions

    def get(self, name: str) -> Region | None:
        return self.regions.get(name)

    def zone(self, zone_name: str) -> Zone | None:
        for region in self.regions.values():
            z = region.zone(zone_name)
            if z is not None:
                return z
        return None

    def endpoint(self, region: str) -> str:
        return f"ec2.{region}.amazonaws.com"
