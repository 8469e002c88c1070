"""Instances, the API side: validate requests, write records through the state tables, and hand
the slow work (disks, domains, networks) to the runtime, which runs it in the background.

RunInstances returns at once with ``pending`` instances, as on EC2.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.states import INSTANCE_CODES, REQUESTS, InstanceState, Request, check_edge
from orchestrator.services import capacity, images, keypairs, public_ips, vpcs
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record, StateConflict

INSTANCE = "instance"
VOLUME = "volume"
S = InstanceState
TERMINATED_VISIBLE_SECONDS = 3600
MAX_USER_DATA = 16 * 1024
GIB = 1024**3


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------------------------
# lookups


def get(backend: Backend, region: str, instance_id: str) -> Record:
    ids.check(instance_id, "i")
    record = backend.store.get(instance_id, INSTANCE)
    if record is None or record.region != region:
        raise ids.KINDS["i"].not_found_error(instance_id)
    return record


def find(backend: Backend, region: str, instance_ids: Sequence[str]) -> list[Record]:
    for iid in instance_ids:
        ids.check(iid, "i")
    records = {r.id: r for r in backend.store.list(INSTANCE, region, ids=instance_ids)}
    missing = [i for i in instance_ids if i not in records]
    if len(missing) == 1:
        raise ids.KINDS["i"].not_found_error(missing[0])
    if missing:
        raise errors.NotFound("InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(missing)}' do not exist")
    return [records[i] for i in dict.fromkeys(instance_ids)]


def transition(backend: Backend, record_id: str, current: InstanceState | Iterable[InstanceState],
               target: InstanceState, changes: Mapping[str, Any] | None = None) -> Record:
    """Move along an edge of the lifecycle table, compare-and-swap on the current state.

    Every move but the one into ``running`` revokes the instance's identity credentials: they stop
    working as soon as it stops or terminates, and a start issues new ones.
    """
    sources = [current] if isinstance(current, InstanceState) else list(current)
    for src in sources:
        check_edge(src, target)
    data = dict(changes or {})
    data["StateTransitionReason"] = data.get("StateTransitionReason", "")
    record = backend.store.transition(record_id, [str(s) for s in sources], str(target), data)
    if target != S.RUNNING:
        backend.sessions.forget(record_id)
    return record


# ---------------------------------------------------------------------------------------------
# RunInstances


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


def _metadata_options(opts: Mapping[str, Any] | None, image: Record) -> dict[str, Any]:
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


def _bad_mapping(message: str) -> errors.Ec2Error:
    return errors.Ec2Error(message, code="InvalidBlockDeviceMapping")


def _slot(name: str) -> str | None:
    """The guest disk slot of a device name (``/dev/sdf`` and ``/dev/xvdf`` are one slot)."""
    from orchestrator.drivers.compute.designer import ec2_device_to_target

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


def _check_volume(vtype: str, size: int) -> None:
    from orchestrator.services import volumes

    if vtype not in volumes.SIZE_LIMITS:
        volumes.performance(vtype, size, None, None)  # EC2's error for an unknown volume type
    volumes.check_size(vtype, size)


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
        if name in (root_name, "/dev/sda1") or name.rstrip("0123456789") == root_name \
                or device_target(name) == root_target:
            size = ebs.get("VolumeSize")
            if size is not None and size < ami_root["Ebs"]["VolumeSize"]:
                raise errors.Ec2Error(
                    f"Volume of size {size}GB is smaller than snapshot '{ami_root['Ebs']['SnapshotId']}', "
                    f"expect size >= {ami_root['Ebs']['VolumeSize']}GB", code="InvalidBlockDeviceMapping")
            root.update({k: v for k, v in ebs.items() if v is not None and k != "SnapshotId"})
        elif m.get("NoDevice") is not None or m.get("VirtualName"):
            continue
        else:
            if not ebs.get("VolumeSize"):
                raise errors.Ec2Error(f"The request must contain the parameter size for {name}",
                                      code="InvalidBlockDeviceMapping")
            vtype = ebs.get("VolumeType") or "gp3"
            _check_volume(vtype, int(ebs["VolumeSize"]))
            extras.append({"DeviceName": name, "VolumeSize": ebs["VolumeSize"],
                           "VolumeType": vtype, "SnapshotId": ebs.get("SnapshotId"),
                           "DeleteOnTermination": ebs.get("DeleteOnTermination", True)})
    _check_volume(root.get("VolumeType") or "gp3", int(root["VolumeSize"]))
    root.setdefault("DeleteOnTermination", True)
    return root, extras


def _volume_record(backend: Backend, region: str, zone: str, size: int, vtype: str, snapshot_id: str | None,
                   instance_id: str, device: str, delete_on_termination: bool, tags: dict[str, str]) -> Record:
    record = Record(id=ids.new_id("vol"), type=VOLUME, region=region, state="in-use", data={
        "Size": size,
        "AvailabilityZone": zone,
        "VolumeType": vtype,
        "Iops": 3000 if vtype == "gp3" else None,
        "Throughput": 125 if vtype == "gp3" else None,
        "SnapshotId": snapshot_id or "",
        "CreateTime": now_iso(),
        "Encrypted": False,
        "MultiAttachEnabled": False,
        "Attachments": [{"InstanceId": instance_id, "Device": device, "State": "attaching",
                         "AttachTime": now_iso(), "DeleteOnTermination": delete_on_termination}],
    })
    backend.store.insert(record)
    if tags:
        backend.store.set_tags(record.id, VOLUME, region, tags)
    return record


def run(backend: Backend, region: str, req: Mapping[str, Any]) -> dict[str, Any]:
    token = req.get("ClientToken")
    if token:
        same = [r for r in backend.store.list(INSTANCE, region) if r.data.get("ClientToken") == token]
        if same:
            return reservation(backend, same)

    if not req.get("ImageId"):  # botocore's model leaves it optional (launch templates): ec2d has none
        raise errors.MissingParameter("ImageId")
    image = images.get(backend, region, req["ImageId"])
    if backend.runtime is not None:
        backend.runtime.require_hypervisor()
    if image.state != "available":
        raise errors.Ec2Error(f"AMI '{image.id}' is {image.state}, and cannot be run", code="InvalidAMIID.Unavailable")
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
    shutdown = req.get("InstanceInitiatedShutdownBehavior") or "stop"
    root_spec, extra_specs = _root_mapping(image, req.get("BlockDeviceMappings"))

    # Where: SubnetId (directly or in NetworkInterfaces[0]) or the default subnet of the zone.
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
        subnet = vpcs.default_subnet(backend, region, zone_name or region_info.zones[0].name)
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
    if private_ip and max_count > 1:
        raise errors.InvalidParameterCombination("Cannot specify a private IP address when launching more than one instance")

    instance_tags = tag_service.tags_from_specifications(
        [s for s in req.get("TagSpecifications") or [] if s.get("ResourceType") == "instance"], "instance")
    volume_tags = tag_service.tags_from_specifications(
        [s for s in req.get("TagSpecifications") or [] if s.get("ResourceType") == "volume"], "volume")
    for spec in req.get("TagSpecifications") or []:
        if spec.get("ResourceType") not in ("instance", "volume", "network-interface"):
            raise errors.InvalidParameterValue(
                f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.")

    reservation_id = ids.new_id("r")
    created: list[Record] = []
    per_instance_gib = int(root_spec["VolumeSize"]) + sum(int(e["VolumeSize"]) for e in extra_specs)
    with backend.store.transaction():
        count = capacity.admit(backend, itype, min_count, max_count)
        count = capacity.admit_instance_volumes(backend, per_instance_gib, min_count, count)
        if count > vpcs.free_address_count(backend, subnet):
            if min_count > vpcs.free_address_count(backend, subnet):
                raise errors.Ec2Error(
                    f"There are not enough free addresses in subnet '{subnet.id}' to satisfy the requested "
                    f"number of instances.", code="InsufficientFreeAddressesInSubnet")
            count = vpcs.free_address_count(backend, subnet)
        for index in range(count):
            instance_id = ids.new_id("i")
            eni = vpcs.create_eni(backend, subnet, groups, "Primary network interface", private_ip)
            backend.store.transition(eni.id, "available", "in-use", {
                "Attachment": {"InstanceId": instance_id, "DeviceIndex": 0, "Status": "attached",
                               "AttachmentId": ids.new_id("attach"), "AttachTime": now_iso(),
                               "DeleteOnTermination": True}})
            root = _volume_record(backend, region, subnet.data["AvailabilityZone"], int(root_spec["VolumeSize"]),
                                  root_spec.get("VolumeType") or "gp3", root_spec.get("SnapshotId"), instance_id,
                                  root_spec["DeviceName"], bool(root_spec["DeleteOnTermination"]), volume_tags)
            mappings = [{"DeviceName": root_spec["DeviceName"], "VolumeId": root.id,
                         "DeleteOnTermination": bool(root_spec["DeleteOnTermination"])}]
            for extra in extra_specs:
                vol = _volume_record(backend, region, subnet.data["AvailabilityZone"], int(extra["VolumeSize"]),
                                     extra["VolumeType"], extra.get("SnapshotId"), instance_id, extra["DeviceName"],
                                     bool(extra["DeleteOnTermination"]), volume_tags)
                mappings.append({"DeviceName": extra["DeviceName"], "VolumeId": vol.id,
                                 "DeleteOnTermination": bool(extra["DeleteOnTermination"])})
            record = Record(id=instance_id, type=INSTANCE, region=region, state=str(S.PENDING), data={
                "ReservationId": reservation_id,
                "OwnerId": backend.account_id,
                "ImageId": image.id,
                "InstanceType": itype.name,
                "KeyName": req.get("KeyName"),
                "PublicKey": public_key,
                "AmiLaunchIndex": index,
                "LaunchTime": now_iso(),
                "AvailabilityZone": subnet.data["AvailabilityZone"],
                "SubnetId": subnet.id,
                "VpcId": subnet.data["VpcId"],
                "NetworkInterfaceId": eni.id,
                "PrivateIpAddress": eni.data["PrivateIpAddress"],
                "MacAddress": eni.data["MacAddress"],
                "SecurityGroups": groups,
                "RootDeviceName": root_spec["DeviceName"],
                "BlockDeviceMappings": mappings,
                "UserData": user_data,
                "MetadataOptions": metadata,
                "InstanceInitiatedShutdownBehavior": shutdown,
                "DisableApiTermination": bool(req.get("DisableApiTermination")),
                "ClientToken": token or "",
                "StateTransitionReason": "",
                "StateReason": {"Code": "pending", "Message": "pending"},
                "billing": {"running_since": None, "running_seconds": 0.0},
                "AssociatePublicIp": bool(wants_public),
                "AutoPublicIp": None,
            })
            if wants_public:
                record.data["AutoPublicIp"] = public_ips.allocate_public_ip(backend)
            backend.store.insert(record)
            if instance_tags:
                backend.store.set_tags(instance_id, INSTANCE, region, instance_tags)
            created.append(record)
    if backend.runtime is not None:
        backend.runtime.launch([r.id for r in created])
    return reservation(backend, created)


# ---------------------------------------------------------------------------------------------
# state requests


def request(backend: Backend, region: str, instance_ids: Sequence[str], what: Request,
            force: bool = False) -> list[dict[str, Any]]:
    """Start/Stop/Reboot/Terminate: check every instance first, then move them all."""
    records = find(backend, region, instance_ids)
    if backend.runtime is not None:
        backend.runtime.require_hypervisor()
    table = REQUESTS[what]
    verb = {Request.START: "started", Request.STOP: "stopped", Request.REBOOT: "rebooted",
            Request.TERMINATE: "terminated"}[what]
    for r in records:
        if S(r.state) not in table:
            raise errors.IncorrectInstanceState(
                f"The instance '{r.id}' is not in a state from which it can be {verb}.")
        if what == Request.TERMINATE and r.data.get("DisableApiTermination") and r.state != S.TERMINATED:
            raise errors.Ec2Error(
                f"The instance '{r.id}' may not be terminated. Modify its 'disableApiTermination' instance "
                "attribute and try again.", code="OperationNotPermitted")
    changes = []
    for r in records:
        previous = S(r.state)
        target = table[previous]
        current = previous
        if isinstance(target, InstanceState):
            reason = {Request.START: "", Request.STOP: f"User initiated ({time.strftime('%Y-%m-%d %H:%M:%S GMT', time.gmtime())})",
                      Request.TERMINATE: f"User initiated ({time.strftime('%Y-%m-%d %H:%M:%S GMT', time.gmtime())})"}
            state_reason = {Request.START: {"Code": "pending", "Message": "pending"},
                            Request.STOP: {"Code": "Client.UserInitiatedShutdown",
                                           "Message": "Client.UserInitiatedShutdown: User initiated shutdown"},
                            Request.TERMINATE: {"Code": "Client.UserInitiatedShutdown",
                                                "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}}
            extra: dict[str, Any] = {}
            if what == Request.START and r.data.get("AssociatePublicIp") and not public_ips.eip_of_instance(backend, r):
                extra["AutoPublicIp"] = public_ips.allocate_public_ip(backend)
            try:
                transition(backend, r.id, previous, target, {"StateTransitionReason": reason.get(what, ""),
                                                             "StateReason": state_reason[what], **extra})
                current = target
            except StateConflict as e:  # moved under us (e.g. launch finished): report what it is now
                current = S(e.actual) if e.actual else previous
            if backend.runtime is not None and current == target:
                {Request.START: backend.runtime.start, Request.STOP: lambda i: backend.runtime.stop(i, force),
                 Request.TERMINATE: backend.runtime.terminate}[what](r.id)
        elif what == Request.REBOOT and backend.runtime is not None:
            backend.runtime.reboot(r.id)
        elif what == Request.STOP and force and previous == S.STOPPING and backend.runtime is not None:
            backend.runtime.stop(r.id, True)
        changes.append({"InstanceId": r.id,
                        "CurrentState": {"Code": INSTANCE_CODES[current], "Name": str(current)},
                        "PreviousState": {"Code": INSTANCE_CODES[previous], "Name": str(previous)}})
    return changes


# ---------------------------------------------------------------------------------------------
# attributes


ATTRIBUTE_OUTPUT = {
    "instanceType": ("InstanceType", lambda d: {"Value": d["InstanceType"]}),
    "userData": ("UserData", lambda d: {"Value": d["UserData"]} if d.get("UserData") else {}),
    "disableApiTermination": ("DisableApiTermination", lambda d: {"Value": d["DisableApiTermination"]}),
    "instanceInitiatedShutdownBehavior": ("InstanceInitiatedShutdownBehavior",
                                          lambda d: {"Value": d["InstanceInitiatedShutdownBehavior"]}),
    "rootDeviceName": ("RootDeviceName", lambda d: {"Value": d["RootDeviceName"]}),
    "groupSet": ("Groups", lambda d: d["SecurityGroups"]),
    "sourceDestCheck": ("SourceDestCheck", lambda d: {"Value": True}),
    "ebsOptimized": ("EbsOptimized", lambda d: {"Value": False}),
    "enaSupport": ("EnaSupport", lambda d: {"Value": False}),
    "kernel": ("KernelId", lambda d: {}),
    "ramdisk": ("RamdiskId", lambda d: {}),
}


def describe_attribute(backend: Backend, region: str, instance_id: str, attribute: str) -> dict[str, Any]:
    record = get(backend, region, instance_id)
    if attribute == "blockDeviceMapping":
        return {"InstanceId": record.id, "BlockDeviceMappings": _block_devices(backend, record)}
    if attribute not in ATTRIBUTE_OUTPUT:
        raise errors.Ec2Error(f"The attribute '{attribute}' is not supported by ec2d.", code="UnsupportedOperation")
    key, render = ATTRIBUTE_OUTPUT[attribute]
    return {"InstanceId": record.id, key: render(record.data)}


def modify_attribute(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    record = get(backend, region, req["InstanceId"])
    changes: dict[str, Any] = {}
    attribute, value = req.get("Attribute"), req.get("Value")

    def wanted(key: str, attr_name: str) -> Any:
        if req.get(key) is not None:
            inner = req[key]
            return inner.get("Value") if isinstance(inner, dict) else inner
        if attribute == attr_name:
            return value
        return None

    itype = wanted("InstanceType", "instanceType")
    user_data = wanted("UserData", "userData")
    dat = wanted("DisableApiTermination", "disableApiTermination")
    shutdown = wanted("InstanceInitiatedShutdownBehavior", "instanceInitiatedShutdownBehavior")
    if itype is not None or user_data is not None:
        if record.state != S.STOPPED:
            raise errors.IncorrectInstanceState(f"The instance '{record.id}' is not in the 'stopped' state.")
    if itype is not None:
        new_type = catalogue.get(itype)
        if new_type is None:
            raise errors.InvalidParameterValue(f"Invalid value '{itype}' for InstanceType.")
        changes["InstanceType"] = new_type.name
    if user_data is not None:
        raw = user_data if isinstance(user_data, bytes) else str(user_data).encode()
        if len(raw) > MAX_USER_DATA:
            raise errors.InvalidParameterValue(f"User data is limited to {MAX_USER_DATA} bytes")
        changes["UserData"] = base64.b64encode(raw).decode() if raw else None
    if dat is not None:
        changes["DisableApiTermination"] = dat if isinstance(dat, bool) else str(dat).lower() == "true"
    if shutdown is not None:
        if shutdown not in ("stop", "terminate"):
            raise errors.InvalidParameterValue.for_param("instanceInitiatedShutdownBehavior", shutdown)
        changes["InstanceInitiatedShutdownBehavior"] = shutdown
    if req.get("Groups"):
        changes["SecurityGroups"] = vpcs.security_groups(backend, region, record.data["VpcId"], req["Groups"])
        eni = backend.store.get(record.data["NetworkInterfaceId"])
        if eni is not None:  # the groups live on the primary network interface
            eni.data["Groups"] = changes["SecurityGroups"]
            backend.store.update(eni)
    if not changes:
        raise errors.MissingParameter("Attribute")
    record.data.update(changes)
    backend.store.update(record)
    return record


def modify_metadata_options(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    record = get(backend, region, req["InstanceId"])
    if record.state == S.TERMINATED:
        raise errors.IncorrectInstanceState(f"The instance '{record.id}' is not in a state from which it can be modified.")
    options = dict(record.data["MetadataOptions"])
    for key in ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "InstanceMetadataTags", "HttpProtocolIpv6"):
        if req.get(key) is not None:
            options[key] = req[key]
    if not 1 <= int(options["HttpPutResponseHopLimit"]) <= 64:
        raise errors.InvalidParameterValue.for_param(
            "httpPutResponseHopLimit", options["HttpPutResponseHopLimit"], "Expected a value between 1 and 64.")
    options["State"] = "applied"
    record.data["MetadataOptions"] = options
    backend.store.update(record)
    return record


def console_output(backend: Backend, region: str, instance_id: str) -> dict[str, Any]:
    record = get(backend, region, instance_id)
    raw = backend.runtime.console_output(record.id) if backend.runtime is not None else b""
    return {"InstanceId": record.id, "Timestamp": dt.datetime.now(dt.UTC),
            "Output": base64.b64encode(raw[-64 * 1024:]).decode() if raw else None}


# ---------------------------------------------------------------------------------------------
# describe


def _block_devices(backend: Backend, record: Record) -> list[dict[str, Any]]:
    out = []
    for m in record.data["BlockDeviceMappings"]:
        vol = backend.store.get(m["VolumeId"], VOLUME)
        att = (vol.data["Attachments"] or [{}])[0] if vol else {}
        out.append({"DeviceName": m["DeviceName"], "Ebs": {
            "VolumeId": m["VolumeId"], "DeleteOnTermination": m["DeleteOnTermination"],
            "Status": att.get("State", "detached"), "AttachTime": att.get("AttachTime")}})
    return out


def describe(backend: Backend, record: Record, tags: Mapping[str, str]) -> dict[str, Any]:
    d = record.data
    itype = catalogue.get(d["InstanceType"])
    state = S(record.state)
    gone = state == S.TERMINATED
    public_ip = None if gone else public_ips.public_ip_of(backend, record)
    public_dns = public_ips.public_dns_name(public_ip, record.region) if public_ip else ""
    eip = public_ips.eip_of_instance(backend, record) if public_ip else None
    association = ({"PublicIp": public_ip, "PublicDnsName": public_dns,
                    "IpOwnerId": backend.account_id if eip else "amazon"} if public_ip else None)
    out: dict[str, Any] = {
        "InstanceId": record.id,
        "PublicIpAddress": public_ip,
        "ImageId": d["ImageId"],
        "State": {"Code": INSTANCE_CODES[state], "Name": str(state)},
        "PrivateDnsName": "" if gone else vpcs.private_dns_name(d["PrivateIpAddress"], record.region),
        "PublicDnsName": public_dns,
        "StateTransitionReason": d.get("StateTransitionReason", ""),
        "KeyName": d.get("KeyName"),
        "AmiLaunchIndex": d["AmiLaunchIndex"],
        "ProductCodes": [],
        "InstanceType": d["InstanceType"],
        "LaunchTime": d["LaunchTime"],
        "Placement": {"AvailabilityZone": d["AvailabilityZone"], "GroupName": "", "Tenancy": "default"},
        "Monitoring": {"State": "disabled"},
        "SubnetId": None if gone else d["SubnetId"],
        "VpcId": None if gone else d["VpcId"],
        "PrivateIpAddress": None if gone else d["PrivateIpAddress"],
        "Architecture": "x86_64",
        "RootDeviceType": "ebs",
        "RootDeviceName": d["RootDeviceName"],
        "BlockDeviceMappings": [] if gone else _block_devices(backend, record),
        "VirtualizationType": "hvm",
        "ClientToken": d.get("ClientToken", ""),
        "Tags": tag_service.tag_list(tags),
        "SecurityGroups": [] if gone else d["SecurityGroups"],
        "SourceDestCheck": True,
        "Hypervisor": "xen",
        "EbsOptimized": False,
        "EnaSupport": False,
        "NetworkInterfaces": [] if gone else [{
            "NetworkInterfaceId": d["NetworkInterfaceId"],
            "SubnetId": d["SubnetId"],
            "VpcId": d["VpcId"],
            "Description": "Primary network interface",
            "OwnerId": d["OwnerId"],
            "Status": "in-use",
            "MacAddress": d["MacAddress"],
            "PrivateIpAddress": d["PrivateIpAddress"],
            "PrivateDnsName": vpcs.private_dns_name(d["PrivateIpAddress"], record.region),
            "SourceDestCheck": True,
            "Groups": d["SecurityGroups"],
            "Attachment": {"AttachmentId": "eni-attach-" + record.id[2:], "DeviceIndex": 0, "Status": "attached",
                           "AttachTime": d["LaunchTime"], "DeleteOnTermination": True, "NetworkCardIndex": 0},
            "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": d["PrivateIpAddress"],
                                    "PrivateDnsName": vpcs.private_dns_name(d["PrivateIpAddress"], record.region)}],
            "InterfaceType": "interface",
            "Association": association,
        }],
        "StateReason": d.get("StateReason") if state != S.RUNNING else None,
        "CpuOptions": {"CoreCount": itype.cores, "ThreadsPerCore": itype.threads_per_core} if itype else None,
        "MetadataOptions": d["MetadataOptions"],
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "BootMode": "legacy-bios",
        "CurrentInstanceBootMode": "legacy-bios",
        "PrivateDnsNameOptions": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                  "EnableResourceNameDnsAAAARecord": False},
        "MaintenanceOptions": {"AutoRecovery": "default"},
    }
    return out


def reservation(backend: Backend, records: Sequence[Record]) -> dict[str, Any]:
    first = records[0]
    tags = backend.store.tags_by_resource(INSTANCE, first.region)
    return {"ReservationId": first.data["ReservationId"], "OwnerId": first.data["OwnerId"], "Groups": [],
            "Instances": [describe(backend, r, tags.get(r.id, {})) for r in records]}


def visible(backend: Backend, region: str) -> list[Record]:
    """Instances a Describe shows: terminated ones stay visible for an hour, as on EC2."""
    cutoff = time.time() - TERMINATED_VISIBLE_SECONDS
    return [r for r in backend.store.list(INSTANCE, region)
            if not (r.state == S.TERMINATED and r.updated_at < cutoff)]
