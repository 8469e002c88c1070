"""Parsing a policy document into a `Policy`, refusing what IAM refuses with IAM's words.

The messages are those IAM's MalformedPolicyDocument carries (as moto, which checks its validator
against AWS, reproduces them): "Syntax errors in policy." for JSON or grammar errors (unknown
elements, an Effect that is neither Allow nor Deny, Action with NotAction, an unknown condition
operator), "The policy failed legacy parsing" for an Effect in the wrong case or a date IAM cannot
read, "Policy statement must contain actions." / "... resources.", "Policy document should not
specify a principal." (identity), "Has prohibited field Resource." and "Invalid principal in policy:
com.amazon.balsa.error.InvalidPolicyException: The passed in policy has a statement with no
principals!" (trust), "Missing required field Principal" (S3's word, for a bucket policy) and
'Invalid principal in policy: "AWS":"..."' for a principal IAM cannot read (a partial wildcard).

A document without Version is parsed as 2008-10-17, where ``${...}`` is literal text; callers that
must insist on 2012-10-17 (IAM's CreatePolicy) check `Policy.version` themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from orchestrator.domain.iam.conditions import LEGACY, NO_VENDOR, SYNTAX, build
from orchestrator.domain.iam.model import (
    Condition,
    MalformedPolicy,
    Policy,
    PrincipalSpec,
    Statement,
    root_arn,
)
from orchestrator.domain.iam.variables import has_variables
from orchestrator.domain.iam.wildcards import ActionSet, compile_globs

VERSIONS = ("2012-10-17", "2008-10-17")
KINDS = ("identity", "trust", "resource")
TOP_ELEMENTS = {"Version", "Id", "Statement"}
STATEMENT_ELEMENTS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
                      "Principal", "NotPrincipal", "Condition"}
PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
TRUST_ACTIONS = ("sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity",
                 "sts:TagSession", "sts:SetSourceIdentity", "sts:SetContext")
# IAM's CreateRole/UpdateAssumeRolePolicy text; S3's bucket policies say "Missing required field Principal"
NO_PRINCIPAL = ("Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
                "The passed in policy has a statement with no principals!")
TRUST_ACTIONS_MESSAGE = ("Trust Policy statement actions can only be sts:AssumeRole, "
                         "sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity")

IAM_RESOURCE_TYPES = ("user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
                      "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/",
                      "report/", "access-report/")
_VENDOR = re.compile(r"[^a-zA-Z0-9\-.]")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com$")
_ACCOUNT = re.compile(r"^\d{12}$")
_PRINCIPAL_ARN = re.compile(r"^arn:[a-z-]+:(iam|sts)::(\d{12}|aws):[^*?]+$")


def _load(document: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError) as e:
            raise MalformedPolicy(SYNTAX) from e
    if not isinstance(document, Mapping):
        raise MalformedPolicy(SYNTAX)
    return document


def _strings(statement: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    """A string-or-list element as a tuple; None when absent. Empty lists are kept (and refused
    by the caller's 'must contain' checks)."""
    if key not in statement:
        return None
    raw = statement[key]
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise MalformedPolicy(SYNTAX)
    return tuple(items)


def _check_actions(actions: tuple[str, ...]) -> None:
    for action in actions:
        parts = action.split(":")
        if len(parts) == 1 and action != "*":
            raise MalformedPolicy(NO_VENDOR)
        if len(parts) > 2:
            raise MalformedPolicy("Actions/Condition can contain only one colon.")
        if action != "*" and _VENDOR.search(parts[0]):
            raise MalformedPolicy(f"Vendor {parts[0]} is not valid")


def _check_arn(resource: str) -> None:
    """IAM's checks of an IAM or S3 resource ARN: no region, and IAM's known resource types."""
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return
    service, region, path = parts[2], parts[3], parts[5]
    if service == "iam" and region:
        raise MalformedPolicy(f"IAM resource {resource} cannot contain region information.")
    if service == "s3" and region and not path.startswith("accesspoint/"):
        raise MalformedPolicy(f"Resource {resource} can not contain region information.")
    if service == "iam" and path not in ("*", "root") and not path.startswith(IAM_RESOURCE_TYPES):
        raise MalformedPolicy(f'IAM resource path must either be "*" or start with {", ".join(IAM_RESOURCE_TYPES)}.')


def _check_resources(resources: tuple[str, ...]) -> None:
    for resource in resources:
        if resource != "*" and ":" not in resource:
            raise MalformedPolicy(f'Resource {resource} must be in ARN format or "*".')
        if resource != "*" and resource.count(":") < 5 and "::" in resource:
            raise MalformedPolicy(LEGACY)
        _check_arn(resource)


def _principal_value(kind: str, value: str) -> str:
    """One Principal value normalized (an account id becomes its root ARN) or refused."""
    bad = MalformedPolicy(f'Invalid principal in policy: "{kind.upper()}":"{value}"')  # IAM's "SERVICE"
    if not value:
        raise bad
    if kind == "AWS":
        if value == "*":
            return value
        if _ACCOUNT.match(value):
            return root_arn(value)
        if not _PRINCIPAL_ARN.match(value):
            raise bad
    elif kind == "Service" and value != "*" and not _SERVICE.match(value):
        raise bad
    return value


def _principal(raw: Any) -> PrincipalSpec:
    if raw == "*":
        return PrincipalSpec(anyone=True, ids={})
    if not isinstance(raw, Mapping) or not raw:
        raise MalformedPolicy(SYNTAX)
    ids: dict[str, frozenset[str]] = {}
    for kind, values in raw.items():
        if kind not in PRINCIPAL_TYPES:
            raise MalformedPolicy(SYNTAX)
        items = [values] if isinstance(values, str) else values
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise MalformedPolicy(SYNTAX)
        ids[kind] = frozenset(_principal_value(kind, v) for v in items)
    return PrincipalSpec(anyone=False, ids=ids)


def _conditions(raw: Any, version: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise MalformedPolicy(SYNTAX)
    out: list[Condition] = []
    for op, block in raw.items():
        if not isinstance(block, Mapping):
            raise MalformedPolicy(SYNTAX)
        out.extend(build(op, key, values, version) for key, values in block.items())
    return tuple(out)


def _check_elements(statement: Any) -> None:
    if not isinstance(statement, Mapping) or set(statement) - STATEMENT_ELEMENTS:
        raise MalformedPolicy(SYNTAX)
    for a, b in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if a in statement and b in statement:
            raise MalformedPolicy(SYNTAX)
    effect = statement.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise MalformedPolicy(SYNTAX)
    sid = statement.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicy(SYNTAX)


def _check_kind(statement: Mapping[str, Any], kind: str) -> None:
    has_principal = "Principal" in statement or "NotPrincipal" in statement
    has_resource = "Resource" in statement or "NotResource" in statement
    if kind == "identity":
        if has_principal:
            raise MalformedPolicy("Policy document should not specify a principal.")
        if not has_resource:
            raise MalformedPolicy("Policy statement must contain resources.")
        return
    if not has_principal:
        raise MalformedPolicy(NO_PRINCIPAL if kind == "trust" else "Missing required field Principal")
    if kind == "trust" and has_resource:
        raise MalformedPolicy("Has prohibited field Resource.")
    if kind == "resource" and not has_resource:
        raise MalformedPolicy("Policy statement must contain resources.")


def _check_trust_actions(actions: tuple[str, ...]) -> None:
    for action in actions:
        pattern = compile_globs([action], ignore_case=True)
        if not any(pattern.fullmatch(a) for a in TRUST_ACTIONS):
            raise MalformedPolicy(TRUST_ACTIONS_MESSAGE)


def _statement(raw: Mapping[str, Any], kind: str, version: str) -> Statement:
    if raw["Effect"] not in ("Allow", "Deny"):
        raise MalformedPolicy(LEGACY)
    not_action = "NotAction" in raw
    actions = _strings(raw, "NotAction" if not_action else "Action")
    if not actions:
        raise MalformedPolicy("Policy statement must contain actions.")
    not_resource = "NotResource" in raw
    resources = _strings(raw, "NotResource" if not_resource else "Resource")
    if resources is not None and not resources:
        raise MalformedPolicy("Policy statement must contain resources.")
    _check_kind(raw, kind)
    _check_actions(actions)
    if kind == "trust" and not not_action:
        _check_trust_actions(actions)
    templates: tuple[str, ...] = ()
    resource_re = None
    if resources is not None:
        _check_resources(resources)
        templates = tuple(r for r in resources if version == "2012-10-17" and has_variables(r))
        resource_re = compile_globs([r for r in resources if r not in templates])
    not_principal = "NotPrincipal" in raw
    principal_raw = raw.get("NotPrincipal" if not_principal else "Principal")
    return Statement(
        sid=raw.get("Sid"), effect=raw["Effect"], actions=actions, not_action=not_action,
        action_match=ActionSet(actions), resources=resources,
        not_resource=not_resource, resource_re=resource_re, resource_templates=templates,
        principal=None if principal_raw is None else _principal(principal_raw),
        not_principal=not_principal, conditions=_conditions(raw.get("Condition"), version),
    )


def parse(document: str | Mapping[str, Any], kind: str = "identity") -> Policy:
    """A validated, compiled `Policy`; MalformedPolicy with IAM's message otherwise."""
    if kind not in KINDS:
        raise ValueError(f"policy kind must be one of {KINDS}, not {kind!r}")
    doc = _load(document)
    if set(doc) - TOP_ELEMENTS or "Statement" not in doc:
        raise MalformedPolicy(SYNTAX)
    version = doc.get("Version", "2008-10-17")
    policy_id = doc.get("Id")
    if version not in VERSIONS or (policy_id is not None and not isinstance(policy_id, str)):
        raise MalformedPolicy(SYNTAX)
    raw = doc["Statement"]
    raws = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(raws, list) or not raws:
        raise MalformedPolicy(SYNTAX)
    for statement in raws:
        _check_elements(statement)
    sids = [s["Sid"] for s in raws if s.get("Sid")]
    statements = tuple(_statement(s, kind, version) for s in raws)
    if len(sids) != len(set(sids)):
        raise MalformedPolicy("Statement IDs (SID) in a single policy must be unique.")
    return Policy(version=version, statements=statements, kind=kind, id=policy_id, document=doc)
