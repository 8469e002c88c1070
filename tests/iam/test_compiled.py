"""`compiled.PolicySet` (the API edge's fast path) answers as `engine.evaluate` does: a differential
test over random policy sets (Allow/Deny, NotAction, NotResource, ``${...}`` variables, condition
operators and qualifiers, session policies) and requests, given the whole context or only the keys
the policies look at (`policy.context_keys`), as the edge gives it."""

from __future__ import annotations

import random
from typing import Any

import pytest
from iam_helpers import ACCOUNT, INSTANCE, allow, deny, pol

from orchestrator.domain.iam.compiled import PolicySet
from orchestrator.domain.iam.policy import Decision, Policy, Request, context_keys, evaluate

ACTIONS = ["ec2:StopInstances", "ec2:StartInstances", "ec2:DescribeInstances", "ec2:CreateTags",
           "EC2:stopinstances", "iam:PassRole", "ce:GetCostAndUsage", "ec2:TerminateInstances"]
ACTION_PATTERNS = ["ec2:*", "ec2:Stop*", "ec2:Describe*", "ec2:?tartInstances", "*", "iam:PassRole",
                   "ec2:CreateTags", "ce:*", ["ec2:StopInstances", "ec2:StartInstances"]]
RESOURCES = [INSTANCE, f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0aaaaaaaaaaaaaaaa",
             f"arn:aws:ec2:eu-west-1:{ACCOUNT}:volume/vol-1", "*", f"arn:aws:iam::{ACCOUNT}:role/app",
             f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/alice-1"]
RESOURCE_PATTERNS = ["*", "arn:aws:ec2:*:*:instance/*", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0",
                     "arn:aws:ec2:eu-*:*:*", "arn:aws:ec2:*:*:instance/${aws:username}-*",
                     "arn:aws:ec2:*:*:instance/${ec2:ResourceTag/owner, 'i'}-*", "arn:aws:iam::*:role/*"]
CONDITIONS: list[dict[str, Any]] = [
    {"StringEquals": {"ec2:ResourceTag/team": "a"}},
    {"StringEquals": {"aws:ResourceTag/team": ["a", "b"]}},
    {"StringNotEquals": {"ec2:ResourceTag/team": "b"}},
    {"StringLike": {"ec2:InstanceType": "t3.*"}},
    {"StringEqualsIfExists": {"ec2:InstanceType": "t3.nano"}},
    {"Null": {"ec2:ResourceTag/team": "true"}},
    {"Null": {"aws:RequestTag/team": "false"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}},
    {"ForAnyValue:StringLike": {"aws:TagKeys": "t*"}},
    {"StringEquals": {"ec2:ResourceTag/owner": "${aws:username}"}},
    {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringEquals": {"ec2:CreateAction": "RunInstances"}, "StringLike": {"aws:RequestTag/env": "*"}},
    {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
]


def _statement(rng: random.Random) -> dict[str, Any]:
    make = allow if rng.random() < 0.7 else deny
    st = make(rng.choice(ACTION_PATTERNS), rng.choice(RESOURCE_PATTERNS))
    if rng.random() < 0.15:
        st["NotAction"] = st.pop("Action")
    if rng.random() < 0.15:
        st["NotResource"] = st.pop("Resource")
    if rng.random() < 0.5:
        st["Condition"] = rng.choice(CONDITIONS)
    return st


def _policies(rng: random.Random, most: int) -> list[Policy]:
    return [pol(*(_statement(rng) for _ in range(rng.randint(1, 4)))) for _ in range(rng.randint(1, most))]


def _context(rng: random.Random) -> dict[str, Any]:
    ctx: dict[str, Any] = {"aws:username": rng.choice(["alice", "bob"]), "aws:RequestedRegion": "us-east-1",
                           "aws:SourceIp": rng.choice(["10.1.2.3", "192.0.2.1"]),
                           "aws:SecureTransport": rng.random() < 0.5, "ec2:Region": "us-east-1"}
    for key in ("team", "owner"):
        if rng.random() < 0.6:
            value = rng.choice(["a", "b", "alice", "i"])
            ctx[f"ec2:ResourceTag/{key}"] = ctx[f"aws:ResourceTag/{key}"] = value
    if rng.random() < 0.5:
        ctx["ec2:InstanceType"] = rng.choice(["t3.nano", "m5.large"])
    if rng.random() < 0.4:
        tags = rng.sample(["team", "env", "x"], rng.randint(0, 3))
        ctx["aws:TagKeys"] = tags
        ctx.update({f"aws:RequestTag/{t}": "v" for t in tags})
    if rng.random() < 0.3:
        ctx["ec2:CreateAction"] = rng.choice(["RunInstances", "CreateVolume"])
    if rng.random() < 0.2:
        ctx["iam:PassedToService"] = "ec2.amazonaws.com"
    return ctx


def test_the_prepared_set_decides_as_the_engine() -> None:
    rng = random.Random(1212)
    seen = {True: 0, False: 0}
    explicit = 0
    for _ in range(400):
        identity = _policies(rng, 3)
        session = _policies(rng, 2) if rng.random() < 0.3 else None
        prepared = PolicySet(identity, session)
        keys = frozenset().union(*(context_keys(p) for p in (*identity, *(session or ()))))
        for _ in range(12):
            action, resource, ctx = rng.choice(ACTIONS), rng.choice(RESOURCES), _context(rng)
            decision = evaluate(Request(action, resource, ctx), identity, session=session)
            whole = {k.lower(): v for k, v in ctx.items()}
            lean = {k: v for k, v in whole.items() if k in keys}
            want = decision is Decision.ALLOW
            assert prepared.allows(action, resource, whole) == want, (identity, session, action, resource, ctx)
            assert prepared.allows(action, resource, lean) == want, (identity, session, action, resource, ctx)
            seen[want] += 1
            explicit += decision is Decision.EXPLICIT_DENY
    # the random sets exercise every outcome, not just one
    assert min(seen.values()) > 500 and explicit > 100, (seen, explicit)


def test_an_empty_session_list_is_no_session_policies_and_a_session_narrows() -> None:
    identity = [pol(allow("ec2:*"))]
    assert PolicySet(identity, []).allows("ec2:StopInstances", INSTANCE, {})
    narrowed = PolicySet(identity, [pol(allow("ec2:Describe*"))])
    assert not narrowed.allows("ec2:StopInstances", INSTANCE, {})
    assert narrowed.allows("ec2:DescribeInstances", "*", {})


def test_statements_are_kept_per_action_within_a_bound() -> None:
    prepared = PolicySet([pol(allow("ec2:Describe*"), deny("ec2:StopInstances"), allow("s3:*"))])
    identity, session = prepared.statements_for("ec2:DescribeVpcs")
    assert [st.effect for st in identity] == ["Allow"] and session is None
    for i in range(2 * PolicySet.MEMO_MAX):
        prepared.statements_for(f"ec2:Describe{i}")
    assert len(prepared._by_action) <= PolicySet.MEMO_MAX
    assert not prepared.allows("ec2:StopInstances", INSTANCE, {})


def test_only_identity_policies() -> None:
    trust = pol({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}, kind="trust")
    with pytest.raises(ValueError):
        PolicySet([trust])
