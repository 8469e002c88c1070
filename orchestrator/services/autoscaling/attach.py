"""AttachInstances and DetachInstances: running EC2 instances joining a group (``Pending``, then
``InService`` once registered with its target groups) or leaving it (``Detaching``: deregistered
and untagged by the controller, then forgotten; the EC2 instance keeps running)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.autoscaling_records import ASG_INSTANCE, AsgInstanceData
from orchestrator.domain.lifecycle import ActivityStatus, AsgInstanceState
from orchestrator.domain.states import InstanceState
from orchestrator.services.autoscaling import activities, groups, launching, names
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

S = AsgInstanceState


def attach(backend: Backend, region: str, name: str, instance_ids: Sequence[str]) -> None:
    record = groups.require(backend, region, name)
    g = record.data
    found = []
    for iid in dict.fromkeys(instance_ids):
        instance = backend.store.get(iid, "instance")
        if instance is None or instance.region != region:
            raise errors.AsgValidationError(f"Instance [{iid}] is invalid.")
        if instance.state != InstanceState.RUNNING:
            raise errors.AsgValidationError(f"Instance {iid} is not in correct state: {instance.state}.")
        if instance.data["AvailabilityZone"] not in g["AvailabilityZones"]:
            raise errors.AsgValidationError(f"Instance {iid} is not in the Auto Scaling group's Availability Zones.")
        if g["Subnets"] and instance.data["SubnetId"] not in g["Subnets"]:
            raise errors.AsgValidationError(f"Instance {iid} is not in the Auto Scaling group's subnets.")
        if backend.store.get(names.member_id(iid), ASG_INSTANCE) is not None:
            raise errors.AsgValidationError(f"The instance {iid} is already part of an Auto Scaling group.")
        found.append(instance)
    live = [m for m in groups.members(backend, region, name) if m.state in groups.LIVE]
    desired = g["DesiredCapacity"] + len(found)
    if len(live) + len(found) > g["MaxSize"] or desired > g["MaxSize"]:
        raise errors.AsgValidationError(f"Desired capacity:{desired} must be between the specified min size:"
                                        f"{g['MinSize']} and max size:{g['MaxSize']}")
    now = backend.store.now()
    groups.mutate(backend, record.id, DesiredCapacity=desired)
    for instance in found:
        iid = instance.id
        cause = (f"At {activities.stamp(now)} a user request AttachInstances attached instance {iid} to the group, "
                 f"increasing the capacity from {g['DesiredCapacity']} to {desired}.")
        activity = activities.start(backend, region, g, f"Attaching an existing EC2 instance: {iid}", cause, iid,
                                    ActivityStatus.SUCCESSFUL)
        backend.store.set_tags(iid, "instance", region, {launching.GROUP_TAG: name})
        data: AsgInstanceData = {
            "AutoScalingGroupName": name, "InstanceId": iid, "InstanceType": instance.data["InstanceType"],
            "AvailabilityZone": instance.data["AvailabilityZone"], "HealthStatus": "Healthy",
            "ProtectedFromScaleIn": g["NewInstancesProtectedFromScaleIn"], "LaunchConfigurationName": None,
            "LaunchTemplate": None, "launched_at": now, "in_service_at": None, "registered": [], "rebalance": False,
            "unhealthy_cause": None, "terminate_cause": None, "activity": activity.id}
        backend.store.insert(Record(id=names.member_id(iid), type=ASG_INSTANCE, region=region,
                                    state=str(S.PENDING), data=data))


def detach(backend: Backend, region: str, name: str, instance_ids: Sequence[str],
           decrement: bool) -> list[dict[str, Any]]:
    """DetachInstances: the activities (one per instance, InProgress)."""
    record = groups.require(backend, region, name)
    g = record.data
    leaving = []
    for iid in dict.fromkeys(instance_ids):
        member = backend.store.get(names.member_id(iid), ASG_INSTANCE)
        if member is None or member.data["AutoScalingGroupName"] != name or member.state not in groups.LIVE:
            raise errors.AsgValidationError(f"The instance {iid} is not part of Auto Scaling group {name}.")
        leaving.append(member)
    desired = g["DesiredCapacity"] - len(leaving) if decrement else g["DesiredCapacity"]
    if desired < g["MinSize"]:
        raise errors.AsgValidationError(f"Desired capacity:{desired} must be between the specified min size:"
                                        f"{g['MinSize']} and max size:{g['MaxSize']}")
    groups.mutate(backend, record.id, DesiredCapacity=desired)
    now = activities.stamp(backend.store.now())
    out = []
    for member in leaving:
        iid = member.data["InstanceId"]
        cause = f"At {now} instance {iid} was detached in response to a user request" + (
            f", shrinking the capacity from {g['DesiredCapacity']} to {desired}." if decrement else ".")
        activities.finish(backend, member.data["activity"])
        activity = activities.start(backend, region, g, f"Detaching EC2 instance: {iid}", cause, iid)
        backend.store.transition(member.id, list(groups.LIVE), str(S.DETACHING), {"activity": activity.id})
        out.append({"ActivityId": activity.id, "AutoScalingGroupName": name, "AutoScalingGroupARN":
                    g["AutoScalingGroupARN"], "Description": activity.data["Description"], "Cause": cause,
                    "StartTime": activity.data["StartTime"], "StatusCode": activity.state,
                    "Progress": activity.data["Progress"], "Details": activity.data["Details"]})
    return out


async def finish_detaching(backend: Backend, member: Record[AsgInstanceData]) -> None:
    """A Detaching instance: deregistered from the target groups, untagged, Detached and forgotten."""
    await launching.deregister(backend, member)
    backend.store.delete_tags(member.data["InstanceId"], {launching.GROUP_TAG: None})
    activities.finish(backend, member.data["activity"])
    backend.store.transition(member.id, str(S.DETACHING), str(S.DETACHED))
    backend.store.delete(member.id)
