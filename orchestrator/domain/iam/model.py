"""The IAM policy engine's values: a request to authorize, a parsed policy, and the decision.

Parsed policies are frozen and pre-compiled (action and resource wildcards become regular
expressions once, at parse time) so that one evaluation costs a few regex matches, not a parse.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from orchestrator.domain.iam.wildcards import ActionSet

ContextValue = str | list[str] | bool | int | float | datetime | bytes

ROOT_SUFFIX = ":root"


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


class MalformedPolicy(ValueError):
    """A policy document IAM would refuse; the message is IAM's MalformedPolicyDocument text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def account_of(arn: str) -> str | None:
    """The account field of an ARN ('' for S3 buckets, public AMIs), None if not an ARN."""
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[0] == "arn" else None


def root_arn(account: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:root"


def _principal_ids(principal: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """The caller's identities by principal type, with what AWS derives from them: an ARN's account
    root (a policy naming the account names every principal in it) and, for an assumed-role
    session, the role's ARN (pathless: callers should pass the role ARN with its path too)."""
    out: dict[str, frozenset[str]] = {}
    for kind, values in principal.items():
        ids = {values} if isinstance(values, str) else set(values)
        if kind == "AWS":
            for value in list(ids):
                if value.isdigit() and len(value) == 12:
                    ids.add(root_arn(value))
                    continue
                account = account_of(value)
                if account:
                    partition = value.split(":", 2)[1]
                    ids.add(root_arn(account, partition))
                    if ":assumed-role/" in value:
                        role = value.split(":assumed-role/", 1)[1].rsplit("/", 1)[0]
                        ids.add(f"arn:{partition}:iam::{account}:role/{role}")
        out[kind] = frozenset(ids)
    return out


@dataclass(frozen=True)
class Request:
    """One authorization question: may this principal do `action` on `resource` in `context`?

    Context keys are condition keys (``aws:SourceIp``, ``ec2:ResourceTag/team``...): their names
    are case-insensitive, so they are looked up lower-cased (``ctx``)."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @cached_property
    def ctx(self) -> dict[str, ContextValue]:
        return {k.lower(): v for k, v in self.context.items()}

    @cached_property
    def principal_ids(self) -> dict[str, frozenset[str]]:
        return _principal_ids(self.principal)

    @cached_property
    def caller_account(self) -> str | None:
        for value in self.principal.get("AWS", ()):
            account = value if value.isdigit() else account_of(value)
            if account:
                return account
        return None


# A condition's positive test of one context value against the condition's prepared values.
Matcher = Callable[[ContextValue, Mapping[str, ContextValue]], bool]


@dataclass(frozen=True)
class Condition:
    """One key under one operator: ``"StringLike": {"s3:prefix": ["home/*", ""]}``."""

    operator: str  # as written, e.g. "ForAllValues:StringLikeIfExists"
    base: str  # "StringLike"
    qualifier: str  # "", "ForAnyValue" or "ForAllValues"
    if_exists: bool
    negated: bool  # StringNotEquals, NotIpAddress, ...: true when no value matches
    key: str  # lower-cased
    values: tuple[Any, ...]
    matches: Matcher = field(compare=False, repr=False)
    name: str = ""  # the key as written, for messages


@dataclass(frozen=True)
class PrincipalSpec:
    """A statement's Principal (or NotPrincipal): ``anyone`` for ``"*"``, else ids by type."""

    anyone: bool
    ids: Mapping[str, frozenset[str]]

    def __hash__(self) -> int:  # a dict field: hash its items, so a parsed Policy can key a cache
        return hash((self.anyone, tuple(sorted(self.ids.items()))))


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...]
    not_action: bool
    action_match: ActionSet = field(compare=False, repr=False)
    resources: tuple[str, ...] | None = None  # None: no Resource element (trust policies)
    not_resource: bool = False
    resource_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    resource_templates: tuple[str, ...] = ()  # resources with ${...} variables, resolved per request
    principal: PrincipalSpec | None = None
    not_principal: bool = False
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A parsed, validated policy document."""

    version: str  # "2012-10-17" or "2008-10-17" (policy variables only in the former)
    statements: tuple[Statement, ...]
    kind: str = "identity"  # "identity" | "trust" | "resource"
    id: str | None = None
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
