"""IAM users: create, read, list, delete, tag. A user is deleted only once it has no access keys,
inline or attached policies left (IAM's ``DeleteConflict``)."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import IamUserData
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, entities
from orchestrator.services.iam.entities import ACCESS_KEY, USER
from orchestrator.services.principals import IAM_USER, Caller
from orchestrator.store.sqlite import Record


def create(backend: Backend, caller: Caller | None, name: str, path: str | None = None,
           tags: list[dict[str, str]] | None = None, boundary: str | None = None) -> dict[str, Any]:
    entities.check_name(name, "userName")
    path = entities.check_path(path)
    arn = entities.arn(backend.account_id, "user", path, name)
    access.require(backend, caller, "iam:CreateUser", arn)
    entities.no_boundary(boundary)
    checked_tags = entities.merge_tags([], entities.check_tags(tags))
    store = backend.store
    with store.transaction():
        if entities.by_name(store, USER, "UserName", name) is not None:
            raise errors.EntityAlreadyExists(f"User with name {name} already exists.")
        record = store.insert(Record[IamUserData](
            id=ids.new_iam_id("user"), type=USER, region=entities.REGION, state=AVAILABLE,
            data={"UserName": name, "Path": path, "Arn": arn, "CreateDate": entities.now(store),
                  "Tags": checked_tags, "InlinePolicies": {}, "AttachedPolicies": []}))
    return entities.user_shape(record, tags=True)


def get(backend: Backend, caller: Caller | None, name: str | None) -> dict[str, Any]:
    """``name`` None: the caller itself (an IAM user; root gets the account's root user)."""
    if name is None:
        if caller is not None and caller.kind == IAM_USER and caller.name:
            name = caller.name
        elif caller is None or caller.kind == "root":
            return {"UserId": backend.account_id, "Arn": f"arn:aws:iam::{backend.account_id}:root",
                    "CreateDate": entities.timestamp(0.0)}
        else:
            raise errors.ValidationError("Must specify userName when calling with non-User credentials")
    record = entities.user(backend.store, name)
    access.require(backend, caller, "iam:GetUser", record.data["Arn"])
    return entities.user_shape(record, tags=True)


def listing(backend: Backend, caller: Caller | None, path_prefix: str | None, marker: str | None,
            max_items: int | None) -> dict[str, Any]:
    access.require(backend, caller, "iam:ListUsers", f"arn:aws:iam::{backend.account_id}:user/")
    found = entities.all_of(backend.store, USER, "UserName", path_prefix)
    return entities.page([entities.user_shape(r) for r in found], marker, max_items,
                         lambda u: u["UserName"].lower(), "Users")


def delete(backend: Backend, caller: Caller | None, name: str) -> None:
    store = backend.store
    with store.transaction():
        record = entities.user(store, name)
        access.require(backend, caller, "iam:DeleteUser", record.data["Arn"])
        if store.find_by_field(ACCESS_KEY, entities.REGION, "UserId", record.id):
            raise errors.DeleteConflict("Cannot delete entity, must delete access keys first.")
        if record.data["InlinePolicies"]:
            raise errors.DeleteConflict("Cannot delete entity, must delete policies first.")
        if record.data["AttachedPolicies"]:
            raise errors.DeleteConflict("Cannot delete entity, must detach all policies first.")
        store.delete(record.id)


def tag(backend: Backend, caller: Caller | None, name: str, tags: list[dict[str, str]]) -> None:
    store = backend.store
    with store.transaction():
        record = entities.user(store, name)
        access.require(backend, caller, "iam:TagUser", record.data["Arn"])
        record.data["Tags"] = entities.merge_tags(record.data["Tags"], entities.check_tags(tags))
        store.update(record)


def untag(backend: Backend, caller: Caller | None, name: str, keys: list[str]) -> None:
    store = backend.store
    with store.transaction():
        record = entities.user(store, name)
        access.require(backend, caller, "iam:UntagUser", record.data["Arn"])
        record.data["Tags"] = entities.without_tags(record.data["Tags"], keys)
        store.update(record)


def tags(backend: Backend, caller: Caller | None, name: str, marker: str | None,
         max_items: int | None) -> dict[str, Any]:
    record = entities.user(backend.store, name)
    access.require(backend, caller, "iam:ListUserTags", record.data["Arn"])
    return entities.page(sorted(record.data["Tags"], key=lambda t: t["Key"]), marker, max_items,
                         lambda t: t["Key"], "Tags")
