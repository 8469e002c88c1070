"""CreateVolume, DeleteVolume, DescribeVolumes, AttachVolume, DetachVolume, ModifyVolume,
DescribeVolumesModifications, DescribeVolumeStatus."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.filter_paths import absent, table
from orchestrator.api.registry import action
from orchestrator.domain import narrowing
from orchestrator.services import volumes

_FILTERS = {
    "volume-id": lambda v: v["VolumeId"],
    "status": lambda v: v["State"],
    "availability-zone": lambda v: v["AvailabilityZone"],
    "volume-type": lambda v: v["VolumeType"],
    "create-time": lambda v: v["CreateTime"],
    "multi-attach-enabled": lambda v: v["MultiAttachEnabled"],
    "attachment.attach-time": lambda v: [a["AttachTime"] for a in v["Attachments"]],
    "iops": lambda v: v.get("Iops"),
    "throughput": lambda v: v.get("Throughput"),
    "size": lambda v: v["Size"],
    "snapshot-id": lambda v: v.get("SnapshotId"),
    "encrypted": lambda v: v["Encrypted"],
    "attachment.instance-id": lambda v: [a["InstanceId"] for a in v["Attachments"]],
    "attachment.device": lambda v: [a["Device"] for a in v["Attachments"]],
    "attachment.status": lambda v: [a["State"] for a in v["Attachments"]],
    "attachment.delete-on-termination": lambda v: [a["DeleteOnTermination"] for a in v["Attachments"]],
    "availability-zone-id": lambda v: v.get("AvailabilityZoneId"),
    "fast-restored": lambda v: v.get("FastRestored", False),
    "operator.managed": lambda v: (v.get("Operator") or {}).get("Managed", False),
    "operator.principal": absent,  # no service manages a volume in ec2d
}


@action("DescribeVolumes")
def describe_volumes(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    narrow = narrowing.from_filters(req.get("Filters"), {"status": narrowing.STATE})
    items = volumes.describe_volumes(ctx.backend, ctx.region, req.get("VolumeIds"), narrow)
    return respond(req, items, _FILTERS, "Volumes", page=(5, 500))


@action("CreateVolume")
def create_volume(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return volumes.create_shown(ctx.backend, ctx.region, req)


@action("DeleteVolume")
def delete_volume(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    volumes.delete(ctx.backend, ctx.region, req["VolumeId"])
    return {}


@action("AttachVolume")
def attach_volume(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return volumes.attach(ctx.backend, ctx.region, req["VolumeId"], req["InstanceId"], req["Device"])


@action("DetachVolume")
def detach_volume(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return volumes.detach(ctx.backend, ctx.region, req)


@action("ModifyVolume")
def modify_volume(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"VolumeModification": volumes.modify(ctx.backend, ctx.region, req)}


_MOD_FILTERS = {
    "volume-id": lambda m: m["VolumeId"],
    "modification-state": lambda m: m["ModificationState"],
    "target-size": lambda m: m.get("TargetSize"),
    "target-iops": lambda m: m.get("TargetIops"),
    "target-volume-type": lambda m: m.get("TargetVolumeType"),
    "target-throughput": lambda m: m.get("TargetThroughput"),
    "original-size": lambda m: m.get("OriginalSize"),
    "original-iops": lambda m: m.get("OriginalIops"),
    "original-volume-type": lambda m: m.get("OriginalVolumeType"),
    "start-time": lambda m: m.get("StartTime"),
}


@action("DescribeVolumesModifications")
def describe_volumes_modifications(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = volumes.modifications(ctx.backend, ctx.region, req.get("VolumeIds"))
    return respond(req, items, _MOD_FILTERS, "VolumesModifications", tags_of=None, page=(5, 500))


_STATUS_FILTERS = {
    "availability-zone": lambda s: s["AvailabilityZone"],
    "volume-status.status": lambda s: s["VolumeStatus"]["Status"],
    "volume-status.details-name": lambda s: [d["Name"] for d in s["VolumeStatus"]["Details"]],
    "volume-status.details-status": lambda s: [d["Status"] for d in s["VolumeStatus"]["Details"]],
    "event.event-type": lambda s: [e.get("EventType") for e in s["Events"]],
    "action.code": lambda s: [a.get("Code") for a in s["Actions"]],
    **table({"action.description": "Actions.Description", "action.event-id": "Actions.EventId",
             "attachment-status.instance-id": "AttachmentStatuses.InstanceId",
             "attachment-status.io-performance": "AttachmentStatuses.IoPerformance",
             "event.description": "Events.Description", "event.event-id": "Events.EventId",
             "event.not-after": "Events.NotAfter", "event.not-before": "Events.NotBefore"}),
}


@action("DescribeVolumeStatus")
def describe_volume_status(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = volumes.status(ctx.backend, ctx.region, req.get("VolumeIds"))
    return respond(req, items, _STATUS_FILTERS, "VolumeStatuses", tags_of=None)
