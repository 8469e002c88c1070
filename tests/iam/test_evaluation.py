"""The evaluation logic (IAM User Guide, "Policy evaluation logic" and its flow chart; "Session
policies"; "Cross-account policy evaluation logic"; "AWS JSON policy elements: Principal"):
explicit Deny wins, an Allow is needed, session policies intersect, resource and trust policies
name principals."""

from __future__ import annotations

from typing import Any

import pytest
from iam_helpers import (
    ACCOUNT,
    ALICE,
    ALLOW,
    DENY,
    IMPLICIT,
    INSTANCE,
    OTHER,
    ROLE,
    SESSION,
    allow,
    deny,
    pol,
    user,
)

from orchestrator.domain.iam.policy import Policy, Request, evaluate

S3_ALL = pol(allow("s3:*"))
EC2_READ = pol(allow("ec2:Describe*"))
BUCKET = "arn:aws:s3:::reports"
OBJECT = "arn:aws:s3:::reports/q1.csv"
ROLE_SESSION = {"AWS": [SESSION, ROLE, f"arn:aws:iam::{ACCOUNT}:root"]}


@pytest.mark.parametrize(("name", "identity", "action", "decision"), [
    ("no policy at all", [], "s3:GetObject", IMPLICIT),
    ("an allow", [S3_ALL], "s3:GetObject", ALLOW),
    ("allow of another service", [EC2_READ], "s3:GetObject", IMPLICIT),
    ("deny in another policy wins", [S3_ALL, pol(deny("s3:GetObject"))], "s3:GetObject", DENY),
    ("deny before allow in one policy", [pol(deny("s3:Get*"), allow("s3:*"))], "s3:GetObject", DENY),
    ("deny of another action", [S3_ALL, pol(deny("s3:DeleteObject"))], "s3:GetObject", ALLOW),
    ("deny whose condition fails", [S3_ALL, pol(deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))],
     "s3:GetObject", ALLOW),
    ("deny alone", [pol(deny("ec2:*"))], "s3:GetObject", IMPLICIT),
])
def test_flow_chart(name: str, identity: list[Policy], action: str, decision: Any) -> None:
    request = Request(action, OBJECT, {"aws:SecureTransport": True}, user())
    assert evaluate(request, identity) is decision


def test_explicit_deny_beats_allow_on_a_tagged_instance() -> None:
    identity = [pol(allow("ec2:*")), pol(deny("ec2:TerminateInstances", "arn:aws:ec2:*:*:instance/*",
                                              Condition={"StringEquals": {"ec2:ResourceTag/env": "prod"}}))]
    prod = Request("ec2:TerminateInstances", INSTANCE, {"ec2:ResourceTag/env": "prod"})
    dev = Request("ec2:TerminateInstances", INSTANCE, {"ec2:ResourceTag/env": "dev"})
    assert evaluate(prod, identity) is DENY
    assert evaluate(dev, identity) is ALLOW


@pytest.mark.parametrize(("identity", "session", "action", "decision"), [
    ([S3_ALL], [pol(allow("s3:GetObject"))], "s3:GetObject", ALLOW),
    ([S3_ALL], [pol(allow("s3:GetObject"))], "s3:PutObject", IMPLICIT),  # the session policy limits
    ([EC2_READ], [pol(allow("s3:*"))], "s3:GetObject", IMPLICIT),  # and grants nothing by itself
    ([S3_ALL], [pol(allow("s3:*")), pol(deny("s3:PutObject"))], "s3:PutObject", DENY),
    ([S3_ALL], [pol(allow("ec2:*")), pol(allow("s3:Get*"))], "s3:GetObject", ALLOW),  # session policies OR
    ([S3_ALL], [], "s3:PutObject", ALLOW),  # none passed: no limit
    ([S3_ALL], None, "s3:PutObject", ALLOW),
])
def test_session_policies_intersect(identity: list[Policy], session: list[Policy] | None, action: str, decision: Any) -> None:
    request = Request(action, OBJECT, {}, ROLE_SESSION)
    assert evaluate(request, identity, session=session) is decision


