"""STS ``AssumeRole``: who may assume a role, and the session it opens.

Allowed as AWS decides it: the role's trust policy (``AssumeRolePolicyDocument``) must have an
Allow for ``sts:AssumeRole`` naming the caller (its ARN, its role for a role session, ``*``, or its
account), and the policy engine must allow the request with the trust policy as the resource policy
and the caller's identity and session policies: a trust policy naming the user or role itself is
enough on its own (same account); one naming the account (``arn:aws:iam::ACCOUNT:root``) delegates
to the caller's identity policies, which must allow ``sts:AssumeRole`` on the role. Conditions see
``sts:ExternalId``, ``sts:RoleSessionName`` and the session tags (``aws:RequestTag/...``,
``aws:TagKeys``; tags also need ``sts:TagSession``). ec2d's root user has an allow-all identity
side (AWS refuses AssumeRole to root credentials; ec2d's root key is the account's one starting
point, so it may, where the trust policy names the account).

A role that does not exist is refused as one that does not trust the caller (``AccessDenied``: AWS
does not tell which). ``DurationSeconds`` is 900 s up to the role's ``MaxSessionDuration`` (1 h at
most when a role session assumes a role: role chaining).
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.iam import engine, policy
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, documents, effective, entities, sessions
from orchestrator.services.iam.entities import ROLE
from orchestrator.services.principals import ASSUMED_ROLE, ROOT, Caller

MIN_DURATION, DEFAULT_DURATION, CHAINED_MAX = 900, 3600, 3600
MAX_POLICY_ARNS = 10
_ROLE_ARN = re.compile(r"arn:aws:iam::([0-9]{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]+)")


def _check_request(req: dict[str, Any]) -> None:
    entities.check_name(req["RoleSessionName"], "roleSessionName", 64, 2, r"[\w+=,.@-]*")
    if len(req.get("PolicyArns") or []) > MAX_POLICY_ARNS:
        raise entities.validation("...", "policyArns", f"Member must have length less than or equal to "
                                  f"{MAX_POLICY_ARNS}")
    if req.get("Policy") is not None:
        documents.checked(req["Policy"], limit=documents.SESSION_MAX)
    external = req.get("ExternalId")
    if external is not None:
        entities.check_name(external, "externalId", 1224, 2, r"[\w+=,.@:/-]*")


def _role(backend: Backend, caller: Caller, role_arn: str) -> Any:
    match = _ROLE_ARN.fullmatch(role_arn)
    record = None
    if match and match.group(1) == backend.account_id:
        record = entities.by_name(backend.store, ROLE, "RoleName", match.group(2))
    if record is None or record.data["Arn"] != role_arn:
        raise errors.AccessDeniedOn(caller.arn, "sts:AssumeRole", role_arn)
    return record


def _context(caller: Caller, req: dict[str, Any]) -> dict[str, Any]:
    ctx = access.context_of(caller)
    ctx["sts:RoleSessionName"] = req["RoleSessionName"]
    if req.get("ExternalId") is not None:
        ctx["sts:ExternalId"] = req["ExternalId"]
    tags = req.get("Tags") or []
    for tag in tags:
        ctx[f"aws:RequestTag/{tag['Key']}"] = tag["Value"]
    if tags:
        ctx["aws:TagKeys"] = [t["Key"] for t in tags]
    return ctx


# What the root user's identity side amounts to: everything (explicit denies still apply).
_ROOT_IDENTITY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'


def _names_caller(trust: policy.Policy, request: policy.Request) -> bool:
    """Whether an Allow statement of the trust policy applies to the request and names the caller
    (itself, its role, ``*``, or its account): a role is never assumed on identity policies alone."""
    return any(st.effect == "Allow" and engine.applies(st, request) and engine.principal_match(st, request)
               for st in trust.statements)


def trusts(backend: Backend, role: Any, caller: Caller, action: str, context: dict[str, Any]) -> bool:
    """Whether ``caller`` may do ``action`` (``sts:AssumeRole``, ``sts:TagSession``) on the role:
    its trust policy names the caller and the engine allows the request with the caller's identity
    and session policies (the root user's: allow-all) and the trust policy as the resource policy."""
    principals = [caller.arn] + ([caller.role_arn] if caller.role_arn else [])
    trust = documents.parse(role.data["AssumeRolePolicyDocument"], kind="trust")
    request = policy.Request(action=action, resource=role.data["Arn"], context=context,
                             principal={"AWS": principals})
    if not _names_caller(trust, request):
        return False
    if caller.kind == ROOT:
        identity, session = [documents.parse(_ROOT_IDENTITY)], None
    else:
        identity, session = effective.policies_of(backend, caller)
    return policy.evaluate(request, identity, session=session, resource=trust) is policy.Decision.ALLOW


def assume_role(backend: Backend, caller: Caller | None, req: dict[str, Any]) -> dict[str, Any]:
    """AssumeRole's answer: the session's credentials and its assumed-role user."""
    caller = caller or Caller(ROOT, backend.account_id, f"arn:aws:iam::{backend.account_id}:root", "")
    _check_request(req)
    role = _role(backend, caller, req["RoleArn"])
    context = _context(caller, req)
    allowed = trusts(backend, role, caller, "sts:AssumeRole", context)
    if allowed and req.get("Tags"):
        allowed = trusts(backend, role, caller, "sts:TagSession", context)
    if not allowed:
        raise errors.AccessDeniedOn(caller.arn, "sts:AssumeRole", role.data["Arn"])
    duration = req.get("DurationSeconds") or DEFAULT_DURATION
    limit = CHAINED_MAX if caller.kind == ASSUMED_ROLE else role.data["MaxSessionDuration"]
    if duration < MIN_DURATION:
        raise entities.validation(duration, "durationSeconds", f"Member must have value greater than or equal "
                                  f"to {MIN_DURATION}")
    if duration > limit:
        raise errors.ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
            if caller.kind == ASSUMED_ROLE else
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    arns = [p["arn"] for p in req.get("PolicyArns") or []]
    issued = sessions.issue(backend.store, backend.credentials.secret_access_key, role, req["RoleSessionName"],
                            duration, caller.arn, req.get("Policy"), arns)
    session = req["RoleSessionName"]
    out: dict[str, Any] = {
        "Credentials": {"AccessKeyId": issued.access_key_id, "SecretAccessKey": issued.secret_access_key,
                        "SessionToken": issued.token, "Expiration": entities.timestamp(issued.expiration)},
        "AssumedRoleUser": {"AssumedRoleId": f"{role.id}:{session}",
                            "Arn": f"arn:aws:sts::{backend.account_id}:assumed-role/{role.data['RoleName']}/{session}"}}
    if req.get("Policy") is not None or arns or req.get("Tags"):
        packed = len(req.get("Policy") or "") + 64 * len(arns) + 32 * len(req.get("Tags") or [])
        out["PackedPolicySize"] = min(100, max(1, packed * 100 // documents.SESSION_MAX))
    return out


def for_service(backend: Backend, role_name: str, service: str, session_name: str, duration: int,
                owner: str | None = None) -> sessions.Issued:
    """A session of ``role_name`` opened on behalf of an AWS service (``ec2.amazonaws.com`` for an
    instance profile's role), when the role's trust policy allows that service ``sts:AssumeRole``;
    else ``AccessDenied`` (the reason the instance's credentials document gives). ``owner`` (the
    instance id) lets :func:`sessions.revoke` end its sessions."""
    role = entities.role(backend.store, role_name)
    trust = documents.parse(role.data["AssumeRolePolicyDocument"], kind="trust")
    request = policy.Request(action="sts:AssumeRole", resource=role.data["Arn"], principal={"Service": [service]},
                             context={"sts:RoleSessionName": session_name})
    if policy.evaluate(request, [], resource=trust) is not policy.Decision.ALLOW:
        raise errors.AccessDeniedOn(service, "sts:AssumeRole", role.data["Arn"])
    return sessions.issue(backend.store, backend.credentials.secret_access_key, role, session_name, duration,
                          service, owner=owner)
