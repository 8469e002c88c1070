"""Policy documents as IAM takes them: JSON text, checked by the policy engine's parser
(``MalformedPolicyDocument`` with the parser's reason), within IAM's size quotas, and the managed
documents an ARN names (the account's own policies, or AWS's shipped with ``domain/iam``)."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.iam import managed, policy
from orchestrator.store.sqlite import Store
from orchestrator.services.iam import entities

# IAM quotas (characters, whitespace not counted by IAM; counted here, a stricter reading)
TRUST_MAX = 2048  # role trust policy
INLINE_MAX = 10240  # a role's or user's inline policy (IAM's aggregate quota for roles)
MANAGED_MAX = 6144  # a managed policy version
SESSION_MAX = 2048  # AssumeRole's Policy


def checked(document: str, kind: str = "identity", limit: int = INLINE_MAX) -> str:
    """``document`` if it is a policy of ``kind`` (identity, trust or resource) IAM would accept."""
    if len(document) > limit:
        raise errors.LimitExceeded(f"Cannot exceed quota for PolicySize: {limit}") if kind != "trust" else \
            errors.LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {limit}")
    try:
        policy.parse(document, kind=kind)
    except policy.MalformedPolicy as exc:
        raise errors.MalformedPolicyDocument(str(exc) or "Syntax errors in policy.") from None
    return document


def parse(document: str, kind: str = "identity") -> policy.Policy:
    return policy.parse(document, kind=kind)


def is_aws_managed(arn: str) -> bool:
    return arn.startswith("arn:aws:iam::aws:policy/")


def aws_managed(arn: str) -> Any | None:
    return managed.by_arn(arn)


def managed_document(store: Store, arn: str) -> str | None:
    """The default version's document of the managed policy ``arn`` (AWS's or the account's)."""
    if is_aws_managed(arn):
        found = managed.by_arn(arn)
        if found is None:
            return None
        doc = found["Document"]
        return doc if isinstance(doc, str) else json.dumps(doc)
    for record in store.find_by_field("iam-policy", entities.REGION, "Arn", arn):
        default = record.data["DefaultVersionId"]
        return next(v["Document"] for v in record.data["Versions"] if v["VersionId"] == default)
    return None


def aws_all() -> list[dict[str, Any]]:
    return list(managed.all())
