"""Auto Scaling's placement decisions (domain/autoscaling.py) against AWS's documented behaviour."""

from __future__ import annotations

import datetime as dt

from orchestrator.domain.autoscaling import (
    Member,
    launch_zones,
    rebalance_move,
    termination_order,
    zone_counts,
)

T0 = dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC)
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
A, B, C = ZONES


def m(iid: str, zone: str, minutes: int = 0, **kw: object) -> Member:
    return Member(iid, zone, T0 + dt.timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]


def test_launches_go_to_the_zone_with_the_fewest() -> None:
    assert launch_zones({A: 0, B: 0, C: 0}, ZONES, 6) == [A, B, C, A, B, C]
    assert launch_zones({A: 2, B: 0, C: 1}, ZONES, 3) == [B, B, C]
    assert launch_zones({A: 1}, ZONES, 2) == [B, C]  # zones absent from the counts hold none
    assert launch_zones({A: 9, C: 9}, (A, C), 1) == [A]  # only enabled zones, ties in group order
    assert launch_zones({}, (), 3) == []


def test_scale_in_keeps_zones_balanced_first() -> None:
    group = [m("i-a1", A), m("i-a2", A, 1), m("i-b1", B), m("i-b2", B, 1), m("i-c1", C), m("i-c2", C, 1)]
    order = termination_order(group, ZONES, 4, T0 + dt.timedelta(minutes=30))
    assert sorted(zone_counts([g for g in group if g.instance_id not in order], ZONES).values()) == [0, 1, 1]
    assert len({g.zone for g in group if g.instance_id in order[:3]}) == 3  # one from each zone first


def test_scale_in_prefers_outdated_configuration_then_next_billing_hour() -> None:
    now = T0 + dt.timedelta(minutes=100)
    group = [m("i-new", A, 0, template_id="lt-1", template_version=3),
             m("i-old", A, 10, template_id="lt-1", template_version=2),
             m("i-other", A, 20, template_id="lt-0", template_version=9),
             m("i-b", B, 0, template_id="lt-1", template_version=3)]
    assert termination_order(group, (A, B), 3, now, "lt-1", 3) == ["i-other", "i-old", "i-new"]
    # same configuration: the one closest to its next billing hour (launched at :00 -> 20 min left)
    same = [m("i-x", A, 0), m("i-y", A, 30)]  # at 100 min: x has 20 min to its hour, y has 50
    assert termination_order(same, (A,), 1, now) == ["i-x"]


def test_protected_instances_are_never_chosen() -> None:
    group = [m("i-a1", A, protected=True), m("i-a2", A, protected=True), m("i-b1", B)]
    assert termination_order(group, (A, B), 3, T0) == ["i-b1"]


def test_instances_outside_the_enabled_zones_go_first() -> None:
    group = [m("i-a1", A), m("i-a2", A), m("i-c1", C)]
    assert termination_order(group, (A, B), 1, T0) == ["i-c1"]


def test_rebalance_moves_one_at_a_time_until_balanced() -> None:
    counts = {A: 3, B: 3, C: 0}  # zone c came back
    moves = []
    while (move := rebalance_move(counts, ZONES)) is not None:
        low, high = move
        counts[low] += 1
        counts[high] -= 1
        moves.append(move)
    assert moves == [(C, A), (C, B)] and counts == {A: 2, B: 2, C: 2}
    assert rebalance_move({A: 2, B: 1, C: 1}, ZONES) is None  # off by one is balanced
    assert rebalance_move({A: 5}, (A,)) is None
