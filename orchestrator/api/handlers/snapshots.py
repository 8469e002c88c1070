"""CreateSnapshot, CreateSnapshots, DeleteSnapshot, DescribeSnapshots, CopySnapshot,
ModifySnapshotAttribute, DescribeSnapshotAttribute."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.services import snapshots
from orchestrator.services import tags as tag_service

_FILTERS = {
    "description": lambda s: s["Description"],
    "encrypted": lambda s: s["Encrypted"],
    "owner-alias": lambda s: s.get("OwnerAlias"),
    "owner-id": lambda s: s["OwnerId"],
    "progress": lambda s: s["Progress"],
    "snapshot-id": lambda s: s["SnapshotId"],
    "start-time": lambda s: s["StartTime"],
    "status": lambda s: s["State"],
    "storage-tier": lambda s: s["StorageTier"],
    "volume-id": lambda s: s["VolumeId"],
    "volume-size": lambda s: s["VolumeSize"],
    "transfer-type": lambda s: s.get("TransferType", "standard"),
}


@action("CreateSnapshot")
def create_snapshot(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    rec, tags = snapshots.create_tagged(ctx.backend, ctx.region, req)
    return snapshots.describe(ctx.backend, rec, tags)


@action("CreateSnapshots")
def create_snapshots(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    made = snapshots.create_for_instance_tagged(ctx.backend, ctx.region, req)
    return {"Snapshots": [snapshots.info(ctx.backend, rec, tags) for rec, tags in made]}


@action("DeleteSnapshot")
def delete_snapshot(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    snapshots.delete(ctx.backend, ctx.region, req["SnapshotId"])
    return {}


@action("DescribeSnapshots")
def describe_snapshots(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = snapshots.describe_snapshots(ctx.backend, ctx.region, ctx.account_id, req.get("SnapshotIds"),
                                         req.get("OwnerIds"), req.get("RestorableByUserIds"))
    return respond(req, items, _FILTERS, "Snapshots")


@action("CopySnapshot")
def copy_snapshot(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    rec, tags = snapshots.copy_tagged(ctx.backend, ctx.region, req)
    return {"SnapshotId": rec.id, "Tags": tag_service.tag_list(tags)}


@action("ModifySnapshotAttribute")
def modify_snapshot_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    snapshots.modify_attribute(ctx.backend, ctx.region, req)
    return {}


@action("DescribeSnapshotAttribute")
def describe_snapshot_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return snapshots.describe_attribute(ctx.backend, ctx.region, req["SnapshotId"], req["Attribute"])
