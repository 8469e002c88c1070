"""EBS volumes, the API side: CreateVolume, DeleteVolume, AttachVolume,
DetachVolume, ModifyVolume, DescribeVolumesModifications, DescribeVolumeStatus.

Volumes are zone-scoped qcow2 files; a volume made from a snapshot is an O(1) overlay on the
snapshot's layer (snapshot id == layer id). The request validates and moves the record along
``VOLUME_TRANSITIONS`` at once (``creating``, ``attaching``, ``detaching``, ``deleting``), as EC2
answers, and hands the slow part (files, hot-plug) to the runtime port (``backend.runtime``,
background work in ``orchestrator/runtime/ebs.py``); in API-only mode the records settle at once.

An attached volume is an entry of the instance's ``BlockDeviceMappings`` (what the runtime
designs the domain from at every start), so attaching to a stopped instance only records it, and
a running instance gets the disk hot-plugged as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.states import InstanceState, VolumeState
from orchestrator.drivers.compute.designer import ec2_device_to_target
from orchestrator.runtime import records
from orchestrator.services import capacity, instances
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record, StateConflict

VOLUME = "volume"
SNAPSHOT = "snapshot"
GIB = 1024**3
V = VolumeState

# (min GiB, max GiB) per volume type, as botocore's EC2 model documents them (CreateVolume Size,
# ModifyVolume Size, EbsBlockDevice VolumeSize; gp3 grew to 64 TiB in 2025)
SIZE_LIMITS: dict[str, tuple[int, int]] = {
    "gp2": (1, 16384), "gp3": (1, 65536), "io1": (4, 16384), "io2": (4, 65536),
    "st1": (125, 16384), "sc1": (125, 16384), "standard": (1, 1024),
}
# (min, max, max per GiB) provisioned IOPS for the types that take them (botocore CreateVolume Iops)
IOPS_LIMITS: dict[str, tuple[int, int, int]] = {
    "gp3": (3000, 80000, 500), "io1": (100, 64000, 50), "io2": (100, 256000, 1000),
}
GP3_THROUGHPUT = (125, 2000)  # MiB/s
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


def get(backend: Backend, region: str, volume_id: str) -> Record:
    ids.check(volume_id, "vol")
    rec = backend.store.get(volume_id, VOLUME)
    if rec is None or rec.region != region or rec.state in (V.DELETED,):
        raise ids.KINDS["vol"].not_found_error(volume_id)
    return rec


def attachment(rec: Record) -> dict[str, Any] | None:
    return records.attachment(rec)


def _zone(backend: Backend, region: str, zone: str | None) -> str:
    if not zone:
        raise errors.MissingParameter("AvailabilityZone")
    info = backend.regions.get(region)
    if info is None or info.zone(zone) is None:
        raise errors.InvalidParameterValue(f"Invalid availability zone: [{zone}]")
    return zone


def check_size(vtype: str, size: int) -> None:
    """EC2's bounds and messages for a volume size (CreateVolume, ModifyVolume, RunInstances)."""
    low, high = SIZE_LIMITS[vtype]
    if size > high:
        raise errors.InvalidParameterValue(
            f"Volume of {size}GiB is too large for volume type {vtype}; maximum is {high}GiB")
    if size < low:
        raise errors.InvalidParameterValue(
            f"The volume size is invalid for {vtype} volumes: {size} GiB. {vtype} volumes must be at least "
            f"{low} GiB in size. Please specify a volume size above the minimum limit.")


def performance(vtype: str, size: int, iops: int | None, throughput: int | None) -> tuple[int | None, int | None]:
    """(Iops, Throughput) the volume gets; raises EC2's errors for values the type does not take."""
    if vtype not in SIZE_LIMITS:
        raise errors.InvalidParameterValue(
            f"Value ({vtype}) for parameter volumeType is invalid. Valid values: "
            f"{', '.join(sorted(SIZE_LIMITS))}")
    if iops is not None and vtype not in IOPS_LIMITS:
        raise errors.InvalidParameterCombination(f"The parameter iops is not supported for {vtype} volumes.")
    if throughput is not None and vtype != "gp3":
        raise errors.InvalidParameterCombination(
            f"The parameter throughput is not supported for {vtype} volumes.")
    if vtype in ("io1", "io2") and iops is None:
        raise errors.MissingParameter("iops")
    if vtype in IOPS_LIMITS:
        low, high, per_gib = IOPS_LIMITS[vtype]
        value = 3000 if iops is None else int(iops)
        if not low <= value <= high:
            raise errors.InvalidParameterValue(
                f"Volume iops of {value} is out of range for volume type {vtype}: [{low}, {high}]")
        if vtype != "gp3" and value > per_gib * size:
            raise errors.InvalidParameterValue(
                f"Iops to volume size ratio of {value / size:.1f} is too high; maximum is {per_gib}")
        tp = None
        if vtype == "gp3":
            tp = GP3_THROUGHPUT[0] if throughput is None else int(throughput)
            if not GP3_THROUGHPUT[0] <= tp <= GP3_THROUGHPUT[1]:
                raise errors.InvalidParameterValue(
                    f"Throughput of {tp}MiB/s is out of range for volume type gp3: "
                    f"[{GP3_THROUGHPUT[0]}, {GP3_THROUGHPUT[1]}]")
        return value, tp
    if vtype == "gp2":
        return max(100, min(16000, 3 * size)), None
    return None, None


