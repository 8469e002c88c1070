"""The store reads and state moves the runtime makes (and the services share): which ENIs an
instance has, its public IP, the VPC's gateway, and compare-and-swap moves along the lifecycle
tables. They live here, below the services, so the runtime never calls a service."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.lifecycle import (
    PROFILE_ASSOCIATION_SETTLES,
    AttachmentState,
    move_attachment,
    move_profile_association,
)
from orchestrator.domain.records import VolumeAttachment, VolumeData
from orchestrator.domain.states import VOLUME_TRANSITIONS, InstanceState, VolumeState, check_edge
from orchestrator.runtime.port import Model
from orchestrator.store.sqlite import Record, StateConflict, Store

log = logging.getLogger("ec2d.runtime")

INSTANCE, VOLUME, SNAPSHOT, IMAGE = "instance", "volume", "snapshot", "image"
VPC, SUBNET, SECURITY_GROUP, ENI = "vpc", "subnet", "security-group", "network-interface"
IGW, RTB, EIP = "internet-gateway", "route-table", "elastic-ip"
TERMINATED_VISIBLE_SECONDS = 3600  # a terminated instance stays in DescribeInstances this long
EIP_ASSOCIATION_KEYS = ("AssociationId", "InstanceId", "NetworkInterfaceId", "NetworkInterfaceOwnerId",
                        "PrivateIpAddress")
S = InstanceState


# ---------------------------------------------------------------------------------------------
# reads


def _eni_ids(instance: Record) -> list[str]:
    return [instance.data["NetworkInterfaceId"], *(instance.data.get("SecondaryEnis") or [])]


def attached_enis(store: Store, instance: Record) -> list[Record]:
    """Primary first, then the attached ones in device order."""
    return attached_enis_of(store, [instance])[instance.id]


def attached_enis_of(store: Store, instances: Sequence[Record]) -> dict[str, list[Record]]:
    """:func:`attached_enis` of each of ``instances``, read in a few queries (not one per ENI)."""
    found = {e.id: e for e in store.list(ENI, ids=[eni_id for r in instances for eni_id in _eni_ids(r)])}
    return {r.id: [found[i] for i in _eni_ids(r) if i in found] for r in instances}


def eip_of_instance(store: Store, instance: Record) -> Record | None:
    return next((e for e in store.list(EIP, instance.region)
                 if e.data.get("NetworkInterfaceId") == instance.data["NetworkInterfaceId"]), None)


def public_ip_of(store: Store, instance: Record) -> str | None:
    return public_ips_of(store, instance.region, [instance])[instance.id]


def public_ips_of(store: Store, region: str, instances: Sequence[Record]) -> dict[str, str | None]:
    """Each instance's public IPv4 address (of ``region``): its primary ENI's Elastic IP, else its
    automatic one (the region's addresses read once, not once per instance)."""
    eip_of_eni: dict[str, str] = {}
    for e in store.list(EIP, region):  # oldest first, as :func:`eip_of_instance` finds them
        eip_of_eni.setdefault(e.data.get("NetworkInterfaceId") or "", e.data["PublicIp"])
    return {r.id: eip_of_eni.get(r.data["NetworkInterfaceId"]) or r.data.get("AutoPublicIp") for r in instances}


def attached_igw(store: Store, region: str, vpc_id: str) -> Record | None:
    return next((g for g in store.list(IGW, region)
                 if any(a["VpcId"] == vpc_id for a in g.data["Attachments"])), None)


def subnets(store: Store, region: str, vpc_id: str | None = None) -> list[Record]:
    return [s for s in store.list(SUBNET, region) if vpc_id is None or s.data["VpcId"] == vpc_id]


def vpc_instances(store: Store, region: str, vpc_id: str) -> list[Record]:
    """The VPC's instances that still hold something (every state but ``terminated``)."""
    return [r for r in store.list_where(INSTANCE, region, "VpcId", vpc_id) if r.state != S.TERMINATED]


def attachment(volume: Record[VolumeData]) -> VolumeAttachment | None:
    atts = volume.data.get("Attachments") or []
    return atts[0] if atts else None


def root_device(store: Store, instance_id: str) -> str | None:
    inst = store.get(instance_id)
    return inst.data["RootDeviceName"] if inst else None


def images_using(store: Store, snapshot_id: str) -> list[str]:
    """AMIs (not deregistered) whose mappings list the snapshot."""
    rec = store.get(snapshot_id)
    region = rec.region if rec else None
    out = []
    for image in store.list(IMAGE, region):
        if image.state == "deregistered":
            continue
        for m in image.data.get("BlockDeviceMappings") or []:
            if (m.get("Ebs") or {}).get("SnapshotId") == snapshot_id:
                out.append(image.id)
    return out


# ---------------------------------------------------------------------------------------------
# writes


def move_instance(model: Model, record_id: str, current: InstanceState | Iterable[InstanceState],
                  target: InstanceState, changes: Mapping[str, Any] | None = None,
                  at: float | None = None) -> Record:
    """Move along an edge of the lifecycle table, compare-and-swap on the current state.

    Every move but the one into ``running`` revokes the instance's identity credentials (and its
    instance-role sessions, ``model.roles``): they stop
    working as soon as it stops or terminates, and a start issues new ones. The store opens and
    closes the instance's usage-ledger intervals in the same transaction (``at``: when the move
    really happened, if earlier than now, e.g. a domain found stopped after a restart).
    """
    sources = [current] if isinstance(current, InstanceState) else list(current)
    for src in sources:
        check_edge(src, target)
    data = dict(changes or {})
    data["StateTransitionReason"] = data.get("StateTransitionReason", "")
    record = model.store.transition(record_id, [str(s) for s in sources], str(target), data, at)
    if target != S.RUNNING:
        model.sessions.forget(record_id)
        if model.roles is not None:  # its instance-role sessions end with it too
            model.roles.revoke(record_id)
    return record


def move_volume(store: Store, volume_id: str, current: VolumeState | list[VolumeState], target: VolumeState,
                changes: Mapping[str, Any] | None = None) -> Record:
    """Compare-and-swap a volume along an edge of ``VOLUME_TRANSITIONS``."""
    sources = [current] if isinstance(current, VolumeState) else list(current)
    for src in sources:
        if target not in VOLUME_TRANSITIONS[src]:
            raise ValueError(f"illegal volume transition {src} -> {target}")
    return store.transition(volume_id, [str(s) for s in sources], str(target), changes)


def settle_association(store: Store, instance_id: str, association_id: str) -> Record | None:
    """Move one instance-profile association out of its transient state
    (``lifecycle.PROFILE_ASSOCIATION_SETTLES``); the instance record, None when it is gone."""
    def change(rec: Record) -> None:
        for entry in rec.data.get("IamInstanceProfileAssociations") or []:
            target = PROFILE_ASSOCIATION_SETTLES.get(entry["State"])
            if entry["AssociationId"] == association_id and target is not None:
                move_profile_association(entry, target)

    return mutate(store, instance_id, change)


def mutate(store: Store, record_id: str, change: Callable[[Record], None]) -> Record | None:
    """Read-modify-write ``record.data`` with retries (the runtime and requests update the same records)."""
    for _ in range(50):
        rec = store.get(record_id)
        if rec is None:
            return None
        change(rec)
        try:
            return store.update(rec)
        except StateConflict:
            continue
    raise errors.InternalError(f"{record_id} kept changing")


def attachment_to(volume: Record[VolumeData], instance_id: str) -> VolumeAttachment | None:
    """The volume's attachment to that instance (a Multi-Attach volume has one per instance)."""
    return next((a for a in volume.data.get("Attachments") or [] if a["InstanceId"] == instance_id), None)


def set_attachment_state(store: Store, volume_id: str, state: AttachmentState | str,
                         instance_id: str | None = None) -> None:
    """The volume's attachment to ``instance_id`` (every one when None) moves to ``state`` along
    ``lifecycle.ATTACHMENT``."""
    def change(rec: Record) -> None:
        for a in rec.data.get("Attachments") or []:
            if instance_id is None or a["InstanceId"] == instance_id:
                move_attachment(a, state)

    mutate(store, volume_id, change)


def drop_mapping(store: Store, instance_id: str, volume_id: str) -> None:
    def change(rec: Record) -> None:
        rec.data["BlockDeviceMappings"] = [m for m in rec.data["BlockDeviceMappings"] if m["VolumeId"] != volume_id]

    mutate(store, instance_id, change)


def finish_detach(store: Store, volume_id: str, instance_id: str) -> None:
    """The volume left the instance: out of its mappings and without that attachment; ``available``
    again once no instance holds it (a Multi-Attach volume stays ``in-use`` for the others)."""
    with store.transaction():
        drop_mapping(store, instance_id, volume_id)
        drop_attachment(store, volume_id, instance_id)


def drop_attachment(store: Store, volume_id: str, instance_id: str) -> None:
    """Remove the volume's attachment to ``instance_id``; the last one gone, ``in-use`` -> ``available``."""
    vol = store.get(volume_id)
    if vol is None:
        return
    rest = [a for a in vol.data.get("Attachments") or [] if a["InstanceId"] != instance_id]
    if not rest:
        move_volume(store, volume_id, VolumeState.IN_USE, VolumeState.AVAILABLE, {"Attachments": []})
        return

    def change(rec: Record) -> None:
        rec.data["Attachments"] = [a for a in rec.data["Attachments"] if a["InstanceId"] != instance_id]

    mutate(store, volume_id, change)


def clear_eip_association(eip: Record) -> None:
    for key in EIP_ASSOCIATION_KEYS:
        eip.data.pop(key, None)


def move_image(store: Store, image_id: str, current: str, target: str) -> bool:
    """Compare-and-swap an AMI's state; False when it was not ``current`` (nothing changed)."""
    try:
        store.transition(image_id, current, target)
    except StateConflict:
        return False
    return True


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------------------------
# record settlements (what the background work ends with)


def complete_snapshot(store: Store, snapshot_id: str, failure: str | None, usage: int | None = None) -> None:
    changes: dict[str, object] = {"Progress": "100%", "CompletionTime": now_iso()}
    if usage is not None:
        changes["FullSnapshotSizeInBytes"] = usage
    if failure:
        changes = {"StateMessage": failure, "Progress": "0%"}
    try:
        store.transition(snapshot_id, "pending", "error" if failure else "completed", changes)
    except StateConflict:
        log.warning("%s left pending before it completed", snapshot_id)


def complete_modification(store: Store, volume_id: str, failure: str | None = None) -> None:
    def change(r: Record) -> None:
        mod = r.data["Modification"]
        if failure:
            mod.update({"ModificationState": "failed", "StatusMessage": failure, "EndTime": now_iso()})
            return
        mod.update({"ModificationState": "completed", "Progress": 100, "EndTime": now_iso()})
        r.data.update({"Size": mod["TargetSize"], "VolumeType": mod["TargetVolumeType"],
                       "Iops": mod["TargetIops"], "Throughput": mod["TargetThroughput"],
                       "MultiAttachEnabled": bool(mod.get("TargetMultiAttachEnabled"))})

    mutate(store, volume_id, change)


def store_users(store: Store, snapshot_id: str) -> bool:
    """Users the layer files cannot show yet: volumes still being created from it."""
    return any(v.state == "creating" and v.data.get("SnapshotId") == snapshot_id for v in store.list(VOLUME))
