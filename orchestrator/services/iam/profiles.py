"""Instance profiles: the container EC2 launches an instance with, holding at most one role
(``LimitExceeded`` for a second), deleted only once it holds none (``DeleteConflict``)."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import IamInstanceProfileData
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, entities
from orchestrator.services.iam.entities import PROFILE
from orchestrator.services.principals import Caller
from orchestrator.store.sqlite import Record

MAX_ROLES = 1


def create(backend: Backend, caller: Caller | None, name: str, path: str | None,
           tags: list[dict[str, str]] | None) -> dict[str, Any]:
    entities.check_name(name, "instanceProfileName", 128)
    path = entities.check_path(path)
    arn = entities.arn(backend.account_id, "instance-profile", path, name)
    access.require(backend, caller, "iam:CreateInstanceProfile", arn)
    checked_tags = entities.merge_tags([], entities.check_tags(tags))
    store = backend.store
    with store.transaction():
        if entities.by_name(store, PROFILE, "InstanceProfileName", name) is not None:
            raise errors.EntityAlreadyExists(f"Instance Profile {name} already exists.")
        record = store.insert(Record[IamInstanceProfileData](
            id=ids.new_iam_id("instance-profile"), type=PROFILE, region=entities.REGION, state=AVAILABLE,
            data={"InstanceProfileName": name, "Path": path, "Arn": arn, "CreateDate": entities.now(store),
                  "RoleIds": [], "Tags": checked_tags}))
    return entities.profile_shape(store, record)


def get(backend: Backend, caller: Caller | None, name: str) -> dict[str, Any]:
    record = entities.profile(backend.store, name)
    access.require(backend, caller, "iam:GetInstanceProfile", record.data["Arn"])
    return entities.profile_shape(backend.store, record)


def listing(backend: Backend, caller: Caller | None, path_prefix: str | None, marker: str | None,
            max_items: int | None) -> dict[str, Any]:
    access.require(backend, caller, "iam:ListInstanceProfiles",
                   f"arn:aws:iam::{backend.account_id}:instance-profile/")
    found = entities.all_of(backend.store, PROFILE, "InstanceProfileName", path_prefix)
    return entities.page([entities.profile_shape(backend.store, r) for r in found], marker, max_items,
                         lambda p: p["InstanceProfileName"].lower(), "InstanceProfiles")


def delete(backend: Backend, caller: Caller | None, name: str) -> None:
    store = backend.store
    with store.transaction():
        record = entities.profile(store, name)
        access.require(backend, caller, "iam:DeleteInstanceProfile", record.data["Arn"])
        if record.data["RoleIds"]:
            raise errors.DeleteConflict("Cannot delete entity, must remove roles from instance profile first.")
        store.delete(record.id)


def add_role(backend: Backend, caller: Caller | None, name: str, role_name: str) -> None:
    store = backend.store
    with store.transaction():
        record = entities.profile(store, name)
        access.require(backend, caller, "iam:AddRoleToInstanceProfile", record.data["Arn"])
        role = entities.role(store, role_name)
        if len(record.data["RoleIds"]) >= MAX_ROLES:
            raise errors.LimitExceeded(f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {MAX_ROLES}")
        record.data["RoleIds"].append(role.id)
        store.update(record)


def remove_role(backend: Backend, caller: Caller | None, name: str, role_name: str) -> None:
    store = backend.store
    with store.transaction():
        record = entities.profile(store, name)
        access.require(backend, caller, "iam:RemoveRoleFromInstanceProfile", record.data["Arn"])
        role = entities.role(store, role_name)
        if role.id not in record.data["RoleIds"]:
            raise errors.NoSuchEntity(f"The role with name {role_name} cannot be found.")
        record.data["RoleIds"].remove(role.id)
        store.update(record)


def for_role(backend: Backend, caller: Caller | None, role_name: str, marker: str | None,
             max_items: int | None) -> dict[str, Any]:
    role = entities.role(backend.store, role_name)
    access.require(backend, caller, "iam:ListInstanceProfilesForRole", role.data["Arn"])
    found = [r for r in entities.all_of(backend.store, PROFILE, "InstanceProfileName") if role.id in r.data["RoleIds"]]
    return entities.page([entities.profile_shape(backend.store, r) for r in found], marker, max_items,
                         lambda p: p["InstanceProfileName"].lower(), "InstanceProfiles")
