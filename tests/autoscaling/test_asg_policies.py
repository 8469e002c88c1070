"""Termination policies (services/autoscaling/policies.py) over domain.autoscaling: zones are
balanced first whatever the policy; inside the fullest zone the policies narrow in order."""

from __future__ import annotations

import datetime as dt

from orchestrator.domain.autoscaling import Member
from orchestrator.services.autoscaling.policies import victims

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
A, B = "us-east-1a", "us-east-1b"


def m(iid: str, zone: str, minutes: int, source: str | None = "lc:new", protected: bool = False) -> Member:
    return Member(iid, zone, T0 + dt.timedelta(minutes=minutes), source, None, protected)


GROUP = [m("a-old", A, 0), m("a-mid", A, 10, "lc:old"), m("a-new", A, 40), m("b-1", B, 5)]
NOW = T0 + dt.timedelta(minutes=55)


def test_zone_balance_comes_first_whatever_the_policy() -> None:
    for policy in ("OldestInstance", "NewestInstance", "ClosestToNextInstanceHour", "OldestLaunchConfiguration"):
        first = victims(GROUP, (A, B), 1, NOW, [policy], "lc:new")
        assert first[0].startswith("a-"), policy  # zone a holds 3, b 1


def test_each_policy_picks_inside_the_fullest_zone() -> None:
    assert victims(GROUP, (A, B), 1, NOW, ["OldestInstance"], "lc:new") == ["a-old"]
    assert victims(GROUP, (A, B), 1, NOW, ["NewestInstance"], "lc:new") == ["a-new"]
    assert victims(GROUP, (A, B), 1, NOW, ["OldestLaunchConfiguration"], "lc:new") == ["a-mid"]
    # at :55, a-old (launched :00) has 5 minutes to its next hour, a-mid 15, a-new 45
    assert victims(GROUP, (A, B), 1, NOW, ["ClosestToNextInstanceHour"], "lc:new") == ["a-old"]
    assert victims(GROUP, (A, B), 1, NOW, ["Default"], "lc:new") == ["a-mid"]  # outdated configuration first


def test_policies_narrow_in_order_and_protection_holds() -> None:
    group = [m("a-1", A, 0), m("a-2", A, 0), m("a-3", A, 30, protected=True), m("b-1", B, 5)]
    assert victims(group, (A, B), 1, NOW, ["OldestInstance", "NewestInstance"], "lc:new") in (["a-1"], ["a-2"])
    assert set(victims(group, (A, B), 4, NOW, ["NewestInstance"], "lc:new")) == {"a-1", "a-2", "b-1"}
