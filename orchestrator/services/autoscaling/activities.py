"""Scaling activities: one record per launch or termination (and per failed launch), worded as
AWS words them, moving ``InProgress`` -> ``Successful`` | ``Failed`` (``lifecycle.ASG_ACTIVITY``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.autoscaling_records import ASG_ACTIVITY, AsgActivityData, AsgGroupData
from orchestrator.domain.lifecycle import ActivityStatus
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

A = ActivityStatus


def stamp(when: float) -> str:
    """A time as activities' causes cite it: ``2026-12-01T04:05:06Z``."""
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def start(backend: Backend, region: str, group: AsgGroupData, description: str, cause: str,
          instance_id: str | None = None, status: ActivityStatus = A.IN_PROGRESS,
          message: str | None = None) -> Record[AsgActivityData]:
    """A new activity of ``group`` (``InProgress`` unless ``status`` says it is already over)."""
    now = backend.store.now()
    data: AsgActivityData = {
        "AutoScalingGroupName": group["AutoScalingGroupName"], "AutoScalingGroupARN": group["AutoScalingGroupARN"],
        "Description": description, "Cause": cause, "StartTime": iso(now),
        "Progress": 0 if status == A.IN_PROGRESS else 100, "Details": _details(backend, region, group, instance_id)}
    if instance_id:
        data["InstanceId"] = instance_id
    if status != A.IN_PROGRESS:
        data["EndTime"] = iso(now)
    if message:
        data["StatusMessage"] = message[:255]
    record = Record[AsgActivityData](id=str(uuid.uuid4()), type=ASG_ACTIVITY, region=region, state=str(status),
                                     data=data)
    backend.store.insert(record)
    return record


def _details(backend: Backend, region: str, group: AsgGroupData, instance_id: str | None) -> str:
    """The activity's ``Details`` (JSON text): the instance's subnet and zone, as AWS shows them."""
    instance = backend.store.get(instance_id, "instance") if instance_id else None
    if instance is None:
        return "{" + ",".join(f'"Subnet ID":"{s}"' for s in group["Subnets"][:1]) + "}"
    return (f'{{"Subnet ID":"{instance.data["SubnetId"]}",'
            f'"Availability Zone":"{instance.data["AvailabilityZone"]}"}}')


def finish(backend: Backend, activity_id: str | None, ok: bool = True, message: str | None = None) -> None:
    """End an ``InProgress`` activity (one already over stays as it is)."""
    if not activity_id:
        return
    record = backend.store.get(activity_id, ASG_ACTIVITY)
    if record is None or record.state != A.IN_PROGRESS:
        return
    changes: dict[str, Any] = {"EndTime": iso(backend.store.now()), "Progress": 100}
    if message:
        changes["StatusMessage"] = message[:255]
    backend.store.transition(activity_id, str(A.IN_PROGRESS), str(A.SUCCESSFUL if ok else A.FAILED), changes)


def in_progress(backend: Backend, region: str, group_name: str) -> bool:
    return any(r.state == A.IN_PROGRESS and r.data["AutoScalingGroupName"] == group_name
               for r in backend.store.list(ASG_ACTIVITY, region))


def describe(backend: Backend, region: str, group_name: str | None, activity_ids: Sequence[str] | None,
             known_groups: set[str]) -> list[dict[str, Any]]:
    """DescribeScalingActivities' items, newest first (of existing groups only, as AWS without
    IncludeDeletedGroups)."""
    if group_name and group_name not in known_groups:
        raise errors.asg_not_found(group_name)
    out = []
    for r in backend.store.list(ASG_ACTIVITY, region):
        d = r.data
        if group_name and d["AutoScalingGroupName"] != group_name:
            continue
        if activity_ids and r.id not in activity_ids:
            continue
        if d["AutoScalingGroupName"] not in known_groups:
            continue
        item = {"ActivityId": r.id, "AutoScalingGroupName": d["AutoScalingGroupName"],
                "AutoScalingGroupARN": d["AutoScalingGroupARN"], "Description": d["Description"],
                "Cause": d["Cause"], "StartTime": d["StartTime"], "StatusCode": r.state,
                "Progress": d["Progress"], "Details": d["Details"]}
        for key in ("EndTime", "StatusMessage"):
            if key in d:
                item[key] = d[key]  # type: ignore[literal-required]
        out.append(item)
    out.sort(key=lambda a: a["StartTime"], reverse=True)
    return out
