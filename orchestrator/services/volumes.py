"""EBS volumes, the API side and the background work: CreateVolume, DeleteVolume, AttachVolume,
DetachVolume, ModifyVolume, DescribeVolumesModifications, DescribeVolumeStatus.

Volumes are zone-scoped qcow2 files (``runtime.storage``); a volume made from a snapshot is an
O(1) overlay on the snapshot's layer (snapshot id == layer id). The request validates and moves the
record along ``VOLUME_TRANSITIONS`` at once (``creating``, ``attaching``, ``detaching``,
``deleting``), as EC2 answers; the slow part (files, hot-plug) runs in the runtime's loop under
per-resource locks: the volume's id, then the instance's (the runtime's own launch/stop/terminate
hold the instance lock, so an attach never races a launch). Without a runtime (API-only mode)
the records settle at once.

An attached volume is an entry of the instance's ``BlockDeviceMappings`` (what the runtime's
``_design`` builds the domain from at every start), so attaching to a stopped instance only
records it, and a running instance gets the disk hot-plugged as well.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.states import VOLUME_TRANSITIONS, InstanceState, VolumeState
from orchestrator.services import capacity, instances
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record, StateConflict

log = logging.getLogger("ec2d.volumes")

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


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------------------------
# plumbing shared with snapshots and user images


def spawn(backend: Backend, factory: Callable[[], Coroutine[Any, Any, None]]) -> bool:
    """Run ``factory()`` in the runtime's loop (False when there is no runtime)."""
    runtime = backend.runtime
    if runtime is None:
        return False
    runtime._spawn(_logged(factory))
    return True


