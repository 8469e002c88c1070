"""Filter getters by path, for the long filter tables of EC2's Describe actions.

``at("NetworkInterfaces.Association.PublicIp")`` reads that member of an item, through lists (a
list on the way yields every element's value) and missing members (nothing, so the filter matches
nothing, as on EC2 for a resource without it). ``absent`` is the getter of a filter EC2 has on
something ec2d's resources never have (Outposts, capacity reservations, IPv6 blocks...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Getter = Callable[[Any], Any]


def _walk(value: Any, keys: list[str]) -> list[Any]:
    if not keys:
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        return [found for element in value for found in _walk(element, keys)]
    if not isinstance(value, dict) or value.get(keys[0]) is None:
        return []
    return _walk(value[keys[0]], keys[1:])


def at(path: str) -> Getter:
    keys = path.split(".")
    return lambda item: _walk(item, keys)


def absent(_item: Any) -> None:
    return None


def table(paths: dict[str, str], absent_names: tuple[str, ...] = ()) -> dict[str, Getter]:
    """Filter name -> getter, from filter name -> path, plus the names that match nothing."""
    return {**{name: at(path) for name, path in paths.items()}, **dict.fromkeys(absent_names, absent)}
