"""The IAM policy engine's public face: `parse` a document, `evaluate` a `Request` against policies.

    policy = parse('{"Version": "2012-10-17", "Statement": [...]}')            # or kind="trust"
    evaluate(Request("ec2:StopInstances", "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
                     context={"ec2:ResourceTag/team": "a"}), [policy])      # -> Decision.ALLOW

Pure domain code: no I/O, no clock (callers put ``aws:CurrentTime`` etc. in the context).
The pieces: validate.py (parsing, IAM's error messages), conditions.py (operators),
variables.py (``${...}``), wildcards.py (``*``/``?``), engine.py (the evaluation logic),
explain.py (why: matched statements, the decoded authorization message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from orchestrator.domain.iam import validate
from orchestrator.domain.iam.engine import evaluate
from orchestrator.domain.iam.model import (
    Condition,
    ContextValue,
    Decision,
    MalformedPolicy,
    Policy,
    PrincipalSpec,
    Request,
    Statement,
)
from orchestrator.domain.iam.variables import variable_keys

__all__ = [
    "Condition", "ContextValue", "Decision", "MalformedPolicy", "Policy", "PrincipalSpec",
    "Request", "Statement", "context_keys", "evaluate", "parse",
]


def parse(document: str | Mapping[str, Any], kind: Literal["identity", "trust", "resource"] = "identity") -> Policy:
    """A validated policy, or MalformedPolicy with IAM's MalformedPolicyDocument message.

    kind: "identity" (user/role/group and session policies: no Principal, Resource required),
    "trust" (a role's AssumeRolePolicyDocument: Principal required, no Resource) or "resource"
    (a bucket policy: Principal and Resource required)."""
    return validate.parse(document, kind)


def context_keys(policy: Policy) -> frozenset[str]:
    """The context keys (lower-cased) ``policy`` looks at: its conditions' keys and the keys its
    ``${...}`` variables name (in Resource/NotResource and condition values). An identity policy's
    decision depends on the request's context only through these keys: a caller may leave out a
    key no policy names (the API edge then spares the store read of a resource's tags)."""
    keys: set[str] = set()
    for st in policy.statements:
        keys.update(c.key for c in st.conditions)
        for text in (*st.resource_templates, *(str(v) for c in st.conditions for v in c.values)):
            keys |= variable_keys(text)
    return frozenset(keys)
