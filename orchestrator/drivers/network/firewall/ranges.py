"""Integer ranges and boxes: how overlapping rules become the disjoint elements an nft interval
set accepts (it refuses overlaps), and the nft text of an address or number range."""

from __future__ import annotations

import bisect
import functools
import ipaddress
from collections.abc import Iterable

from ..errors import InvalidArgument

__all__ = ["addr_text", "cidr_range", "cidr_range6", "disjoint", "is_ipv6_cidr", "merge", "range_text"]


def merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of closed integer ranges as sorted, disjoint, non-adjacent ranges."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def disjoint(boxes: Iterable[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """(a_lo, a_hi, b_lo, b_hi) boxes -> disjoint boxes covering the same union.

    Cuts the first axis at every box edge, unions the second-axis ranges of each elementary slice,
    then joins neighbouring slices with equal unions. Cost ~ sum of slices each box covers.
    """
    uniq = set(boxes)
    if not uniq:
        return []
    points = sorted({b[0] for b in uniq} | {b[1] + 1 for b in uniq})
    cover: list[list[tuple[int, int]]] = [[] for _ in range(len(points) - 1)]
    for a0, a1, b0, b1 in uniq:
        for k in range(bisect.bisect_left(points, a0), bisect.bisect_left(points, a1 + 1)):
            cover[k].append((b0, b1))
    slices: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []
    for k, ranges in enumerate(cover):
        if not ranges:
            continue
        merged = tuple(merge(ranges))
        lo, hi = points[k], points[k + 1] - 1
        if slices and slices[-1][2] == merged and slices[-1][1] + 1 == lo:
            slices[-1] = (slices[-1][0], hi, merged)
        else:
            slices.append((lo, hi, merged))
    return [(lo, hi, b0, b1) for lo, hi, merged in slices for b0, b1 in merged]


def _cidr_range(cidr: str, family: type[ipaddress.IPv4Network | ipaddress.IPv6Network], name: str) -> tuple[int, int]:
    if not isinstance(cidr, str) or "/" not in cidr:
        raise InvalidArgument(f"bad {name} CIDR {cidr!r}")
    try:
        net = family(cidr, strict=False)
    except ValueError:
        raise InvalidArgument(f"bad {name} CIDR {cidr!r}") from None
    return int(net.network_address), int(net.broadcast_address)


@functools.lru_cache(maxsize=65536)
def cidr_range(cidr: str) -> tuple[int, int]:
    """First and last address of an IPv4 CIDR (host bits allowed, as EC2 canonicalises them)."""
    return _cidr_range(cidr, ipaddress.IPv4Network, "IPv4")


def is_ipv6_cidr(cidr: object) -> bool:
    """Whether a rule's CIDR is an IPv6 one (a ``:`` in it); the range functions judge the rest."""
    return isinstance(cidr, str) and ":" in cidr


@functools.lru_cache(maxsize=65536)
def cidr_range6(cidr: str) -> tuple[int, int]:
    """First and last address of an IPv6 CIDR (host bits allowed)."""
    return _cidr_range(cidr, ipaddress.IPv6Network, "IPv6")


def addr_text(lo: int, hi: int, v6: bool = False) -> str:
    """nft text of an address range: single address, prefix when exact, else ``a-b``."""
    kind, bits = (ipaddress.IPv6Address, 128) if v6 else (ipaddress.IPv4Address, 32)
    a = kind(lo)
    if lo == hi:
        return str(a)
    size = hi - lo + 1
    if size & (size - 1) == 0 and lo % size == 0:
        return f"{a}/{bits - size.bit_length() + 1}"
    return f"{a}-{kind(hi)}"


def range_text(lo: int, hi: int) -> str:
    """nft text of a number range: ``n`` or ``lo-hi``."""
    return str(lo) if lo == hi else f"{lo}-{hi}"
