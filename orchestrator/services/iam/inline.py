"""Inline policies of users and roles (Put/Get/List/Delete{User,Role}Policy): named documents kept
in the user's or role's own record. ``kind`` is ``"user"`` or ``"role"`` throughout."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import errors
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, documents, entities
from orchestrator.services.principals import Caller
from orchestrator.store.sqlite import Record

_LABEL = {"user": "User", "role": "Role"}


def _owner(backend: Backend, kind: str, name: str) -> Record:
    return entities.user(backend.store, name) if kind == "user" else entities.role(backend.store, name)


def _action(verb: str, kind: str) -> str:
    return f"iam:{verb}{_LABEL[kind]}Policy"


def put(backend: Backend, caller: Caller | None, kind: str, name: str, policy_name: str, document: str) -> None:
    entities.check_name(policy_name, "policyName", 128)
    documents.checked(document)
    with backend.store.transaction():
        record = _owner(backend, kind, name)
        access.require(backend, caller, _action("Put", kind), record.data["Arn"])
        record.data["InlinePolicies"][policy_name] = document
        backend.store.update(record)


def _named(record: Record, kind: str, policy_name: str) -> str:
    found = record.data["InlinePolicies"].get(policy_name)
    if found is None:
        raise errors.NoSuchEntity(f"The {kind} policy with name {policy_name} cannot be found.")
    return str(found)


def get(backend: Backend, caller: Caller | None, kind: str, name: str, policy_name: str) -> dict[str, Any]:
    record = _owner(backend, kind, name)
    access.require(backend, caller, _action("Get", kind), record.data["Arn"])
    document = _named(record, kind, policy_name)
    return {f"{_LABEL[kind]}Name": record.data[f"{_LABEL[kind]}Name"], "PolicyName": policy_name,
            "PolicyDocument": entities.url_encoded(document)}


def listing(backend: Backend, caller: Caller | None, kind: str, name: str, marker: str | None,
            max_items: int | None) -> dict[str, Any]:
    record = _owner(backend, kind, name)
    access.require(backend, caller, _action("List", kind).replace("Policy", "Policies"), record.data["Arn"])
    return entities.page(sorted(record.data["InlinePolicies"]), marker, max_items, lambda n: n, "PolicyNames")


def delete(backend: Backend, caller: Caller | None, kind: str, name: str, policy_name: str) -> None:
    with backend.store.transaction():
        record = _owner(backend, kind, name)
        access.require(backend, caller, _action("Delete", kind), record.data["Arn"])
        _named(record, kind, policy_name)
        del record.data["InlinePolicies"][policy_name]
        backend.store.update(record)
