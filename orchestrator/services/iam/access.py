"""IAM's and STS's own permission check: an IAM user's or assumed role's request for an IAM action
on a resource ARN is evaluated against its policies (explicit Deny > Allow > implicit deny);
root (and in-process calls, which act as root) may do everything.

Refused: ``AccessDenied`` 403 "User: ARN is not authorized to perform: iam:CreateUser on resource:
arn:aws:iam::ACCOUNT:user/NAME because no identity-based policy allows the iam:CreateUser action"
(or "with an explicit deny in an identity-based policy"), IAM's wording.
"""

from __future__ import annotations

from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.iam import policy
from orchestrator.services.backend import Backend
from orchestrator.services.iam import effective
from orchestrator.services.principals import ASSUMED_ROLE, IAM_USER, ROOT, Caller


def context_of(caller: Caller) -> dict[str, Any]:
    """The global condition keys a caller brings to every request."""
    ctx: dict[str, Any] = {"aws:PrincipalArn": caller.role_arn or caller.arn, "aws:PrincipalAccount": caller.account_id,
                           "aws:userid": caller.user_id,
                           "aws:PrincipalType": {IAM_USER: "User", ASSUMED_ROLE: "AssumedRole"}.get(caller.kind,
                                                                                               "Account")}
    if caller.kind == IAM_USER and caller.name:
        ctx["aws:username"] = caller.name
    return ctx


def decide(backend: Backend, caller: Caller, action: str, resource: str,
           context: dict[str, Any] | None = None) -> policy.Decision:
    if caller.kind == ROOT:
        return policy.Decision.ALLOW
    if caller.kind not in (IAM_USER, ASSUMED_ROLE):
        return policy.Decision.IMPLICIT_DENY
    identity, session = effective.policies_of(backend, caller)
    request = policy.Request(action=action, resource=resource, context={**context_of(caller), **(context or {})})
    return policy.evaluate(request, identity, session=session)


def allows(backend: Backend, caller: Caller, action: str, resource: str,
           context: dict[str, Any] | None = None) -> bool:
    return decide(backend, caller, action, resource, context) is policy.Decision.ALLOW


def require(backend: Backend, caller: Caller | None, action: str, resource: str,
            context: dict[str, Any] | None = None) -> None:
    """Raise ``AccessDenied`` unless ``caller`` (None: an in-process call, as root) may do ``action``
    on ``resource``."""
    if caller is None:
        return
    decision = decide(backend, caller, action, resource, context)
    if decision is policy.Decision.ALLOW:
        return
    reason = ("with an explicit deny in an identity-based policy" if decision is policy.Decision.EXPLICIT_DENY
              else f"because no identity-based policy allows the {action} action")
    raise errors.AccessDeniedOn(caller.arn, action, resource, reason)
