"""CreateSnapshot, CreateSnapshots, DeleteSnapshot, DescribeSnapshots, CopySnapshot,
ModifySnapshotAttribute, DescribeSnapshotAttribute."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.filters import apply_filters, paginate
from orchestrator.api.registry import action
from orchestrator.services import images, snapshots
from orchestrator.store.sqlite import Record

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
}


def _out(ctx: RequestContext, rec: Record) -> dict[str, Any]:
    return snapshots.describe(ctx.backend, rec, ctx.backend.store.tags_of(rec.id))


@action("CreateSnapshot")
def create_snapshot(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return _out(ctx, snapshots.create(ctx.backend, ctx.region, req))


@action("CreateSnapshots")
def create_snapshots(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    recs = snapshots.create_for_instance(ctx.backend, ctx.region, req)
    return {"Snapshots": [snapshots.info(ctx.backend, r, ctx.backend.store.tags_of(r.id)) for r in recs]}


@action("DeleteSnapshot")
def delete_snapshot(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    snapshots.delete(ctx.backend, ctx.region, req["SnapshotId"])
    return {}


def _owner_matches(rec: Record, owners: list[str], account_id: str) -> bool:
    owner = rec.data.get("OwnerId")
    for o in owners:
        if o == "self" and owner == account_id:
            return True
        if o in (owner, rec.data.get("OwnerAlias")):
            return True
        if o == "amazon" and owner == images.PUBLISHER:
            return True
    return False


def _restorable_by(rec: Record, users: list[str], account_id: str) -> bool:
    d = rec.data
    for u in users:
        who = account_id if u == "self" else u
        if d.get("OwnerId") == who or d.get("published") or d.get("Public"):
            return True
        if any(p.get("Group") == "all" or p.get("UserId") == who for p in d.get("CreateVolumePermissions") or []):
            return True
    return False


@action("DescribeSnapshots")
def describe_snapshots(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    backend = ctx.backend
    wanted = req.get("SnapshotIds") or []
    if wanted:
        records = [snapshots.get(backend, ctx.region, s) for s in wanted]
    else:
        records = snapshots.visible(backend, ctx.region, ctx.account_id)
    if req.get("OwnerIds"):
        records = [r for r in records if _owner_matches(r, req["OwnerIds"], ctx.account_id)]
    if req.get("RestorableByUserIds"):
        records = [r for r in records if _restorable_by(r, req["RestorableByUserIds"], ctx.account_id)]
    tags = backend.store.tags_by_resource("snapshot", ctx.region)
    items = [snapshots.describe(backend, r, tags.get(r.id, {})) for r in records]
    items = apply_filters(items, req.get("Filters"), _FILTERS,
                          tags_of=lambda s: {t["Key"]: t["Value"] for t in s["Tags"]})
    page, token = paginate(items, req.get("MaxResults"), req.get("NextToken"), low=5, high=1000)
    return {"Snapshots": page, "NextToken": token}


@action("CopySnapshot")
def copy_snapshot(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    rec = snapshots.copy(ctx.backend, ctx.region, req)
    return {"SnapshotId": rec.id, "Tags": [{"Key": k, "Value": v} for k, v in
                                           sorted(ctx.backend.store.tags_of(rec.id).items())]}


@action("ModifySnapshotAttribute")
def modify_snapshot_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    snapshots.modify_attribute(ctx.backend, ctx.region, req)
    return {}


@action("DescribeSnapshotAttribute")
def describe_snapshot_attribute(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return snapshots.describe_attribute(ctx.backend, ctx.region, req["SnapshotId"], req["Attribute"])
