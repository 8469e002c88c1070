"""Auto Scaling groups, the API side: Create/Update/Describe/DeleteAutoScalingGroup,
SetDesiredCapacity, Suspend/ResumeProcesses, target groups, tags. Each change is recorded, then
the group's controller pass runs at once (``controller.wake``), which launches and terminates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.autoscaling_records import ASG_GROUP, ASG_INSTANCE, AsgGroupData, AsgTag
from orchestrator.domain.lifecycle import AsgGroupState, AsgInstanceState
from orchestrator.services import vpcs
from orchestrator.services.autoscaling import activities, launch_configs, names
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

MAX_GROUPS = 500  # AWS's default quota of groups per region
MAX_TAGS = 50
HEALTH_CHECK_TYPES = ("EC2", "ELB")
TERMINATION_POLICIES = ("Default", "OldestInstance", "NewestInstance", "OldestLaunchConfiguration",
                        "OldestLaunchTemplate", "ClosestToNextInstanceHour", "AllocationStrategy")
PROCESSES = ("Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance", "HealthCheck",
             "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions")
LIVE = (str(AsgInstanceState.PENDING), str(AsgInstanceState.IN_SERVICE))
BAD_TARGET_GROUPS = "Provided Target Groups may not be valid. Please ensure they exist and try again."


# ---------------------------------------------------------------------------------------------
# lookups


def get(backend: Backend, region: str, name: str) -> Record[AsgGroupData] | None:
    return backend.store.get(names.group_id(region, name), ASG_GROUP)


def require(backend: Backend, region: str, name: str) -> Record[AsgGroupData]:
    found = get(backend, region, name)
    if found is None:
        raise errors.asg_not_found(name)
    return found


def members(backend: Backend, region: str, name: str) -> list[Record]:
    """The group's instance records (every state but Terminated, which are deleted), oldest first."""
    return [m for m in backend.store.list(ASG_INSTANCE, region) if m.data["AutoScalingGroupName"] == name]


def zones(backend: Backend, group: AsgGroupData) -> list[str]:
    return list(group["AvailabilityZones"])


def mutate(backend: Backend, record_id: str, **changes: Any) -> Record[AsgGroupData]:
    """Read the group afresh, apply ``changes`` and write it (no await in between: the event loop
    runs nobody else's change meanwhile)."""
    record = backend.store.get(record_id, ASG_GROUP)
    if record is None:
        raise errors.AsgValidationError("AutoScalingGroup name not found - null")
    record.data.update(changes)  # type: ignore[typeddict-item]
    return backend.store.update(record)


# ---------------------------------------------------------------------------------------------
# validation


