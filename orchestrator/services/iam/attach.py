"""Managed policies attached to users and roles (Attach/Detach/ListAttached{User,Role}Policies):
the ARNs in the user's or role's record, attachable when the account's policy or AWS's exists."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.domain import errors
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, documents, entities, policies
from orchestrator.services.principals import Caller
from orchestrator.store.sqlite import Record

_LABEL = {"user": "User", "role": "Role"}
_POLICY_ARN = re.compile(r"arn:aws:iam::(aws|[0-9]{12}):policy/([\x21-\x7e]*/)?[\w+=,.@-]+")
MAX_ATTACHED = 10  # IAM's default quota of managed policies per user or role


def _owner(backend: Backend, kind: str, name: str) -> Record:
    return entities.user(backend.store, name) if kind == "user" else entities.role(backend.store, name)


def _name_of(backend: Backend, arn: str) -> str | None:
    """The policy's name if ``arn`` names one that exists (the account's or AWS's)."""
    record = policies.local(backend.store, arn)
    if record is not None:
        return str(record.data["PolicyName"])
    found = documents.aws_managed(arn)
    if found is not None:
        return found.name
    return None


def attach(backend: Backend, caller: Caller | None, kind: str, name: str, arn: str) -> None:
    if not _POLICY_ARN.fullmatch(arn):
        raise errors.InvalidInput(f"ARN {arn} is not valid.")
    with backend.store.transaction():
        record = _owner(backend, kind, name)
        access.require(backend, caller, f"iam:Attach{_LABEL[kind]}Policy", record.data["Arn"],
                       {"iam:PolicyARN": arn})
        if _name_of(backend, arn) is None:
            raise errors.NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
        attached = record.data["AttachedPolicies"]
        if arn in attached:
            return
        if len(attached) >= MAX_ATTACHED:
            raise errors.LimitExceeded(f"Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED}" if kind == "role"
                                       else f"Cannot exceed quota for PoliciesPerUser: {MAX_ATTACHED}")
        attached.append(arn)
        backend.store.update(record)


def detach(backend: Backend, caller: Caller | None, kind: str, name: str, arn: str) -> None:
    with backend.store.transaction():
        record = _owner(backend, kind, name)
        access.require(backend, caller, f"iam:Detach{_LABEL[kind]}Policy", record.data["Arn"],
                       {"iam:PolicyARN": arn})
        if arn not in record.data["AttachedPolicies"]:
            raise errors.NoSuchEntity(f"Policy {arn} was not found.")
        record.data["AttachedPolicies"].remove(arn)
        backend.store.update(record)


def listing(backend: Backend, caller: Caller | None, kind: str, name: str, path_prefix: str | None,
            marker: str | None, max_items: int | None) -> dict[str, Any]:
    record = _owner(backend, kind, name)
    access.require(backend, caller, f"iam:ListAttached{_LABEL[kind]}Policies", record.data["Arn"])
    found = []
    for arn in record.data["AttachedPolicies"]:
        policy_name = _name_of(backend, arn)
        path = arn.split(":policy", 1)[1].rpartition("/")[0] + "/"
        if policy_name is not None and (path_prefix is None or path.startswith(path_prefix)):
            found.append({"PolicyName": policy_name, "PolicyArn": arn})
    found.sort(key=lambda p: (p["PolicyName"].lower(), p["PolicyArn"]))
    return entities.page(found, marker, max_items, lambda p: f"{p['PolicyName'].lower()}\0{p['PolicyArn']}",
                         "AttachedPolicies")