async def _logged(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        await factory()
    except Exception:
        log.exception("background EBS operation failed")


def mutate(backend: Backend, record_id: str, change: Callable[[Record], None]) -> Record | None:
    """Read-modify-write ``record.data`` with retries (the runtime updates the same records)."""
    for _ in range(50):
        rec = backend.store.get(record_id)
        if rec is None:
            return None
        change(rec)
        try:
            return backend.store.update(rec)
        except StateConflict:
            continue
    raise errors.InternalError(f"{record_id} kept changing")


def move(backend: Backend, volume_id: str, current: VolumeState | list[VolumeState], target: VolumeState,
         changes: Mapping[str, Any] | None = None) -> Record:
    """Compare-and-swap a volume along an edge of ``VOLUME_TRANSITIONS``."""
    sources = [current] if isinstance(current, VolumeState) else list(current)
    for src in sources:
        if target not in VOLUME_TRANSITIONS[src]:
            raise ValueError(f"illegal volume transition {src} -> {target}")
    return backend.store.transition(volume_id, [str(s) for s in sources], str(target), changes)


class Locks:
    """Hold the runtime's per-resource locks, in the order given (volume ids before instances)."""

    def __init__(self, backend: Backend, *keys: str) -> None:
        self.runtime = backend.runtime
        self.keys = list(dict.fromkeys(k for k in keys if k))
        self.stack = AsyncExitStack()

    async def __aenter__(self) -> Locks:
        for k in self.keys:
            await self.stack.enter_async_context(self.runtime._lock(k))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()


def domain_running(backend: Backend, instance_id: str) -> bool:
    from orchestrator.drivers.compute.driver import PowerState

    rt = backend.runtime
    return bool(rt.compute.state(rt.domain_name(instance_id)) == PowerState.RUNNING)


def target_of(device: str) -> str:
    from orchestrator.drivers.compute.designer import ec2_device_to_target

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
    atts = rec.data.get("Attachments") or []
    return atts[0] if atts else None


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
    if not spawn(backend, lambda: _create_files(backend, record.id)):
        move(backend, record.id, V.CREATING, V.AVAILABLE)
    return backend.store.get(record.id) or record


async def _create_files(backend: Backend, volume_id: str) -> None:
    rt = backend.runtime
    async with Locks(backend, volume_id):
        rec = backend.store.get(volume_id)
        if rec is None:
            return
        try:
            await rt._call(rt.storage.create_volume, volume_id, int(rec.data["Size"]) * GIB,
                           rec.data.get("SnapshotId") or None)
        except Exception as exc:
            log.exception("%s: create failed", volume_id)
            move(backend, volume_id, V.CREATING, V.ERROR, {"StatusMessage": str(exc)})
            return
        move(backend, volume_id, V.CREATING, V.AVAILABLE)


def delete(backend: Backend, region: str, volume_id: str) -> None:
    rec = get(backend, region, volume_id)
    att = attachment(rec)
    if rec.state == V.IN_USE or att:
        iid = att["InstanceId"] if att else "an instance"
        raise errors.Ec2Error(f"Volume {volume_id} is currently attached to {iid}", code="VolumeInUse")
    if rec.state not in (V.AVAILABLE, V.ERROR):
        raise errors.IncorrectState(f"The volume '{volume_id}' is '{rec.state}'.")
    try:
        move(backend, volume_id, [V(rec.state)], V.DELETING)
    except StateConflict:
        raise errors.Ec2Error(f"Volume {volume_id} is currently attached to an instance",
                              code="VolumeInUse") from None
    if not spawn(backend, lambda: _delete_files(backend, volume_id)):
        backend.store.delete(volume_id)


async def _delete_files(backend: Backend, volume_id: str) -> None:
    from orchestrator.services import snapshots

    rt = backend.runtime
    async with Locks(backend, volume_id):
        await rt._call(rt.storage.delete_volume, volume_id)
        backend.store.delete(volume_id)
    await snapshots.collect_garbage(backend)


# ---------------------------------------------------------------------------------------------
# AttachVolume / DetachVolume


def _attachment_out(volume_id: str, att: Mapping[str, Any]) -> dict[str, Any]:
    return {"VolumeId": volume_id, "InstanceId": att["InstanceId"], "Device": att["Device"],
            "State": att["State"], "AttachTime": att["AttachTime"],
            "DeleteOnTermination": att.get("DeleteOnTermination", False)}


def attach(backend: Backend, region: str, volume_id: str, instance_id: str, device: str) -> dict[str, Any]:
    import re

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
    if not spawn(backend, lambda: _plug(backend, volume_id, instance_id, device)):
        _set_attachment_state(backend, volume_id, "attached")
        att["State"] = "attached"
    return _attachment_out(volume_id, att)


def _set_attachment_state(backend: Backend, volume_id: str, state: str) -> None:
    def change(rec: Record) -> None:
        for a in rec.data.get("Attachments") or []:
            a["State"] = state

    mutate(backend, volume_id, change)


def _drop_mapping(backend: Backend, instance_id: str, volume_id: str) -> None:
    def change(rec: Record) -> None:
        rec.data["BlockDeviceMappings"] = [m for m in rec.data["BlockDeviceMappings"]
                                           if m["VolumeId"] != volume_id]

    mutate(backend, instance_id, change)


async def _plug(backend: Backend, volume_id: str, instance_id: str, device: str) -> None:
    from orchestrator.drivers.compute.designer import design_disk

    rt = backend.runtime
    target = target_of(device)
    async with Locks(backend, volume_id, instance_id):
        try:
            if await rt._call(domain_running, backend, instance_id):
                name = rt.domain_name(instance_id)
                config = await rt._call(rt.compute.get_config, name)
                if config.disk(target) is None:  # a launch may have designed it in already
                    path = await rt._call(rt.storage.volume_path, volume_id)
                    await rt._call(rt.compute.attach_disk, name, design_disk(str(path), target, volume_id))
        except Exception:
            log.exception("%s: attach to %s failed", volume_id, instance_id)
            _drop_mapping(backend, instance_id, volume_id)
            move(backend, volume_id, V.IN_USE, V.AVAILABLE, {"Attachments": []})
            return
        _set_attachment_state(backend, volume_id, "attached")
    _refresh_metadata(backend, instance_id)


def _refresh_metadata(backend: Backend, instance_id: str) -> None:
    """The metadata service lists block-device-mapping/ebsN from the instance's mappings."""
    inst = backend.store.get(instance_id)
    if inst is not None and backend.runtime is not None:
        backend.runtime.refresh_metadata(inst.region, inst.data["VpcId"])


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
    _set_attachment_state(backend, volume_id, "detaching")
    att = {**att, "State": "detaching"}
    force = bool(req.get("Force"))
    if not spawn(backend, lambda: _unplug(backend, volume_id, att["InstanceId"], att["Device"], force)):
        _finish_detach(backend, volume_id, att["InstanceId"])
    return _attachment_out(volume_id, att)


def _finish_detach(backend: Backend, volume_id: str, instance_id: str) -> None:
    with backend.store.transaction():
        _drop_mapping(backend, instance_id, volume_id)
        move(backend, volume_id, V.IN_USE, V.AVAILABLE, {"Attachments": []})


async def _unplug(backend: Backend, volume_id: str, instance_id: str, device: str, force: bool) -> None:
    rt = backend.runtime
    target = target_of(device)
    async with Locks(backend, volume_id, instance_id):
        if await rt._call(domain_running, backend, instance_id):
            name = rt.domain_name(instance_id)
            config = await rt._call(rt.compute.get_config, name)
            if config.disk(target) is not None:
                gone = await rt._call(rt.compute.detach_disk, name, target, 5.0 if force else 60.0)
                if not gone and not force:
                    # The guest still holds the disk: EC2's "busy". The volume stays in-use (never
                    # two writers); DetachVolume again, with Force, or a stop ends it.
                    log.warning("%s: guest %s did not release %s; attachment busy", volume_id, instance_id, target)
                    _set_attachment_state(backend, volume_id, "busy")
                    return
                if not gone:
                    log.warning("%s: force-detached from %s while the guest still held it", volume_id, instance_id)
        _finish_detach(backend, volume_id, instance_id)
    _refresh_metadata(backend, instance_id)


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
    if not spawn(backend, lambda: _apply_modification(backend, volume_id)):
        _complete_modification(backend, volume_id)
    return dict((backend.store.get(volume_id) or vol).data["Modification"])


def _complete_modification(backend: Backend, volume_id: str, failure: str | None = None) -> None:
    def change(rec: Record) -> None:
        mod = rec.data["Modification"]
        if failure:
            mod.update({"ModificationState": "failed", "StatusMessage": failure, "EndTime": now_iso()})
            return
        mod.update({"ModificationState": "completed", "Progress": 100, "EndTime": now_iso()})
        rec.data.update({"Size": mod["TargetSize"], "VolumeType": mod["TargetVolumeType"],
                         "Iops": mod["TargetIops"], "Throughput": mod["TargetThroughput"]})

    mutate(backend, volume_id, change)


async def _apply_modification(backend: Backend, volume_id: str) -> None:
    rt = backend.runtime
    vol = backend.store.get(volume_id)
    if vol is None:
        return
    att = attachment(vol)
    iid = att["InstanceId"] if att else ""
    async with Locks(backend, volume_id, iid):
        vol = backend.store.get(volume_id)
        if vol is None:
            return
        size = int(vol.data["Modification"]["TargetSize"]) * GIB
        try:
            present = volume_id in await rt._call(rt.storage.list_volumes)
            if present and size > await rt._call(rt.storage.volume_size, volume_id):
                attached_to = None
                if att and await rt._call(domain_running, backend, iid):
                    name = rt.domain_name(iid)
                    config = await rt._call(rt.compute.get_config, name)
                    if config.disk(target_of(att["Device"])) is not None:
                        attached_to = (name, target_of(att["Device"]))
                await rt._call(rt.storage.resize_volume, volume_id, size, attached_to=attached_to)
        except Exception as exc:
            log.exception("%s: resize failed", volume_id)
            _complete_modification(backend, volume_id, str(exc))
            return
        _complete_modification(backend, volume_id)


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