def bucket_policy(principal: Any, effect: str = "Allow", action: str = "s3:GetObject") -> Policy:
    return pol({"Effect": effect, "Principal": principal, "Action": action, "Resource": f"{BUCKET}/*"}, kind="resource")


@pytest.mark.parametrize(("name", "principal", "caller", "identity", "decision"), [
    ("names the user, no identity policy", {"AWS": ALICE}, user(), [], ALLOW),
    ("names another user", {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, user(), [], IMPLICIT),
    ("names the account: identity must allow", {"AWS": ACCOUNT}, user(), [], IMPLICIT),
    ("names the account, identity allows", {"AWS": ACCOUNT}, user(), [S3_ALL], ALLOW),
    ("names everyone", "*", user(), [], ALLOW),
    ("names no one, identity allows", {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, user(), [S3_ALL], ALLOW),
    ("other account's user, no identity", {"AWS": f"arn:aws:iam::{OTHER}:user/carol"}, user("carol", OTHER), [], IMPLICIT),
    ("other account's user with identity", {"AWS": f"arn:aws:iam::{OTHER}:user/carol"}, user("carol", OTHER), [S3_ALL], ALLOW),
    ("names the role, caller is its session", {"AWS": ROLE}, ROLE_SESSION, [], ALLOW),
    ("names the session ARN", {"AWS": SESSION}, ROLE_SESSION, [], ALLOW),
])
def test_resource_policy(name: str, principal: Any, caller: Any, identity: list[Policy], decision: Any) -> None:
    # bucket ARNs carry no account: the owner's account comes as aws:ResourceAccount
    request = Request("s3:GetObject", OBJECT, {"aws:ResourceAccount": ACCOUNT}, caller)
    assert evaluate(request, identity, resource=bucket_policy(principal)) is decision


def test_cross_account_needs_both_sides() -> None:
    # a role in ACCOUNT trusting the other account: the other account's user also needs an identity allow
    trust = pol({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:user/carol"}, "Action": "sts:AssumeRole"},
                kind="trust")
    request = Request("sts:AssumeRole", ROLE, {}, user("carol", OTHER))
    assert evaluate(request, [], resource=trust) is IMPLICIT
    assert evaluate(request, [pol(allow("sts:AssumeRole", ROLE))], resource=trust) is ALLOW


def test_resource_policy_deny_wins() -> None:
    policy = bucket_policy({"AWS": ALICE}, effect="Deny")
    assert evaluate(Request("s3:GetObject", OBJECT, {}, user()), [S3_ALL], resource=policy) is DENY


def test_session_policy_limits_a_grant_to_the_role_not_to_the_session() -> None:
    # "Session policies": a resource policy naming the role is limited by the session policy,
    # one naming the session ARN is not.
    session = [pol(allow("ec2:*"))]
    request = Request("s3:GetObject", OBJECT, {}, ROLE_SESSION)
    assert evaluate(request, [], session=session, resource=bucket_policy({"AWS": ROLE})) is IMPLICIT
    assert evaluate(request, [], session=session, resource=bucket_policy({"AWS": SESSION})) is ALLOW


def test_not_principal_deny() -> None:
    # "NotPrincipal with Deny": deny everyone but alice; her account must be listed too
    both = pol({"Effect": "Deny", "NotPrincipal": {"AWS": [ALICE, f"arn:aws:iam::{ACCOUNT}:root"]},
                "Action": "s3:*", "Resource": f"{BUCKET}/*"}, kind="resource")
    only_user = pol({"Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "s3:*", "Resource": f"{BUCKET}/*"},
                    kind="resource")
    assert evaluate(Request("s3:GetObject", OBJECT, {}, user()), [S3_ALL], resource=both) is ALLOW
    assert evaluate(Request("s3:GetObject", OBJECT, {}, user("bob")), [S3_ALL], resource=both) is DENY
    assert evaluate(Request("s3:GetObject", OBJECT, {}, user()), [S3_ALL], resource=only_user) is DENY


EC2_TRUST = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}


@pytest.mark.parametrize(("name", "principal", "caller", "identity", "decision"), [
    ("service principal", {"Service": "ec2.amazonaws.com"}, {"Service": ["ec2.amazonaws.com"]}, [], ALLOW),
    ("other service", {"Service": "ec2.amazonaws.com"}, {"Service": ["lambda.amazonaws.com"]}, [], IMPLICIT),
    ("account root: user with AssumeRole permission", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, user(),
     [pol(allow("sts:AssumeRole", ROLE))], ALLOW),
    ("account root: user without permission", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, user(), [], IMPLICIT),
    ("account id", {"AWS": ACCOUNT}, user(), [pol(allow("sts:AssumeRole"))], ALLOW),
    ("user ARN, no identity policy needed", {"AWS": ALICE}, user(), [], ALLOW),
    ("another user's ARN", {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, user(), [pol(allow("sts:AssumeRole"))], IMPLICIT),
    ("role ARN, caller a session of it", {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"}, ROLE_SESSION, [], ALLOW),
    ("everyone", "*", user("anyone"), [], ALLOW),
    ("everyone AWS", {"AWS": "*"}, user("anyone"), [], ALLOW),
    ("everyone AWS is no service", {"AWS": "*"}, {"Service": ["ec2.amazonaws.com"]}, [], IMPLICIT),
])
def test_trust_policy_principals(name: str, principal: Any, caller: Any, identity: list[Policy], decision: Any) -> None:
    trust = pol({**EC2_TRUST, "Principal": principal}, kind="trust")
    assert evaluate(Request("sts:AssumeRole", ROLE, {}, caller), identity, resource=trust) is decision


def test_trust_policy_is_required_even_with_identity_allow() -> None:
    trust = pol(EC2_TRUST, kind="trust")
    request = Request("sts:AssumeRole", ROLE, {}, user())
    assert evaluate(request, [pol(allow("sts:AssumeRole"))], resource=trust) is IMPLICIT


def test_trust_policy_condition_and_deny() -> None:
    trust = pol({**EC2_TRUST, "Principal": {"AWS": ACCOUNT}, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
                {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/mallory"}, "Action": "sts:AssumeRole"},
                kind="trust")
    identity = [pol(allow("sts:AssumeRole"))]
    mfa = {"aws:MultiFactorAuthPresent": True}
    assert evaluate(Request("sts:AssumeRole", ROLE, mfa, user()), identity, resource=trust) is ALLOW
    assert evaluate(Request("sts:AssumeRole", ROLE, {}, user()), identity, resource=trust) is IMPLICIT
    assert evaluate(Request("sts:AssumeRole", ROLE, mfa, user("mallory")), identity, resource=trust) is DENY


def test_principal_derivation_from_bare_arns() -> None:
    # callers may pass only the caller's ARN: its account root and (for a session) role are derived
    trust = pol({**EC2_TRUST, "Principal": {"AWS": ROLE}}, kind="trust")
    assert evaluate(Request("sts:AssumeRole", ROLE, {}, {"AWS": [SESSION]}), [], resource=trust) is ALLOW
    account = pol({**EC2_TRUST, "Principal": {"AWS": ACCOUNT}}, kind="trust")
    request = Request("sts:AssumeRole", ROLE, {}, {"AWS": [ALICE]})
    assert evaluate(request, [pol(allow("sts:AssumeRole"))], resource=account) is ALLOW


def test_parsed_policies_are_hashable_and_equal_by_content() -> None:
    a = pol({**EC2_TRUST, "Principal": {"AWS": [ALICE, ACCOUNT]}}, kind="trust")
    b = pol({**EC2_TRUST, "Principal": {"AWS": [ACCOUNT, ALICE]}}, kind="trust")
    assert a == b and hash(a) == hash(b)
    assert len({a, b, pol(allow())}) == 2


def test_an_identity_policy_is_no_resource_policy() -> None:
    with pytest.raises(ValueError, match="kind"):
        evaluate(Request("s3:GetObject", OBJECT), [], resource=S3_ALL)
