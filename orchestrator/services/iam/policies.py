"""Managed policies: the account's own (CreatePolicy, versions v1..vN, at most five kept, one the
default) and AWS's (``arn:aws:iam::aws:policy/...``, shipped as data with ``domain/iam``, read-only).
Attachments to users and roles are counted from their records (``attach.py``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.iam.managed import ManagedPolicy
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.domain.records import IamPolicyData
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, documents, entities
from orchestrator.services.iam.entities import POLICY, ROLE, USER
from orchestrator.services.principals import Caller
from orchestrator.store.sqlite import Record, Store

MAX_VERSIONS = 5
SCOPES = ("All", "AWS", "Local")


def attachment_count(store: Store, arn: str) -> int:
    return sum(arn in r.data["AttachedPolicies"] for t in (USER, ROLE) for r in store.list(t, entities.REGION))


def aws_shape(store: Store, item: ManagedPolicy) -> dict[str, Any]:
    """An AWS-managed policy (as ``domain/iam/managed`` ships it) in IAM's ``Policy`` shape."""
    return {"PolicyName": item.name, "PolicyId": _aws_id(item.arn), "Arn": item.arn, "Path": item.path,
            "DefaultVersionId": item.default_version_id, "AttachmentCount": attachment_count(store, item.arn),
            "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
            "CreateDate": _when(item.create_date), "UpdateDate": _when(item.update_date)}


def _aws_id(arn: str) -> str:
    """A stable ``ANPA...`` id for an AWS-managed policy (the same on every call and every restart)."""
    digest = hashlib.sha256(arn.encode()).digest()
    return "ANPA" + base64.b32encode(digest).decode()[:17]


def _when(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def local_shape(store: Store, record: Record, full: bool = False) -> dict[str, Any]:
    d = record.data
    out: dict[str, Any] = {
        "PolicyName": d["PolicyName"], "PolicyId": record.id, "Arn": d["Arn"], "Path": d["Path"],
        "DefaultVersionId": d["DefaultVersionId"], "AttachmentCount": attachment_count(store, d["Arn"]),
        "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
        "CreateDate": entities.timestamp(d["CreateDate"]), "UpdateDate": entities.timestamp(d["UpdateDate"])}
    if full and d["Description"]:
        out["Description"] = d["Description"]
    if full and d["Tags"]:
        out["Tags"] = d["Tags"]
    return out


def local(store: Store, arn: str) -> Record[IamPolicyData] | None:
    found = store.find_by_field(POLICY, entities.REGION, "Arn", arn)
    return found[0] if found else None


def local_or_fail(store: Store, arn: str) -> Record[IamPolicyData]:
    record = local(store, arn)
    if record is None:
        if documents.aws_managed(arn) is not None:
            raise errors.InvalidInput(f"Policy {arn} is an AWS managed policy: it cannot be changed.")
        raise errors.NoSuchEntity(f"Policy {arn} was not found.")
    return record


def create(backend: Backend, caller: Caller | None, req: dict[str, Any]) -> dict[str, Any]:
    name = entities.check_name(req["PolicyName"], "policyName", 128)
    path = entities.check_path(req.get("Path"))
    arn = entities.arn(backend.account_id, "policy", path, name)
    access.require(backend, caller, "iam:CreatePolicy", arn)
    document = documents.checked(req["PolicyDocument"], limit=documents.MANAGED_MAX)
    store = backend.store
    now = entities.now(store)
    with store.transaction():
        if entities.by_name(store, POLICY, "PolicyName", name) is not None:
            raise errors.EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.")
        record = store.insert(Record[IamPolicyData](
            id=ids.new_iam_id("policy"), type=POLICY, region=entities.REGION, state=AVAILABLE,
            data={"PolicyName": name, "Path": path, "Arn": arn, "Description": req.get("Description") or "",
                  "CreateDate": now, "UpdateDate": now, "DefaultVersionId": "v1", "NextVersion": 2,
                  "Versions": [{"VersionId": "v1", "Document": document, "CreateDate": now}],
                  "Tags": entities.merge_tags([], entities.check_tags(req.get("Tags")))}))
    return local_shape(store, record, full=True)


def get(backend: Backend, caller: Caller | None, arn: str) -> dict[str, Any]:
    access.require(backend, caller, "iam:GetPolicy", arn)
    record = local(backend.store, arn)
    if record is not None:
        return local_shape(backend.store, record, full=True)
    item = documents.aws_managed(arn)
    if item is None:
        raise errors.NoSuchEntity(f"Policy {arn} was not found.")
    return aws_shape(backend.store, item)


def version_shape(version: dict[str, Any], default: str) -> dict[str, Any]:
    created = version["CreateDate"]
    return {"Document": entities.url_encoded(version["Document"]), "VersionId": version["VersionId"],
            "IsDefaultVersion": version["VersionId"] == default,
            "CreateDate": entities.timestamp(created) if isinstance(created, float) else created}


def _versions(backend: Backend, arn: str) -> tuple[list[dict[str, Any]], str]:
    record = local(backend.store, arn)
    if record is not None:
        return [dict(v) for v in record.data["Versions"]], record.data["DefaultVersionId"]
    item = documents.aws_managed(arn)
    if item is None:
        raise errors.NoSuchEntity(f"Policy {arn} was not found.")
    return [{"VersionId": item.default_version_id, "Document": item.document_json,
             "CreateDate": _when(item.update_date)}], item.default_version_id


def get_version(backend: Backend, caller: Caller | None, arn: str, version_id: str) -> dict[str, Any]:
    access.require(backend, caller, "iam:GetPolicyVersion", arn)
    versions, default = _versions(backend, arn)
    found = next((v for v in versions if v["VersionId"] == version_id), None)
    if found is None:
        raise errors.NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
    return version_shape(found, default)


def list_versions(backend: Backend, caller: Caller | None, arn: str, marker: str | None,
                  max_items: int | None) -> dict[str, Any]:
    access.require(backend, caller, "iam:ListPolicyVersions", arn)
    versions, default = _versions(backend, arn)
    shaped = [version_shape(v, default) for v in sorted(versions, key=lambda v: -int(v["VersionId"][1:]))]
    return entities.page(shaped, marker, max_items, lambda v: f"{10**6 - int(v['VersionId'][1:]):07d}", "Versions")


def aws_all() -> tuple[ManagedPolicy, ...]:
    """Every AWS-managed policy ec2d ships."""
    return documents.aws_all()
