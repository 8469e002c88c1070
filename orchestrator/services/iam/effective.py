"""A caller's effective policies: what the policy engine evaluates a request of theirs against.

``identity``: the inline policies and the attached managed policies (default versions) of the IAM
user, or of the role an assumed-role session belongs to. ``session``: an assumed-role session's
own policies (``AssumeRole``'s ``Policy`` and ``PolicyArns``), which can only narrow the role's
rights, or None when the session has none. The root user has none at all (it bypasses evaluation);
other callers (an instance's identity credentials) have none either.
"""

from __future__ import annotations

from orchestrator.domain.iam import policy
from orchestrator.services.backend import Backend
from orchestrator.services.iam import documents
from orchestrator.services.principals import ASSUMED_ROLE, IAM_USER, Caller
from orchestrator.store.sqlite import Record, Store


def _owner(store: Store, caller: Caller) -> Record | None:
    if caller.unique_id is None:
        return None
    if caller.kind == IAM_USER:
        return store.get(caller.unique_id, "iam-user")
    if caller.kind == ASSUMED_ROLE:
        return store.get(caller.unique_id, "iam-role")
    return None


def _documents(store: Store, record: Record) -> list[str]:
    docs = list(record.data["InlinePolicies"].values())
    for arn in record.data["AttachedPolicies"]:
        doc = documents.managed_document(store, arn)
        if doc is not None:
            docs.append(doc)
    return docs


def identity_documents(store: Store, caller: Caller) -> list[str]:
    owner = _owner(store, caller)
    return [] if owner is None else _documents(store, owner)


def session_documents(store: Store, caller: Caller) -> list[str] | None:
    if caller.kind != ASSUMED_ROLE or (caller.session_policy is None and not caller.session_policy_arns):
        return None
    docs = [caller.session_policy] if caller.session_policy is not None else []
    for arn in caller.session_policy_arns:
        doc = documents.managed_document(store, arn)
        if doc is not None:
            docs.append(doc)
    return docs


def policies_of(backend: Backend, caller: Caller) -> tuple[list[policy.Policy], list[policy.Policy] | None]:
    """(identity policies, session policies or None) of ``caller``; see the module docstring."""
    identity = [documents.parse(d) for d in identity_documents(backend.store, caller)]
    session = session_documents(backend.store, caller)
    return identity, None if session is None else [documents.parse(d) for d in session]
