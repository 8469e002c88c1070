"""A caller's effective policies: what the policy engine evaluates a request of theirs against.

``identity``: the inline policies and the attached managed policies (default versions) of the IAM
user, or of the role an assumed-role session belongs to. ``session``: an assumed-role session's
own policies (``AssumeRole``'s ``Policy`` and ``PolicyArns``), which can only narrow the role's
rights, or None when the session has none. The root user has none at all (it bypasses evaluation);
other callers (an instance's identity credentials) have none either. Documents are parsed once per
text (``documents.parse`` keeps them), so a request costs the store reads and the evaluation.
"""

from __future__ import annotations

from orchestrator.domain.iam import policy
from orchestrator.services.backend import Backend
from orchestrator.services.iam import documents, read_cache
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


def _managed(store: Store, arns: list[str] | tuple[str, ...]) -> list[policy.Policy]:
    return [p for p in (documents.managed_policy(store, arn) for arn in arns) if p is not None]


def identity_policies(store: Store, caller: Caller) -> list[policy.Policy]:
    owner = _owner(store, caller)
    if owner is None:
        return []
    inline = [documents.parse(d) for d in owner.data["InlinePolicies"].values()]
    return inline + _managed(store, owner.data["AttachedPolicies"])


def session_policies(store: Store, caller: Caller) -> list[policy.Policy] | None:
    if caller.kind != ASSUMED_ROLE or (caller.session_policy is None and not caller.session_policy_arns):
        return None
    inline = [documents.parse(caller.session_policy)] if caller.session_policy is not None else []
    return inline + _managed(store, caller.session_policy_arns)


_CACHE: read_cache.StampCache[tuple[list[policy.Policy], list[policy.Policy] | None]] = read_cache.StampCache()


def policies_of(backend: Backend, caller: Caller) -> tuple[list[policy.Policy], list[policy.Policy] | None]:
    """(identity policies, session policies or None) of ``caller``; see the module docstring.
    Kept until the store next changes (`read_cache`): do not mutate the lists."""
    store = backend.store
    key = (caller.kind, caller.unique_id, caller.session_policy, caller.session_policy_arns)
    return _CACHE.get(store, key, lambda: (identity_policies(store, caller), session_policies(store, caller)))
