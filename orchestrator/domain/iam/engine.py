"""AWS's policy evaluation logic for one account ("Policy evaluation logic", IAM User Guide).

1. An explicit Deny in any policy that applies (identity, session, resource) decides: EXPLICIT_DENY.
2. Otherwise the request is allowed when
   - an identity policy allows it and, if the caller is a session with session policies
     (AssumeRole's Policy/PolicyArns), a session policy allows it too (the intersection); or
   - the resource-based policy (a bucket policy, a role's trust policy) allows it for a principal
     it names: naming the user or role itself (or ``*``) is enough on its own, but the session
     policies still limit it; naming the assumed-role session ARN is not limited by them; naming
     the account (``arn:aws:iam::ACCOUNT:root``) only delegates to the account's identity
     policies, which must allow as well.
   Across accounts (the caller's account differs from the resource's: ``aws:ResourceAccount`` in
   the context, else the account in the resource's ARN) both the
   identity side and the resource policy must allow. A role's trust policy (kind "trust") is
   always needed: an identity policy allowing sts:AssumeRole is not enough without it.
3. Otherwise IMPLICIT_DENY.

Permissions boundaries, SCPs and RCPs are not modelled: ec2d has no Organizations.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.domain.iam.conditions import holds
from orchestrator.domain.iam.model import Decision, Policy, Request, Statement, account_of
from orchestrator.domain.iam.variables import resolve
from orchestrator.domain.iam.wildcards import compile_tokens

# How a resource policy's Allow matched the caller, strongest first.
SESSION, DIRECT, ANYONE, ACCOUNT = "session", "direct", "anyone", "account"
_RANK = {SESSION: 0, DIRECT: 1, ANYONE: 2, ACCOUNT: 3}


def _resource_ok(st: Statement, request: Request) -> bool:
    if st.resources is None:
        return True
    resource = request.resource
    hit = st.resource_re is not None and st.resource_re.fullmatch(resource) is not None
    if not hit:
        for template in st.resource_templates:
            tokens = resolve(template, request.ctx)
            if tokens is not None and compile_tokens(tokens).fullmatch(resource):
                hit = True
                break
    return hit != st.not_resource


def _classify(identity: str) -> str:
    if identity.endswith(":root"):
        return ACCOUNT
    if ":assumed-role/" in identity or ":federated-user/" in identity:
        return SESSION
    return DIRECT


def principal_match(st: Statement, request: Request) -> str | None:
    """How the statement's Principal/NotPrincipal names the caller (None: it does not; ANYONE
    for a statement without one). NotPrincipal applies unless every identity of the caller
    (session ARN, role ARN, account) is listed, as AWS requires them all to be."""
    spec = st.principal
    if spec is None:
        return ANYONE
    ids = request.principal_ids
    if st.not_principal:
        if spec.anyone:
            return None
        listed = all(v in spec.ids.get(kind, ()) or "*" in spec.ids.get(kind, ())
                     for kind, values in ids.items() for v in values)
        return None if listed and ids else ANYONE
    if spec.anyone:
        return ANYONE
    best: str | None = None
    for kind, wanted in spec.ids.items():
        have = ids.get(kind)
        if not have:
            continue
        found = [_classify(v) if kind == "AWS" else DIRECT for v in wanted & have]
        if "*" in wanted:
            found.append(ANYONE)
        for how in found:
            if best is None or _RANK[how] < _RANK[best]:
                best = how
    return best


def applies(st: Statement, request: Request) -> bool:
    """Action, Resource and Condition all match (Principal is checked by the caller)."""
    if st.action_match.fullmatch(request.action) == st.not_action:
        return False
    if not _resource_ok(st, request):
        return False
    ctx = request.ctx
    return all(holds(c, ctx) for c in st.conditions)


def _scan(policies: Sequence[Policy], request: Request) -> bool | None:
    """None if an explicit Deny applies, else whether some Allow applies."""
    allowed = False
    for policy in policies:
        for st in policy.statements:
            if allowed and st.effect == "Allow":
                continue
            if applies(st, request) and principal_match(st, request) is not None:
                if st.effect == "Deny":
                    return None
                allowed = True
    return allowed


def _scan_resource(policy: Policy, request: Request) -> tuple[bool, str | None]:
    """(denied, how the strongest applicable Allow named the caller)."""
    best: str | None = None
    for st in policy.statements:
        if not applies(st, request):
            continue
        how = principal_match(st, request)
        if how is None:
            continue
        if st.effect == "Deny":
            return True, None
        if best is None or _RANK[how] < _RANK[best]:
            best = how
    return False, best


def evaluate(
    request: Request,
    identity: Sequence[Policy],
    *,
    session: Sequence[Policy] | None = None,
    resource: Policy | None = None,
) -> Decision:
    """The decision for `request` (see the module docstring). An empty `session` means no
    session policies were passed, as with None."""
    identity_allow = _scan(identity, request)
    if identity_allow is None:
        return Decision.EXPLICIT_DENY
    if resource is not None and resource.kind == "identity":
        raise ValueError("a resource policy must be parsed with kind 'resource' or 'trust'")
    session_allow: bool | None = True
    if session:
        session_allow = _scan(session, request)
        if session_allow is None:
            return Decision.EXPLICIT_DENY
    how: str | None = None
    if resource is not None:
        denied, how = _scan_resource(resource, request)
        if denied:
            return Decision.EXPLICIT_DENY
    identity_ok = bool(identity_allow and session_allow)
    if how is None:
        # a role's trust policy must allow AssumeRole itself: identity policies alone never do
        allowed = identity_ok and (resource is None or resource.kind != "trust")
    elif how == ACCOUNT or _cross_account(request):
        allowed = identity_ok
    else:
        allowed = identity_ok or how == SESSION or bool(session_allow)
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _cross_account(request: Request) -> bool:
    """The caller's account differs from the resource owner's: ``aws:ResourceAccount`` from the
    context when the caller gave it (S3 ARNs carry no account), else the ARN's account field."""
    owner = request.ctx.get("aws:resourceaccount")
    resource_account = owner if isinstance(owner, str) else account_of(request.resource)
    caller = request.caller_account
    return bool(resource_account and caller and resource_account != caller)