# ---------------------------------------------------------------------------------------------
# CreateVolume / DeleteVolume


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    from orchestrator.services import snapshots

    zone = _zone(backend, region, req.get("AvailabilityZone"))
    vtype = req.get("VolumeType") or "gp2"
    snap = None
    if req.get("SnapshotId"):
        snap = snapshots.get(backend, region, req["SnapshotId"])
        if snap.state != "completed":
            raise errors.IncorrectState(f"Snapshot '{snap.id}' is in state '{snap.state}'; wait until it is completed.")
    size = req.get("Size")
    if size is None:
        if snap is None:
            raise errors.MissingParameter("size")
        size = int(snap.data["VolumeSize"])
    size = int(size)
    if vtype not in SIZE_LIMITS:
        performance(vtype, size, None, None)  # raises the type error
    check_size(vtype, size)
    if snap is not None and size < int(snap.data["VolumeSize"]):
        raise errors.InvalidParameterValue(
            f"Volume of {size}GiB is too small; minimum is {snap.data['VolumeSize']}GiB")
    iops, throughput = performance(vtype, size, req.get("Iops"), req.get("Throughput"))
    if req.get("Encrypted"):
        raise errors.Ec2Error("ec2d does not encrypt EBS volumes", code="UnsupportedOperation")
    if req.get("MultiAttachEnabled"):
        raise errors.InvalidParameterCombination("Multi-Attach is not supported by ec2d.")
    volume_tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "volume")
    token = req.get("ClientToken")
    if token:
        for r in backend.store.list(VOLUME, region):
            if r.data.get("ClientToken") == token:
                return r
    if req.get("DryRun"):
        raise errors.DryRunOperation()
    record = Record(id=ids.new_id("vol"), type=VOLUME, region=region, state=str(V.CREATING), data={
        "Size": size, "AvailabilityZone": zone, "VolumeType": vtype, "Iops": iops, "Throughput": throughput,
        "SnapshotId": snap.id if snap else "", "CreateTime": now_iso(), "Encrypted": False,
        "MultiAttachEnabled": False, "Attachments": [], "ClientToken": token or "",
    })
    with backend.store.transaction():
        capacity.admit_volumes(backend, [size], f"a {size} GiB volume")
        backend.store.insert(record)
        if volume_tags:
            backend.store.set_tags(record.id, VOLUME, region, volume_tags)
    backend.runtime.create_volume(record.id)
    return backend.store.get(record.id) or record


def delete(backend: Backend, region: str, volume_id: str, dry_run: bool = False) -> None:
    rec = get(backend, region, volume_id)
    att = attachment(rec)
    if rec.state == V.IN_USE or att:
        iid = att["InstanceId"] if att else "an instance"
        raise errors.Ec2Error(f"Volume {volume_id} is currently attached to {iid}", code="VolumeInUse")
    if rec.state not in (V.AVAILABLE, V.ERROR):
        raise errors.IncorrectState(f"The volume '{volume_id}' is '{rec.state}'.")
    if dry_run:
        raise errors.DryRunOperation()
    try:
        move(backend, volume_id, [V(rec.state)], V.DELETING)
    except StateConflict:
        raise errors.Ec2Error(f"Volume {volume_id} is currently attached to an instance",
                              code="VolumeInUse") from None
    backend.runtime.delete_volume(volume_id)


# ---------------------------------------------------------------------------------------------
# AttachVolume / DetachVolume


def _attachment_out(volume_id: str, att: Mapping[str, Any]) -> dict[str, Any]:
    return {"VolumeId": volume_id, "InstanceId": att["InstanceId"], "Device": att["Device"],
            "State": att["State"], "AttachTime": att["AttachTime"],
            "DeleteOnTermination": att.get("DeleteOnTermination", False)}


