"""Dynamic scaling decisions (domain/scaling.py), as the Auto Scaling user guide states them:
adjustment types and their rounding, which step applies, cooldown, warm-up, target tracking's
fast scale-out and slow scale-in; and the datapoints tracking.py makes of the counters."""

from __future__ import annotations

from orchestrator.domain.scaling import (
    HIGH_PERIODS,
    LOW_PERIODS,
    Step,
    Tracking,
    adjusted,
    combine,
    cpu_percent,
    in_cooldown,
    step_for,
    steps_valid,
    track,
    warmed,
)
from orchestrator.services.autoscaling.tracking import datapoint


def test_adjustment_types_clamped_to_min_and_max() -> None:
    assert adjusted(2, "ChangeInCapacity", 3, 1, 10) == 5
    assert adjusted(2, "ChangeInCapacity", 30, 1, 10) == 10
    assert adjusted(2, "ChangeInCapacity", -5, 1, 10) == 1
    assert adjusted(2, "ExactCapacity", 7, 1, 10) == 7
    assert adjusted(2, "ExactCapacity", 0, 1, 10) == 1


def test_percent_change_rounds_as_aws_documents() -> None:
    # the user guide's examples: 12.7 -> 12, 0.67 -> 1, -0.67 -> -1, -6.67 -> -6
    assert adjusted(127, "PercentChangeInCapacity", 10, 0, 1000) == 139
    assert adjusted(4, "PercentChangeInCapacity", 17, 0, 100) == 5  # 0.68 -> 1
    assert adjusted(4, "PercentChangeInCapacity", -17, 0, 100) == 3  # -0.68 -> -1
    assert adjusted(20, "PercentChangeInCapacity", -33, 0, 100) == 14  # -6.6 -> -6
    assert adjusted(10, "PercentChangeInCapacity", 25, 0, 100, min_magnitude=4) == 14  # 2.5 -> 2, at least 4
    assert adjusted(10, "PercentChangeInCapacity", -25, 0, 100, min_magnitude=4) == 6


STEPS = [Step(0, None, 10.0), Step(1, 10.0, 20.0), Step(3, 20.0, None)]  # above a threshold of e.g. 50 %


def test_the_step_holding_the_breach_applies_bounds_as_documented() -> None:
    assert step_for(STEPS, 55, 50) == STEPS[0]
    assert step_for(STEPS, 60, 50) == STEPS[1]  # above the threshold: lower bound inclusive
    assert step_for(STEPS, 69.9, 50) == STEPS[1]
    assert step_for(STEPS, 70, 50) == STEPS[2]
    assert step_for(STEPS, 95, 50) == STEPS[2]
    below = [Step(-1, -10.0, None), Step(-2, None, -10.0)]
    assert step_for(below, 40, 50) == below[1]  # below the threshold: upper bound inclusive
    assert step_for(below, 45, 50) == below[0]
    assert step_for([Step(1, 0.0, 10.0)], 70, 50) is None


def test_steps_without_gaps_or_overlaps() -> None:
    assert steps_valid(STEPS) is None
    assert steps_valid([]) is not None
    assert steps_valid([Step(1, 0.0, 10.0), Step(2, 15.0, None)]) is not None  # a gap
    assert steps_valid([Step(1, None, 10.0), Step(2, None, 5.0)]) is not None  # two open lower bounds
    assert steps_valid([Step(1, 10.0, 5.0)]) is not None


def test_cooldown_and_warmup() -> None:
    assert not in_cooldown(None, 300, 1000)
    assert in_cooldown(900, 300, 1000) and not in_cooldown(700, 300, 1000)
    assert warmed({"i-a": 0.0, "i-b": 950.0, "i-c": None}, 100, 1000) == ["i-a"]


def test_cpu_from_cumulative_seconds() -> None:
    cpu = cpu_percent({"i-a": 10.0, "i-b": 5.0, "i-gone": 1.0}, {"i-a": 40.0, "i-b": 4.0, "i-new": 9.0}, 60.0,
                      {"i-a": 2})
    assert cpu == {"i-a": 25.0}  # 30 s over 60 s on 2 vCPUs; i-b restarted, i-new has no start


def test_target_tracking_scales_out_fast_in_slowly() -> None:
    high = [90.0] * HIGH_PERIODS
    assert track(high[:-1], 50, 2, 1, 10).desired is None  # not 3 periods yet
    out = track(high, 50, 2, 1, 10)
    assert (out.desired, out.alarm) == (4, "AlarmHigh")  # ceil(2 * 90 / 50)
    assert track(high, 50, 2, 1, 3).desired == 3  # clamped at MaxSize
    assert track([90, 40, 90], 50, 2, 1, 10).desired is None  # not above target for all of them
    low = [10.0] * LOW_PERIODS
    assert track(low[:-1], 50, 4, 1, 10).desired is None  # scale in wants 15 periods
    down = track(low, 50, 4, 1, 10)
    assert (down.desired, down.alarm) == (3, "AlarmLow")  # one at a time although ceil(4 * 10 / 50) = 1
    assert track(low, 50, 1, 1, 10).desired is None  # at MinSize
    assert track(low, 50, 4, 1, 10, disable_scale_in=True).desired is None
    assert track([46.0] * LOW_PERIODS, 50, 4, 1, 10).desired is None  # within 90 % of the target: stays


def test_several_tracking_policies_any_scales_out_all_must_agree_to_scale_in() -> None:
    none, out3, out5 = Tracking(None), Tracking(3, "AlarmHigh"), Tracking(5, "AlarmHigh")
    in1, in2 = Tracking(1, "AlarmLow"), Tracking(2, "AlarmLow")
    assert combine([(none, True), (out3, True)], 2) == 1  # one policy is enough to scale out
    assert combine([(out3, True), (out5, True), (in1, True)], 2) == 1  # to the largest capacity asked
    assert combine([(in1, True), (none, True)], 3) is None  # the other is not ready to scale in
    assert combine([(in1, True), (in2, True)], 3) == 1  # both are: the larger capacity (less removed)
    assert combine([(in1, True), (none, False)], 3) == 0  # a policy with scale-in disabled has no vote
    assert combine([(none, False)], 3) is None
    assert combine([], 3) is None


def test_request_datapoints_per_target_per_period() -> None:
    # 2 targets, 30 s of a 60 s period: 120 and 60 requests -> 90 per target per 30 s -> 180 per period
    assert datapoint("ALBRequestCountPerTarget", {"i-a": 100, "i-b": 0}, {"i-a": 220, "i-b": 60, "i-c": 5},
                     30.0, 60.0, {}) == 180.0
    assert datapoint("ALBRequestCountPerTarget", {"i-a": 500}, {"i-a": 40}, 60.0, 60.0, {}) == 40.0  # proxy restarted
    assert datapoint("ALBRequestCountPerTarget", {}, {"i-a": 40}, 60.0, 60.0, {}) is None
    assert datapoint("ASGAverageCPUUtilization", {"i-a": 0, "i-b": 0}, {"i-a": 60, "i-b": 30}, 60, 60,
                     {"i-a": 1, "i-b": 1}) == 75.0
