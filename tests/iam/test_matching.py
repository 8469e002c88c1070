"""Action, NotAction, Resource, NotResource and policy variables (IAM User Guide: "IAM JSON
policy elements", "Policy variables", and its example policies)."""

from __future__ import annotations

from typing import Any

import pytest
from iam_helpers import ACCOUNT, ALLOW, DENY, IMPLICIT, INSTANCE, allow, decide, pol

ACTIONS: list[tuple[Any, str, bool]] = [
    ("ec2:StopInstances", "ec2:StopInstances", True),
    ("ec2:StopInstances", "ec2:StartInstances", False),
    ("EC2:stopinstances", "ec2:StopInstances", True),  # actions are case-insensitive
    ("ec2:Describe*", "ec2:DescribeInstances", True),
    ("ec2:Describe*", "ec2:RunInstances", False),
    ("ec2:*Instances", "ec2:TerminateInstances", True),
    ("ec2:?topInstances", "ec2:StopInstances", True),
    ("ec2:?topInstances", "ec2:StoopInstances", False),
    ("s3:*", "s3:PutObject", True),
    ("s3:*", "s3express:CreateSession", False),  # the vendor is matched whole
    ("*", "iam:CreateUser", True),
    (["iam:Get*", "iam:List*"], "iam:ListUsers", True),
    (["iam:Get*", "iam:List*"], "iam:DeleteUser", False),
]


@pytest.mark.parametrize(("pattern", "action", "hit"), ACTIONS)
def test_action(pattern: Any, action: str, hit: bool) -> None:
    assert decide(pol(allow(pattern)), action) is (ALLOW if hit else IMPLICIT)


RESOURCES: list[tuple[Any, str, bool]] = [
    ("*", INSTANCE, True),
    ("arn:aws:ec2:*:*:instance/*", INSTANCE, True),
    ("arn:aws:ec2:us-east-1:*:instance/i-0123*", INSTANCE, True),
    ("arn:aws:ec2:eu-west-1:*:instance/*", INSTANCE, False),
    ("arn:aws:ec2:*:*:volume/*", INSTANCE, False),
    ("arn:aws:ec2:*:*:instance/I-0123456789ABCDEF0", INSTANCE, False),  # resources are case-sensitive
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c", True),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
    ("arn:aws:s3:::bucket?", "arn:aws:s3:::bucket1", True),
    ("arn:aws:ec2:us-east-1::image/ami-*", "arn:aws:ec2:us-east-1::image/ami-12345678", True),
    ("arn:aws:ec2:*:*:instance/*", "*", False),  # a "*" request (Describe*) needs Resource "*"
]


@pytest.mark.parametrize(("pattern", "resource", "hit"), RESOURCES)
def test_resource(pattern: Any, resource: str, hit: bool) -> None:
    assert decide(pol(allow("ec2:StopInstances", pattern)), "ec2:StopInstances", resource) is (ALLOW if hit else IMPLICIT)


