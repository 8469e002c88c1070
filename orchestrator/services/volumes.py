"""EBS volumes, the API side: CreateVolume, DeleteVolume, AttachVolume,
DetachVolume, ModifyVolume, DescribeVolumesModifications, DescribeVolumeStatus.

Volumes are zone-scoped qcow2 files; a volume made from a snapshot is an O(1) overlay on the
snapshot's layer (snapshot id == layer id). The request validates and moves the record along
``VOLUME_TRANSITIONS`` at once (``creating``, ``attaching``, ``detaching``, ``deleting``), as EC2
answers, and hands the slow part (files, hot-plug) to the runtime port (``backend.runtime``,
background work in ``orchestrator/runtime/ebs.py``, on the fake drivers in API-only mode too).

An attached volume is an entry of the instance's ``BlockDeviceMappings`` (what the runtime
designs the domain from at every start), so attaching to a stopped instance only records it, and
a running instance gets the disk hot-plugged as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids, multi_attach
from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.lifecycle import AttachmentState, SnapshotState
from orchestrator.domain.narrowing import Narrowing
from orchestrator.domain.records import InstanceData, VolumeAttachment, VolumeData, VolumeModification
from orchestrator.domain.states import InstanceState, VolumeState
from orchestrator.domain.volume_types import (
    IOPS_LIMITS,
    SIZE_LIMITS,
    check_size,
    check_type_and_size,
    performance,
)
from orchestrator.drivers.compute.designer import ec2_device_to_target
from orchestrator.runtime import records
from orchestrator.services import capacity, ebs_encryption, lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record, StateConflict

VOLUME = "volume"
SNAPSHOT = "snapshot"
GIB = 1024**3
V = VolumeState

# Not ``pending``: a first launch that fails deletes every volume in the instance's mappings.
ATTACHABLE_STATES = (InstanceState.RUNNING, InstanceState.STOPPED)
DEVICE_PATTERN = r"^/dev/(sd[b-z]|xvd[b-z]|xvd[a-z][a-z]|sd[a-z][0-9]{0,2})$"


now_iso = records.now_iso


# ---------------------------------------------------------------------------------------------
# record helpers shared with snapshots and user images


def mutate(backend: Backend, record_id: str, change: Callable[[Record], None]) -> Record | None:
    """Read-modify-write ``record.data`` with retries (the runtime updates the same records)."""
    return records.mutate(backend.store, record_id, change)


def move(backend: Backend, volume_id: str, current: VolumeState | list[VolumeState], target: VolumeState,
         changes: Mapping[str, Any] | None = None) -> Record:
    """Compare-and-swap a volume along an edge of ``VOLUME_TRANSITIONS``."""
    return records.move_volume(backend.store, volume_id, current, target, changes)


def target_of(device: str) -> str:
    return ec2_device_to_target(device)


# ---------------------------------------------------------------------------------------------
# lookups


def get(backend: Backend, region: str, volume_id: str) -> Record[VolumeData]:
    return lookup.volume(backend, region, volume_id)


def attachment(rec: Record[VolumeData]) -> VolumeAttachment | None:
    return records.attachment(rec)


def new_volume(backend: Backend, region: str, zone: str, size: int, vtype: str, iops: int | None,
               throughput: int | None, snapshot_id: str | None, tags: Mapping[str, str], *,
               attached: Mapping[str, Any] | None = None, client_token: str | None = None,
               encryption: Mapping[str, Any] | None = None, multi_attach: bool = False) -> Record[VolumeData]:
    """Insert a new volume record (call inside a store transaction): ``creating`` for CreateVolume,
    or ``in-use`` and ``attaching`` to ``attached["InstanceId"]`` at ``attached["Device"]`` (with its
    ``DeleteOnTermination``) for the volumes RunInstances makes; ``encryption`` from
    ``ebs_encryption.for_volume``. The one place a volume is born."""
    data: VolumeData = {
        "Size": size, "AvailabilityZone": zone, "VolumeType": vtype, "Iops": iops, "Throughput": throughput,
        "SnapshotId": snapshot_id or "", "CreateTime": now_iso(), "Encrypted": False,
        "MultiAttachEnabled": multi_attach, "Attachments": [],
    }
    data.update(encryption or {})  # type: ignore[typeddict-item]
    state = V.CREATING
    if attached is not None:
        state = V.IN_USE
        data["Attachments"] = [{"InstanceId": attached["InstanceId"], "Device": attached["Device"],
                                "State": str(AttachmentState.ATTACHING), "AttachTime": now_iso(),
                                "DeleteOnTermination": bool(attached["DeleteOnTermination"])}]
    if client_token is not None:
        data["ClientToken"] = client_token
    record = Record[VolumeData](id=ids.new_id("vol"), type=VOLUME, region=region, state=str(state), data=data)
    backend.store.insert(record, dict(tags))
    return record


def _zone(backend: Backend, region: str, zone: str | None) -> str:
    if not zone:
        raise errors.MissingParameter("AvailabilityZone")
    info = backend.regions.get(region)
    if info is None or info.zone(zone) is None:
        raise errors.InvalidParameterValue(f"Invalid availability zone: [{zone}]")
    return zone


# ---------------------------------------------------------------------------------------------
# CreateVolume / DeleteVolume


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[VolumeData]:
    zone = _zone(backend, region, req.get("AvailabilityZone"))
    vtype = req.get("VolumeType") or "gp2"
    snap = None
    if req.get("SnapshotId"):
        snap = lookup.snapshot(backend, region, req["SnapshotId"])
        if snap.state != SnapshotState.COMPLETED:
            raise errors.IncorrectState(f"Snapshot '{snap.id}' is in state '{snap.state}'; wait until it is completed.")
    size = req.get("Size")
    if size is None:
        if snap is None:
            raise errors.MissingParameter("size")
        size = int(snap.data["VolumeSize"])
    size = int(size)
    check_type_and_size(vtype, size)
    if snap is not None and size < int(snap.data["VolumeSize"]):
        raise errors.InvalidParameterValue(
            f"Volume of {size}GiB is too small; minimum is {snap.data['VolumeSize']}GiB")
    iops, throughput = performance(vtype, size, req.get("Iops"), req.get("Throughput"))
    ebs_encryption.check_dependency(req)
    volume_tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "volume")
    token = req.get("ClientToken")
    if token:
        for r in backend.store.list_where(VOLUME, region, "ClientToken", token):
            return r
    shared = bool(req.get("MultiAttachEnabled"))
    if shared:
        multi_attach.check_create(vtype, bool(req.get("Encrypted") or (snap and snap.data.get("Encrypted"))
                                              or ebs_encryption.by_default(backend, region)))
    encryption = ebs_encryption.for_volume(backend, region, req.get("Encrypted"), req.get("KmsKeyId"), snap)
    with backend.store.transaction():
        capacity.admit_volumes(backend, [size], f"a {size} GiB volume")
        record = new_volume(backend, region, zone, size, vtype, iops, throughput, snap.id if snap else None,
                            volume_tags, client_token=token or "", encryption=encryption, multi_attach=shared)
    backend.runtime.create_volume(record.id)
    return backend.store.get(record.id) or record


def delete(backend: Backend, region: str, volume_id: str) -> None:
    rec = get(backend, region, volume_id)
    att = attachment(rec)
    if rec.state == V.IN_USE or att:
        iid = att["InstanceId"] if att else "an instance"
        raise errors.ApiError(f"Volume {volume_id} is currently attached to {iid}", code="VolumeInUse")
    if rec.state not in (V.AVAILABLE, V.ERROR):
        raise errors.IncorrectState(f"The volume '{volume_id}' is '{rec.state}'.")
    try:
        move(backend, volume_id, [V(rec.state)], V.DELETING)
    except StateConflict:
        raise errors.ApiError(f"Volume {volume_id} is currently attached to an instance",
                              code="VolumeInUse") from None
    backend.runtime.delete_volume(volume_id)


# ---------------------------------------------------------------------------------------------
# AttachVolume / DetachVolume


def _attachment_out(volume_id: str, att: Mapping[str, Any]) -> dict[str, Any]:
    return {"VolumeId": volume_id, "InstanceId": att["InstanceId"], "Device": att["Device"],
            "State": att["State"], "AttachTime": att["AttachTime"],
            "DeleteOnTermination": att.get("DeleteOnTermination", False)}


def attach(backend: Backend, region: str, volume_id: str, instance_id: str, device: str) -> dict[str, Any]:
    vol = get(backend, region, volume_id)
    inst = lookup.instance(backend, region, instance_id)
    if not device or not re.match(DEVICE_PATTERN, device):
        raise errors.InvalidParameterValue(f"Value ({device}) for parameter device is invalid. "
                                           f"{device} is not a valid EBS device name.")
    if vol.data["AvailabilityZone"] != inst.data["AvailabilityZone"]:
        raise errors.ApiError(
            f"The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'",
            code="InvalidVolume.ZoneMismatch")
    shared = bool(vol.data.get("MultiAttachEnabled"))
    if shared:
        itype = catalogue.get(inst.data["InstanceType"])
        multi_attach.check_instance(volume_id, inst.data["InstanceType"], itype is None or itype.nitro)
    if shared and vol.state == V.IN_USE:
        multi_attach.check_attach(volume_id, instance_id, vol.data["Attachments"])
    elif vol.state == V.IN_USE or attachment(vol):
        raise errors.ApiError(f"{volume_id} is already attached to an instance", code="VolumeInUse")
    elif vol.state != V.AVAILABLE:
        raise errors.IncorrectState(f"The volume '{volume_id}' is not 'available'.")
    if inst.state not in ATTACHABLE_STATES:
        raise errors.IncorrectState(f"Instance '{instance_id}' is not 'running' or 'stopped'.")
    target = target_of(device)
    for m in inst.data["BlockDeviceMappings"]:
        if m["DeviceName"] == device or target_of(m["DeviceName"]) == target:
            raise errors.InvalidParameterValue(f"Attachment point {device} is already in use")
    att: VolumeAttachment = {"InstanceId": instance_id, "Device": device, "State": str(AttachmentState.ATTACHING),
                             "AttachTime": now_iso(), "DeleteOnTermination": False}
    with backend.store.transaction():
        _record_attachment(backend, volume_id, att, shared)

        def add(rec: Record[InstanceData]) -> None:
            rec.data["BlockDeviceMappings"].append(
                {"DeviceName": device, "VolumeId": volume_id, "DeleteOnTermination": False})

        mutate(backend, instance_id, add)
    backend.runtime.attach_volume(volume_id, instance_id, device)
    current = backend.store.get(volume_id)
    now = records.attachment_to(current, instance_id) if current else None  # as the store has it now
    if now is not None:
        att["State"] = now["State"]
    return _attachment_out(volume_id, att)


def _record_attachment(backend: Backend, volume_id: str, att: VolumeAttachment, shared: bool) -> None:
    """The volume's new attachment (in the caller's transaction): ``available`` -> ``in-use``, or
    one more attachment of an ``in-use`` Multi-Attach volume."""
    try:
        move(backend, volume_id, V.AVAILABLE, V.IN_USE, {"Attachments": [att]})
        return
    except StateConflict:
        if not shared:
            raise errors.ApiError(f"{volume_id} is already attached to an instance", code="VolumeInUse") from None

    def add(rec: Record[VolumeData]) -> None:
        if rec.state != V.IN_USE:
            raise errors.IncorrectState(f"The volume '{volume_id}' is '{rec.state}'.")
        multi_attach.check_attach(volume_id, att["InstanceId"], rec.data["Attachments"])
        rec.data["Attachments"].append(att)

    mutate(backend, volume_id, add)


def detach(backend: Backend, region: str, req: Mapping[str, Any]) -> dict[str, Any]:
    volume_id = req["VolumeId"]
    vol = get(backend, region, volume_id)
    att = attachment(vol)
    if att is None or vol.state != V.IN_USE:
        raise errors.IncorrectState(f"Volume '{volume_id}' is in the '{vol.state}' state.")
    if req.get("InstanceId"):
        att = records.attachment_to(vol, req["InstanceId"])
        if att is None:
            raise errors.ApiError(f"Volume '{volume_id}' is not attached to instance '{req['InstanceId']}'",
                                  code="IncorrectState")
    elif len(vol.data["Attachments"]) > 1:  # a Multi-Attach volume: which one must be said
        raise errors.MissingParameter("InstanceId")
    if req.get("Device") and req["Device"] != att["Device"]:
        raise errors.InvalidParameterValue(f"Volume '{volume_id}' is not attached at '{req['Device']}'")
    inst = backend.store.get(att["InstanceId"])
    if inst is not None and inst.data["BlockDeviceMappings"] and \
            inst.data["BlockDeviceMappings"][0]["VolumeId"] == volume_id:
        raise errors.ApiError(f"Unable to detach root volume '{volume_id}' from instance '{inst.id}'",
                              code="OperationNotPermitted")
    if att["State"] == AttachmentState.DETACHING:
        return _attachment_out(volume_id, att)
    records.set_attachment_state(backend.store, volume_id, str(AttachmentState.DETACHING), att["InstanceId"])
    att = {**att, "State": str(AttachmentState.DETACHING)}  # what the answer shows; the store has it too
    backend.runtime.detach_volume(volume_id, att["InstanceId"], att["Device"], bool(req.get("Force")))
    return _attachment_out(volume_id, att)


# ---------------------------------------------------------------------------------------------
# ModifyVolume / DescribeVolumesModifications / DescribeVolumeStatus


def modify(backend: Backend, region: str, req: Mapping[str, Any]) -> dict[str, Any]:
    volume_id = req["VolumeId"]
    vol = get(backend, region, volume_id)
    d = vol.data
    if vol.state not in (V.AVAILABLE, V.IN_USE):
        raise errors.IncorrectState(f"The volume '{volume_id}' is '{vol.state}'.")
    current = d.get("Modification")
    if current and current["ModificationState"] in ("modifying", "optimizing"):
        raise errors.ApiError(f"Volume {volume_id} is already being modified.", code="IncorrectModificationState")
    size = int(req["Size"]) if req.get("Size") is not None else int(d["Size"])
    vtype = req.get("VolumeType") or d["VolumeType"]
    if size < int(d["Size"]):
        raise errors.InvalidParameterValue(
            f"New size cannot be smaller than existing size of {d['Size']}GiB for volume {volume_id}")
    iops_req = req.get("Iops")
    tp_req = req.get("Throughput")
    if vtype == d["VolumeType"] and vtype in IOPS_LIMITS and iops_req is None:
        iops_req = d.get("Iops")
    if vtype == "gp3" and d["VolumeType"] == "gp3" and tp_req is None:
        tp_req = d.get("Throughput")
    if vtype in SIZE_LIMITS:
        check_size(vtype, size)
    iops, throughput = performance(vtype, size, iops_req, tp_req)
    same = (size, vtype, iops, throughput) == (int(d["Size"]), d["VolumeType"], d.get("Iops"), d.get("Throughput"))
    was_shared = bool(d.get("MultiAttachEnabled"))
    shared = multi_attach.check_modify(volume_id, d, vtype, req.get("MultiAttachEnabled"),
                                       vol.state == V.IN_USE, not same)
    if same and shared == was_shared:
        raise errors.InvalidParameterValue(
            f"Modification for volume {volume_id} has no changes from its current configuration")
    if size > int(d["Size"]):
        capacity.admit_volumes(backend, [size], f"growing {volume_id} to {size} GiB", exclude=[volume_id])
    mod: VolumeModification = {"VolumeId": volume_id, "ModificationState": "modifying", "TargetSize": size,
                                "TargetIops": iops, "TargetVolumeType": vtype, "TargetThroughput": throughput,
                                "TargetMultiAttachEnabled": shared, "OriginalSize": int(d["Size"]),
                                "OriginalIops": d.get("Iops"), "OriginalVolumeType": d["VolumeType"],
                                "OriginalThroughput": d.get("Throughput"), "OriginalMultiAttachEnabled": was_shared,
                                "Progress": 0, "StartTime": now_iso()}

    def start(rec: Record[VolumeData]) -> None:
        rec.data["Modification"] = mod

    mutate(backend, volume_id, start)
    backend.runtime.modify_volume(volume_id)
    return dict((backend.store.get(volume_id) or vol).data["Modification"])


def modifications(backend: Backend, region: str, volume_ids: list[str] | None) -> list[dict[str, Any]]:
    if volume_ids:
        recs = [get(backend, region, v) for v in volume_ids]
    else:
        recs = backend.store.list(VOLUME, region)
    return [dict(r.data["Modification"]) for r in recs if r.data.get("Modification")]


def status(backend: Backend, region: str, volume_ids: list[str] | None) -> list[dict[str, Any]]:
    recs = [get(backend, region, v) for v in volume_ids] if volume_ids else backend.store.list(VOLUME, region)
    out = []
    for r in recs:
        ok = r.state in (V.AVAILABLE, V.IN_USE)
        zone = backend.regions.zone(r.data["AvailabilityZone"])
        out.append({
            "VolumeId": r.id, "AvailabilityZone": r.data["AvailabilityZone"],
            "AvailabilityZoneId": zone.zone_id if zone else None,
            "VolumeStatus": {"Status": "ok" if ok else "insufficient-data", "Details": [
                {"Name": "io-enabled", "Status": "passed" if ok else "not-applicable"},
                {"Name": "io-performance", "Status": "not-applicable"}]},
            "Actions": [], "Events": [],
            "AttachmentStatuses": [{"InstanceId": a["InstanceId"], "IoPerformance": "normal"}
                                   for a in r.data.get("Attachments") or []],
        })
    return out


# ---------------------------------------------------------------------------------------------
# DescribeVolumes


def create_shown(backend: Backend, region: str, req: Mapping[str, Any]) -> dict[str, Any]:
    """CreateVolume's answer: the new volume as DescribeVolumes shows it (its tags read back),
    with its zone's id."""
    record = create(backend, region, req)
    out = describe_volume(record, tag_service.of(backend, record.id))
    zone = backend.regions.zone(record.data["AvailabilityZone"])
    out["AvailabilityZoneId"] = zone.zone_id if zone else None
    return out


