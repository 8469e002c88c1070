"""GetLaunchTemplateData: a running or stopped instance's launch parameters as launch template
data (ResponseLaunchTemplateData), to make a template from an instance, as EC2 does: its image,
type, key, zone, primary network interface (subnet, groups, public address), volumes, user data,
metadata options, instance profile, termination settings and its own tags."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.lifecycle import PROFILE_ATTACHED
from orchestrator.services import ebs_encryption, lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend

_METADATA = ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "HttpProtocolIpv6", "InstanceMetadataTags")


def _volumes(backend: Backend, region: str, mappings: list[Any]) -> list[dict[str, Any]]:
    out = []
    for m in mappings:
        volume = lookup.get(backend, region, "vol", m["VolumeId"]).data
        ebs: dict[str, Any] = {**ebs_encryption.shown(volume), "DeleteOnTermination": m["DeleteOnTermination"],
                               "VolumeSize": volume["Size"], "VolumeType": volume["VolumeType"]}
        if volume["SnapshotId"]:
            ebs["SnapshotId"] = volume["SnapshotId"]
        for key in ("Iops", "Throughput"):
            if volume.get(key) is not None:
                ebs[key] = volume[key]
        out.append({"DeviceName": m["DeviceName"], "Ebs": ebs})
    return out


def of_instance(backend: Backend, region: str, instance_id: str) -> dict[str, Any]:
    """The instance's parameters in ResponseLaunchTemplateData's members."""
    record = lookup.instance(backend, region, instance_id)
    data = record.data
    out: dict[str, Any] = {
        "ImageId": data["ImageId"], "InstanceType": data["InstanceType"],
        "Placement": {"AvailabilityZone": data["AvailabilityZone"], "GroupName": "", "Tenancy": "default"},
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": data["SubnetId"],
                               "Groups": [g["GroupId"] for g in data["SecurityGroups"]],
                               "AssociatePublicIpAddress": data["AssociatePublicIp"],
                               "DeleteOnTermination": True, "Description": ""}],
        "BlockDeviceMappings": _volumes(backend, region, data["BlockDeviceMappings"]),
        "MetadataOptions": {k: data["MetadataOptions"][k] for k in _METADATA},
        "DisableApiTermination": data["DisableApiTermination"],
        "InstanceInitiatedShutdownBehavior": data["InstanceInitiatedShutdownBehavior"],
        "Monitoring": {"Enabled": False}, "EbsOptimized": False,
    }
    if data.get("KeyName"):
        out["KeyName"] = data["KeyName"]
    if data.get("UserData"):
        out["UserData"] = data["UserData"]
    profiles = [a for a in data.get("IamInstanceProfileAssociations") or [] if a["State"] in PROFILE_ATTACHED]
    if profiles:
        out["IamInstanceProfile"] = {"Arn": profiles[-1]["Arn"]}
    own = {k: v for k, v in tag_service.of(backend, record.id).items() if not k.startswith("aws:")}
    if own:
        out["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tag_service.tag_list(own)}]
    return out
