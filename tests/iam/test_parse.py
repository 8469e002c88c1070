"""parse(): documents IAM refuses raise MalformedPolicy with MalformedPolicyDocument's words;
documents it accepts (every shipped AWS-managed policy among them) parse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from iam_helpers import allow, doc

from orchestrator.domain.iam import managed
from orchestrator.domain.iam.policy import MalformedPolicy, parse

SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
NO_PRINCIPALS = ("Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
                 "The passed in policy has a statement with no principals!")
TRUST = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}

MALFORMED: list[tuple[str, Any, str, str]] = [
    ("not json", "{", "identity", SYNTAX),
    ("top level list", "[]", "identity", SYNTAX),
    ("no Statement", {"Version": "2012-10-17"}, "identity", SYNTAX),
    ("empty Statement", {"Version": "2012-10-17", "Statement": []}, "identity", SYNTAX),
    ("unknown Version", {"Version": "2011-01-01", "Statement": [allow()]}, "identity", SYNTAX),
    ("unknown top element", {**doc(allow()), "Foo": 1}, "identity", SYNTAX),
    ("unknown statement element", doc({**allow(), "Actions": "s3:*"}), "identity", SYNTAX),
    ("Effect Permit", doc({**allow(), "Effect": "Permit"}), "identity", SYNTAX),
    ("no Effect", doc({"Action": "*", "Resource": "*"}), "identity", SYNTAX),
    ("Effect lower case", doc({**allow(), "Effect": "allow"}), "identity", LEGACY),
    ("Action and NotAction", doc({**allow(), "NotAction": "iam:*"}), "identity", SYNTAX),
    ("Resource and NotResource", doc({**allow(), "NotResource": "*"}), "identity", SYNTAX),
    ("Action not a string", doc(allow(action=5)), "identity", SYNTAX),
    ("no Action", doc({"Effect": "Allow", "Resource": "*"}), "identity", "Policy statement must contain actions."),
    ("empty Action", doc(allow(action=[])), "identity", "Policy statement must contain actions."),
    ("no Resource", doc({"Effect": "Allow", "Action": "s3:*"}), "identity", "Policy statement must contain resources."),
    ("Principal in identity", doc({**allow(), "Principal": "*"}), "identity",
     "Policy document should not specify a principal."),
    ("no vendor", doc(allow(action="StopInstances")), "identity",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("two colons", doc(allow(action="ec2:Stop:Instances")), "identity", "Actions/Condition can contain only one colon."),
    ("bad vendor", doc(allow(action="e c2:StopInstances")), "identity", "Vendor e c2 is not valid"),
    ("wildcard vendor", doc(allow(action="s3*:GetObject")), "identity", "Vendor s3* is not valid"),
    ("resource not an ARN", doc(allow(resource="my-bucket")), "identity",
     'Resource my-bucket must be in ARN format or "*".'),
    ("IAM resource with a region", doc(allow(resource="arn:aws:iam:us-east-1:111122223333:role/x")), "identity",
     "IAM resource arn:aws:iam:us-east-1:111122223333:role/x cannot contain region information."),
    ("S3 resource with a region", doc(allow(resource="arn:aws:s3:us-east-1::b/*")), "identity",
     "Resource arn:aws:s3:us-east-1::b/* can not contain region information."),
    ("unknown IAM resource type", doc(allow(resource="arn:aws:iam::111122223333:widget/x")), "identity",
     'IAM resource path must either be "*" or start with user/, federated-user/, role/, group/, instance-profile/, '
     "mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/."),
    ("duplicate Sid", doc({**allow(), "Sid": "A"}, {**allow(), "Sid": "A"}), "identity",
     "Statement IDs (SID) in a single policy must be unique."),
    ("unknown operator", doc(allow(Condition={"StringEqualz": {"aws:username": "a"}})), "identity", SYNTAX),
    ("condition key without vendor", doc(allow(Condition={"StringEquals": {"username": "a"}})), "identity",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("condition not an object", doc(allow(Condition={"StringEquals": "a"})), "identity", SYNTAX),
    ("unreadable date", doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "yesterday"}})), "identity", LEGACY),
    ("trust with Resource", doc({**TRUST, "Resource": "*"}), "trust", "Has prohibited field Resource."),
    ("trust without Principal", doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "trust", NO_PRINCIPALS),
    ("trust with an S3 action", doc({**TRUST, "Action": "s3:GetObject"}), "trust",
     "Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity"),
    ("partial wildcard principal", doc({**TRUST, "Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}}), "trust",
     'Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/*"'),
    ("principal not an ARN", doc({**TRUST, "Principal": {"AWS": "alice"}}), "trust",
     'Invalid principal in policy: "AWS":"alice"'),
    ("service not a service", doc({**TRUST, "Principal": {"Service": "ec2"}}), "trust",
     'Invalid principal in policy: "SERVICE":"ec2"'),
    ("service of another partition", doc({**TRUST, "Principal": {"Service": "eks.amazonaws.com.cn"}}), "trust",
     'Invalid principal in policy: "SERVICE":"eks.amazonaws.com.cn"'),
    ("unknown principal type", doc({**TRUST, "Principal": {"Users": "alice"}}), "trust", SYNTAX),
    ("bucket policy without Principal", doc(allow("s3:GetObject", "arn:aws:s3:::b/*")), "resource",
     "Missing required field Principal"),
]


@pytest.mark.parametrize(("name", "document", "kind", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed(name: str, document: Any, kind: str, message: str) -> None:
    with pytest.raises(MalformedPolicy) as e:
        parse(document if isinstance(document, str) else json.dumps(document), kind)  # type: ignore[arg-type]
    assert e.value.message == message


VALID: list[tuple[str, Any, str]] = [
    ("string Action and Resource", doc(allow("s3:GetObject", "arn:aws:s3:::b/*")), "identity"),
    ("single statement object", {"Version": "2012-10-17", "Statement": allow()}, "identity"),
    ("no Version", doc(allow(), version=None), "identity"),
    ("2008 version", doc(allow(), version="2008-10-17"), "identity"),
    ("Id and Sid", {**doc({**allow(), "Sid": "AllowAll"}), "Id": "p1"}, "identity"),
    ("NotAction NotResource", doc({"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::b"}), "identity"),
    ("every operator", doc(allow(Condition={
        "StringEquals": {"aws:username": "a"}, "StringNotEqualsIgnoreCase": {"aws:username": "B"},
        "ForAnyValue:StringLike": {"aws:TagKeys": "team*"}, "ForAllValues:StringNotLike": {"aws:TagKeys": "x*"},
        "NumericLessThanEquals": {"s3:max-keys": 10}, "DateLessThanIfExists": {"aws:CurrentTime": "2030-01-01"},
        "Bool": {"aws:SecureTransport": True}, "BinaryEquals": {"k:bin": "QmluYXJ5"},
        "NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]},
        "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin*"}, "Null": {"aws:TokenIssueTime": "true"},
    })), "identity"),
    ("trust with service", doc(TRUST), "trust"),
    ("trust with account id", doc({**TRUST, "Principal": {"AWS": "111122223333"}}), "trust"),
    ("trust with everyone", doc({**TRUST, "Principal": "*"}), "trust"),
    ("trust with role and TagSession", doc({**TRUST, "Principal": {"AWS": ["arn:aws:iam::111122223333:role/x"]},
                                            "Action": ["sts:AssumeRole", "sts:TagSession"]}), "trust"),
    ("bucket policy", doc({**allow("s3:GetObject", "arn:aws:s3:::b/*"), "Principal": {"AWS": "*"}}), "resource"),
]


@pytest.mark.parametrize(("name", "document", "kind"), VALID, ids=[v[0] for v in VALID])
def test_valid(name: str, document: Any, kind: str) -> None:
    policy = parse(json.dumps(document), kind)  # type: ignore[arg-type]
    assert policy.kind == kind and policy.statements


def test_version_defaults_to_2008() -> None:
    assert parse(doc(allow(), version=None)).version == "2008-10-17"


def test_account_id_principal_becomes_root_arn() -> None:
    policy = parse(doc({**TRUST, "Principal": {"AWS": "111122223333"}}), "trust")
    assert policy.statements[0].principal.ids == {"AWS": frozenset({"arn:aws:iam::111122223333:root"})}


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="kind"):
        parse(doc(allow()), "session")  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", managed.all(), ids=lambda p: p.name)
def test_every_managed_policy_parses(policy: managed.ManagedPolicy) -> None:
    assert policy.policy.version == "2012-10-17"
    assert len(policy.policy.statements) >= 1