def describe_volume(record: Record[VolumeData], tags: Mapping[str, str]) -> dict[str, Any]:
    d = record.data
    return {
        "VolumeId": record.id, "State": record.state, "Size": d["Size"], "AvailabilityZone": d["AvailabilityZone"],
        "VolumeType": d["VolumeType"], "Iops": d.get("Iops"), "Throughput": d.get("Throughput"),
        "SnapshotId": d.get("SnapshotId") or "", "CreateTime": d["CreateTime"], **ebs_encryption.shown(d),
        "MultiAttachEnabled": d.get("MultiAttachEnabled", False),
        "Attachments": [{**a, "VolumeId": record.id} for a in d.get("Attachments") or []],
        **tag_service.tags_member(tags),
    }


def describe_volumes(backend: Backend, region: str, volume_ids: Sequence[str] | None,
                     narrow: Narrowing | None = None) -> list[dict[str, Any]]:
    """DescribeVolumes' items (the named ones, which are all looked up: an unknown one is NotFound;
    else every one, of those ``narrow`` keeps: only those its filters may keep)."""
    narrow = None if volume_ids else narrow
    records = [r for r in backend.store.list(VOLUME, region, narrow=narrow) if r.state != V.DELETED]
    return tag_service.rendered(backend, region, VOLUME, lookup.select(records, volume_ids, "vol"), describe_volume)
