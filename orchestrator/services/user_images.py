"""AMIs users make: CreateImage, RegisterImage, DeregisterImage, CopyImage and the image
attributes (description, launchPermission, ...).

An AMI is a region-scoped record listing EBS snapshots (layers) in its BlockDeviceMappings plus
the boot data ec2d needs to start it (direct-boot kernel/initrd/cmdline for ec2d-tiny-derived
machines), carried from the source AMI (CreateImage, CopyImage) or from the root snapshot
(RegisterImage: snapshots of instance volumes record it).

CreateImage consistency: ec2d does not reboot the instance. Every volume of the instance is
snapshotted at the same instant (``storage.snapshot_volumes_live``, one atomic libvirt
disk-only snapshot, while the guest runs; offline for a stopped instance): the image is
crash-consistent - what the disks held at that instant, like a power cut - so data the guest has
``sync``-ed is in it. With ``NoReboot`` false EC2 would reboot for file-system consistency; ec2d
takes the same crash-consistent snapshot either way, without a reboot or stop (journalled file
systems replay their journal on the image's first boot). Write, ``sync``, then CreateImage.

CopyImage: the request is made in the destination region; each snapshot is copied
(``snapshots.copy_record``: a hard link of the layer, O(1)) and the image registered there,
``pending`` until the copies complete.

DeregisterImage keeps the image's snapshots (as on EC2) unless ``DeleteAssociatedSnapshots``.
The record stays with state ``deregistered`` (hidden from the API) so that instances launched
from it can still start.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids, volume_types
from orchestrator.domain.lifecycle import ImageState as M
from orchestrator.domain.lifecycle import SnapshotState
from orchestrator.domain.records import (
    ImageBlockDeviceMapping,
    ImageData,
    InstanceBlockDeviceMapping,
    SnapshotData,
    VolumeData,
)
from orchestrator.domain.states import InstanceState
from orchestrator.services import ebs_encryption, images, instances, lookup
from orchestrator.services import snapshots as snaps
from orchestrator.services import tags as tag_service
from orchestrator.services import volumes as vols
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record, StateConflict

log = logging.getLogger("ec2d.user_images")

IMAGE = images.IMAGE
NAME_RE = re.compile(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$")


def _check_name(backend: Backend, region: str, name: str | None) -> str:
    if not name:
        raise errors.MissingParameter("Name")
    if not NAME_RE.match(name):
        raise errors.InvalidParameterValue(
            f"AMI names must be between 3 and 128 characters long, and may contain letters, numbers, "
            f"'(', ')', '.', '-', '/' and '_' ({name!r})")
    for r in backend.store.list(IMAGE, region):
        if r.state != M.DEREGISTERED and r.data.get("OwnerId") == backend.account_id and r.data.get("Name") == name:
            raise errors.ApiError(f"AMI name {name} is already in use by AMI {r.id}", code="InvalidAMIName.Duplicate")
    return name


def _split_tags(specs: Sequence[Mapping[str, Any]] | None) -> tuple[dict[str, str], dict[str, str]]:
    image_specs = [s for s in specs or [] if s.get("ResourceType") == "image"]
    snap_specs = [s for s in specs or [] if s.get("ResourceType") == "snapshot"]
    for s in specs or []:
        if s.get("ResourceType") not in ("image", "snapshot"):
            raise errors.InvalidParameterValue(
                f"'{s.get('ResourceType')}' is not a valid taggable resource type for this operation.")
    return (tag_service.tags_from_specifications(image_specs, "image"),
            tag_service.tags_from_specifications(snap_specs, "snapshot"))


def new_image(backend: Backend, region: str, name: str, description: str, root_device: str,
              mappings: list[ImageBlockDeviceMapping], boot: Mapping[str, Any], state: str,
              extra: Mapping[str, Any] | None = None) -> Record[ImageData]:
    """Insert a user's AMI record (CreateImage, RegisterImage, CopyImage; ``extra`` adds the keys only
    some of them have, e.g. ``SourceInstanceId``). The one place a user's image is born (the images
    ec2d publishes are registered by ``images.register_artifact``)."""
    data: ImageData = {
        "Name": name, "Description": description, "ImageLocation": f"{backend.account_id}/{name}",
        "OwnerId": backend.account_id, "Public": False, "CreationDate": vols.now_iso(),
        "Architecture": "x86_64", "VirtualizationType": "hvm", "Hypervisor": "xen", "RootDeviceType": "ebs",
        "RootDeviceName": root_device, "EnaSupport": True, "BootMode": boot.get("BootMode") or "legacy-bios",
        "ImdsSupport": boot.get("ImdsSupport"), "BlockDeviceMappings": mappings,
        "kernel": boot.get("kernel"), "initrd": boot.get("initrd"), "cmdline": boot.get("cmdline"),
        "login_user": boot.get("login_user"), "LaunchPermissions": [],
    }
    data.update(extra or {})  # type: ignore[typeddict-item]
    rec = Record[ImageData](id=ids.new_id("ami"), type=IMAGE, region=region, state=state, data=data)
    backend.store.insert(rec)
    return rec


def _settle(backend: Backend, image_id: str, ok: bool) -> None:
    try:
        if ok:
            backend.store.transition(image_id, str(M.PENDING), str(M.AVAILABLE))
        else:
            backend.store.transition(image_id, str(M.PENDING), str(M.FAILED),
                                     {"StateReason": {"Code": "Client.SnapshotFailed",
                                                      "Message": "A snapshot of the image failed"}})
    except StateConflict:
        log.info("%s left pending before its snapshots completed", image_id)


# ---------------------------------------------------------------------------------------------
# CreateImage


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> str:
    inst = instances.get(backend, region, req["InstanceId"])
    if inst.state not in (InstanceState.RUNNING, InstanceState.STOPPED):
        raise errors.IncorrectInstanceState(
            f"Instance '{inst.id}' is not in a state from which it can be imaged.")
    name = _check_name(backend, region, req.get("Name"))
    image_tags, snap_tags = _split_tags(req.get("TagSpecifications"))
    source = backend.store.get(inst.data["ImageId"])
    boot = snaps.boot_data_of_image(source) if source else {}
    if any(not m.get("DeviceName") for m in req.get("BlockDeviceMappings") or []):
        raise errors.MissingParameter("deviceName")  # every mapping names its device
    no_device = {m["DeviceName"] for m in req.get("BlockDeviceMappings") or [] if m.get("NoDevice") is not None}
    picked: list[tuple[InstanceBlockDeviceMapping, Record[VolumeData]]] = []
    for n, m in enumerate(inst.data["BlockDeviceMappings"]):
        if n > 0 and m["DeviceName"] in no_device:
            continue
        vol = vols.get(backend, region, m["VolumeId"])
        snaps._snapshottable(vol)
        picked.append((m, vol))
    with backend.store.transaction():
        mappings = []
        pairs = []
        for m, vol in picked:
            snap = snaps.snapshot_of_volume(backend, region, vol, f"Created by CreateImage({inst.id}) for {{ami}}",
                                            snap_tags)
            pairs.append((vol.id, snap.id))
            d = vol.data
            ebs = {"SnapshotId": snap.id, "VolumeSize": int(d["Size"]), "DeleteOnTermination": m["DeleteOnTermination"],
                   "VolumeType": d["VolumeType"], **ebs_encryption.shown(d)}
            if d.get("Iops") is not None and d["VolumeType"] in volume_types.IOPS_LIMITS:
                ebs["Iops"] = d["Iops"]
            if d.get("Throughput") is not None:
                ebs["Throughput"] = d["Throughput"]
            mappings.append({"DeviceName": m["DeviceName"], "Ebs": ebs})
        image = new_image(backend, region, name, req.get("Description") or "", inst.data["RootDeviceName"],
                          mappings, boot, str(M.PENDING), {"SourceInstanceId": inst.id})
        for _, sid in pairs:  # EC2's description names the image
            snap_rec = backend.store.get(sid)
            assert snap_rec is not None
            snap_rec.data["Description"] = snap_rec.data["Description"].replace("{ami}", image.id)
            backend.store.update(snap_rec)
        if image_tags:
            backend.store.set_tags(image.id, IMAGE, region, image_tags)
    snaps.start(backend, pairs, instance_id=inst.id, then=lambda ok: _settle(backend, image.id, ok))
    return image.id


# ---------------------------------------------------------------------------------------------
# RegisterImage


def _mapping_entry(backend: Backend, region: str, device: str,
                   ebs: Mapping[str, Any]) -> tuple[dict[str, Any], Record | None]:
    """One RegisterImage block-device mapping, checked: (the AMI's entry, its snapshot or None)."""
    snap = None
    if ebs.get("SnapshotId"):
        snap = snaps.get(backend, region, ebs["SnapshotId"])
        if not snaps.can_use(snap, backend.account_id):
            raise lookup.not_found("snap", snap.id)
        if snap.state != SnapshotState.COMPLETED:
            raise errors.IncorrectState(f"Snapshot '{snap.id}' is not completed.")
    size = ebs.get("VolumeSize")
    if size is None:
        if snap is None:
            raise errors.ApiError(f"The request must contain the parameter size for {device}",
                                  code="InvalidBlockDeviceMapping")
        size = int(snap.data["VolumeSize"])
    if snap is not None and int(size) < int(snap.data["VolumeSize"]):
        raise errors.ApiError(
            f"Volume of size {size}GB is smaller than snapshot '{snap.id}', expect size >= "
            f"{snap.data['VolumeSize']}GB", code="InvalidBlockDeviceMapping")
    vtype = ebs.get("VolumeType") or "gp3"
    if vtype not in volume_types.SIZE_LIMITS:
        raise errors.InvalidParameterValue(f"Value ({vtype}) for parameter volumeType is invalid.")
    iops, throughput = volume_types.performance(vtype, int(size), ebs.get("Iops"), ebs.get("Throughput"))
    out = {"SnapshotId": snap.id if snap else None, "VolumeSize": int(size),
           "DeleteOnTermination": ebs.get("DeleteOnTermination", True), "VolumeType": vtype,
           **ebs_encryption.shown(snap.data if snap else {})}
    if iops is not None and vtype in volume_types.IOPS_LIMITS:
        out["Iops"] = iops
    if throughput is not None:
        out["Throughput"] = throughput
    return {"DeviceName": device, "Ebs": {k: v for k, v in out.items() if v is not None}}, snap


def register(backend: Backend, region: str, req: Mapping[str, Any]) -> str:
    if req.get("ImageLocation") and not req.get("BlockDeviceMappings"):
        raise errors.ApiError("ec2d registers EBS-backed images from snapshots only (no S3 manifests)",
                              code="UnsupportedOperation")
    name = _check_name(backend, region, req.get("Name"))
    arch = req.get("Architecture") or "x86_64"
    if arch != "x86_64":
        raise errors.InvalidParameterValue(f"Architecture {arch} is not supported by ec2d (x86_64 only)")
    if req.get("VirtualizationType") not in (None, "hvm"):
        raise errors.InvalidParameterValue("Only hvm images are supported")
    bdms = list(req.get("BlockDeviceMappings") or [])
    if not bdms:
        raise errors.ApiError("The request must contain a block device mapping for the root device",
                              code="InvalidBlockDeviceMapping")
    root_device = req.get("RootDeviceName") or bdms[0].get("DeviceName") or "/dev/xvda"
    mappings: list[dict[str, Any]] = []
    root_snap: Record | None = None
    seen: set[str] = set()
    for m in bdms:
        device = m.get("DeviceName")
        if not device:
            raise errors.MissingParameter("BlockDeviceMapping.DeviceName")
        if device in seen:
            raise errors.ApiError(f"The device name {device} is used more than once",
                                  code="InvalidBlockDeviceMapping")
        seen.add(device)
        if m.get("NoDevice") is not None or m.get("VirtualName"):
            continue
        entry, snap = _mapping_entry(backend, region, device, dict(m.get("Ebs") or {}))
        if device == root_device:
            if snap is None:
                raise errors.ApiError(f"The root device {root_device} needs a snapshot",
                                      code="InvalidBlockDeviceMapping")
            root_snap = snap
            mappings.insert(0, entry)
        else:
            mappings.append(entry)
    if root_snap is None:
        raise errors.ApiError(f"No block device mapping for the root device {root_device}",
                              code="InvalidBlockDeviceMapping")
    image_tags, _ = _split_tags(req.get("TagSpecifications"))
    boot = snaps.boot_data_of_snapshot(backend, root_snap)
    if req.get("BootMode"):
        boot["BootMode"] = req["BootMode"]
    if req.get("ImdsSupport"):
        boot["ImdsSupport"] = req["ImdsSupport"]
    with backend.store.transaction():
        image = new_image(backend, region, name, req.get("Description") or "", root_device, mappings, boot,
                          str(M.AVAILABLE), {"EnaSupport": bool(req.get("EnaSupport", True))})
        if image_tags:
            backend.store.set_tags(image.id, IMAGE, region, image_tags)
    return image.id


# ---------------------------------------------------------------------------------------------
# DeregisterImage


def own(backend: Backend, region: str, image_id: str) -> Record[ImageData]:
    image = images.get(backend, region, image_id)
    if image.data.get("OwnerId") != backend.account_id:
        raise errors.ApiError(f"Not authorized for image:{image_id}", code="AuthFailure")
    return image


def deregister(backend: Backend, region: str, image_id: str, delete_snapshots: bool = False) -> dict[str, Any]:
    image = own(backend, region, image_id)
    try:
        backend.store.transition(image.id, [image.state], str(M.DEREGISTERED))
    except StateConflict:
        raise errors.IncorrectState(f"Image {image_id} changed state; try again") from None
    backend.store.delete_tags(image.id)
    out: dict[str, Any] = {"Return": True}
    if delete_snapshots:
        results = []
        for m in image.data.get("BlockDeviceMappings") or []:
            sid = (m.get("Ebs") or {}).get("SnapshotId")
            if not sid:
                continue
            try:
                snaps.delete(backend, region, sid)
                results.append({"SnapshotId": sid, "ReturnCode": "success"})
            except errors.NotFound:
                results.append({"SnapshotId": sid, "ReturnCode": "error-missing-snapshot"})
            except errors.ApiError as exc:
                code = "error-missing-permissions" if exc.code == "UnauthorizedOperation" else "error-internal-error"
                results.append({"SnapshotId": sid, "ReturnCode": code})
        out["DeleteSnapshotResults"] = results
    return out


# ---------------------------------------------------------------------------------------------
# CopyImage


def copy(backend: Backend, region: str, req: Mapping[str, Any]) -> str:
    """CopyImage, called in the DESTINATION region (``region``) with ``SourceRegion``."""
    source_region = req.get("SourceRegion")
    if not source_region:
        raise errors.MissingParameter("SourceRegion")
    if source_region not in backend.regions:
        raise errors.InvalidParameterValue(f"Invalid region: {source_region}")
    src = images.get(backend, source_region, req["SourceImageId"])
    if not can_launch(src, backend.account_id):
        raise lookup.not_found("ami", src.id)
    if src.state != M.AVAILABLE:
        raise errors.ApiError(f"Image {src.id} is not available (it is {src.state})", code="InvalidAMIID.Unavailable")
    ebs_encryption.check_dependency(req)
    name = _check_name(backend, region, req.get("Name"))
    image_tags, snap_tags = _split_tags(req.get("TagSpecifications"))
    if req.get("CopyImageTags"):
        image_tags = {**backend.store.tags_of(src.id), **image_tags}
    token = req.get("ClientToken")
    if token:
        for r in backend.store.list(IMAGE, region):
            if r.data.get("ClientToken") == token:
                return r.id
    sources: list[tuple[ImageBlockDeviceMapping, Record[SnapshotData] | None]] = []
    for m in src.data["BlockDeviceMappings"]:
        sid = (m.get("Ebs") or {}).get("SnapshotId")
        sources.append((m, snaps.get(backend, source_region, sid) if sid else None))
    pending = {"left": sum(1 for _, s in sources if s is not None), "ok": True}
    image_box: dict[str, str] = {}

    def done(ok: bool) -> None:
        pending["left"] -= 1
        pending["ok"] = pending["ok"] and ok
        if pending["left"] <= 0 and "id" in image_box:
            _settle(backend, image_box["id"], bool(pending["ok"]))

    with backend.store.transaction():
        image = new_image(backend, region, name, req.get("Description") or src.data.get("Description") or "",
                          src.data["RootDeviceName"], [], snaps.boot_data_of_image(src), str(M.PENDING),
                          {"SourceImageId": src.id, "SourceImageRegion": source_region,
                           "ClientToken": token or "", "EnaSupport": src.data.get("EnaSupport", True)})
        if image_tags:
            backend.store.set_tags(image.id, IMAGE, region, image_tags)
    mappings = []
    for m, snap in sources:
        ebs = dict(m.get("Ebs") or {})
        if snap is not None:
            encryption = ebs_encryption.for_copy(backend, region, snap, req.get("Encrypted"), req.get("KmsKeyId"))
            copied = snaps.copy_record(
                backend, snap, region, f"Copied for DestinationAmi {image.id} from SourceAmi {src.id} for "
                f"SourceSnapshot {snap.id}", snap_tags, then=done, encryption=encryption)
            ebs = {k: v for k, v in ebs.items() if k != "KmsKeyId"} | ebs_encryption.shown(copied.data)
            ebs["SnapshotId"] = copied.id
        mappings.append({**m, "Ebs": ebs})

    def record_mappings(rec: Record) -> None:
        rec.data["BlockDeviceMappings"] = mappings

    vols.mutate(backend, image.id, record_mappings)
    image_box["id"] = image.id
    if pending["left"] <= 0:  # copies already finished (no runtime) or none to make
        _settle(backend, image.id, bool(pending["ok"]))
    return image.id


# ---------------------------------------------------------------------------------------------
# attributes


def can_launch(image: Record[ImageData], account_id: str) -> bool:
    d = image.data
    return (d.get("OwnerId") == account_id or bool(d.get("Public"))
            or any(p.get("UserId") == account_id for p in d.get("LaunchPermissions") or []))


def describe_attribute(backend: Backend, region: str, image_id: str, attribute: str) -> dict[str, Any]:
    image = images.get(backend, region, image_id)
    d = image.data
    out: dict[str, Any] = {"ImageId": image.id}
    if attribute == "description":
        out["Description"] = {"Value": d.get("Description") or ""}
    elif attribute == "launchPermission":
        if d.get("OwnerId") != backend.account_id:
            raise errors.ApiError(f"Not authorized for image:{image_id}", code="AuthFailure")
        perms = list(d.get("LaunchPermissions") or [])
        if d.get("Public"):
            perms.append({"Group": "all"})
        out["LaunchPermissions"] = perms
    elif attribute == "blockDeviceMapping":
        out["BlockDeviceMappings"] = d.get("BlockDeviceMappings") or []
    elif attribute == "bootMode":
        out["BootMode"] = {"Value": d.get("BootMode") or "legacy-bios"}
    elif attribute == "imdsSupport":
        out["ImdsSupport"] = {"Value": d["ImdsSupport"]} if d.get("ImdsSupport") else {}
    elif attribute in ("kernel", "ramdisk", "sriovNetSupport", "uefiData", "tpmSupport"):
        key = {"kernel": "KernelId", "ramdisk": "RamdiskId", "sriovNetSupport": "SriovNetSupport",
               "uefiData": "UefiData", "tpmSupport": "TpmSupport"}[attribute]
        out[key] = {}
    elif attribute == "productCodes":
        out["ProductCodes"] = []
    elif attribute == "lastLaunchedTime":
        out["LastLaunchedTime"] = {}
    elif attribute == "deregistrationProtection":
        out["DeregistrationProtection"] = {"Value": "disabled"}
    else:
        raise errors.InvalidParameterValue(f"Value ({attribute}) for parameter attribute is invalid. "
                                           f"Unknown attribute.")
    return out


def modify_attribute(backend: Backend, region: str, req: Mapping[str, Any]) -> None:
    image = own(backend, region, req["ImageId"])
    changes: dict[str, Any] = {}
    attribute = req.get("Attribute")
    description = (req.get("Description") or {}).get("Value")
    if attribute == "description" and req.get("Value") is not None:
        description = req["Value"]
    if description is not None:
        changes["Description"] = description
    if req.get("ImdsSupport"):
        value = req["ImdsSupport"].get("Value")
        if value != "v2.0":
            raise errors.InvalidParameterValue(f"Value ({value}) for parameter imdsSupport is invalid.")
        changes["ImdsSupport"] = value
    add, remove = snaps._permission_changes(req.get("LaunchPermission"), req.get("OperationType"),
                                            req.get("UserIds") or [], req.get("UserGroups") or [])
    if attribute not in (None, "description", "launchPermission", "imdsSupport"):
        raise errors.InvalidParameterValue(f"Value ({attribute}) for parameter attribute is invalid.")
    if not changes and not add and not remove:
        raise errors.MissingParameter("Attribute")

    def change(rec: Record) -> None:
        rec.data.update(changes)
        if add or remove:
            public = bool(rec.data.get("Public"))
            if any(p.get("Group") == "all" for p in add):
                public = True
            if any(p.get("Group") == "all" for p in remove):
                public = False
            users = [p for p in snaps.apply_permissions(rec.data.get("LaunchPermissions") or [], add, remove)
                     if p.get("UserId")]
            rec.data["LaunchPermissions"] = users
            rec.data["Public"] = public

    vols.mutate(backend, image.id, change)


def reset_attribute(backend: Backend, region: str, image_id: str, attribute: str) -> None:
    image = own(backend, region, image_id)
    if attribute != "launchPermission":
        raise errors.InvalidParameterValue(f"Value ({attribute}) for parameter attribute is invalid.")

    def change(rec: Record) -> None:
        rec.data["LaunchPermissions"] = []
        rec.data["Public"] = False

    vols.mutate(backend, image.id, change)


def describe_images(backend: Backend, region: str, account_id: str, image_ids: Sequence[str] | None,
                    executable_users: Sequence[str] | None, owners: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeImages' items: the named AMIs, or every one the account may see, narrowed to those
    the ``executable_users`` may launch and the ``owners`` own (``self`` is the caller's account)."""
    if image_ids:
        records = [images.get(backend, region, i) for i in image_ids]
    else:
        records = images.visible(backend, region, account_id)
    if executable_users:
        users = [account_id if u == "self" else u for u in executable_users]
        records = [r for r in records if any(can_launch(r, u) for u in users)]
    if owners:
        records = [r for r in records if images.owner_matches(r, owners, account_id)]
    return tag_service.rendered(backend, region, images.IMAGE, records, images.describe)
