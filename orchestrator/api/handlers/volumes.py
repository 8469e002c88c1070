"""DescribeVolumes (root volumes of instances; the full EBS surface comes with the storage issue)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.filters import apply_filters, paginate
from orchestrator.api.registry import action
from orchestrator.domain import ids

_FILTERS = {
    "volume-id": lambda v: v["VolumeId"],
    "status": lambda v: v["State"],
    "availability-zone": lambda v: v["AvailabilityZone"],
    "volume-type": lambda v: v["VolumeType"],
    "size": lambda v: v["Size"],
    "snapshot-id": lambda v: v.get("SnapshotId"),
    "encrypted": lambda v: v["Encrypted"],
    "attachment.instance-id": lambda v: [a["InstanceId"] for a in v["Attachments"]],
    "attachment.device": lambda v: [a["Device"] for a in v["Attachments"]],
    "attachment.status": lambda v: [a["State"] for a in v["Attachments"]],
    "attachment.delete-on-termination": lambda v: [a["DeleteOnTermination"] for a in v["Attachments"]],
}


def describe_volume(record: Any, tags: dict[str, str]) -> dict[str, Any]:
    d = record.data
    return {
        "VolumeId": record.id, "State": record.state, "Size": d["Size"], "AvailabilityZone": d["AvailabilityZone"],
        "VolumeType": d["VolumeType"], "Iops": d.get("Iops"), "Throughput": d.get("Throughput"),
        "SnapshotId": d.get("SnapshotId") or "", "CreateTime": d["CreateTime"], "Encrypted": d["Encrypted"],
        "MultiAttachEnabled": d.get("MultiAttachEnabled", False),
        "Attachments": [{**a, "VolumeId": record.id} for a in d.get("Attachments") or []],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }


@action("DescribeVolumes")
def describe_volumes(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    records = ctx.backend.store.list("volume", ctx.region)
    wanted = req.get("VolumeIds")
    if wanted:
        by_id = {r.id: r for r in records}
        for vid in wanted:
            ids.check(vid, "vol")
            if vid not in by_id:
                raise ids.KINDS["vol"].not_found_error(vid)
        records = [by_id[v] for v in wanted]
    tags = ctx.backend.store.tags_by_resource("volume", ctx.region)
    items = [describe_volume(r, tags.get(r.id, {})) for r in records]
    items = apply_filters(items, req.get("Filters"), _FILTERS,
                          tags_of=lambda v: {t["Key"]: t["Value"] for t in v["Tags"]})
    page, token = paginate(items, req.get("MaxResults"), req.get("NextToken"), low=5, high=500)
    return {"Volumes": page, "NextToken": token}
