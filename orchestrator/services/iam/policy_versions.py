"""Changes to the account's managed policies: new versions (at most five), the default version,
deleting a version or the whole policy (only once it is attached to nothing), and ListPolicies."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import errors
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access, documents, entities, policies
from orchestrator.services.iam.entities import POLICY
from orchestrator.services.iam.policies import MAX_VERSIONS
from orchestrator.services.principals import Caller


def create_version(backend: Backend, caller: Caller | None, arn: str, document: str,
                   set_default: bool) -> dict[str, Any]:
    access.require(backend, caller, "iam:CreatePolicyVersion", arn)
    documents.checked(document, limit=documents.MANAGED_MAX)
    store = backend.store
    with store.transaction():
        record = policies.local_or_fail(store, arn)
        if len(record.data["Versions"]) >= MAX_VERSIONS:
            raise errors.LimitExceeded(f"A managed policy can have up to {MAX_VERSIONS} versions. Before you "
                                       "create a new version, you must delete an existing version.")
        now = entities.now(store)
        version_id = f"v{record.data['NextVersion']}"
        record.data["NextVersion"] += 1
        record.data["Versions"].append({"VersionId": version_id, "Document": document, "CreateDate": now})
        if set_default:
            record.data["DefaultVersionId"] = version_id
        record.data["UpdateDate"] = now
        store.update(record)
    return policies.version_shape(dict(record.data["Versions"][-1]), record.data["DefaultVersionId"])


def delete_version(backend: Backend, caller: Caller | None, arn: str, version_id: str) -> None:
    access.require(backend, caller, "iam:DeletePolicyVersion", arn)
    store = backend.store
    with store.transaction():
        record = policies.local_or_fail(store, arn)
        if not any(v["VersionId"] == version_id for v in record.data["Versions"]):
            raise errors.NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
        if record.data["DefaultVersionId"] == version_id:
            raise errors.DeleteConflict("Cannot delete the default version of a policy.")
        record.data["Versions"] = [v for v in record.data["Versions"] if v["VersionId"] != version_id]
        store.update(record)


def set_default(backend: Backend, caller: Caller | None, arn: str, version_id: str) -> None:
    access.require(backend, caller, "iam:SetDefaultPolicyVersion", arn)
    store = backend.store
    with store.transaction():
        record = policies.local_or_fail(store, arn)
        if not any(v["VersionId"] == version_id for v in record.data["Versions"]):
            raise errors.NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
        record.data["DefaultVersionId"] = version_id
        record.data["UpdateDate"] = entities.now(store)
        store.update(record)


def delete(backend: Backend, caller: Caller | None, arn: str) -> None:
    access.require(backend, caller, "iam:DeletePolicy", arn)
    store = backend.store
    with store.transaction():
        record = policies.local_or_fail(store, arn)
        if policies.attachment_count(store, arn):
            raise errors.DeleteConflict("Cannot delete a policy attached to entities.")
        if len(record.data["Versions"]) > 1:
            raise errors.DeleteConflict("This policy has more than one version. Before you delete a policy, you "
                                        "must delete the policy's versions. The default version is deleted with "
                                        "the policy.")
        store.delete(record.id)


def listing(backend: Backend, caller: Caller | None, req: dict[str, Any]) -> dict[str, Any]:
    """ListPolicies: ``Scope`` All (default), AWS or Local; ``OnlyAttached``; ``PathPrefix``."""
    access.require(backend, caller, "iam:ListPolicies", f"arn:aws:iam::{backend.account_id}:policy/")
    scope = req.get("Scope") or "All"
    store = backend.store
    found: list[dict[str, Any]] = []
    if scope in ("All", "AWS"):
        found += [policies.aws_shape(store, item) for item in policies.aws_all()]
    if scope in ("All", "Local"):
        found += [policies.local_shape(store, r) for r in store.list(POLICY, entities.REGION)]
    prefix = req.get("PathPrefix")
    found = [p for p in found if (prefix is None or p["Path"].startswith(prefix))
             and (not req.get("OnlyAttached") or p["AttachmentCount"] > 0)]
    if req.get("PolicyUsageFilter") == "PermissionsBoundary":
        found = []  # ec2d uses no policy as a permissions boundary
    found.sort(key=lambda p: (p["PolicyName"].lower(), p["Arn"]))
    return entities.page(found, req.get("Marker"), req.get("MaxItems"),
                         lambda p: f"{p['PolicyName'].lower()}\0{p['Arn']}", "Policies")
