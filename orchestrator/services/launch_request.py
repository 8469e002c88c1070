"""RunInstances' request, checked: image, type, counts, key, user data, metadata options, block-device
mappings, placement (subnet, zone, groups, addresses) and tags. Every refusal EC2 would give happens
here, with EC2's code, before :func:`orchestrator.services.instances.run` makes any record: a
launch never fails later on something the request could have been refused for."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.lifecycle import ImageState
from orchestrator.domain.records import GroupIdentifier, ImageData, InstanceMaintenanceOptions, SubnetData
from orchestrator.domain.volume_types import check_type_and_size
from orchestrator.drivers.compute.designer import ec2_device_to_target
from orchestrator.services import ebs_encryption, eni_ipv6, ipv6_native, keypairs, vpcs, zones
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

MAX_USER_DATA = 16 * 1024


@dataclass
class Launch:
    """What a RunInstances request asks for, checked: every refusal happens before any record is made."""

    image: Record
    itype: catalogue.InstanceType
    min_count: int
    max_count: int
    public_key: str | None
    user_data: str | None
    metadata: dict[str, Any]
    maintenance: InstanceMaintenanceOptions
    shutdown: str
    root_spec: dict[str, Any]
    extra_specs: list[dict[str, Any]]
    subnet: Record
    groups: list[GroupIdentifier]
    private_ip: str | None
    wants_public: bool
    instance_tags: dict[str, str]
    volume_tags: dict[str, str]
    ipv6: dict[str, Any] = field(default_factory=dict)  # Ipv6AddressCount / Ipv6Addresses of the primary ENI


def _user_data(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidParameterValue("Invalid BASE64 encoding of user data.") from None
    if len(decoded) > MAX_USER_DATA:
        raise errors.InvalidParameterValue(f"User data is limited to {MAX_USER_DATA} bytes")
    return raw


def _metadata_options(opts: Mapping[str, Any] | None, image: Record[ImageData]) -> dict[str, Any]:
    v2 = image.data.get("ImdsSupport") == "v2.0"
    out = {
        "State": "applied",
        "HttpTokens": "required" if v2 else "optional",
        "HttpPutResponseHopLimit": 2 if v2 else 1,
        "HttpEndpoint": "enabled",
        "HttpProtocolIpv6": "disabled",
        "InstanceMetadataTags": "disabled",
    }
    for key in ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "InstanceMetadataTags", "HttpProtocolIpv6"):
        if opts and opts.get(key) is not None:
            out[key] = opts[key]
    if not 1 <= int(out["HttpPutResponseHopLimit"]) <= 64:
        raise errors.InvalidParameterValue.for_param(
            "httpPutResponseHopLimit", out["HttpPutResponseHopLimit"], "Expected a value between 1 and 64.")
    return out


# EC2 device names a RunInstances mapping may use: /dev/sd[a-z] (with a partition number for the
# root, /dev/sda1), /dev/xvd[a-z], /dev/xvd[a-z][a-z]; Windows-style names without /dev/ too
BDM_DEVICE = re.compile(r"^(/dev/)?(sd[a-z]([1-9][0-9]?)?|xvd[a-z]{1,2})$")


def _bad_mapping(message: str) -> errors.ApiError:
    return errors.ApiError(message, code="InvalidBlockDeviceMapping")


def _slot(name: str) -> str | None:
    """The guest disk slot of a device name (``/dev/sdf`` and ``/dev/xvdf`` are one slot)."""
    try:
        return ec2_device_to_target(name)
    except ValueError:
        return None


def device_target(name: str) -> str:
    """The slot of a device name a request maps; InvalidBlockDeviceMapping for a name EC2 does
    not accept there. (An AMI's own names were checked when it was registered: ``_slot``.)"""
    slot = _slot(name) if BDM_DEVICE.match(name) else None
    if slot is None:
        raise _bad_mapping(f"Invalid device name {name}")
    return slot


def _root_mapping(image: Record, mappings: Sequence[Mapping[str, Any]] | None) -> tuple[dict[str, Any], list[dict]]:
    """(root volume spec, extra new-volume specs) from the AMI's mappings and the request's.

    Every device name, size and volume type is checked here, at the API, with EC2's errors:
    a launch never fails later on a mapping the request could have been refused for."""
    ami_root = image.data["BlockDeviceMappings"][0]
    root_name = image.data["RootDeviceName"]
    root = {"DeviceName": root_name, **ami_root["Ebs"]}
    extras: list[dict] = []
    seen: dict[str, str] = {}  # guest slot -> the requested name that takes it
    for m in mappings or []:
        name = m.get("DeviceName")
        if not name:
            raise _bad_mapping("Missing device name")
        target = device_target(name)
        if target in seen:
            raise _bad_mapping(f"The device '{name.removeprefix('/dev/')}' is used in more than one block-device mapping")
        seen[target] = name
    root_target = _slot(root_name)
    for m in image.data["BlockDeviceMappings"][1:]:  # the AMI's data volumes (e.g. from CreateImage)
        ebs = m.get("Ebs") or {}
        if ebs.get("SnapshotId") and m["DeviceName"] not in seen.values() and _slot(m["DeviceName"]) not in seen:
            extras.append({"DeviceName": m["DeviceName"], "VolumeSize": ebs.get("VolumeSize") or 1,
                           "VolumeType": ebs.get("VolumeType") or "gp3", "SnapshotId": ebs["SnapshotId"],
                           "DeleteOnTermination": ebs.get("DeleteOnTermination", True)})
    for m in mappings or []:
        name = m["DeviceName"]
        ebs = m.get("Ebs") or {}
        ebs_encryption.check_dependency(ebs)
        if name in (root_name, "/dev/sda1") or name.rstrip("0123456789") == root_name \
                or device_target(name) == root_target:
            size = ebs.get("VolumeSize")
            if size is not None and size < ami_root["Ebs"]["VolumeSize"]:
                raise errors.ApiError(
                    f"Volume of size {size}GB is smaller than snapshot '{ami_root['Ebs']['SnapshotId']}', "
                    f"expect size >= {ami_root['Ebs']['VolumeSize']}GB", code="InvalidBlockDeviceMapping")
            root.update({k: v for k, v in ebs.items() if v is not None and k != "SnapshotId"})
        elif m.get("NoDevice") is not None or m.get("VirtualName"):
            continue
        else:
            if not ebs.get("VolumeSize"):
                raise errors.ApiError(f"The request must contain the parameter size for {name}",
                                      code="InvalidBlockDeviceMapping")
            vtype = ebs.get("VolumeType") or "gp3"
            check_type_and_size(vtype, int(ebs["VolumeSize"]))
            extras.append({"DeviceName": name, "VolumeSize": ebs["VolumeSize"],
                           "VolumeType": vtype, "SnapshotId": ebs.get("SnapshotId"),
                           "DeleteOnTermination": ebs.get("DeleteOnTermination", True),
                           "Encrypted": ebs.get("Encrypted"), "KmsKeyId": ebs.get("KmsKeyId")})
    check_type_and_size(root.get("VolumeType") or "gp3", int(root["VolumeSize"]))
    root.setdefault("DeleteOnTermination", True)
    return root, extras


def maintenance_options(requested: Mapping[str, Any] | None) -> InstanceMaintenanceOptions:
    """``MaintenanceOptions`` asked for (RunInstances, ModifyInstanceMaintenanceOptions), checked."""
    value = (requested or {}).get("AutoRecovery") or "default"
    if value not in ("default", "disabled"):
        raise errors.InvalidParameterValue.for_param("AutoRecovery", value, "Valid values are default | disabled.")
    return {"AutoRecovery": value}


def check(backend: Backend, region: str, req: Mapping[str, Any], image: Record[ImageData]) -> Launch:
    if image.state != ImageState.AVAILABLE:
        raise errors.ApiError(f"AMI '{image.id}' is {image.state}, and cannot be run", code="InvalidAMIID.Unavailable")
    type_name = req.get("InstanceType") or "m1.small"
    itype = catalogue.get(type_name)
    if itype is None:
        raise errors.InvalidParameterValue(f"Invalid value '{type_name}' for InstanceType.")
    min_count, max_count = req["MinCount"], req["MaxCount"]
    if min_count < 1 or max_count < 1:
        raise errors.InvalidParameterValue("Value for parameter MinCount/MaxCount must be at least 1")
    if min_count > max_count:
        raise errors.InvalidParameterValue("MinCount must be less than or equal to MaxCount")
    public_key = keypairs.public_key(backend, region, req["KeyName"]) if req.get("KeyName") else None
    user_data = _user_data(req.get("UserData"))
    metadata = _metadata_options(req.get("MetadataOptions"), image)
    maintenance = maintenance_options(req.get("MaintenanceOptions"))
    shutdown = req.get("InstanceInitiatedShutdownBehavior") or "stop"
    root_spec, extra_specs = _root_mapping(image, req.get("BlockDeviceMappings"))
    subnet, groups, private_ip, wants_public = _placement(backend, region, req)
    zones.require(backend, region, subnet.data["AvailabilityZone"], itype.name)
    if private_ip and max_count > 1:
        raise errors.InvalidParameterCombination("Cannot specify a private IP address when launching more than one instance")
    instance_tags, volume_tags = _launch_tags(req)
    ipv6 = _ipv6_request(req)
    eni_ipv6.check_launch(subnet, ipv6, max_count)
    ipv6_native.check_launch(subnet, private_ip, wants_public, ipv6)
    return Launch(image, itype, min_count, max_count, public_key, user_data, metadata, maintenance, shutdown, root_spec,
                  extra_specs, subnet, groups, private_ip, wants_public, instance_tags, volume_tags, ipv6)


def _ipv6_request(req: Mapping[str, Any]) -> dict[str, Any]:
    """The primary interface's IPv6 parameters: RunInstances' own, or NetworkInterfaces[0]'s."""
    nic0 = (req.get("NetworkInterfaces") or [{}])[0]
    return {k: req.get(k) if req.get(k) is not None else nic0.get(k) for k in ("Ipv6AddressCount", "Ipv6Addresses")
            if req.get(k) is not None or nic0.get(k) is not None}


def _placement(backend: Backend, region: str,
               req: Mapping[str, Any]) -> tuple[Record[SubnetData], list[GroupIdentifier], str | None, bool]:
    """(subnet, groups, private address, public address?): SubnetId (directly or in
    NetworkInterfaces[0]) or the default subnet of the zone, and the groups of its VPC."""
    nic0 = (req.get("NetworkInterfaces") or [{}])[0]
    subnet_id = req.get("SubnetId") or nic0.get("SubnetId")
    zone_name = (req.get("Placement") or {}).get("AvailabilityZone")
    region_info = backend.regions.get(region)
    assert region_info is not None
    if zone_name and region_info.zone(zone_name) is None:
        raise errors.InvalidParameterValue(f"Invalid availability zone: [{zone_name}]")
    if subnet_id:
        subnet = vpcs.get_subnet(backend, region, subnet_id)
        if zone_name and zone_name != subnet.data["AvailabilityZone"]:
            raise errors.InvalidParameterValue(
                f"Value ({zone_name}) for parameter availabilityZone is invalid. "
                f"Subnet {subnet_id} is in {subnet.data['AvailabilityZone']}.")
    else:
        subnet = vpcs.default_subnet(backend, region, zone_name or zones.first_available(backend, region))
    group_ids = req.get("SecurityGroupIds") or nic0.get("Groups")
    if req.get("SecurityGroups"):
        by_name = {g.data["GroupName"]: g.id for g in backend.store.list(vpcs.SECURITY_GROUP, region)
                   if g.data["VpcId"] == subnet.data["VpcId"]}
        for name in req["SecurityGroups"]:
            if name not in by_name:
                raise errors.NotFound("InvalidGroup.NotFound", f"The security group '{name}' does not exist in VPC "
                                      f"'{subnet.data['VpcId']}'")
        group_ids = list(group_ids or []) + [by_name[n] for n in req["SecurityGroups"]]
    groups = vpcs.security_groups(backend, region, subnet.data["VpcId"], group_ids)
    private_ip = req.get("PrivateIpAddress") or nic0.get("PrivateIpAddress")
    wants_public = nic0.get("AssociatePublicIpAddress")
    if wants_public is None:
        wants_public = bool(subnet.data.get("MapPublicIpOnLaunch"))
    return subnet, groups, private_ip, bool(wants_public)


def _launch_tags(req: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    specs = req.get("TagSpecifications") or []
    instance_tags = tag_service.tags_from_specifications(
        [s for s in specs if s.get("ResourceType") == "instance"], "instance")
    volume_tags = tag_service.tags_from_specifications(
        [s for s in specs if s.get("ResourceType") == "volume"], "volume")
    for spec in specs:
        if spec.get("ResourceType") not in ("instance", "volume", "network-interface"):
            raise errors.InvalidParameterValue(
                f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.")
    return instance_tags, volume_tags


