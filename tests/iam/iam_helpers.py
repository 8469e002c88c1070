"""Shorthands for the IAM policy tests: a policy from statements, a request, a decision."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.iam.policy import Decision, Policy, Request, evaluate, parse

ACCOUNT = "111122223333"
OTHER = "444455556666"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/i-0123456789abcdef0"
INSTANCE = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0"

ALLOW, DENY, IMPLICIT = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> dict[str, Any]:
    out: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        out["Version"] = version
    return out


def pol(*statements: dict[str, Any], version: str | None = "2012-10-17", kind: str = "identity") -> Policy:
    return parse(doc(*statements, version=version), kind)  # type: ignore[arg-type]


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def user(name: str = "alice", account: str = ACCOUNT) -> dict[str, list[str]]:
    return {"AWS": [f"arn:aws:iam::{account}:user/{name}", f"arn:aws:iam::{account}:root"]}


def decide(policy: Policy | list[Policy], action: str, resource: str = "*", **context: Any) -> Decision:
    policies = policy if isinstance(policy, list) else [policy]
    return evaluate(Request(action, resource, context), policies)
