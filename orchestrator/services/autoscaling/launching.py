"""Launching a group's instance: an ordinary RunInstances request (from the launch configuration
or the launch template), run as the account with Auto Scaling's tags, then the member record.
Ending one: deregistered from the group's target groups first, then terminated."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.autoscaling_records import ASG_INSTANCE, AsgGroupData, AsgInstanceData
from orchestrator.domain.lifecycle import ActivityStatus, AsgInstanceState
from orchestrator.domain.states import InstanceState, Request
from orchestrator.services import instances, vpcs
from orchestrator.services.autoscaling import activities, launch_configs, names
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

GROUP_TAG = "aws:autoscaling:groupName"  # on every instance of a group, as AWS tags them


def subnet_of(backend: Backend, region: str, group: AsgGroupData, zone: str) -> str:
    """The group's subnet in ``zone`` (the zone's default subnet for a group of AvailabilityZones)."""
    for sid in group["Subnets"]:
        subnet = backend.store.get(sid, "subnet")
        if subnet is not None and subnet.data["AvailabilityZone"] == zone:
            return sid
    return vpcs.default_subnet(backend, region, zone).id


def run_request(backend: Backend, region: str, group: AsgGroupData, zone: str) -> dict[str, Any]:
    """The RunInstances request of one instance of ``group`` in ``zone``."""
    subnet_id = subnet_of(backend, region, group, zone)
    if group["LaunchConfigurationName"]:
        lc = launch_configs.require(backend, region, group["LaunchConfigurationName"]).data
        req = launch_configs.run_request(lc, subnet_id)
    else:
        req = {"LaunchTemplate": dict(group["LaunchTemplate"] or {}), "SubnetId": subnet_id, "MinCount": 1, "MaxCount": 1}
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in group["Tags"] if t["PropagateAtLaunch"]]
    if tags:
        req["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
    return req


def launch(backend: Backend, region: str, group: AsgGroupData, zone: str, cause: str,
           rebalance: bool = False) -> Record[AsgInstanceData]:
    """Launch one instance into ``zone``: its member record (``Pending``) and its activity. An
    EC2 refusal (no capacity, no address left in the subnet, ...) is a Failed activity, re-raised."""
    name = group["AutoScalingGroupName"]
    try:
        req = run_request(backend, region, group, zone)
        out = instances.run(backend, region, req, None, system_tags={GROUP_TAG: name})
    except errors.ApiError as exc:
        activities.start(backend, region, group, f"Launching a new EC2 instance.  Status Reason: {exc.message} "
                         "Launching EC2 instance failed.", cause, status=ActivityStatus.FAILED, message=exc.message)
        raise
    instance = out["Instances"][0]
    iid = instance["InstanceId"]
    activity = activities.start(backend, region, group, f"Launching a new EC2 instance: {iid}", cause, iid)
    data: AsgInstanceData = {
        "AutoScalingGroupName": name, "InstanceId": iid, "InstanceType": instance["InstanceType"],
        "AvailabilityZone": instance["Placement"]["AvailabilityZone"], "HealthStatus": "Healthy",
        "ProtectedFromScaleIn": group["NewInstancesProtectedFromScaleIn"],
        "LaunchConfigurationName": group["LaunchConfigurationName"], "LaunchTemplate": group["LaunchTemplate"],
        "launched_at": backend.store.now(), "in_service_at": None, "registered": [], "rebalance": rebalance,
        "unhealthy_cause": None, "terminate_cause": None, "activity": activity.id}
    record = Record[AsgInstanceData](id=names.member_id(iid), type=ASG_INSTANCE, region=region,
                                     state=str(AsgInstanceState.PENDING), data=data)
    backend.store.insert(record)
    return record


def adopt(backend: Backend, region: str, group: AsgGroupData) -> list[str]:
    """Instances tagged with the group's name that it has no record of (ec2d stopped between
    RunInstances and the member's record): made members (``Pending``) rather than launched again."""
    name = group["AutoScalingGroupName"]
    adopted = []
    for iid, tags in backend.store.tags_by_resource("instance", region).items():
        if tags.get(GROUP_TAG) != name or backend.store.get(names.member_id(iid), ASG_INSTANCE) is not None:
            continue
        instance = backend.store.get(iid, "instance")
        if instance is None or instance.state in (InstanceState.SHUTTING_DOWN, InstanceState.TERMINATED):
            continue
        data: AsgInstanceData = {
            "AutoScalingGroupName": name, "InstanceId": iid, "InstanceType": instance.data["InstanceType"],
            "AvailabilityZone": instance.data["AvailabilityZone"], "HealthStatus": "Healthy",
            "ProtectedFromScaleIn": group["NewInstancesProtectedFromScaleIn"],
            "LaunchConfigurationName": group["LaunchConfigurationName"], "LaunchTemplate": group["LaunchTemplate"],
            "launched_at": backend.store.now(), "in_service_at": None, "registered": [], "rebalance": False,
            "unhealthy_cause": None, "terminate_cause": None, "activity": None}
        backend.store.insert(Record(id=names.member_id(iid), type=ASG_INSTANCE, region=region,
                                    state=str(AsgInstanceState.PENDING), data=data))
        adopted.append(iid)
    return adopted


async def deregister(backend: Backend, member: Record[AsgInstanceData]) -> None:
    port = backend.target_groups
    if port is None or not member.data["registered"]:
        return
    for arn in member.data["registered"]:
        await port.deregister(member.region, arn, [member.data["InstanceId"]])
    fresh = backend.store.get(member.id, ASG_INSTANCE)
    if fresh is not None:
        fresh.data["registered"] = []
        backend.store.update(fresh)


def terminate_ec2(backend: Backend, region: str, instance_id: str) -> None:
    """TerminateInstances of a group's instance (one already on its way out is left alone)."""
    record = backend.store.get(instance_id, "instance")
    if record is None or record.state in (InstanceState.SHUTTING_DOWN, InstanceState.TERMINATED):
        return
    try:
        instances.request(backend, region, [instance_id], Request.TERMINATE)
    except errors.ApiError:  # moved meanwhile (e.g. to stopping): the next pass tries again
        pass
