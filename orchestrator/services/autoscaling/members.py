"""A group's instances, the API side: SetInstanceHealth, SetInstanceProtection,
TerminateInstanceInAutoScalingGroup. The controller does the launching and terminating."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.autoscaling_records import ASG_INSTANCE, AsgInstanceData
from orchestrator.domain.lifecycle import ActivityStatus, AsgInstanceState
from orchestrator.services.autoscaling import activities, groups, names
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

S = AsgInstanceState
HEALTHY, UNHEALTHY = "Healthy", "Unhealthy"


def get(backend: Backend, region: str, instance_id: str) -> Record[AsgInstanceData]:
    found = backend.store.get(names.member_id(instance_id), ASG_INSTANCE)
    if found is None or found.region != region or found.state == S.TERMINATED:
        raise errors.asg_instance_not_found(instance_id)
    return found


def mark_unhealthy(backend: Backend, member: Record[AsgInstanceData], cause: str) -> None:
    if member.data["HealthStatus"] != UNHEALTHY:
        member.data.update(HealthStatus=UNHEALTHY, unhealthy_cause=cause)
        backend.store.update(member)


def set_health(backend: Backend, region: str, instance_id: str, status: str, respect_grace: bool) -> str:
    """SetInstanceHealth; the instance's group (to run its pass)."""
    if status not in (HEALTHY, UNHEALTHY):
        raise errors.AsgValidationError(f"Valid values for HealthStatus are {HEALTHY} and {UNHEALTHY}. "
                                        f"Provided value: {status}")
    member = get(backend, region, instance_id)
    group = groups.require(backend, region, member.data["AutoScalingGroupName"]).data
    grace = group["HealthCheckGracePeriod"]
    since = member.data["in_service_at"] or member.data["launched_at"]
    if status == UNHEALTHY and respect_grace and backend.store.now() < since + grace:
        return member.data["AutoScalingGroupName"]  # within its grace period: ignored, as AWS does
    if status == UNHEALTHY:
        mark_unhealthy(backend, member, f"At {activities.stamp(backend.store.now())} an instance was taken out of "
                                        "service in response to a user health-check.")
    else:
        member.data.update(HealthStatus=HEALTHY, unhealthy_cause=None)
        backend.store.update(member)
    return member.data["AutoScalingGroupName"]


def set_protection(backend: Backend, region: str, name: str, instance_ids: Sequence[str], protected: bool) -> None:
    groups.require(backend, region, name)
    found = []
    for iid in instance_ids:
        m = backend.store.get(names.member_id(iid), ASG_INSTANCE)
        if m is None or m.data["AutoScalingGroupName"] != name:
            raise errors.AsgValidationError(f"The instance {iid} is not part of Auto Scaling group {name}.")
        found.append(m)
    for m in found:
        m.data["ProtectedFromScaleIn"] = protected
        backend.store.update(m)


def begin_termination(backend: Backend, member: Record[AsgInstanceData], cause: str) -> Record[AsgInstanceData]:
    """Take the instance out of service: ``Terminating`` with its InProgress activity (the
    controller deregisters and terminates it)."""
    group = groups.require(backend, member.region, member.data["AutoScalingGroupName"]).data
    activities.finish(backend, member.data["activity"])  # its launch, if still in progress: it did launch
    activity = activities.start(backend, member.region, group,
                                f"Terminating EC2 instance: {member.data['InstanceId']}", cause,
                                member.data["InstanceId"], ActivityStatus.IN_PROGRESS)
    return backend.store.transition(member.id, [str(S.PENDING), str(S.IN_SERVICE)], str(S.TERMINATING),
                                    {"terminate_cause": cause, "activity": activity.id})


def terminate(backend: Backend, region: str, instance_id: str, decrement: bool) -> tuple[str, dict[str, Any]]:
    """TerminateInstanceInAutoScalingGroup: (group name, the termination's Activity)."""
    member = get(backend, region, instance_id)
    name = member.data["AutoScalingGroupName"]
    record = groups.require(backend, region, name)
    g = record.data
    now = activities.stamp(backend.store.now())
    if member.state == S.TERMINATING:
        raise errors.AsgScalingActivityInProgress(f"Instance {instance_id} is already being terminated.")
    cause = f"At {now} instance {instance_id} was taken out of service in response to a user request"
    if decrement:
        if g["DesiredCapacity"] - 1 < g["MinSize"]:
            raise errors.AsgValidationError(
                f"Currently, desiredSize equals minSize ({g['MinSize']}). Terminating instance without replacement "
                "will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false "
                "or lower group's min size.")
        groups.mutate(backend, record.id, DesiredCapacity=g["DesiredCapacity"] - 1)
        cause += f", shrinking the capacity from {g['DesiredCapacity']} to {g['DesiredCapacity'] - 1}."
    else:
        cause += "."
    ended = begin_termination(backend, member, cause)
    activity = backend.store.get(ended.data["activity"] or "")
    assert activity is not None
    return name, {"ActivityId": activity.id, "AutoScalingGroupName": name, "Description": activity.data["Description"],
                  "Cause": cause, "StartTime": activity.data["StartTime"], "StatusCode": activity.state,
                  "Progress": activity.data["Progress"], "Details": activity.data["Details"],
                  "AutoScalingGroupARN": g["AutoScalingGroupARN"]}
