"""STS ``AssumeRole``: who may assume a role, and the session it opens.

Allowed when both sides agree, as in AWS:

* the role's trust policy (``AssumeRolePolicyDocument``) allows ``sts:AssumeRole`` for the caller:
  the policy engine evaluates it as a resource policy with the principal ``{"AWS": [caller ARN,
  (the role ARN of an assumed-role caller), the account's root ARN]}`` (naming the account in a trust
  policy delegates to its identities' own policies), with ``sts:ExternalId``, ``sts:RoleSessionName``
  and the session tags (``aws:RequestTag/...``, ``aws:TagKeys``; tags also need ``sts:TagSession``);
* the caller's own identity policies allow ``sts:AssumeRole`` on the role ARN. ec2d's root user
  may always call (AWS refuses AssumeRole to root credentials; ec2d's root key is the account's one
  starting point, so it may).

A role that does not exist is refused as one that does not trust the caller (``AccessDenied``: AWS
does not tell which). ``DurationSeconds`` is 900 s up to the role's ``MaxSessionDuration`` (1 h at
most when a role session assumes a role: role chaining).
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.iam import policy
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, documents, entities, sessions
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


def trusts(backend: Backend, role: Any, caller: Caller, action: str, context: dict[str, Any]) -> bool:
    """Whether the role's trust policy lets ``caller`` do ``action`` (``sts:AssumeRole``, ...)."""
    root_arn = f"arn:aws:iam::{backend.account_id}:root"
    principals = [caller.arn] + ([caller.role_arn] if caller.role_arn else []) + [root_arn]
    trust = documents.parse(role.data["AssumeRolePolicyDocument"], kind="trust")
    request = policy.Request(action=action, resource=role.data["Arn"], context=context,
                             principal={"AWS": principals})
    return policy.evaluate(request, [], resource=trust).allowed


def assume_role(backend: Backend, caller: Caller | None, req: dict[str, Any]) -> dict[str, Any]:
    """AssumeRole's answer: the session's credentials and its assumed-role user."""
    caller = caller or Caller(ROOT, backend.account_id, f"arn:aws:iam::{backend.account_id}:root", "")
    _check_request(req)
    role = _role(backend, caller, req["RoleArn"])
    context = _context(caller, req)
    allowed = access.allows(backend, caller, "sts:AssumeRole", role.data["Arn"], context) and trusts(
        backend, role, caller, "sts:AssumeRole", context)
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