def test_not_action_allows_everything_else() -> None:
    # "Allows access to all services except IAM" (NotAction with Allow)
    policy = pol({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(policy, "ec2:RunInstances") is ALLOW
    assert decide(policy, "iam:CreateUser") is IMPLICIT


def test_not_action_deny_without_mfa() -> None:
    # "Deny access to all but IAM actions when not signed in with MFA" (NotAction with Deny + BoolIfExists)
    policy = pol(allow(), {"Sid": "DenyAllUsersNotUsingMFA", "Effect": "Deny", "NotAction": "iam:*",
                           "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}})
    assert decide(policy, "ec2:RunInstances") is DENY  # long-term keys: the key is absent
    assert decide(policy, "ec2:RunInstances", **{"aws:MultiFactorAuthPresent": False}) is DENY
    assert decide(policy, "ec2:RunInstances", **{"aws:MultiFactorAuthPresent": True}) is ALLOW
    assert decide(policy, "iam:ListUsers") is ALLOW


def test_not_resource_deny() -> None:
    # "NotResource": deny S3 everywhere but the payroll folder
    policy = pol(allow("s3:*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": [
        "arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})
    assert decide(policy, "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/jan.csv") is ALLOW
    assert decide(policy, "s3:GetObject", "arn:aws:s3:::HRBucket/Other/x") is DENY
    assert decide(policy, "s3:GetObject", "arn:aws:s3:::OtherBucket/x") is DENY


HOME = pol(
    {"Sid": "ListHome", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
     "Condition": {"StringLike": {"s3:prefix": ["${aws:username}/*"]}}},
    {"Sid": "HomeObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/${aws:username}/*"},
)


@pytest.mark.parametrize(("action", "resource", "context", "decision"), [
    ("s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket/alice/a.txt", {"aws:username": "alice"}, ALLOW),
    ("s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket/bob/a.txt", {"aws:username": "alice"}, IMPLICIT),
    ("s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket/alice/a.txt", {}, IMPLICIT),  # unresolved: no match
    ("s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket", {"aws:username": "alice", "s3:prefix": "alice/docs/"}, ALLOW),
    ("s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket", {"aws:username": "alice", "s3:prefix": "bob/"}, IMPLICIT),
    # a resolved value is literal: a '*' in it is no wildcard
    ("s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket/a-b/x", {"aws:username": "a*"}, IMPLICIT),
])
def test_home_folder_variables(action: str, resource: str, context: dict[str, Any], decision: Any) -> None:
    # IAM User Guide: "Allows IAM users to access their own home directory in Amazon S3"
    assert decide(HOME, action, resource, **context) is decision


def test_variables_are_text_in_2008_policies() -> None:
    old = pol(allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*"), version="2008-10-17")
    assert decide(old, "s3:GetObject", "arn:aws:s3:::b/alice/x", **{"aws:username": "alice"}) is IMPLICIT
    assert decide(old, "s3:GetObject", "arn:aws:s3:::b/${aws:username}/x", **{"aws:username": "alice"}) is ALLOW


def test_special_character_escapes() -> None:
    policy = pol(allow("s3:GetObject", "arn:aws:s3:::b/${*}${?}${$}"))
    assert decide(policy, "s3:GetObject", "arn:aws:s3:::b/*?$") is ALLOW
    assert decide(policy, "s3:GetObject", "arn:aws:s3:::b/ab$") is IMPLICIT


def test_default_value() -> None:
    policy = pol(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/team, 'company-wide'}/*"))
    assert decide(policy, "s3:GetObject", "arn:aws:s3:::b/company-wide/x") is ALLOW
    assert decide(policy, "s3:GetObject", "arn:aws:s3:::b/red/x", **{"aws:PrincipalTag/team": "red"}) is ALLOW
    assert decide(policy, "s3:GetObject", "arn:aws:s3:::b/company-wide/x", **{"aws:PrincipalTag/team": "red"}) is IMPLICIT


def test_principal_tag_matches_resource_tag() -> None:
    # "EC2: Start or stop instances based on matching principal and resource tags"
    policy = pol(allow(["ec2:StartInstances", "ec2:StopInstances"], "arn:aws:ec2:*:*:instance/*", Condition={
        "StringEquals": {"aws:ResourceTag/Project": "${aws:PrincipalTag/Project}"}}))
    same = {"aws:ResourceTag/Project": "blue", "aws:PrincipalTag/Project": "blue"}
    assert decide(policy, "ec2:StopInstances", INSTANCE, **same) is ALLOW
    assert decide(policy, "ec2:StopInstances", INSTANCE, **{**same, "aws:PrincipalTag/Project": "red"}) is IMPLICIT
    assert decide(policy, "ec2:StopInstances", INSTANCE, **{"aws:ResourceTag/Project": "blue"}) is IMPLICIT


def test_ec2_variable_in_arn_condition() -> None:
    policy = pol(allow("ec2:AttachVolume", "*", Condition={
        "ArnEquals": {"ec2:SourceInstanceARN": f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/${{ec2:InstanceID}}"}}))
    ctx = {"ec2:SourceInstanceARN": INSTANCE, "ec2:InstanceID": "i-0123456789abcdef0"}
    assert decide(policy, "ec2:AttachVolume", **ctx) is ALLOW
    assert decide(policy, "ec2:AttachVolume", **{**ctx, "ec2:InstanceID": "i-1"}) is IMPLICIT
