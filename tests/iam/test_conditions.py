"""Condition operators, one table row per documented behaviour (IAM User Guide, "Condition
operators", "Condition with multiple context keys or values", "Single-valued vs. multivalued
context keys"): each row is (operator, key, policy values, context, whether the condition holds).
A missing context key is written as the key being absent from `context`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from iam_helpers import ALLOW, IMPLICIT, allow, decide, pol

T0 = datetime(2020, 4, 1, tzinfo=UTC)

ROWS: list[tuple[str, str, Any, dict[str, Any], bool]] = [
    # String: case-sensitive equality, values OR-ed; negation holds when no value matches
    ("StringEquals", "aws:username", "alice", {"aws:username": "alice"}, True),
    ("StringEquals", "aws:username", "alice", {"aws:username": "Alice"}, False),
    ("StringEquals", "aws:username", ["bob", "alice"], {"aws:username": "alice"}, True),
    ("StringEquals", "aws:username", "alice", {}, False),
    ("StringNotEquals", "aws:username", ["bob", "carol"], {"aws:username": "alice"}, True),
    ("StringNotEquals", "aws:username", ["bob", "alice"], {"aws:username": "alice"}, False),
    ("StringNotEquals", "aws:username", "alice", {}, True),  # negated + missing key: true
    ("StringEqualsIgnoreCase", "aws:PrincipalTag/department", "Finance", {"aws:PrincipalTag/department": "FINANCE"}, True),
    ("StringNotEqualsIgnoreCase", "aws:PrincipalTag/department", "finance", {"aws:PrincipalTag/department": "Finance"}, False),
    ("StringLike", "s3:prefix", ["home/*", ""], {"s3:prefix": "home/alice/x"}, True),
    ("StringLike", "s3:prefix", ["home/*", ""], {"s3:prefix": ""}, True),
    ("StringLike", "s3:prefix", "home/?", {"s3:prefix": "home/ab"}, False),
    ("StringLike", "s3:prefix", "Home/*", {"s3:prefix": "home/a"}, False),  # case-sensitive
    ("StringNotLike", "s3:prefix", "tmp/*", {"s3:prefix": "home/a"}, True),
    ("StringNotLike", "s3:prefix", "tmp/*", {}, True),
    # condition key names are case-insensitive
    ("StringEquals", "AWS:UserName", "alice", {"aws:username": "alice"}, True),
    # Numeric
    ("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": 10}, True),
    ("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": "11"}, False),
    ("NumericLessThan", "s3:max-keys", 10, {"s3:max-keys": 9.5}, True),
    ("NumericGreaterThan", "s3:max-keys", "10", {"s3:max-keys": 10}, False),
    ("NumericGreaterThanEquals", "s3:max-keys", "10", {"s3:max-keys": 10}, True),
    ("NumericEquals", "s3:max-keys", ["5", "10"], {"s3:max-keys": "10"}, True),
    ("NumericNotEquals", "s3:max-keys", "10", {"s3:max-keys": 10}, False),
    ("NumericEquals", "s3:max-keys", "10", {"s3:max-keys": "ten"}, False),
    # Date: ISO 8601 and epoch seconds, on either side
    ("DateGreaterThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", {"aws:CurrentTime": T0}, True),
    ("DateLessThan", "aws:CurrentTime", "2020-06-30T23:59:59Z", {"aws:CurrentTime": T0}, True),
    ("DateLessThan", "aws:CurrentTime", "2020-03-31", {"aws:CurrentTime": T0}, False),
    ("DateEquals", "aws:CurrentTime", "2020-04-01T02:00:00+02:00", {"aws:CurrentTime": T0}, True),
    ("DateEquals", "aws:CurrentTime", str(int(T0.timestamp())), {"aws:CurrentTime": T0}, True),
    ("DateNotEquals", "aws:CurrentTime", "2020-04-01T00:00:00Z", {"aws:CurrentTime": "2020-04-01T00:00:01Z"}, True),
    ("DateGreaterThanEquals", "aws:EpochTime", "2020-04-01T00:00:00Z", {"aws:EpochTime": int(T0.timestamp())}, True),
    ("DateLessThanEquals", "aws:TokenIssueTime", "2020-04-01T00:00:00Z",
     {"aws:TokenIssueTime": T0.astimezone(timezone(timedelta(hours=-5)))}, True),
    # Bool
    ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": False}, True),
    ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": True}, False),
    ("Bool", "aws:SecureTransport", True, {"aws:SecureTransport": "true"}, True),
    ("Bool", "aws:MultiFactorAuthPresent", "false", {}, False),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", "false", {}, True),
    # Binary: base64 values
    ("BinaryEquals", "key:bin", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", {"key:bin": b"BinaryValueInBase64"}, True),
    ("BinaryEquals", "key:bin", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", {"key:bin": b"other"}, False),
    # IP: CIDR, single address, IPv6
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", {"aws:SourceIp": "203.0.114.7"}, False),
    ("IpAddress", "aws:SourceIp", "203.0.113.7", {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress", "aws:SourceIp", ["203.0.113.0/24", "2001:DB8:1234:5678::/64"], {"aws:SourceIp": "2001:db8:1234:5678::1"}, True),
    ("IpAddress", "aws:SourceIp", "2001:DB8:1234:5678::/64", {"aws:SourceIp": "2001:db8:1234:5679::1"}, False),
    ("IpAddress", "aws:SourceIp", "0.0.0.0/0", {"aws:SourceIp": "::1"}, False),
    ("NotIpAddress", "aws:SourceIp", ["192.0.2.0/24", "203.0.113.0/24"], {"aws:SourceIp": "198.51.100.1"}, True),
    ("NotIpAddress", "aws:SourceIp", ["192.0.2.0/24", "203.0.113.0/24"], {"aws:SourceIp": "192.0.2.9"}, False),
    # ARN: wildcards within each of the six parts
    ("ArnEquals", "aws:SourceArn", "arn:aws:sns:us-east-1:111122223333:topic", {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:topic"}, True),
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/admin-*", {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/admin-a"}, True),
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/admin-*", {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/admin-a"}, False),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:*", {"aws:SourceArn": "arn:aws:s3:::bucket"}, False),  # * stops at ':'
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::*", {"aws:SourceArn": "arn:aws:s3:::bucket/a:b"}, True),  # not in the resource part
    ("ArnLike", "aws:SourceArn", "*", {"aws:SourceArn": "not-an-arn"}, False),
    ("ArnNotLike", "aws:PrincipalArn", "arn:aws:iam::*:role/admin-*", {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/dev"}, True),
    ("ArnNotEquals", "aws:PrincipalArn", "arn:aws:iam::111122223333:role/dev", {}, True),
    # Null: true = the key is absent
    ("Null", "aws:TokenIssueTime", "true", {}, True),
    ("Null", "aws:TokenIssueTime", "true", {"aws:TokenIssueTime": T0}, False),
    ("Null", "aws:TokenIssueTime", "false", {"aws:TokenIssueTime": T0}, True),
    ("Null", "aws:TagKeys", "true", {"aws:TagKeys": []}, True),
    # ...IfExists: absent key holds, present key is tested
    ("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], {}, True),
    ("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], {"ec2:InstanceType": "t2.micro"}, True),
    ("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], {"ec2:InstanceType": "m5.large"}, False),
    ("StringNotEqualsIfExists", "ec2:InstanceType", "t2.micro", {"ec2:InstanceType": "t2.micro"}, False),
    ("NumericLessThanIfExists", "s3:max-keys", "10", {}, True),
    # ForAllValues: every request value matches some policy value; true for no key or an empty set
    ("ForAllValues:StringEquals", "aws:TagKeys", ["environment", "cost-center"], {"aws:TagKeys": ["environment"]}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["environment", "cost-center"], {"aws:TagKeys": ["environment", "cost-center"]}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["environment", "cost-center"], {"aws:TagKeys": ["environment", "owner"]}, False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["environment", "cost-center"], {}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["environment", "cost-center"], {"aws:TagKeys": []}, True),
    ("ForAllValues:StringLike", "aws:TagKeys", "Created*", {"aws:TagKeys": ["CreatedBy", "CreatedAt"]}, True),
    ("ForAllValues:StringNotLike", "aws:TagKeys", ["key1*", "key2*"], {"aws:TagKeys": ["other", "more"]}, True),
    ("ForAllValues:StringNotLike", "aws:TagKeys", ["key1*", "key2*"], {"aws:TagKeys": ["other", "key1a"]}, False),
    # ForAnyValue: at least one request value matches; false for no key or an empty set
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["webserver"], {"aws:TagKeys": ["owner", "webserver"]}, True),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["webserver"], {"aws:TagKeys": ["owner"]}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["webserver"], {}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["webserver"], {"aws:TagKeys": []}, False),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["a", "b"]}, True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["a"]}, False),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a"], {}, False),
    ("ForAnyValue:StringLikeIfExists", "aws:TagKeys", ["team*"], {}, True),
    # a multivalued context value without a qualifier: any of its values
    ("StringEquals", "aws:TagKeys", "team", {"aws:TagKeys": ["owner", "team"]}, True),
    ("StringNotEquals", "aws:TagKeys", "team", {"aws:TagKeys": ["owner", "team"]}, False),
]


@pytest.mark.parametrize(("op", "key", "values", "context", "holds"), ROWS,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(ROWS)])
def test_operator(op: str, key: str, values: Any, context: dict[str, Any], holds: bool) -> None:
    policy = pol(allow("s3:ListBucket", "*", Condition={op: {key: values}}))
    assert decide(policy, "s3:ListBucket", "*", **context) is (ALLOW if holds else IMPLICIT)


def test_several_keys_under_one_operator_are_anded() -> None:
    policy = pol(allow(Condition={"StringEquals": {"aws:PrincipalTag/team": "a", "aws:RequestedRegion": "us-east-1"}}))
    both = {"aws:PrincipalTag/team": "a", "aws:RequestedRegion": "us-east-1"}
    assert decide(policy, "ec2:RunInstances", **both) is ALLOW
    assert decide(policy, "ec2:RunInstances", **{**both, "aws:RequestedRegion": "eu-west-1"}) is IMPLICIT


def test_several_operators_are_anded() -> None:
    # IAM User Guide, "Multiple condition blocks with single-valued context keys"
    policy = pol(allow(Condition={
        "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
        "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"},
        "IpAddress": {"aws:SourceIp": "203.0.113.0/24"},
    }))
    assert decide(policy, "s3:GetObject", **{"aws:CurrentTime": T0, "aws:SourceIp": "203.0.113.5"}) is ALLOW
    assert decide(policy, "s3:GetObject", **{"aws:CurrentTime": T0, "aws:SourceIp": "198.51.100.5"}) is IMPLICIT
    late = T0 + timedelta(days=120)
    assert decide(policy, "s3:GetObject", **{"aws:CurrentTime": late, "aws:SourceIp": "203.0.113.5"}) is IMPLICIT


def test_tag_keys_guard_with_null_check() -> None:
    # The documented fix for ForAllValues' empty-set trap: add Null false.
    policy = pol(allow("ec2:CreateTags", Condition={
        "ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]},
        "Null": {"aws:TagKeys": "false"},
    }))
    assert decide(policy, "ec2:CreateTags", **{"aws:TagKeys": ["environment"]}) is ALLOW
    assert decide(policy, "ec2:CreateTags") is IMPLICIT