def attach(backend: Backend, region: str, volume_id: str, instance_id: str, device: str,
           dry_run: bool = False) -> dict[str, Any]:
    vol = get(backend, region, volume_id)
    inst = instances.get(backend, region, instance_id)
    if not device or not re.match(DEVICE_PATTERN, device):
        raise errors.InvalidParameterValue(f"Value ({device}) for parameter device is invalid. "
                                           f"{device} is not a valid EBS device name.")
    if vol.data["AvailabilityZone"] != inst.data["AvailabilityZone"]:
        raise errors.Ec2Error(
            f"The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'",
            code="InvalidVolume.ZoneMismatch")
    if vol.state == V.IN_USE or attachment(vol):
        raise errors.Ec2Error(f"{volume_id} is already attached to an instance", code="VolumeInUse")
    if vol.state != V.AVAILABLE:
        raise errors.IncorrectState(f"The volume '{volume_id}' is not 'available'.")
    if inst.state not in ATTACHABLE_STATES:
        raise errors.IncorrectState(f"Instance '{instance_id}' is not 'running' or 'stopped'.")
    target = target_of(device)
    for m in inst.data["BlockDeviceMappings"]:
        if m["DeviceName"] == device or target_of(m["DeviceName"]) == target:
            raise errors.InvalidParameterValue(f"Attachment point {device} is already in use")
    if dry_run:
        raise errors.DryRunOperation()
    att = {"InstanceId": instance_id, "Device": device, "State": "attaching", "AttachTime": now_iso(),
           "DeleteOnTermination": False}
    with backend.store.transaction():
        try:
            move(backend, volume_id, V.AVAILABLE, V.IN_USE, {"Attachments": [att]})
        except StateConflict:
            raise errors.Ec2Error(f"{volume_id} is already attached to an instance", code="VolumeInUse") from None

        def add(rec: Record) -> None:
            rec.data["BlockDeviceMappings"].append(
                {"DeviceName": device, "VolumeId": volume_id, "DeleteOnTermination": False})

        mutate(backend, instance_id, add)
    backend.runtime.attach_volume(volume_id, instance_id, device)
    now = attachment(backend.store.get(volume_id) or vol)  # API-only mode settles at once
    if now is not None:
        att["State"] = now["State"]
    return _attachment_out(volume_id, att)


def detach(backend: Backend, region: str, req: Mapping[str, Any]) -> dict[str, Any]:
    volume_id = req["VolumeId"]
    vol = get(backend, region, volume_id)
    att = attachment(vol)
    if att is None or vol.state != V.IN_USE:
        raise errors.IncorrectState(f"Volume '{volume_id}' is in the '{vol.state}' state.")
    if req.get("InstanceId") and req["InstanceId"] != att["InstanceId"]:
        raise errors.Ec2Error(f"Volume '{volume_id}' is not attached to instance '{req['InstanceId']}'",
                              code="IncorrectState")
    if req.get("Device") and req["Device"] != att["Device"]:
        raise errors.InvalidParameterValue(f"Volume '{volume_id}' is not attached at '{req['Device']}'")
    inst = backend.store.get(att["InstanceId"])
    if inst is not None and inst.data["BlockDeviceMappings"] and \
            inst.data["BlockDeviceMappings"][0]["VolumeId"] == volume_id:
        raise errors.Ec2Error(f"Unable to detach root volume '{volume_id}' from instance '{inst.id}'",
                              code="OperationNotPermitted")
    if att["State"] == "detaching":
        return _attachment_out(volume_id, att)
    if req.get("DryRun"):
        raise errors.DryRunOperation()
    records.set_attachment_state(backend.store, volume_id, "detaching")
    att = {**att, "State": "detaching"}
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
        raise errors.Ec2Error(f"Volume {volume_id} is already being modified.", code="IncorrectModificationState")
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
    if (size, vtype, iops, throughput) == (int(d["Size"]), d["VolumeType"], d.get("Iops"), d.get("Throughput")):
        raise errors.InvalidParameterValue(
            f"Modification for volume {volume_id} has no changes from its current configuration")
    if req.get("DryRun"):
        raise errors.DryRunOperation()
    if size > int(d["Size"]):
        capacity.admit_volumes(backend, [size], f"growing {volume_id} to {size} GiB", exclude=[volume_id])
    mod = {"VolumeId": volume_id, "ModificationState": "modifying", "TargetSize": size,
           "TargetIops": iops, "TargetVolumeType": vtype, "TargetThroughput": throughput,
           "TargetMultiAttachEnabled": False, "OriginalSize": int(d["Size"]), "OriginalIops": d.get("Iops"),
           "OriginalVolumeType": d["VolumeType"], "OriginalThroughput": d.get("Throughput"),
           "OriginalMultiAttachEnabled": False, "Progress": 0, "StartTime": now_iso()}

    def start(rec: Record) -> None:
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
        att = attachment(r)
        out.append({
            "VolumeId": r.id, "AvailabilityZone": r.data["AvailabilityZone"],
            "AvailabilityZoneId": zone.zone_id if zone else None,
            "VolumeStatus": {"Status": "ok" if ok else "insufficient-data", "Details": [
                {"Name": "io-enabled", "Status": "passed" if ok else "not-applicable"},
                {"Name": "io-performance", "Status": "not-applicable"}]},
            "Actions": [], "Events": [],
            "AttachmentStatuses": [{"InstanceId": att["InstanceId"], "IoPerformance": "normal"}] if att else [],
        })
    return out

