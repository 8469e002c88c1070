"""What the autoscaling Describe calls show: groups (with their instances and tags), the instances
of every group, tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.autoscaling_records import ASG_GROUP, ASG_INSTANCE, AsgGroupData, AsgTag
from orchestrator.domain.lifecycle import AsgGroupState
from orchestrator.services.autoscaling import groups
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record


def _instance(m: Record) -> dict[str, Any]:
    d = m.data
    out = {"InstanceId": d["InstanceId"], "InstanceType": d["InstanceType"], "AvailabilityZone": d["AvailabilityZone"],
           "LifecycleState": m.state, "HealthStatus": d["HealthStatus"], "ProtectedFromScaleIn": d["ProtectedFromScaleIn"]}
    if d["LaunchConfigurationName"]:
        out["LaunchConfigurationName"] = d["LaunchConfigurationName"]
    if d["LaunchTemplate"]:
        out["LaunchTemplate"] = dict(d["LaunchTemplate"])
    return out


def _tag(name: str, t: AsgTag) -> dict[str, Any]:
    return {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": t["Key"], "Value": t["Value"],
            "PropagateAtLaunch": t["PropagateAtLaunch"]}


def group(backend: Backend, record: Record[AsgGroupData], include_instances: bool = True) -> dict[str, Any]:
    g = record.data
    name = g["AutoScalingGroupName"]
    out: dict[str, Any] = {
        "AutoScalingGroupName": name, "AutoScalingGroupARN": g["AutoScalingGroupARN"],
        "MinSize": g["MinSize"], "MaxSize": g["MaxSize"], "DesiredCapacity": g["DesiredCapacity"],
        "DefaultCooldown": g["DefaultCooldown"], "AvailabilityZones": g["AvailabilityZones"],
        "LoadBalancerNames": [], "TargetGroupARNs": g["TargetGroupARNs"], "HealthCheckType": g["HealthCheckType"],
        "HealthCheckGracePeriod": g["HealthCheckGracePeriod"], "CreatedTime": g["CreatedTime"],
        "SuspendedProcesses": g["SuspendedProcesses"], "VPCZoneIdentifier": ",".join(g["Subnets"]),
        "EnabledMetrics": [], "Tags": [_tag(name, t) for t in g["Tags"]],
        "TerminationPolicies": g["TerminationPolicies"],
        "NewInstancesProtectedFromScaleIn": g["NewInstancesProtectedFromScaleIn"],
        "ServiceLinkedRoleARN": f"arn:aws:iam::{backend.account_id}:role/aws-service-role/autoscaling.amazonaws.com/"
                                "AWSServiceRoleForAutoScaling",
        "CapacityRebalance": False,
    }
    if include_instances:
        out["Instances"] = [_instance(m) for m in groups.members(backend, record.region, name)]
    if g["LaunchConfigurationName"]:
        out["LaunchConfigurationName"] = g["LaunchConfigurationName"]
    if g["LaunchTemplate"]:
        out["LaunchTemplate"] = dict(g["LaunchTemplate"])
    if record.state == AsgGroupState.DELETING:
        out["Status"] = str(AsgGroupState.DELETING)
    return out


def _tag_match(filters: Sequence[Mapping[str, Any]], name: str, t: Mapping[str, Any]) -> bool:
    keys = {"auto-scaling-group": name, "key": t["Key"], "value": t["Value"],
            "propagate-at-launch": str(t["PropagateAtLaunch"]).lower()}
    for f in filters:
        if f.get("Name") not in keys:
            raise errors.AsgValidationError(f"Filter type {f.get('Name')} is not correct. Allowed Filter types are: "
                                            "auto-scaling-group key value propagate-at-launch")
        if not any(fnmatchcase(keys[f["Name"]], v) for v in f.get("Values") or []):
            return False
    return True


def _group_match(filters: Sequence[Mapping[str, Any]], g: AsgGroupData) -> bool:
    for f in filters:
        fname, values = str(f.get("Name")), list(f.get("Values") or [])
        tags = g["Tags"]
        if fname == "tag-key":
            ok = any(t["Key"] in values for t in tags)
        elif fname == "tag-value":
            ok = any(t["Value"] in values for t in tags)
        elif fname.startswith("tag:"):
            ok = any(t["Key"] == fname[4:] and t["Value"] in values for t in tags)
        else:
            raise errors.AsgValidationError(f"Filter type {fname} is not correct. Allowed Filter types are: "
                                            "tag-key tag-value tag:<key>")
        if not ok:
            return False
    return True


def groups_of(backend: Backend, region: str, req: Mapping[str, Any]) -> list[dict[str, Any]]:
    wanted = req.get("AutoScalingGroupNames")
    records = sorted(backend.store.list(ASG_GROUP, region), key=lambda r: r.data["AutoScalingGroupName"])
    include = req.get("IncludeInstances", True) is not False
    return [group(backend, r, include) for r in records
            if (not wanted or r.data["AutoScalingGroupName"] in wanted)
            and _group_match(req.get("Filters") or [], r.data)]


def tags_of(backend: Backend, region: str, filters: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in sorted(backend.store.list(ASG_GROUP, region), key=lambda r: r.data["AutoScalingGroupName"]):
        name = r.data["AutoScalingGroupName"]
        out += [_tag(name, t) for t in r.data["Tags"] if _tag_match(filters, name, _tag(name, t))]
    return out


def instances_of(backend: Backend, region: str, instance_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeAutoScalingInstances' items (HealthStatus upper-case there, as AWS shows it)."""
    out = []
    for m in backend.store.list(ASG_INSTANCE, region):
        if instance_ids and m.data["InstanceId"] not in instance_ids:
            continue
        item = _instance(m)
        item["AutoScalingGroupName"] = m.data["AutoScalingGroupName"]
        item["HealthStatus"] = item["HealthStatus"].upper()
        out.append(item)
    return out
