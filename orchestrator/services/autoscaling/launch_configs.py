"""Launch configurations: Create/Describe/DeleteLaunchConfiguration, and the RunInstances request
one makes for a group's instance (:func:`run_request`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.autoscaling_records import (
    ASG_GROUP,
    ASG_LAUNCH_CONFIGURATION,
    AsgLaunchConfigurationData,
)
from orchestrator.domain.lifecycle import AVAILABLE
from orchestrator.services import images
from orchestrator.services.autoscaling import names
from orchestrator.services.autoscaling.activities import iso
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

MAX_LAUNCH_CONFIGURATIONS = 200  # AWS's default quota per region


def get(backend: Backend, region: str, name: str) -> Record[AsgLaunchConfigurationData] | None:
    return backend.store.get(names.launch_configuration_id(region, name), ASG_LAUNCH_CONFIGURATION)


def require(backend: Backend, region: str, name: str) -> Record[AsgLaunchConfigurationData]:
    found = get(backend, region, name)
    if found is None:
        raise errors.AsgValidationError(f"Launch configuration name not found - Launch configuration {name} not found")
    return found


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> None:
    name = req["LaunchConfigurationName"]
    if get(backend, region, name) is not None:
        raise errors.AsgAlreadyExists(
            f"Launch Configuration by this name already exists - A launch configuration already exists with the name {name}")
    if req.get("InstanceId"):
        raise errors.AsgValidationError("Creating a launch configuration from an instance is not supported by ec2d.")
    if not req.get("ImageId") or not req.get("InstanceType"):
        raise errors.AsgValidationError("Valid requests must contain either the InstanceID parameter or both the "
                                        "ImageId and InstanceType parameters.")
    try:
        images.get(backend, region, req["ImageId"])
    except errors.ApiError:
        raise errors.AsgValidationError(
            f"AMI {req['ImageId']} is invalid: The image id '[{req['ImageId']}]' does not exist") from None
    if catalogue.get(req["InstanceType"]) is None:
        raise errors.AsgValidationError(f"Invalid value '{req['InstanceType']}' for InstanceType.")
    if len(backend.store.list(ASG_LAUNCH_CONFIGURATION, region)) >= MAX_LAUNCH_CONFIGURATIONS:
        raise errors.AsgLimitExceeded(f"Launch configuration limit exceeded - You have reached the limit of "
                                      f"{MAX_LAUNCH_CONFIGURATIONS} launch configurations.")
    data: AsgLaunchConfigurationData = {
        "LaunchConfigurationName": name,
        "LaunchConfigurationARN": names.launch_configuration_arn(region, backend.account_id, name),
        "ImageId": req["ImageId"], "InstanceType": req["InstanceType"], "KeyName": req.get("KeyName") or "",
        "SecurityGroups": list(req.get("SecurityGroups") or []), "UserData": req.get("UserData") or "",
        "BlockDeviceMappings": list(req.get("BlockDeviceMappings") or []),
        "IamInstanceProfile": req.get("IamInstanceProfile"),
        "AssociatePublicIpAddress": req.get("AssociatePublicIpAddress"),
        "MetadataOptions": req.get("MetadataOptions"), "CreatedTime": iso(backend.store.now())}
    backend.store.insert(Record(id=names.launch_configuration_id(region, name), type=ASG_LAUNCH_CONFIGURATION,
                                region=region, state=AVAILABLE, data=data))


def delete(backend: Backend, region: str, name: str) -> None:
    record = require(backend, region, name)
    users = [g.data["AutoScalingGroupName"] for g in backend.store.list(ASG_GROUP, region)
             if g.data["LaunchConfigurationName"] == name]
    if users:
        raise errors.AsgResourceInUse(f"Cannot delete launch configuration {name} because it is attached to "
                                      f"AutoScalingGroup {users[0]}")
    backend.store.delete(record.id)


def describe(backend: Backend, region: str, wanted: Sequence[str] | None) -> list[dict[str, Any]]:
    out = []
    for r in backend.store.list(ASG_LAUNCH_CONFIGURATION, region):
        d = r.data
        if wanted and d["LaunchConfigurationName"] not in wanted:
            continue
        item: dict[str, Any] = {
            "LaunchConfigurationName": d["LaunchConfigurationName"], "LaunchConfigurationARN": d["LaunchConfigurationARN"],
            "ImageId": d["ImageId"], "KeyName": d["KeyName"], "SecurityGroups": d["SecurityGroups"],
            "ClassicLinkVPCSecurityGroups": [], "UserData": d["UserData"], "InstanceType": d["InstanceType"],
            "KernelId": "", "RamdiskId": "", "BlockDeviceMappings": d["BlockDeviceMappings"],
            "InstanceMonitoring": {"Enabled": True}, "CreatedTime": d["CreatedTime"], "EbsOptimized": False}
        for key in ("IamInstanceProfile", "AssociatePublicIpAddress", "MetadataOptions"):
            if d[key] is not None:  # type: ignore[literal-required]
                item[key] = d[key]  # type: ignore[literal-required]
        out.append(item)
    out.sort(key=lambda i: i["LaunchConfigurationName"])
    return out


def _mapping(m: Mapping[str, Any]) -> dict[str, Any]:
    """An Auto Scaling BlockDeviceMapping as EC2's (NoDevice is a flag here, a string there)."""
    out: dict[str, Any] = {"DeviceName": m["DeviceName"]}
    if m.get("NoDevice"):
        out["NoDevice"] = ""
    if m.get("VirtualName"):
        out["VirtualName"] = m["VirtualName"]
    if m.get("Ebs"):
        out["Ebs"] = {k: v for k, v in m["Ebs"].items() if v is not None}
    return out


def run_request(lc: AsgLaunchConfigurationData, subnet_id: str) -> dict[str, Any]:
    """The RunInstances request of one instance from ``lc`` into ``subnet_id``."""
    req: dict[str, Any] = {"ImageId": lc["ImageId"], "InstanceType": lc["InstanceType"], "MinCount": 1, "MaxCount": 1}
    if lc["KeyName"]:
        req["KeyName"] = lc["KeyName"]
    if lc["UserData"]:
        req["UserData"] = lc["UserData"]
    if lc["BlockDeviceMappings"]:
        req["BlockDeviceMappings"] = [_mapping(m) for m in lc["BlockDeviceMappings"]]
    profile = lc["IamInstanceProfile"]
    if profile:
        req["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
    if lc["MetadataOptions"]:
        req["MetadataOptions"] = dict(lc["MetadataOptions"])
    ids = [g for g in lc["SecurityGroups"] if g.startswith("sg-")]
    group_names = [g for g in lc["SecurityGroups"] if not g.startswith("sg-")]
    if lc["AssociatePublicIpAddress"] is not None:
        req["NetworkInterfaces"] = [{"DeviceIndex": 0, "SubnetId": subnet_id, "Groups": ids,
                                     "AssociatePublicIpAddress": lc["AssociatePublicIpAddress"]}]
    else:
        req["SubnetId"] = subnet_id
        if ids:
            req["SecurityGroupIds"] = ids
    if group_names:
        req["SecurityGroups"] = group_names
    return req
