"""Termination policies over ``domain.autoscaling``: zones are balanced first whatever the policy
(AWS: "Amazon EC2 Auto Scaling first identifies the Availability Zone with the most instances");
inside that zone the group's policies narrow the candidates in order, and the default policy
(``termination_order``) decides among what remains."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from orchestrator.domain.autoscaling import Member, termination_order

DEFAULT = ("Default",)


def _narrow(policy: str, candidates: list[Member], now: dt.datetime, source: str | None) -> list[Member]:
    if policy == "OldestInstance":
        return [min(candidates, key=lambda m: (m.launched_at, m.instance_id))]
    if policy == "NewestInstance":
        return [max(candidates, key=lambda m: (m.launched_at, m.instance_id))]
    if policy in ("OldestLaunchConfiguration", "OldestLaunchTemplate") and source is not None:
        outdated = [m for m in candidates if m.template_id != source]
        return outdated or candidates
    if policy == "ClosestToNextInstanceHour":
        left = min(3600 - (now - m.launched_at).total_seconds() % 3600 for m in candidates)
        return [m for m in candidates if 3600 - (now - m.launched_at).total_seconds() % 3600 == left]
    return candidates


def victims(members: Sequence[Member], zones: Sequence[str], count: int, now: dt.datetime,
            policy_names: Sequence[str], source: str | None = None) -> list[str]:
    """The ``count`` instances to take out of service, in order (protected ones never)."""
    if not policy_names or tuple(policy_names) == DEFAULT:
        return termination_order(members, zones, count, now, source)
    left = [m for m in members if not m.protected]
    out: list[str] = []
    for _ in range(min(count, len(left))):
        counts = Counter(m.zone for m in left)
        order = list(zones) + sorted(set(counts) - set(zones))
        zone = max(counts, key=lambda z: (z not in zones, counts[z], -order.index(z)))
        candidates = [m for m in left if m.zone == zone]
        for policy in policy_names:
            if policy == "Default" or len(candidates) == 1:
                break
            candidates = _narrow(policy, candidates, now, source)
        pick = termination_order(candidates, [zone], 1, now, source)[0]
        out.append(pick)
        left = [m for m in left if m.instance_id != pick]
    return out
