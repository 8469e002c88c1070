"""IAM instance profiles on EC2 instances: RunInstances' ``IamInstanceProfile``,
``Instance.IamInstanceProfile``, and Associate / Describe / Replace / DisassociateIamInstanceProfile.

An instance keeps its associations in its record (``IamInstanceProfileAssociations``, newest last);
each moves along ``lifecycle.PROFILE_ASSOCIATION``: born ``associating``, settled to ``associated``
by the runtime's background job (``RuntimePort.settle_profile_association``, which then syncs the
VPC's metadata so ``iam/`` appears), ``disassociating`` -> ``disassociated`` likewise. At most one
association is ``associating``/``associated``: that profile is the instance's. Removing or replacing
it revokes the instance's role sessions at once (``instance_roles``).

Launching or associating with a role needs ``iam:PassRole`` on it (``authorize.require_pass_role``:
the root key and in-process calls may pass any role), checked where the profile is resolved; the API
edge checks it before a DryRun answers, from the same rule.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.lifecycle import PROFILE_ATTACHED, ProfileAssociationState, move_profile_association
from orchestrator.domain.records import IAM_INSTANCE_PROFILE, IAM_ROLE, ProfileAssociation
from orchestrator.domain.states import InstanceState
from orchestrator.services import lookup
from orchestrator.services.backend import Backend
from orchestrator.services.iam import authorize, entities
from orchestrator.services.instance_roles import current_association
from orchestrator.services.principals import Caller
from orchestrator.store.sqlite import Record

GONE = (str(InstanceState.SHUTTING_DOWN), str(InstanceState.TERMINATED))


def new_association_id() -> str:
    return "iip-assoc-" + secrets.token_hex(9)[:17]


def _invalid(spec: Mapping[str, Any]) -> errors.InvalidParameterValue:
    if spec.get("Arn"):
        return errors.InvalidParameterValue.for_param("iamInstanceProfile.arn", spec["Arn"],
                                                      "Invalid IAM Instance Profile ARN")
    return errors.InvalidParameterValue.for_param("iamInstanceProfile.name", spec.get("Name"),
                                                  "Invalid IAM Instance Profile name")


def resolve(backend: Backend, spec: Mapping[str, Any] | None, caller: Caller | None = None) -> Record | None:
    """The instance profile an ``IamInstanceProfileSpecification`` ({Arn | Name}) names, with a role
    the caller may pass; None for no spec. EC2's InvalidParameterValue for an unknown profile or
    one without a role (EC2 cannot launch with it)."""
    if not spec or not (spec.get("Arn") or spec.get("Name")):
        if spec:
            raise errors.InvalidParameterValue("An IAM instance profile ARN or name must be specified.")
        return None
    store = backend.store
    if spec.get("Arn"):
        profile = next((p for p in store.list(IAM_INSTANCE_PROFILE, entities.REGION)
                        if p.data["Arn"] == spec["Arn"]), None)
        if profile is not None and spec.get("Name") and profile.data["InstanceProfileName"] != spec["Name"]:
            profile = None
    else:
        profile = entities.by_name(store, IAM_INSTANCE_PROFILE, "InstanceProfileName", spec["Name"])
    role = store.get(profile.data["RoleIds"][0], IAM_ROLE) if profile is not None and profile.data["RoleIds"] else None
    if profile is None or role is None:
        raise _invalid(spec)
    authorize.require_pass_role(backend, caller, role.data["Arn"])
    return profile


def new_association(profile: Record) -> ProfileAssociation:
    """A new association with ``profile``, ``associating``."""
    return {"AssociationId": new_association_id(), "Arn": profile.data["Arn"], "Id": profile.id,
            "State": str(ProfileAssociationState.ASSOCIATING), "Timestamp": _now_iso()}


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def of_instance(instance: Record) -> dict[str, str] | None:
    """``Instance.IamInstanceProfile`` ({Arn, Id}) while a profile is associated, else None."""
    entry = current_association(instance)
    return {"Arn": entry["Arn"], "Id": entry["Id"]} if entry is not None else None


def shape(instance: Record, entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"AssociationId": entry["AssociationId"], "InstanceId": instance.id,
            "IamInstanceProfile": {"Arn": entry["Arn"], "Id": entry["Id"]}, "State": entry["State"],
            "Timestamp": entry["Timestamp"]}


def _find(backend: Backend, region: str, association_id: str) -> tuple[Record, dict]:
    for instance in backend.store.list("instance", region):
        for entry in instance.data.get("IamInstanceProfileAssociations") or []:
            if entry["AssociationId"] == association_id and instance.state != str(InstanceState.TERMINATED):
                return instance, entry
    raise errors.NotFound("InvalidAssociationID.NotFound", f"An invalid association-id of '{association_id}' was given")


def _save(backend: Backend, instance: Record) -> Record:
    return backend.store.update(instance)


def associate(backend: Backend, region: str, req: Mapping[str, Any], caller: Caller | None = None) -> dict[str, Any]:
    """AssociateIamInstanceProfile: a new ``associating`` association (IncorrectState when the
    instance already has one)."""
    with backend.store.transaction():
        instance = lookup.instance(backend, region, req["InstanceId"])
        if instance.state in GONE:
            raise errors.IncorrectInstanceState(f"The instance '{instance.id}' is not in a valid state for this "
                                                "operation.")
        if current_association(instance) is not None:
            raise errors.IncorrectState(f"There is an existing association for instance {instance.id}")
        profile = resolve(backend, req.get("IamInstanceProfile"), caller)
        assert profile is not None
        entry = new_association(profile)
        instance.data.setdefault("IamInstanceProfileAssociations", []).append(entry)
        _save(backend, instance)
    backend.runtime.settle_profile_association(instance.id, entry["AssociationId"])
    return {"IamInstanceProfileAssociation": shape(instance, entry)}


def _detach(entry: dict) -> None:
    """Move ``entry`` to ``disassociating`` (the caller saves the record and revokes the sessions)."""
    if entry["State"] not in PROFILE_ATTACHED:
        raise errors.IncorrectState(f"The association {entry['AssociationId']} is not associated.")
    move_profile_association(entry, ProfileAssociationState.DISASSOCIATING)


def disassociate(backend: Backend, region: str, association_id: str) -> dict[str, Any]:
    with backend.store.transaction():
        instance, entry = _find(backend, region, association_id)
        _detach(entry)
        _save(backend, instance)
        if backend.roles is not None:
            backend.roles.revoke(instance.id)
    backend.runtime.settle_profile_association(instance.id, association_id)
    return {"IamInstanceProfileAssociation": shape(instance, entry)}


def replace(backend: Backend, region: str, req: Mapping[str, Any], caller: Caller | None = None) -> dict[str, Any]:
    """ReplaceIamInstanceProfileAssociation: the old association goes, a new one (new id,
    ``associating``) takes its place; the old role's sessions are revoked."""
    with backend.store.transaction():
        instance, old = _find(backend, region, req["AssociationId"])
        profile = resolve(backend, req.get("IamInstanceProfile"), caller)
        assert profile is not None
        _detach(old)
        entry = new_association(profile)
        instance.data["IamInstanceProfileAssociations"].append(entry)
        _save(backend, instance)
        if backend.roles is not None:
            backend.roles.revoke(instance.id)
    backend.runtime.settle_profile_association(instance.id, old["AssociationId"])
    backend.runtime.settle_profile_association(instance.id, entry["AssociationId"])
    return {"IamInstanceProfileAssociation": shape(instance, entry)}


def describe(backend: Backend, region: str, association_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """Every association of the region's instances (terminated ones' are gone), or the named ones
    (InvalidAssociationID.NotFound for an unknown one)."""
    items = [shape(i, e) for i in backend.store.list("instance", region) if i.state != str(InstanceState.TERMINATED)
             for e in i.data.get("IamInstanceProfileAssociations") or []]
    if association_ids:
        known = {item["AssociationId"]: item for item in items}
        for wanted in association_ids:
            if wanted not in known:
                raise errors.NotFound("InvalidAssociationID.NotFound",
                                      f"An invalid association-id of '{wanted}' was given")
        items = [known[a] for a in dict.fromkeys(association_ids)]
    return items
