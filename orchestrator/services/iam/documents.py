"""Policy documents as IAM takes them: JSON text, checked by the policy engine's parser
(``MalformedPolicyDocument`` with the parser's reason), within IAM's size quotas, and the managed
documents an ARN names (the account's own policies, or AWS's shipped with ``domain/iam``)."""

from __future__ import annotations

import functools

from orchestrator.domain import errors
from orchestrator.domain.iam import managed, policy
from orchestrator.domain.iam.managed import ManagedPolicy
from orchestrator.services.iam import entities
from orchestrator.store.sqlite import Store

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
        raise errors.MalformedPolicyDocument(exc.message or "Syntax errors in policy.") from None
    return document


@functools.lru_cache(maxsize=1024)
def parse(document: str, kind: str = "identity") -> policy.Policy:
    """The parsed policy (documents already checked when stored; parsed once per text)."""
    return policy.parse(document, kind=kind)  # type: ignore[arg-type]


def is_aws_managed(arn: str) -> bool:
    return arn.startswith("arn:aws:iam::aws:policy/")


def aws_managed(arn: str) -> ManagedPolicy | None:
    return managed.by_arn(arn) if is_aws_managed(arn) else None


def local_document(store: Store, arn: str) -> str | None:
    """The default version's document of the account's managed policy ``arn``."""
    for record in store.find_by_field(entities.POLICY, entities.REGION, "Arn", arn):
        default = record.data["DefaultVersionId"]
        return next(v["Document"] for v in record.data["Versions"] if v["VersionId"] == default)
    return None


def managed_document(store: Store, arn: str) -> str | None:
    """The default version's document (JSON text) of the managed policy ``arn``, AWS's or the account's."""
    found = aws_managed(arn)
    return found.document_json if found is not None else local_document(store, arn)


def managed_policy(store: Store, arn: str) -> policy.Policy | None:
    """The managed policy ``arn`` parsed (AWS's are parsed once and kept)."""
    found = aws_managed(arn)
    if found is not None:
        return found.policy
    document = local_document(store, arn)
    return None if document is None else parse(document)


def aws_all() -> tuple[ManagedPolicy, ...]:
    return managed.all()
