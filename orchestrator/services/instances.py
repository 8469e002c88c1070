"""Instances, the API side: validate requests, write records through the state tables, and hand
the slow work (disks, domains, networks) to the runtime, which runs it in the background.

RunInstances returns at once with ``pending`` instances, as on EC2.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.lifecycle import AttachmentState, EniState
from orchestrator.domain.narrowing import Narrowing
from orchestrator.domain.records import InstanceBlockDeviceMapping, InstanceData
from orchestrator.domain.states import INSTANCE_CODES, REQUESTS, InstanceState, Request
from orchestrator.runtime import records as runtime_records
from orchestrator.services import (
    capacity,
    ebs_encryption,
    eni_attributes,
    eni_ipv6,
    images,
    instance_attributes,
    instance_profiles,
    ipv6_native,
    launch_request,
    launch_templates,
    lookup,
    public_ips,
    volumes,
    vpcs,
    zones,
)
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.services.elbv2 import targets as elb_targets
from orchestrator.services.principals import Caller
from orchestrator.store.sqlite import Record, StateConflict

INSTANCE = "instance"
ENI = vpcs.ENI
EIP = public_ips.EIP
VOLUME = "volume"
S = InstanceState
TERMINATED_VISIBLE_SECONDS = runtime_records.TERMINATED_VISIBLE_SECONDS
MAX_USER_DATA = launch_request.MAX_USER_DATA
GIB = 1024**3


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------------------------
# lookups


def get(backend: Backend, region: str, instance_id: str) -> Record[InstanceData]:
    return lookup.instance(backend, region, instance_id)


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
    """Move along an edge of the lifecycle table (``runtime.records.move_instance``: compare-and-swap,
    identity credentials revoked on every move but the one into ``running``)."""
    return runtime_records.move_instance(backend, record_id, current, target, changes)


# ---------------------------------------------------------------------------------------------
# RunInstances


def run(backend: Backend, region: str, req: Mapping[str, Any], caller: Caller | None = None,
        system_tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    """RunInstances. ``system_tags``: tags an AWS service adds (Auto Scaling's ``aws:autoscaling:groupName``),
    which a caller's TagSpecifications may not name."""
    token = req.get("ClientToken")
    if token:
        same = backend.store.list_where(INSTANCE, region, "ClientToken", token)
        if same:
            return reservation(backend, same)

    req, template_tags = launch_templates.for_run(backend, region, req)  # a LaunchTemplate's data under req
    if not req.get("ImageId"):  # botocore's model leaves it optional (a launch template may give it)
        raise errors.MissingParameter("ImageId")
    image = images.get(backend, region, req["ImageId"])
    backend.runtime.require_hypervisor()
    launch = launch_request.check(backend, region, req, image)
    launch.instance_tags.update(template_tags)  # aws:ec2launchtemplate:id/version, as EC2 adds them
    profile = instance_profiles.resolve(backend, req.get("IamInstanceProfile"), caller)

    reservation_id = ids.new_id("r")
    launch.instance_tags.update(system_tags or {})
    created: list[Record] = []
    with backend.store.transaction():
        public_ip = public_ips.public_ip_allocator(backend) if launch.wants_public else None
        addresses = None  # one read of the subnet's used addresses for the whole request
        if not launch.private_ip and not ipv6_native.is_native(launch.subnet):
            addresses = vpcs.address_allocator(backend, launch.subnet)
        for index in range(_admit(backend, launch, addresses)):
            created.append(_new_instance(backend, region, req, launch, reservation_id, index, public_ip, profile,
                                         addresses))
    backend.runtime.launch([r.id for r in created])
    for r in created:
        for entry in r.data.get("IamInstanceProfileAssociations") or []:
            backend.runtime.settle_profile_association(r.id, entry["AssociationId"])
    return reservation(backend, created)


def _admit(backend: Backend, launch: launch_request.Launch, addresses: vpcs.FreeAddresses | None) -> int:
    """How many instances fit (memory, volume space, subnet ``addresses``: None when one address is
    asked for, checked when its ENI is made, or only IPv6 ones, a /64's worth); call inside the
    transaction."""
    subnet = launch.subnet
    per_instance_gib = int(launch.root_spec["VolumeSize"]) + sum(int(e["VolumeSize"]) for e in launch.extra_specs)
    count = capacity.admit(backend, launch.itype, launch.min_count, launch.max_count)
    count = capacity.admit_instance_volumes(backend, per_instance_gib, launch.min_count, count)
    if addresses is None:
        return count
    free = addresses.count
    if count > free:
        if launch.min_count > free:
            raise errors.ApiError(
                f"There are not enough free addresses in subnet '{subnet.id}' to satisfy the requested "
                f"number of instances.", code="InsufficientFreeAddressesInSubnet")
        count = free
    return count


def _new_volumes(backend: Backend, region: str, launch: launch_request.Launch,
                 instance_id: str) -> list[InstanceBlockDeviceMapping]:
    """The instance's root and extra volumes, born attached; its ``BlockDeviceMappings``."""
    zone = launch.subnet.data["AvailabilityZone"]
    mappings: list[InstanceBlockDeviceMapping] = []
    for spec in [launch.root_spec, *launch.extra_specs]:
        vtype = spec.get("VolumeType") or "gp3"
        gp3 = vtype == "gp3"
        snap = lookup.snapshot(backend, region, spec["SnapshotId"]) if spec.get("SnapshotId") else None
        encryption = ebs_encryption.for_volume(backend, region, spec.get("Encrypted"), spec.get("KmsKeyId"), snap)
        vol = volumes.new_volume(backend, region, zone, int(spec["VolumeSize"]), vtype, 3000 if gp3 else None,
                                 125 if gp3 else None, spec.get("SnapshotId"), launch.volume_tags,
                                 attached={"InstanceId": instance_id, "Device": spec["DeviceName"],
                                           "DeleteOnTermination": spec["DeleteOnTermination"]},
                                 encryption=encryption)
        mappings.append({"DeviceName": spec["DeviceName"], "VolumeId": vol.id,
                         "DeleteOnTermination": bool(spec["DeleteOnTermination"])})
    return mappings


def _new_instance(backend: Backend, region: str, req: Mapping[str, Any], launch: launch_request.Launch, reservation_id: str,
                  index: int, public_ip: Callable[[], str] | None, profile: Record | None = None,
                  addresses: Callable[[], str] | None = None) -> Record:
    """One instance's records: its primary ENI (its address from ``addresses``, the request's
    ``vpcs.address_allocator``), its volumes and itself (``pending``)."""
    instance_id = ids.new_id("i")
    subnet = launch.subnet
    eni = vpcs.create_eni(backend, subnet, launch.groups, "Primary network interface", launch.private_ip,
                          addresses)
    eni = eni_ipv6.give(backend, eni, subnet, launch.ipv6)
    backend.store.transition(eni.id, str(EniState.AVAILABLE), str(EniState.IN_USE), {
        "Attachment": {"InstanceId": instance_id, "DeviceIndex": 0, "Status": str(AttachmentState.ATTACHED),
                       "AttachmentId": ids.new_id("attach"), "AttachTime": now_iso(),
                       "DeleteOnTermination": True}})
    record = Record[InstanceData](id=instance_id, type=INSTANCE, region=region, state=str(S.PENDING), data={
        "ReservationId": reservation_id,
        "OwnerId": backend.account_id,
        "ImageId": launch.image.id,
        "InstanceType": launch.itype.name,
        "KeyName": req.get("KeyName"),
        "PublicKey": launch.public_key,
        "AmiLaunchIndex": index,
        "LaunchTime": now_iso(),
        "AvailabilityZone": subnet.data["AvailabilityZone"],
        "SubnetId": subnet.id,
        "VpcId": subnet.data["VpcId"],
        "NetworkInterfaceId": eni.id,
        "MacAddress": eni.data["MacAddress"],
        "SecurityGroups": launch.groups,
        "RootDeviceName": launch.root_spec["DeviceName"],
        "BlockDeviceMappings": _new_volumes(backend, region, launch, instance_id),
        "UserData": launch.user_data,
        "MetadataOptions": launch.metadata,
        "MaintenanceOptions": launch.maintenance,
        "InstanceInitiatedShutdownBehavior": launch.shutdown,
        "DisableApiTermination": bool(req.get("DisableApiTermination")),
        "ClientToken": req.get("ClientToken") or "",
        "StateTransitionReason": "",
        "StateReason": {"Code": "pending", "Message": "pending"},
        "billing": {"running_since": None, "running_seconds": 0.0},
        "AssociatePublicIp": launch.wants_public,
        "AutoPublicIp": public_ip() if public_ip is not None else None,
    })
    ipv6_native.launch_addressing(record, eni, subnet)
    if profile is not None:
        record.data["IamInstanceProfileAssociations"] = [instance_profiles.new_association(profile)]
    backend.store.insert(record, launch.instance_tags)
    return record


# ---------------------------------------------------------------------------------------------
# state requests


def request(backend: Backend, region: str, instance_ids: Sequence[str], what: Request,
            force: bool = False) -> list[dict[str, Any]]:
    """Start/Stop/Reboot/Terminate: check every instance first, then move them all."""
    records = find(backend, region, instance_ids)
    backend.runtime.require_hypervisor()
    table = REQUESTS[what]
    verb = str(what)  # "started", "stopped", ...
    for r in records:
        if S(r.state) not in table:
            raise errors.IncorrectInstanceState(
                f"The instance '{r.id}' is not in a state from which it can be {verb}.")
        if what == Request.TERMINATE and r.data.get("DisableApiTermination") and r.state != S.TERMINATED:
            raise errors.ApiError(
                f"The instance '{r.id}' may not be terminated. Modify its 'disableApiTermination' instance "
                "attribute and try again.", code="OperationNotPermitted")
        if what == Request.START and r.state == S.STOPPED:
            zones.require(backend, region, r.data["AvailabilityZone"], r.data["InstanceType"])
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
            if current == target:
                {Request.START: backend.runtime.start, Request.STOP: lambda i: backend.runtime.stop(i, force),
                 Request.TERMINATE: backend.runtime.terminate}[what](r.id)
                if what == Request.TERMINATE:
                    elb_targets.deregister_terminated(backend, region, r.id)
        elif what == Request.REBOOT:
            backend.runtime.reboot(r.id)
        elif what == Request.STOP and force and previous == S.STOPPING:
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
    "ebsOptimized": ("EbsOptimized", lambda d: {"Value": False}),
    "enaSupport": ("EnaSupport", lambda d: {"Value": False}),
    "kernel": ("KernelId", lambda d: {}),
    "ramdisk": ("RamdiskId", lambda d: {}),
}


