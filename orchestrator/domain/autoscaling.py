"""Auto Scaling's placement decisions, as AWS documents them, in pure functions.

* Launching (scale out, replacements): each new instance goes to the enabled zone with the fewest
  instances of the group, counting the ones already planned (ties: the group's zone order; AWS picks
  at random among them).
* Terminating (scale in), the default termination policy: first the zone with the most instances
  that are not protected from scale in (zone balance beats every other criterion); inside it,
  instances on an outdated configuration (launched from another launch template than the group's,
  then from an older version of it), then the instance closest to its next billing hour, then the
  oldest (AWS: at random).
* Rebalancing (``AZRebalance``): while the most populated enabled zone holds more than one instance
  more than the least populated one, launch into the least populated first, then terminate from
  the most populated (launch before terminate, so capacity never drops).

Sources: Amazon EC2 Auto Scaling user guide, "Control which Auto Scaling instances terminate
during scale in" and "Rebalancing activities" (docs.aws.amazon.com/autoscaling/ec2/userguide/).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One instance of a group, as the decisions see it."""

    instance_id: str
    zone: str
    launched_at: dt.datetime
    template_id: str | None = None
    template_version: int | None = None  # the version number it was launched from
    protected: bool = False  # ProtectedFromScaleIn


def zone_counts(members: Iterable[Member], zones: Sequence[str]) -> Counter[str]:
    """Instances per enabled zone (every enabled zone present, possibly 0)."""
    counts: Counter[str] = Counter({z: 0 for z in zones})
    for m in members:
        if m.zone in counts:
            counts[m.zone] += 1
    return counts


def launch_zones(counts: Mapping[str, int], zones: Sequence[str], n: int) -> list[str]:
    """The zones of ``n`` new instances: each to the zone with the fewest, counting earlier picks."""
    if not zones:
        return []
    have = {z: counts.get(z, 0) for z in zones}
    out = []
    for _ in range(n):
        pick = min(zones, key=lambda z: (have[z], zones.index(z)))
        have[pick] += 1
        out.append(pick)
    return out


def _outdated(m: Member, template_id: str | None, version: int | None) -> int:
    """0: another launch template (or none), 1: an older version of the group's, 2: current."""
    if template_id is None:
        return 2
    if m.template_id != template_id:
        return 0
    if version is not None and (m.template_version or 0) < version:
        return 1
    return 2


def _to_next_hour(m: Member, now: dt.datetime) -> float:
    return 3600 - (now - m.launched_at).total_seconds() % 3600


def termination_order(members: Sequence[Member], zones: Sequence[str], n: int, now: dt.datetime,
                      template_id: str | None = None, template_version: int | None = None) -> list[str]:
    """The ``n`` instances the default termination policy ends, in order (protected ones never)."""
    left = [m for m in members if not m.protected]
    out: list[str] = []
    for _ in range(min(n, len(left))):
        counts = Counter(m.zone for m in left)
        order = list(zones) + sorted({m.zone for m in left} - set(zones))
        # an instance in a zone the group no longer uses goes first; then the fullest zone
        zone = max(counts, key=lambda z: (z not in zones, counts[z], -order.index(z)))
        pick = min((m for m in left if m.zone == zone),
                   key=lambda m: (_outdated(m, template_id, template_version), _to_next_hour(m, now),
                                  m.launched_at, m.instance_id))
        out.append(pick.instance_id)
        left.remove(pick)
    return out


def rebalance_move(counts: Mapping[str, int], zones: Sequence[str]) -> tuple[str, str] | None:
    """``(launch into, then terminate from)`` while the enabled zones are unbalanced by more than one."""
    if len(zones) < 2:
        return None
    have = {z: counts.get(z, 0) for z in zones}
    low = min(zones, key=lambda z: (have[z], zones.index(z)))
    high = max(zones, key=lambda z: (have[z], -zones.index(z)))
    return (low, high) if have[high] - have[low] > 1 else None
