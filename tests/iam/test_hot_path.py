"""What the API edge's fast path relies on: `context_keys` names every key a policy can look at
(variables with a default included), memoized action matching answers as the regex does, and a
single-valued condition decides as the qualifier rules say."""

from __future__ import annotations

import random

import pytest
from iam_helpers import ALLOW, IMPLICIT, allow, decide, pol

from orchestrator.domain.iam.policy import context_keys
from orchestrator.domain.iam.wildcards import ActionSet


def test_context_keys_of_conditions_and_variables() -> None:
    p = pol(allow("ec2:StopInstances", "arn:aws:ec2:*:*:instance/${aws:PrincipalTag/Shard}-*",
                  Condition={"StringEquals": {"ec2:ResourceTag/Size": "${ec2:InstanceType, 'none'}",
                                              "aws:RequestedRegion": ["${ aws:username }", "a${*}b${?}${$}"]}}))
    assert context_keys(p) == frozenset({"ec2:resourcetag/size", "aws:requestedregion", "ec2:instancetype",
                                         "aws:principaltag/shard", "aws:username"})


def test_a_variable_default_does_not_hide_its_key() -> None:
    """``${ec2:InstanceType, 'none'}`` looks at ec2:InstanceType: a caller that leaves out keys no
    policy names must still give it, else the default decides."""
    p = pol(allow("ec2:StopInstances", Condition={"StringEquals": {"ec2:ResourceTag/size": "${ec2:InstanceType, 'none'}"}}))
    assert "ec2:instancetype" in context_keys(p)
    assert decide(p, "ec2:StopInstances", **{"ec2:ResourceTag/size": "t3.nano", "ec2:InstanceType": "t3.nano"}) == ALLOW
    assert decide(p, "ec2:StopInstances", **{"ec2:ResourceTag/size": "t3.nano"}) == IMPLICIT


def test_memoized_action_matching_agrees_with_the_patterns() -> None:
    rng = random.Random(12)
    patterns = ["ec2:Describe*", "ec2:Get?ecurity*", "s3:*Object", "*:List*", "iam:PassRole"]
    names = ["ec2:DescribeInstances", "EC2:describevpcs", "ec2:GetSecurityGroupsForVpc", "s3:GetObject",
             "s3:PutObjectAcl", "iam:ListUsers", "iam:PassRole", "iam:passrole", "sts:AssumeRole"]
    names += [f"svc{i}:List{i}" for i in range(2 * ActionSet.MEMO_MAX)]  # more than the memo keeps
    fresh = ActionSet(patterns)
    memo = ActionSet(patterns)
    for name in rng.choices(names, k=4 * len(names)):
        assert memo.fullmatch(name) == fresh._match(name), name
    assert len(memo.memo) <= ActionSet.MEMO_MAX


@pytest.mark.parametrize(("operator", "value", "hit"), [
    ("StringEquals", "a", True), ("StringEquals", "b", False),
    ("StringNotEquals", "a", False), ("StringNotEquals", "b", True),
    ("ForAnyValue:StringEquals", "a", True), ("ForAnyValue:StringEquals", "b", False),
    ("ForAllValues:StringEquals", "a", True), ("ForAllValues:StringEquals", "b", False),
    ("ForAnyValue:StringNotEquals", "a", False), ("ForAllValues:StringNotEquals", "b", True),
])
def test_a_single_value_decides_as_a_one_element_set(operator: str, value: str, hit: bool) -> None:
    p = pol(allow("ec2:StopInstances", Condition={operator: {"ec2:ResourceTag/team": "a"}}))
    one = decide(p, "ec2:StopInstances", **{"ec2:ResourceTag/team": value})
    listed = decide(p, "ec2:StopInstances", **{"ec2:ResourceTag/team": [value]})
    assert one == listed == (ALLOW if hit else IMPLICIT)
