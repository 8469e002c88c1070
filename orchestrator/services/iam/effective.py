"""A caller's effective policies: what the policy engine evaluates a request of theirs against.

``identity``: the inline policies and the attached managed policies (default versions) of the IAM
user, or of the role an assumed-role session belongs to. ``session``: an assumed-role session's
own policies (``AssumeRole``'s ``Policy`` and ``PolicyArns``), which can only narrow the role's
rights, or None when the session has none. The root user has none at all (it bypasses evaluation);
other callers (an instance's identity credentials) have none either. Documents are parsed once per
text (``documents.parse`` keeps them), and the set (with the context keys its policies look at) is
kept while no IAM record changes (`read_cache`), so a request costs one generation check (no read of
them while nothing was committed: `Store.generations`) and the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.domain.iam import compiled, policy
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


@dataclass(frozen=True)
class Effective:
    """A caller's policies, and what of a request's context they look at."""

    identity: list[policy.Policy]
    session: list[policy.Policy] | None
    keys: frozenset[str]  # every policy's `policy.context_keys`, lower-cased
    reads_resource_tags: bool  # some policy looks at a resource's or a request's tags
    reads_instance_type: bool  # ... at ec2:InstanceType
    # the policies prepared for the API edge's per-request question (kept with them, see `of`)
    prepared: compiled.PolicySet | None = None


def _effective(store: Store, caller: Caller) -> Effective:
    identity, session = identity_policies(store, caller), session_policies(store, caller)
    keys = frozenset().union(*(policy.context_keys(p) for p in (*identity, *(session or ()))))
    return Effective(identity, session, keys,
                     reads_resource_tags=any(k.startswith(("ec2:resourcetag/", "aws:resourcetag/",
                                                           "elasticloadbalancing:resourcetag/", "aws:requesttag/",
                                                           "aws:tagkeys")) for k in keys),
                     reads_instance_type="ec2:instancetype" in keys,
                     prepared=compiled.PolicySet(identity, session)
                     if all(p.kind == "identity" for p in (*identity, *(session or ()))) else None)


_CACHE: read_cache.StampCache[Effective] = read_cache.StampCache()


def of(backend: Backend, caller: Caller, stamp: int | None = None) -> Effective:
    """``caller``'s policies (see the module docstring), kept until an IAM record changes
    (`read_cache`): do not mutate the lists. ``stamp``: the IAM generation this request was
    authenticated at (`Caller.generation`), which spares reading it again."""
    store = backend.store
    key = (caller.kind, caller.unique_id, caller.session_policy, caller.session_policy_arns)
    return _CACHE.get(store, key, lambda: _effective(store, caller), stamp=stamp)


def policies_of(backend: Backend, caller: Caller) -> tuple[list[policy.Policy], list[policy.Policy] | None]:
    """(identity policies, session policies or None) of ``caller`` (`of`)."""
    found = of(backend, caller)
    return found.identity, found.session
