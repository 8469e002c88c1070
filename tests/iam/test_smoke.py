"""The public interface the IAM API codes against: parse, evaluate, Decision, MalformedPolicy."""

from __future__ import annotations

import pytest

from orchestrator.domain.iam.policy import Decision, MalformedPolicy, Request, evaluate, parse

TAGGED = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "arn:aws:ec2:*:*:instance/*",
        "Condition": {"StringEquals": {"ec2:ResourceTag/team": "a"}},
    }],
}
INSTANCE = "arn:aws:ec2:us-east-1:123456789012:instance/i-1"


@pytest.mark.parametrize(("team", "decision"), [("a", Decision.ALLOW), ("b", Decision.IMPLICIT_DENY)])
def test_tag_conditioned_stop(team: str, decision: Decision) -> None:
    request = Request("ec2:StopInstances", INSTANCE, {"ec2:ResourceTag/Team": team})
    assert evaluate(request, [parse(TAGGED)]) is decision


def test_malformed_is_a_value_error() -> None:
    with pytest.raises(MalformedPolicy, match="Syntax errors in policy.") as e:
        parse("{not json")
    assert isinstance(e.value, ValueError)
