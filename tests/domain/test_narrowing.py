"""A Describe's filters as a store narrowing: only exact values narrow, patterns and other filters
are left to the full filtering (which still runs), several filters intersect."""

from __future__ import annotations

from orchestrator.domain.narrowing import MAX_VALUES, STATE, Narrowing, from_filters

COLUMNS = {"instance-state-name": STATE, "instance-type": "InstanceType"}


def test_tag_state_and_field_filters_narrow() -> None:
    got = from_filters([{"Name": "tag:team", "Values": ["a", "b"]}, {"Name": "instance-state-name", "Values": ["running"]},
                        {"Name": "instance-type", "Values": ["t3.micro"]}], COLUMNS)
    assert got == Narrowing(states=["running"], tagged=[("team", ["a", "b"])], fields={"InstanceType": ["t3.micro"]})
    assert got


def test_patterns_empty_and_unknown_filters_do_not_narrow() -> None:
    for f in ({"Name": "tag:team", "Values": ["t*"]}, {"Name": "tag:team", "Values": ["t?"]},
              {"Name": "instance-type", "Values": ["t3\\*"]}, {"Name": "tag:team", "Values": []},
              {"Name": "tag:", "Values": ["x"]}, {"Name": "vpc-id", "Values": ["vpc-1"]},
              {"Name": "tag-key", "Values": ["team"]}, {"Values": ["x"]},
              {"Name": "tag:team", "Values": ["x"] * (MAX_VALUES + 1)}):
        assert not from_filters([f], COLUMNS), f
    assert not from_filters(None, COLUMNS)


def test_repeated_filters_intersect() -> None:
    got = from_filters([{"Name": "instance-state-name", "Values": ["running", "stopped"]},
                        {"Name": "instance-state-name", "Values": ["stopped", "pending"]},
                        {"Name": "instance-type", "Values": ["a", "b"]}, {"Name": "instance-type", "Values": ["c"]},
                        {"Name": "tag:x", "Values": ["1"]}, {"Name": "tag:x", "Values": ["2"]}], COLUMNS)
    assert got.states == ["stopped"] and got.fields == {"InstanceType": []}
    assert got.tagged == [("x", ["1"]), ("x", ["2"])]  # both must hold: nothing has both values