def _placement(backend: Backend, region: str, subnet_ids: str | None,
               zone_names: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(zones, subnets) from VPCZoneIdentifier (comma-separated subnets of one VPC) or AvailabilityZones."""
    if subnet_ids:
        subnets = []
        for sid in [s.strip() for s in subnet_ids.split(",") if s.strip()]:
            try:
                subnets.append(vpcs.get_subnet(backend, region, sid))
            except errors.ApiError:
                raise errors.AsgValidationError(f"The subnet ID '{sid}' does not exist") from None
        if len({s.data["VpcId"] for s in subnets}) > 1:
            raise errors.AsgValidationError("The subnets must belong to the same VPC.")
        found = list(dict.fromkeys(s.data["AvailabilityZone"] for s in subnets))
        if zone_names and set(zone_names) != set(found):
            raise errors.AsgValidationError(
                "The availability zones of the specified subnets and the Auto Scaling group do not match")
        return found, [s.id for s in subnets]
    if not zone_names:
        raise errors.AsgValidationError("At least one Availability Zone or VPC Subnet is required.")
    info = backend.regions.get(region)
    for z in zone_names:
        if info is None or info.zone(z) is None:
            raise errors.AsgValidationError(f"The availability zone {z} is not legally formatted.")
    return list(dict.fromkeys(zone_names)), []


def _sizes(low: int, high: int, desired: int) -> None:
    if low > high:
        raise errors.AsgValidationError(f"Max bound, {high}, must be greater than or equal to min bound, {low}")
    if not low <= desired <= high:
        raise errors.AsgValidationError(
            f"Desired capacity:{desired} must be between the specified min size:{low} and max size:{high}")


def _launch_source(backend: Backend, region: str, req: Mapping[str, Any],
                   update: bool = False) -> tuple[str | None, dict[str, str] | None] | None:
    """(LaunchConfigurationName, LaunchTemplate) the request names; None when an update names neither."""
    mixed = (req.get("MixedInstancesPolicy") or {}).get("LaunchTemplate", {}).get("LaunchTemplateSpecification")
    given = [k for k in ("LaunchConfigurationName", "LaunchTemplate", "InstanceId") if req.get(k)] + (
        ["MixedInstancesPolicy"] if req.get("MixedInstancesPolicy") else [])
    if update and not given:
        return None
    if len(given) != 1:
        raise errors.AsgValidationError("Valid requests must contain either LaunchTemplate, LaunchConfigurationName, "
                                        "InstanceId or MixedInstancesPolicy parameter.")
    if req.get("InstanceId"):
        raise errors.AsgValidationError("Creating an Auto Scaling group from an instance is not supported by ec2d.")
    if req.get("LaunchConfigurationName"):
        launch_configs.require(backend, region, req["LaunchConfigurationName"])
        return req["LaunchConfigurationName"], None
    spec = dict(req.get("LaunchTemplate") or mixed or {})
    if bool(spec.get("LaunchTemplateId")) == bool(spec.get("LaunchTemplateName")):
        raise errors.AsgValidationError("Valid requests must contain either launchTemplateId or LaunchTemplateName")
    return None, {k: str(v) for k, v in spec.items() if v}


def _tags(tags: Sequence[Mapping[str, Any]], name: str) -> list[AsgTag]:
    out: dict[str, AsgTag] = {}
    for t in tags:
        key = t["Key"]
        if key.lower().startswith("aws:"):
            raise errors.AsgValidationError("Tag keys starting with 'aws:' are reserved for internal use")
        if t.get("ResourceId") not in (None, name):
            raise errors.asg_not_found(str(t.get("ResourceId")))
        out[key] = {"Key": key, "Value": t.get("Value") or "", "PropagateAtLaunch": bool(t.get("PropagateAtLaunch"))}
    if len(out) > MAX_TAGS:
        raise errors.AsgLimitExceeded(f"The quota of {MAX_TAGS} tags per Auto Scaling group has been exceeded.")
    return list(out.values())


def _policies(req: Mapping[str, Any], default: list[str]) -> list[str]:
    policies = list(req.get("TerminationPolicies") or default)
    for p in policies:
        if p not in TERMINATION_POLICIES and not p.startswith("arn:aws:lambda:"):
            raise errors.AsgValidationError(f"Termination policy {p} is not valid.")
    return policies


def _target_groups(backend: Backend, region: str, arns: Sequence[str]) -> list[str]:
    if not arns:
        return []
    port = backend.target_groups
    if port is None or port.missing(region, arns):
        raise errors.AsgValidationError(BAD_TARGET_GROUPS)
    return list(dict.fromkeys(arns))


def _health(req: Mapping[str, Any], default: str) -> str:
    kind = req.get("HealthCheckType") or default
    if kind not in HEALTH_CHECK_TYPES:
        raise errors.AsgValidationError(f"Health check type {kind} is not valid. Valid values are EC2 and ELB.")
    return str(kind)


# ---------------------------------------------------------------------------------------------
# create, update, delete


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> None:
    name = req["AutoScalingGroupName"]
    source = _launch_source(backend, region, req)
    assert source is not None
    zone_list, subnets = _placement(backend, region, req.get("VPCZoneIdentifier"), req.get("AvailabilityZones"))
    low, high = req["MinSize"], req["MaxSize"]
    desired = req["DesiredCapacity"] if req.get("DesiredCapacity") is not None else low
    _sizes(low, high, desired)
    health = _health(req, "EC2")
    tags = _tags(req.get("Tags") or [], name)
    tgs = _target_groups(backend, region, req.get("TargetGroupARNs") or [])
    policies = _policies(req, ["Default"])
    if get(backend, region, name) is not None:
        raise errors.AsgAlreadyExists(
            f"AutoScalingGroup by this name already exists - A group with the name {name} already exists")
    if len(backend.store.list(ASG_GROUP, region)) >= MAX_GROUPS:
        raise errors.AsgLimitExceeded(f"You have reached your quota of {MAX_GROUPS} Auto Scaling groups.")
    now = backend.store.now()
    data: AsgGroupData = {
        "AutoScalingGroupName": name, "AutoScalingGroupARN": names.group_arn(region, backend.account_id, name),
        "LaunchConfigurationName": source[0], "LaunchTemplate": source[1],  # type: ignore[typeddict-item]
        "MinSize": low, "MaxSize": high, "DesiredCapacity": desired,
        "DefaultCooldown": req.get("DefaultCooldown") if req.get("DefaultCooldown") is not None else 300,
        "AvailabilityZones": zone_list, "Subnets": subnets, "HealthCheckType": health,
        "HealthCheckGracePeriod": req.get("HealthCheckGracePeriod") or 0, "TargetGroupARNs": tgs,
        "TerminationPolicies": policies,
        "NewInstancesProtectedFromScaleIn": bool(req.get("NewInstancesProtectedFromScaleIn")),
        "CreatedTime": activities.iso(now), "Tags": tags, "SuspendedProcesses": [],
        "cause": f"At {activities.stamp(now)} a user request created an AutoScalingGroup changing the desired "
                 f"capacity from 0 to {desired}.",
        "failed_zones": {}}
    try:
        backend.store.insert(Record(id=names.group_id(region, name), type=ASG_GROUP, region=region,
                                    state=str(AsgGroupState.ACTIVE), data=data))
    except Exception as exc:  # a concurrent create of the same name won the primary key
        if get(backend, region, name) is not None:
            raise errors.AsgAlreadyExists(
                f"AutoScalingGroup by this name already exists - A group with the name {name} already exists") from exc
        raise


def update(backend: Backend, region: str, req: Mapping[str, Any]) -> None:
    name = req["AutoScalingGroupName"]
    record = get(backend, region, name)
    if record is None:
        raise errors.AsgValidationError("AutoScalingGroup name not found - null")
    g = record.data
    changes: dict[str, Any] = {}
    source = _launch_source(backend, region, req, update=True)
    if source is not None:
        changes["LaunchConfigurationName"], changes["LaunchTemplate"] = source
    if req.get("VPCZoneIdentifier") or req.get("AvailabilityZones"):
        changes["AvailabilityZones"], changes["Subnets"] = _placement(
            backend, region, req.get("VPCZoneIdentifier"), req.get("AvailabilityZones"))
    low = req["MinSize"] if req.get("MinSize") is not None else g["MinSize"]
    high = req["MaxSize"] if req.get("MaxSize") is not None else g["MaxSize"]
    desired = req.get("DesiredCapacity")
    if desired is None:  # a new bound drags the desired capacity along, as AWS does
        desired = min(max(g["DesiredCapacity"], low), high)
    _sizes(low, high, desired)
    changes.update(MinSize=low, MaxSize=high, DesiredCapacity=desired)
    if desired != g["DesiredCapacity"]:
        changes["cause"] = (f"At {activities.stamp(backend.store.now())} a user request update of AutoScalingGroup "
                            f"constraints to min: {low}, max: {high}, desired: {desired} changing the desired "
                            f"capacity from {g['DesiredCapacity']} to {desired}.")
    if req.get("HealthCheckType"):
        changes["HealthCheckType"] = _health(req, g["HealthCheckType"])
    for key in ("HealthCheckGracePeriod", "DefaultCooldown"):
        if req.get(key) is not None:
            changes[key] = req[key]
    if req.get("TerminationPolicies"):
        changes["TerminationPolicies"] = _policies(req, g["TerminationPolicies"])
    if req.get("NewInstancesProtectedFromScaleIn") is not None:
        changes["NewInstancesProtectedFromScaleIn"] = bool(req["NewInstancesProtectedFromScaleIn"])
    if changes.get("AvailabilityZones"):
        changes["failed_zones"] = {}
    mutate(backend, record.id, **changes)


def set_desired(backend: Backend, region: str, name: str, desired: int) -> None:
    record = require(backend, region, name)
    g = record.data
    if desired > g["MaxSize"]:
        raise errors.AsgValidationError(f"New SetDesiredCapacity value {desired} is above max value {g['MaxSize']} "
                                        "for the AutoScalingGroup.")
    if desired < g["MinSize"]:
        raise errors.AsgValidationError(f"New SetDesiredCapacity value {desired} is below min value {g['MinSize']} "
                                        "for the AutoScalingGroup.")
    if desired != g["DesiredCapacity"]:
        mutate(backend, record.id, DesiredCapacity=desired,
               cause=f"At {activities.stamp(backend.store.now())} a user request explicitly set group desired "
                     f"capacity changing the desired capacity from {g['DesiredCapacity']} to {desired}.")


def delete(backend: Backend, region: str, name: str, force: bool) -> None:
    """DeleteAutoScalingGroup: at once when it holds no instance; with ForceDelete the controller
    terminates its instances first (the group shows ``Delete in progress`` meanwhile)."""
    record = require(backend, region, name)
    if record.state == AsgGroupState.DELETING:
        return
    if not force:
        held = members(backend, region, name)
        if any(m.state != AsgInstanceState.IN_SERVICE for m in held) or activities.in_progress(backend, region, name):
            raise errors.AsgScalingActivityInProgress("You cannot delete an AutoScalingGroup while there are scaling "
                                                      "activities in progress for that group.")
        if held:
            raise errors.AsgResourceInUse("You cannot delete an AutoScalingGroup while there are instances or pending "
                                          "Spot instance request(s) still in the group.")
        backend.store.delete(record.id)
        return
    now = activities.stamp(backend.store.now())
    backend.store.transition(record.id, str(AsgGroupState.ACTIVE), str(AsgGroupState.DELETING), {
        "MinSize": 0, "MaxSize": 0, "DesiredCapacity": 0,
        "cause": f"At {now} a user request deleted the AutoScalingGroup changing the desired capacity from "
                 f"{record.data['DesiredCapacity']} to 0."})


# ---------------------------------------------------------------------------------------------
# processes, target groups, tags


def suspend(backend: Backend, region: str, name: str, processes: Sequence[str] | None, resume: bool) -> None:
    record = require(backend, region, name)
    wanted = list(processes or PROCESSES)
    unknown = [p for p in wanted if p not in PROCESSES]
    if unknown:
        raise errors.AsgValidationError(f"Process names not recognized: {', '.join(unknown)}")
    kept = [p for p in record.data["SuspendedProcesses"] if p["ProcessName"] not in wanted]
    if not resume:
        reason = f"User suspended at {activities.stamp(backend.store.now())}"
        kept += [{"ProcessName": p, "SuspensionReason": reason} for p in wanted]
    mutate(backend, record.id, SuspendedProcesses=kept)


def suspended(group: AsgGroupData, process: str) -> bool:
    return any(p["ProcessName"] == process for p in group["SuspendedProcesses"])


def attach_target_groups(backend: Backend, region: str, name: str, arns: Sequence[str]) -> None:
    record = require(backend, region, name)
    added = _target_groups(backend, region, arns)
    mutate(backend, record.id, TargetGroupARNs=list(dict.fromkeys(record.data["TargetGroupARNs"] + added)))


def detach_target_groups(backend: Backend, region: str, name: str, arns: Sequence[str]) -> list[Record]:
    """Forget the target groups; the members still registered with them (the caller deregisters)."""
    record = require(backend, region, name)
    mutate(backend, record.id, TargetGroupARNs=[a for a in record.data["TargetGroupARNs"] if a not in arns])
    return [m for m in members(backend, region, name) if set(m.data["registered"]) & set(arns)]


def describe_target_groups(backend: Backend, region: str, name: str) -> list[dict[str, str]]:
    record = require(backend, region, name)
    live = [m for m in members(backend, region, name) if m.state in LIVE]
    return [{"LoadBalancerTargetGroupARN": arn,
             "State": "InService" if any(arn in m.data["registered"] for m in live) else "Added"}
            for arn in record.data["TargetGroupARNs"]]


def tags_by_group(backend: Backend, region: str, tags: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for t in tags:
        if t.get("ResourceType", "auto-scaling-group") != "auto-scaling-group":
            raise errors.AsgValidationError(f"Resource type {t.get('ResourceType')} is not valid.")
        out.setdefault(str(t.get("ResourceId")), []).append(t)
    for group_name in out:
        if get(backend, region, group_name) is None:
            raise errors.AsgValidationError(
                f"AutoScalingGroup name not found - AutoScalingGroup {group_name} not found")
    return out


def put_tags(backend: Backend, region: str, tags: Sequence[Mapping[str, Any]]) -> None:
    for group_name, given in tags_by_group(backend, region, tags).items():
        record = require(backend, region, group_name)
        merged = {t["Key"]: t for t in record.data["Tags"]}
        merged.update({t["Key"]: t for t in _tags(given, group_name)})
        mutate(backend, record.id, Tags=_tags(list(merged.values()), group_name))


def delete_tags(backend: Backend, region: str, tags: Sequence[Mapping[str, Any]]) -> None:
    for group_name, given in tags_by_group(backend, region, tags).items():
        record = require(backend, region, group_name)
        gone = {t["Key"] for t in given}
        mutate(backend, record.id, Tags=[t for t in record.data["Tags"] if t["Key"] not in gone])


def names_in(backend: Backend, region: str) -> set[str]:
    return {g.data["AutoScalingGroupName"] for g in backend.store.list(ASG_GROUP, region)}


def traffic_sources(backend: Backend, region: str, name: str, kind: str | None) -> list[dict[str, str]]:
    """DescribeTrafficSources: the group's target groups as ``elbv2`` traffic sources."""
    if kind not in (None, "elbv2"):
        require(backend, region, name)
        return []
    return [{"TrafficSource": t["LoadBalancerTargetGroupARN"], "Identifier": t["LoadBalancerTargetGroupARN"],
             "Type": "elbv2", "State": t["State"]} for t in describe_target_groups(backend, region, name)]


def account_limits(backend: Backend, region: str) -> dict[str, int]:
    return {"MaxNumberOfAutoScalingGroups": MAX_GROUPS,
            "MaxNumberOfLaunchConfigurations": launch_configs.MAX_LAUNCH_CONFIGURATIONS,
            "NumberOfAutoScalingGroups": len(backend.store.list(ASG_GROUP, region)),
            "NumberOfLaunchConfigurations": len(backend.store.list(launch_configs.ASG_LAUNCH_CONFIGURATION, region))}
