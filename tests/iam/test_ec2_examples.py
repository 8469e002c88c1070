"""EC2 example policies from the IAM / EC2 user guides, evaluated the way an EC2 authorizer uses the
engine: one Request per resource the action authorizes on (ec2_actions), all must be allowed."""

from __future__ import annotations

from typing import Any

import pytest
from iam_helpers import ACCOUNT, ALLOW, DENY, IMPLICIT, allow, deny, pol

from orchestrator.domain.iam import ec2_actions
from orchestrator.domain.iam.policy import Decision, Policy, Request, evaluate

REGION = "us-east-2"


def authorize(policies: list[Policy], name: str, resources: dict[str, str], context: dict[str, Any]) -> Decision:
    """The action on each of its resources (or on "*"): any deny denies, every one must allow."""
    action = ec2_actions.action(name)
    assert action is not None
    targets = ["*"] if action.on_star else [
        ec2_actions.arn(t, rid, region=REGION, account="" if t in ("image", "snapshot") else ACCOUNT)
        for t, rid in resources.items() if action.resource(t) is not None
    ]
    decisions = [evaluate(Request(action.iam_action, arn, context), policies) for arn in targets]
    if Decision.EXPLICIT_DENY in decisions:
        return DENY
    return ALLOW if decisions and all(d is ALLOW for d in decisions) else IMPLICIT


RUN = {"instance": "*", "image": "ami-1", "subnet": "subnet-1", "network-interface": "*",
       "security-group": "sg-1", "volume": "*"}

# "Launch instances (RunInstances)": only t2.micro, from any image, in any subnet
T2_MICRO = pol(
    allow("ec2:RunInstances", [f"arn:aws:ec2:{REGION}::image/ami-*", "arn:aws:ec2:*:*:subnet/*",
                               "arn:aws:ec2:*:*:network-interface/*", "arn:aws:ec2:*:*:volume/*",
                               "arn:aws:ec2:*:*:security-group/*"]),
    allow("ec2:RunInstances", "arn:aws:ec2:*:*:instance/*", Condition={"StringEquals": {"ec2:InstanceType": "t2.micro"}}),
)


@pytest.mark.parametrize(("itype", "decision"), [("t2.micro", ALLOW), ("m5.large", IMPLICIT)])
def test_run_only_t2_micro(itype: str, decision: Decision) -> None:
    assert authorize([T2_MICRO], "RunInstances", RUN, {"ec2:InstanceType": itype}) is decision


def test_run_needs_every_resource() -> None:
    no_subnet = pol(allow("ec2:RunInstances", ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*::image/*",
                                               "arn:aws:ec2:*:*:network-interface/*", "arn:aws:ec2:*:*:volume/*",
                                               "arn:aws:ec2:*:*:security-group/*"]))
    assert authorize([no_subnet], "RunInstances", RUN, {}) is IMPLICIT


# "Require tags at launch": team tag required, only the keys team and Name
TAG_ON_CREATE = pol(
    allow("ec2:RunInstances", "*", Condition={"StringLike": {"aws:RequestTag/team": "?*"},
                                              "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "Name"]}}),
    allow("ec2:CreateTags", "arn:aws:ec2:*:*:*/*", Condition={"StringEquals": {"ec2:CreateAction": "RunInstances"}}),
)


@pytest.mark.parametrize(("tags", "decision"), [
    ({"team": "a"}, ALLOW), ({"team": "a", "Name": "web"}, ALLOW), ({"Name": "web"}, IMPLICIT),
    ({"team": "a", "owner": "x"}, IMPLICIT),
])
def test_tags_required_at_launch(tags: dict[str, str], decision: Decision) -> None:
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    context["aws:TagKeys"] = list(tags)
    assert authorize([TAG_ON_CREATE], "RunInstances", RUN, context) is decision


def test_create_tags_only_while_launching() -> None:
    ctx = {"ec2:CreateAction": "RunInstances"}
    assert authorize([TAG_ON_CREATE], "CreateTags", {"instance": "i-1"}, ctx) is ALLOW
    assert authorize([TAG_ON_CREATE], "CreateTags", {"instance": "i-1"}, {}) is IMPLICIT


# The enforcement cases: read-only, team-tagged stop, explicit deny, region lock
READ = pol(allow(["ec2:Describe*", "ec2:GetConsoleOutput"]))
TEAM_A = pol(allow(["ec2:StopInstances", "ec2:StartInstances"], "arn:aws:ec2:*:*:instance/*",
                   Condition={"StringEquals": {"ec2:ResourceTag/team": "a"}}))
REGION_LOCK = pol(deny("ec2:*", Condition={"StringNotEquals": {"ec2:Region": "us-east-2"}}))


@pytest.mark.parametrize(("policies", "name", "context", "decision"), [
    ([READ], "DescribeInstances", {}, ALLOW),
    ([READ], "DescribeVolumes", {}, ALLOW),
    ([READ], "RunInstances", {}, IMPLICIT),
    ([READ, TEAM_A], "StopInstances", {"ec2:ResourceTag/team": "a"}, ALLOW),
    ([READ, TEAM_A], "StopInstances", {"ec2:ResourceTag/team": "b"}, IMPLICIT),
    ([READ, TEAM_A], "StopInstances", {}, IMPLICIT),
    ([READ, TEAM_A], "TerminateInstances", {"ec2:ResourceTag/team": "a"}, IMPLICIT),
    ([READ, TEAM_A, REGION_LOCK], "StopInstances", {"ec2:ResourceTag/team": "a", "ec2:Region": "us-east-2"}, ALLOW),
    ([READ, TEAM_A, REGION_LOCK], "StopInstances", {"ec2:ResourceTag/team": "a", "ec2:Region": "eu-west-1"}, DENY),
    ([READ, REGION_LOCK], "DescribeInstances", {"ec2:Region": "eu-west-1"}, DENY),
])
def test_enforcement_cases(policies: list[Policy], name: str, context: dict[str, Any], decision: Decision) -> None:
    assert authorize(policies, name, {"instance": "i-0abc"}, context) is decision
