"""IAM roles: a trust policy (who may assume it: ``AssumeRolePolicyDocument``), a maximum session
duration (3,600 to 43,200 s), tags. A role is deleted only once it is in no instance profile and has
no inline or attached policy left (IAM's ``DeleteConflict``); its open sessions end with it."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import IamRoleData
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, documents, entities, sessions
from orchestrator.services.iam.entities import PROFILE, ROLE
from orchestrator.services.principals import Caller
from orchestrator.store.sqlite import Record

MIN_SESSION, MAX_SESSION, DEFAULT_SESSION = 3600, 43200, 3600


def _check_duration(value: int | None) -> int:
    if value is None:
        return DEFAULT_SESSION
    if not MIN_SESSION <= value <= MAX_SESSION:
        raise entities.validation(value, "maxSessionDuration", "Member must have value "
                                  + (f"greater than or equal to {MIN_SESSION}" if value < MIN_SESSION
                                     else f"less than or equal to {MAX_SESSION}"))
    return value


def _check_description(value: str | None) -> str:
    if value is not None and len(value) > 1000:
        raise entities.validation(value, "description", "Member must have length less than or equal to 1000")
    return value or ""


def create(backend: Backend, caller: Caller | None, req: dict[str, Any]) -> dict[str, Any]:
    """CreateRole's input as the API parsed it (``RoleName``, ``AssumeRolePolicyDocument``, ...)."""
    name = entities.check_name(req["RoleName"], "roleName")
    path = entities.check_path(req.get("Path"))
    arn = entities.arn(backend.account_id, "role", path, name)
    access.require(backend, caller, "iam:CreateRole", arn)
    entities.no_boundary(req.get("PermissionsBoundary"))
    trust = documents.checked(req["AssumeRolePolicyDocument"], "trust", documents.TRUST_MAX)
    data: IamRoleData = {
        "RoleName": name, "Path": path, "Arn": arn, "CreateDate": entities.now(backend.store),
        "AssumeRolePolicyDocument": trust, "Description": _check_description(req.get("Description")),
        "MaxSessionDuration": _check_duration(req.get("MaxSessionDuration")),
        "Tags": entities.merge_tags([], entities.check_tags(req.get("Tags"))),
        "InlinePolicies": {}, "AttachedPolicies": []}
    store = backend.store
    with store.transaction():
        if entities.by_name(store, ROLE, "RoleName", name) is not None:
            raise errors.EntityAlreadyExists(f"Role with name {name} already exists.")
        record = store.insert(Record[IamRoleData](id=ids.new_iam_id("role"), type=ROLE, region=entities.REGION,
                                                  state=AVAILABLE, data=data))
    return entities.role_shape(record, tags=True)


def get(backend: Backend, caller: Caller | None, name: str) -> dict[str, Any]:
    record = entities.role(backend.store, name)
    access.require(backend, caller, "iam:GetRole", record.data["Arn"])
    return entities.role_shape(record, tags=True)


def listing(backend: Backend, caller: Caller | None, path_prefix: str | None, marker: str | None,
            max_items: int | None) -> dict[str, Any]:
    access.require(backend, caller, "iam:ListRoles", f"arn:aws:iam::{backend.account_id}:role/")
    found = entities.all_of(backend.store, ROLE, "RoleName", path_prefix)
    return entities.page([entities.role_shape(r) for r in found], marker, max_items,
                         lambda r: r["RoleName"].lower(), "Roles")


def delete(backend: Backend, caller: Caller | None, name: str) -> None:
    store = backend.store
    with store.transaction():
        record = entities.role(store, name)
        access.require(backend, caller, "iam:DeleteRole", record.data["Arn"])
        if any(record.id in p.data["RoleIds"] for p in store.list(PROFILE, entities.REGION)):
            raise errors.DeleteConflict("Cannot delete entity, must remove roles from instance profile first.")
        if record.data["InlinePolicies"]:
            raise errors.DeleteConflict("Cannot delete entity, must delete policies first.")
        if record.data["AttachedPolicies"]:
            raise errors.DeleteConflict("Cannot delete entity, must detach all policies first.")
        store.delete(record.id)
        sessions.revoke(store, role_id=record.id)


def _change(backend: Backend, caller: Caller | None, name: str, action: str) -> Record[IamRoleData]:
    record = entities.role(backend.store, name)
    access.require(backend, caller, action, record.data["Arn"])
    return record


def update_trust(backend: Backend, caller: Caller | None, name: str, document: str) -> None:
    trust = documents.checked(document, "trust", documents.TRUST_MAX)
    with backend.store.transaction():
        record = _change(backend, caller, name, "iam:UpdateAssumeRolePolicy")
        record.data["AssumeRolePolicyDocument"] = trust
        backend.store.update(record)


def update(backend: Backend, caller: Caller | None, name: str, description: str | None,
           max_session: int | None) -> None:
    with backend.store.transaction():
        record = _change(backend, caller, name, "iam:UpdateRole")
        if description is not None:
            record.data["Description"] = _check_description(description)
        if max_session is not None:
            record.data["MaxSessionDuration"] = _check_duration(max_session)
        backend.store.update(record)


def tag(backend: Backend, caller: Caller | None, name: str, tags: list[dict[str, str]]) -> None:
    with backend.store.transaction():
        record = _change(backend, caller, name, "iam:TagRole")
        record.data["Tags"] = entities.merge_tags(record.data["Tags"], entities.check_tags(tags))
        backend.store.update(record)


def untag(backend: Backend, caller: Caller | None, name: str, keys: list[str]) -> None:
    with backend.store.transaction():
        record = _change(backend, caller, name, "iam:UntagRole")
        record.data["Tags"] = entities.without_tags(record.data["Tags"], keys)
        backend.store.update(record)


def tags(backend: Backend, caller: Caller | None, name: str, marker: str | None,
         max_items: int | None) -> dict[str, Any]:
    record = _change(backend, caller, name, "iam:ListRoleTags")
    return entities.page(sorted(record.data["Tags"], key=lambda t: t["Key"]), marker, max_items,
                         lambda t: t["Key"], "Tags")