def describe_attribute(backend: Backend, region: str, instance_id: str, attribute: str) -> dict[str, Any]:
    record = get(backend, region, instance_id)
    if attribute == "blockDeviceMapping":
        return {"InstanceId": record.id, "BlockDeviceMappings": _block_devices(backend, record)}
    if attribute == "sourceDestCheck":
        return {"InstanceId": record.id, "SourceDestCheck": {
            "Value": eni_attributes.instance_source_dest_check(backend, record)}}
    if attribute in instance_attributes.DESCRIBED:
        key, shown = instance_attributes.DESCRIBED[attribute]
        return {"InstanceId": record.id, key: shown}
    if attribute not in ATTRIBUTE_OUTPUT:
        raise errors.ApiError(f"The attribute '{attribute}' is not supported by ec2d.", code="UnsupportedOperation")
    key, render = ATTRIBUTE_OUTPUT[attribute]
    return {"InstanceId": record.id, key: render(record.data)}


def modify_attribute(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[InstanceData]:
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
    held = instance_attributes.check_fixed(wanted)
    sdc = wanted("SourceDestCheck", "sourceDestCheck")
    if sdc is not None:
        eni_attributes.set_instance_source_dest_check(backend, record, sdc)
    mappings = instance_attributes.delete_on_termination(backend, record, req.get("BlockDeviceMappings") or [])
    if not changes and not held and not mappings and sdc is None:
        raise errors.MissingParameter("Attribute")
    record.data.update(changes)
    backend.store.update(record)
    return record


def modify_metadata_options(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[InstanceData]:
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


async def modify_attribute_live(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    """ModifyInstanceAttribute: recorded, then the VPC's metadata and firewall follow (groups,
    user data) before the call answers."""
    record = modify_attribute(backend, region, req)
    await vpcs.sync_network(backend, record.region, record.data["VpcId"])
    return record


async def modify_metadata_options_live(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    """ModifyInstanceMetadataOptions: recorded, then the VPC's metadata service follows."""
    record = modify_metadata_options(backend, region, req)
    await vpcs.sync_network(backend, record.region, record.data["VpcId"])
    return record


def console_output(backend: Backend, region: str, instance_id: str) -> dict[str, Any]:
    record = get(backend, region, instance_id)
    raw = backend.runtime.console_output(record.id)
    return {"InstanceId": record.id, "Timestamp": dt.datetime.now(dt.UTC),
            "Output": base64.b64encode(raw[-64 * 1024:]).decode() if raw else None}


# ---------------------------------------------------------------------------------------------
# describe


@dataclass
class Related:
    """The records instances' answers show parts of (their volumes, primary ENIs and Elastic IPs),
    read once for a whole Describe rather than one query each per instance."""

    volumes: dict[str, Record]
    enis: dict[str, Record]
    eips: dict[str, Record]  # by the ENI it is on (the first, as ``records.eip_of_instance``)


def related(backend: Backend, region: str, records: Sequence[Record[InstanceData]]) -> Related:
    # by id: only what the answer shows (the region's whole tables grow with every volume and ENI)
    volumes = backend.store.list(VOLUME, region, [m["VolumeId"] for r in records for m in r.data["BlockDeviceMappings"]])
    interfaces = backend.store.list(ENI, region, [r.data["NetworkInterfaceId"] for r in records])
    eips: dict[str, Record] = {}
    for e in backend.store.list(EIP, region):
        if e.data.get("NetworkInterfaceId"):
            eips.setdefault(e.data["NetworkInterfaceId"], e)
    return Related({v.id: v for v in volumes}, {e.id: e for e in interfaces}, eips)


def _block_devices(record: Record[InstanceData], rel: Related) -> list[dict[str, Any]]:
    out = []
    for m in record.data["BlockDeviceMappings"]:
        vol = rel.volumes.get(m["VolumeId"])
        att = next((a for a in vol.data["Attachments"] if a["InstanceId"] == record.id), {}) if vol else {}
        out.append({"DeviceName": m["DeviceName"], "Ebs": {
            "VolumeId": m["VolumeId"], "DeleteOnTermination": m["DeleteOnTermination"],
            "Status": att.get("State", "detached"), "AttachTime": att.get("AttachTime")}})
    return out


def describe(backend: Backend, record: Record[InstanceData], tags: Mapping[str, str],
             rel: Related | None = None) -> dict[str, Any]:
    d = record.data
    rel = rel or related(backend, record.region, [record])
    itype = catalogue.get(d["InstanceType"])
    state = S(record.state)
    gone = state == S.TERMINATED
    eip = rel.eips.get(d["NetworkInterfaceId"])
    public_ip = None if gone else eip.data["PublicIp"] if eip else d.get("AutoPublicIp")  # records.public_ip_of
    public_dns = public_ips.public_dns_name(public_ip, record.region) if public_ip else ""
    eip = eip if public_ip else None
    primary = rel.enis.get(d["NetworkInterfaceId"])
    eni = (primary or record).data
    sdc = bool(primary.data.get("SourceDestCheck", True)) if primary is not None else True
    addressing, nic_addressing = ipv6_native.describe_instance_part(record, eni, gone)
    association = ({"PublicIp": public_ip, "PublicDnsName": public_dns,
                    "IpOwnerId": backend.account_id if eip else "amazon"} if public_ip else None)
    out: dict[str, Any] = {
        "InstanceId": record.id,
        "PublicIpAddress": public_ip,
        "ImageId": d["ImageId"],
        "State": {"Code": INSTANCE_CODES[state], "Name": str(state)},
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
        "Architecture": "x86_64",
        "RootDeviceType": "ebs",
        "RootDeviceName": d["RootDeviceName"],
        "BlockDeviceMappings": [] if gone else _block_devices(record, rel),
        "VirtualizationType": "hvm",
        "ClientToken": d.get("ClientToken", ""),
        **tag_service.tags_member(tags),
        "SecurityGroups": [] if gone else d["SecurityGroups"],
        "SourceDestCheck": sdc,
        "Hypervisor": "xen",
        "EbsOptimized": False,
        "EnaSupport": False,
        "NetworkInterfaces": [] if gone else [{
            "NetworkInterfaceId": d["NetworkInterfaceId"],
            "SubnetId": d["SubnetId"],
            "VpcId": d["VpcId"],
            "Description": "Primary network interface",
            "OwnerId": d["OwnerId"],
            "Status": str(EniState.IN_USE),
            "MacAddress": d["MacAddress"],
            **nic_addressing,
            "SourceDestCheck": sdc,
            "Groups": d["SecurityGroups"],
            "Attachment": {"AttachmentId": "eni-attach-" + record.id[2:], "DeviceIndex": 0, "Status": str(AttachmentState.ATTACHED),
                           "AttachTime": d["LaunchTime"], "DeleteOnTermination": True, "NetworkCardIndex": 0},
            "InterfaceType": "interface",
            "Ipv6Addresses": eni_ipv6.describe_part(eni),
            "Association": association,
        }],
        "StateReason": d.get("StateReason") if state != S.RUNNING else None,
        "CpuOptions": {"CoreCount": itype.cores, "ThreadsPerCore": itype.threads_per_core} if itype else None,
        "MetadataOptions": d["MetadataOptions"],
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "BootMode": "legacy-bios",
        "CurrentInstanceBootMode": "legacy-bios",
        **addressing,
        "MaintenanceOptions": {"AutoRecovery": (d.get("MaintenanceOptions") or {}).get("AutoRecovery", "default"),
                               "RebootMigration": "default"},
    }
    profile = None if gone else instance_profiles.of_instance(record)
    if profile is not None:
        out["IamInstanceProfile"] = profile
    return out


def reservation(backend: Backend, records: Sequence[Record]) -> dict[str, Any]:
    first = records[0]
    tags = backend.store.tags_by_resource(INSTANCE, first.region, [r.id for r in records])
    rel = related(backend, first.region, records)
    return {"ReservationId": first.data["ReservationId"], "OwnerId": first.data["OwnerId"], "Groups": [],
            "Instances": [describe(backend, r, tags.get(r.id, {}), rel) for r in records]}


def visible(backend: Backend, region: str, narrow: Narrowing | None = None) -> list[Record]:
    """Instances a Describe shows (of those ``narrow`` keeps): terminated ones stay visible for an
    hour, as on EC2."""
    cutoff = time.time() - TERMINATED_VISIBLE_SECONDS
    return [r for r in backend.store.list(INSTANCE, region, narrow=narrow)
            if not (r.state == S.TERMINATED and r.updated_at < cutoff)]


def describe_instances(backend: Backend, region: str, instance_ids: Sequence[str] | None,
                       narrow: Narrowing | None = None) -> list[dict[str, Any]]:
    """DescribeInstances' items (the named ones, or every visible one; ``narrow``: only those its
    filters may keep), each with ``_reservation`` and ``_owner`` for the answer's grouping into
    reservations (the handler removes them)."""
    records = find(backend, region, instance_ids) if instance_ids else visible(backend, region, narrow)
    rel = related(backend, region, records)

    def render(r: Record[InstanceData], tags: dict[str, str]) -> dict[str, Any]:
        return {**describe(backend, r, tags, rel), "_reservation": r.data["ReservationId"], "_owner": r.data["OwnerId"]}

    return tag_service.rendered(backend, region, INSTANCE, records, render)
