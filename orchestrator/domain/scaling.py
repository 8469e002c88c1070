"""Auto Scaling's dynamic scaling decisions, as the user guide describes them, in pure functions.

* Adjustments (simple and step scaling): ``ChangeInCapacity`` adds, ``ExactCapacity`` sets,
  ``PercentChangeInCapacity`` adds a percentage of the current capacity, rounded toward zero
  except that a result between -1 and 1 (exclusive, not 0) counts as -1 or 1; with
  ``MinAdjustmentMagnitude`` a percent change moves at least that many instances. The result is
  always clamped to ``[MinSize, MaxSize]``.
* Step scaling: the step whose interval holds ``metric - breach threshold`` applies. Above the
  threshold an interval's lower bound is inclusive and its upper bound exclusive; below it, the
  lower bound is exclusive and the upper bound inclusive; a missing bound is infinite.
* Simple scaling: after a change the group waits the cooldown (the policy's, else the group's
  ``DefaultCooldown``) before another simple scaling change (``HonorCooldown``).
* Target tracking: keep the metric near the target. Scale out when the metric stayed above the
  target for ``HIGH_PERIODS`` periods (AWS's AlarmHigh: 3 datapoints of one minute) to
  ``ceil(capacity * metric / target)``; scale in only when it stayed below 90 % of the target for
  ``LOW_PERIODS`` periods (AlarmLow: 15 datapoints), and then by one instance at a time ("scales
  in gradually"); ``DisableScaleIn`` never scales in. Instances still warming up
  (``EstimatedInstanceWarmup``, else the group's ``DefaultInstanceWarmup``/``DefaultCooldown``)
  do not count toward the metric.

Sources: Amazon EC2 Auto Scaling user guide, "Target tracking scaling policies", "Step and simple
scaling policies" (docs.aws.amazon.com/autoscaling/ec2/userguide/).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ADJUSTMENT_TYPES = ("ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity")
HIGH_PERIODS = 3  # AlarmHigh: metric > target for 3 of 3 datapoints
LOW_PERIODS = 15  # AlarmLow: metric < 90 % of target for 15 of 15 datapoints
LOW_RATIO = 0.9


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def adjusted(current: int, adjustment_type: str, adjustment: int, low: int, high: int,
             min_magnitude: int | None = None) -> int:
    """The new desired capacity after one adjustment, clamped to ``[low, high]``."""
    if adjustment_type == "ExactCapacity":
        return clamp(adjustment, low, high)
    if adjustment_type == "PercentChangeInCapacity":
        raw = current * adjustment / 100
        change = int(raw)  # toward zero
        if change == 0 and raw != 0:
            change = 1 if raw > 0 else -1
        if min_magnitude and abs(change) < min_magnitude and change != 0:
            change = min_magnitude if change > 0 else -min_magnitude
        return clamp(current + change, low, high)
    return clamp(current + adjustment, low, high)


@dataclass(frozen=True)
class Step:
    adjustment: int
    lower: float | None = None  # MetricIntervalLowerBound
    upper: float | None = None  # MetricIntervalUpperBound


def step_for(steps: Sequence[Step], metric: float, threshold: float) -> Step | None:
    """The step that applies to ``metric`` against the alarm's ``threshold`` (None: no step holds it)."""
    diff = metric - threshold
    above = diff >= 0
    for s in steps:
        low = -math.inf if s.lower is None else s.lower
        high = math.inf if s.upper is None else s.upper
        inside = (low <= diff < high) if above else (low < diff <= high)
        if inside:
            return s
    return None


def steps_valid(steps: Sequence[Step]) -> str | None:
    """Why the steps are refused (AWS's words), or None: intervals must not overlap or leave gaps
    and at most one may lack each bound."""
    if not steps:
        return "StepAdjustments must contain at least one item."
    if sum(s.lower is None for s in steps) > 1 or sum(s.upper is None for s in steps) > 1:
        return "There can be at most one step adjustment with a null lower bound and one with a null upper bound."
    ordered = sorted(steps, key=lambda s: -math.inf if s.lower is None else s.lower)
    for s in ordered:
        if s.lower is not None and s.upper is not None and s.lower >= s.upper:
            return "The lower bound must be less than the upper bound."
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.upper is None or b.lower is None or a.upper != b.lower:
            return "Step adjustments must not overlap and there must not be gaps between them."
    return None


def in_cooldown(last_scaled: float | None, cooldown: float, now: float) -> bool:
    """Simple scaling waits ``cooldown`` seconds after the group's last simple scaling change."""
    return last_scaled is not None and now < last_scaled + cooldown


def warmed(in_service_since: Mapping[str, float | None], warmup: float, now: float) -> list[str]:
    """The instances that count toward the metric: InService and past their warm-up."""
    return sorted(i for i, since in in_service_since.items() if since is not None and now >= since + warmup)


def cpu_percent(before: Mapping[str, float], after: Mapping[str, float], seconds: float,
                vcpus: Mapping[str, int]) -> dict[str, float]:
    """Each instance's CPU utilization over ``seconds`` of wall time, from cumulative CPU seconds
    (an instance without both readings, or restarted meanwhile, is left out)."""
    out: dict[str, float] = {}
    if seconds <= 0:
        return out
    for iid, end in after.items():
        start = before.get(iid)
        if start is None or end < start:
            continue
        out[iid] = min(100.0, 100.0 * (end - start) / seconds / max(1, vcpus.get(iid, 1)))
    return out


@dataclass(frozen=True)
class Tracking:
    """What target tracking decided: the new desired capacity (None: no change) and which alarm."""

    desired: int | None
    alarm: str = ""  # "AlarmHigh" | "AlarmLow"


def track(datapoints: Sequence[float], target: float, current: int, low: int, high: int,
          disable_scale_in: bool = False) -> Tracking:
    """Target tracking over the latest per-period datapoints (oldest first)."""
    if target <= 0 or not datapoints:
        return Tracking(None)
    recent = datapoints[-HIGH_PERIODS:]
    if len(recent) == HIGH_PERIODS and all(v > target for v in recent):
        wanted = clamp(math.ceil(max(current, 1) * recent[-1] / target), low, high)
        return Tracking(wanted if wanted > current else None, "AlarmHigh")
    window = datapoints[-LOW_PERIODS:]
    if (not disable_scale_in and len(window) == LOW_PERIODS and all(v < target * LOW_RATIO for v in window)):
        proposed = math.ceil(current * window[-1] / target)
        wanted = clamp(max(proposed, current - 1), low, high)
        return Tracking(wanted if wanted < current else None, "AlarmLow")
    return Tracking(None)


def combine(verdicts: Sequence[tuple[Tracking, bool]], current: int) -> int | None:
    """Which of a group's target tracking policies acts (its index), as AWS combines several:
    scale out when any policy wants to, to the largest capacity asked; scale in only when every
    policy with scale-in enabled is ready to, to the largest (the least reduced) capacity. Each
    verdict comes with whether its policy may scale in."""
    out = [(t.desired, i) for i, (t, _) in enumerate(verdicts) if t.desired is not None and t.desired > current]
    if out:
        return max(out)[1]
    voters = [(t.desired, i) for i, (t, may_scale_in) in enumerate(verdicts) if may_scale_in]
    if voters and all(d is not None and d < current for d, _ in voters):
        return max(voters)[1]
    return None
