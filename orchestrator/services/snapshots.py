"""EBS snapshots: CreateSnapshot, CreateSnapshots, DeleteSnapshot, DescribeSnapshots, CopySnapshot,
Modify/DescribeSnapshotAttribute. Freezing, copying and collecting layers is the runtime's work
(``orchestrator/runtime/ebs.py``).

A snapshot is a storage layer with the same id (``snap-...``): ``storage.snapshot_volume`` freezes
the volume's current top (live, through libvirt, when the volume is in a running domain; several
volumes of one instance at the same instant for CreateSnapshots/CreateImage). Snapshots are
region-scoped: a volume in any zone of the region can be made from one (an O(1) overlay).

Reference counting: the layer files themselves are the truth. ``storage.users_of`` reads the qcow2
headers, so a layer is in use while any volume or other layer (a later snapshot of a volume made
from it, a copy in another region) builds on it; the store adds the users the files cannot show
(AMIs that list the snapshot, volumes still ``creating`` from it). DeleteSnapshot refuses
(``InvalidSnapshot.InUse``) while an AMI uses the snapshot; otherwise the record leaves the API at
once (state ``deleted``, hidden) and its layer is deleted as soon as nothing builds on it: the
runtime's garbage collection (``orchestrator/runtime/ebs.py``) runs after every delete of a volume
or snapshot, and periodically, and retries the layers still needed.

Snapshots made from an instance's volumes record the instance's AMI boot data (direct-boot
kernel, initrd, command line, login user): RegisterImage from such a snapshot inherits them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.domain.lifecycle import SnapshotState
from orchestrator.domain.records import BootData, ImageData, SnapshotData, VolumeData
from orchestrator.domain.states import VolumeState
from orchestrator.runtime import records
from orchestrator.runtime.port import Then
from orchestrator.services import ebs_encryption, images, lookup
from orchestrator.services import tags as tag_service
from orchestrator.services import volumes as vols
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

SNAPSHOT = "snapshot"
DELETED = str(SnapshotState.DELETED)  # internal: gone from the API, layer kept until nothing builds on it
BOOT_KEYS = ("kernel", "initrd", "cmdline", "login_user", "BootMode", "ImdsSupport", "SourceImageId")


# ---------------------------------------------------------------------------------------------
# lookups and rendering


def get(backend: Backend, region: str, snapshot_id: str) -> Record[SnapshotData]:
    return lookup.snapshot(backend, region, snapshot_id)


def can_use(rec: Record[SnapshotData], account_id: str) -> bool:
    d = rec.data
    perms = d.get("CreateVolumePermissions") or []
    return (d.get("OwnerId") == account_id or bool(d.get("published")) or bool(d.get("Public"))
            or any(p.get("Group") == "all" or p.get("UserId") == account_id for p in perms))


def visible(backend: Backend, region: str, account_id: str) -> list[Record]:
    return [r for r in backend.store.list(SNAPSHOT, region) if r.state != DELETED and can_use(r, account_id)]


def describe(backend: Backend, rec: Record[SnapshotData], tags: Mapping[str, str]) -> dict[str, Any]:
    d = rec.data
    out: dict[str, Any] = {
        "SnapshotId": rec.id, "VolumeId": d.get("VolumeId") or "vol-ffffffff", "State": rec.state,
        "Progress": d.get("Progress") or ("100%" if rec.state == SnapshotState.COMPLETED else "0%"),
        "StartTime": d["StartTime"], "OwnerId": d["OwnerId"], "OwnerAlias": d.get("OwnerAlias"),
        "Description": d.get("Description") or "", "VolumeSize": d["VolumeSize"],
        **ebs_encryption.shown(d), "StorageTier": d.get("StorageTier") or "standard",
        **tag_service.tags_member(tags),
    }
    if d.get("StateMessage"):
        out["StateMessage"] = d["StateMessage"]
    if d.get("CompletionTime"):
        out["CompletionTime"] = d["CompletionTime"]
    if d.get("FullSnapshotSizeInBytes") is not None:
        out["FullSnapshotSizeInBytes"] = d["FullSnapshotSizeInBytes"]
    return out


def info(backend: Backend, rec: Record[SnapshotData], tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``SnapshotInfo`` shape (CreateSnapshots)."""
    full = describe(backend, rec, tags)
    keys = ("Description", "Tags", "Encrypted", "VolumeId", "State", "VolumeSize", "StartTime", "Progress",
            "OwnerId", "SnapshotId")
    return {k: full[k] for k in keys if k in full} | {"AvailabilityZone": rec.data.get("AvailabilityZone")}


def describe_snapshots(backend: Backend, region: str, account_id: str, snapshot_ids: Sequence[str] | None,
                       owner_ids: Sequence[str] | None, restorable_by_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    """DescribeSnapshots' items: the named snapshots or every one the account may use, narrowed to
    the ``owner_ids`` and to those the ``restorable_by_ids`` may make volumes from."""
    if snapshot_ids:
        records = [get(backend, region, s) for s in snapshot_ids]
    else:
        records = visible(backend, region, account_id)
    if owner_ids:
        records = [r for r in records if images.owner_matches(r, owner_ids, account_id, alias_key="OwnerAlias")]
    if restorable_by_ids:
        users = [account_id if u == "self" else u for u in restorable_by_ids]
        records = [r for r in records if any(can_use(r, u) for u in users)]
    return tag_service.rendered(backend, region, SNAPSHOT, records, lambda r, tags: describe(backend, r, tags))


# ---------------------------------------------------------------------------------------------
# boot data (for RegisterImage)


def boot_data_of_volume(backend: Backend, vol: Record[VolumeData]) -> BootData:
    """The AMI boot data a snapshot of ``vol`` carries: from the instance's AMI when ``vol`` is an
    instance's root volume, else inherited from the snapshot the volume was made from."""
    att = vols.attachment(vol)
    if att:
        inst = backend.store.get(att["InstanceId"])
        if inst is not None and inst.data["BlockDeviceMappings"] and \
                inst.data["BlockDeviceMappings"][0]["VolumeId"] == vol.id:
            image = backend.store.get(inst.data["ImageId"])
            if image is not None:
                return boot_data_of_image(image)
    if vol.data.get("SnapshotId"):
        snap = backend.store.get(vol.data["SnapshotId"])
        if snap is not None:
            return boot_data_of_snapshot(backend, snap)
    return {}


def boot_data_of_image(image: Record[ImageData]) -> BootData:
    d = image.data
    return {"kernel": d.get("kernel"), "initrd": d.get("initrd"), "cmdline": d.get("cmdline"),
            "login_user": d.get("login_user"), "BootMode": d.get("BootMode"),
            "ImdsSupport": d.get("ImdsSupport"), "SourceImageId": image.id}


def boot_data_of_snapshot(backend: Backend, snap: Record[SnapshotData]) -> BootData:
    if snap.data.get("boot"):
        return BootData(**snap.data["boot"])
    if snap.data.get("published"):  # the root snapshot of an ec2d image: its AMI knows
        for image in backend.store.list(images.IMAGE, snap.region):
            bdm = image.data.get("BlockDeviceMappings") or []
            if image.data.get("published") and bdm and bdm[0].get("Ebs", {}).get("SnapshotId") == snap.id:
                return boot_data_of_image(image)
    return {}


# ---------------------------------------------------------------------------------------------
# create


def new_snapshot(backend: Backend, region: str, *, volume_id: str, size: int, description: str, boot: BootData,
                 tags: Mapping[str, str] | None = None, zone: str | None = None,
                 source: Record[SnapshotData] | None = None,
                 encryption: Mapping[str, Any] | None = None) -> Record[SnapshotData]:
    """Insert a new ``pending`` snapshot record (and its tags): of ``volume_id`` in ``zone``
    (CreateSnapshot, CreateImage), or a copy of ``source`` (CopySnapshot, CopyImage; its volume is
    EC2's ``vol-ffffffff``). The one place a user's snapshot is born (an image ec2d publishes gets
    its completed root snapshot from ``images.register_artifact``). ``encryption``: from
    ``ebs_encryption`` (``of_volume`` / ``for_copy``)."""
    data: SnapshotData = {
        "VolumeId": volume_id, "VolumeSize": size, "Description": description,
        "OwnerId": backend.account_id, "Progress": "0%", "StartTime": vols.now_iso(), "Encrypted": False,
        "StorageTier": "standard",
    }
    data.update(encryption or {})  # type: ignore[typeddict-item]
    if zone is not None:
        data["AvailabilityZone"] = zone
    data["boot"] = boot
    data["CreateVolumePermissions"] = []
    if source is not None:
        data["SourceSnapshotId"] = source.id
        data["SourceRegion"] = source.region
    rec = Record[SnapshotData](id=ids.new_id("snap"), type=SNAPSHOT, region=region,
                               state=str(SnapshotState.PENDING), data=data)
    backend.store.insert(rec, dict(tags or {}))
    return rec


def snapshot_of_volume(backend: Backend, region: str, vol: Record[VolumeData], description: str,
                       tags: Mapping[str, str]) -> Record[SnapshotData]:
    """A new ``pending`` snapshot of ``vol`` (its layer is frozen by ``start``)."""
    return new_snapshot(backend, region, volume_id=vol.id, size=int(vol.data["Size"]), description=description,
                        boot=boot_data_of_volume(backend, vol), tags=tags, zone=vol.data["AvailabilityZone"],
                        encryption=ebs_encryption.inherited(vol))


def _snapshottable(vol: Record[VolumeData]) -> None:
    if vol.state not in (VolumeState.AVAILABLE, VolumeState.IN_USE):
        raise errors.IncorrectState(f"The volume '{vol.id}' is in state '{vol.state}'.")


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[SnapshotData]:
    vol = vols.get(backend, region, req["VolumeId"])
    _snapshottable(vol)
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "snapshot")
    with backend.store.transaction():
        rec = snapshot_of_volume(backend, region, vol, req.get("Description") or "", tags)
    start(backend, [(vol.id, rec.id)])
    return backend.store.get(rec.id) or rec


def create_for_instance(backend: Backend, region: str, req: Mapping[str, Any]) -> list[Record]:
    spec = req["InstanceSpecification"]
    inst = lookup.instance(backend, region, spec["InstanceId"])
    exclude = set(spec.get("ExcludeDataVolumeIds") or [])
    for vid in exclude:
        ids.check(vid, "vol")
    mappings = inst.data["BlockDeviceMappings"]
    if spec.get("ExcludeBootVolume"):
        mappings = mappings[1:]
    picked = [vols.get(backend, region, m["VolumeId"]) for m in mappings if m["VolumeId"] not in exclude]
    if not picked:
        raise errors.InvalidParameterValue(f"No volumes of instance {inst.id} are left to snapshot")
    for vol in picked:
        _snapshottable(vol)
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "snapshot")
    out = []
    with backend.store.transaction():
        for vol in picked:
            own = dict(tags)
            if req.get("CopyTagsFromSource") == "volume":
                own = {**backend.store.tags_of(vol.id), **own}
            out.append(snapshot_of_volume(backend, region, vol, req.get("Description") or "", own))
    start(backend, [(v.id, s.id) for v, s in zip(picked, out, strict=True)], instance_id=inst.id)
    return [backend.store.get(s.id) or s for s in out]


def create_tagged(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record, dict[str, str]]:
    """CreateSnapshot; returns the snapshot and its tags (the answer shows them)."""
    rec = create(backend, region, req)
    return rec, tag_service.of(backend, rec.id)


def create_for_instance_tagged(backend: Backend, region: str,
                               req: Mapping[str, Any]) -> list[tuple[Record, dict[str, str]]]:
    """CreateSnapshots; each snapshot with its tags (its own, and the volume's when copied)."""
    return [(rec, tag_service.of(backend, rec.id)) for rec in create_for_instance(backend, region, req)]


def start(backend: Backend, pairs: Sequence[tuple[str, str]], instance_id: str | None = None,
          then: Then = None) -> None:
    """Freeze the volumes ``(volume_id, snapshot_id)`` in the background (together, atomically,
    when they are attached to one running domain); ``then(ok)`` runs afterwards."""
    backend.runtime.snapshot_volumes(pairs, instance_id, then)


# ---------------------------------------------------------------------------------------------
# delete and garbage collection


def images_using(backend: Backend, snapshot_id: str) -> list[str]:
    return records.images_using(backend.store, snapshot_id)


def delete(backend: Backend, region: str, snapshot_id: str) -> None:
    rec = get(backend, region, snapshot_id)
    users = images_using(backend, snapshot_id)
    if users:
        raise errors.ApiError(f"The snapshot {snapshot_id} is currently in use by {users[0]}",
                              code="InvalidSnapshot.InUse")
    if rec.data.get("OwnerId") != backend.account_id:
        raise errors.UnauthorizedOperation()
    if rec.state == SnapshotState.PENDING:
        raise errors.IncorrectState(f"Snapshot '{snapshot_id}' is still pending.")
    backend.store.transition(snapshot_id, [rec.state], DELETED)
    backend.store.delete_tags(snapshot_id)
    backend.runtime.delete_snapshot(snapshot_id)


# ---------------------------------------------------------------------------------------------
# copy (another region) and attributes


def copy(backend: Backend, region: str, req: Mapping[str, Any]) -> Record[SnapshotData]:
    """CopySnapshot, called in the DESTINATION region (``region``) with ``SourceRegion``."""
    source_region = req.get("SourceRegion")
    if not source_region:
        raise errors.MissingParameter("SourceRegion")
    if source_region not in backend.regions:
        raise errors.InvalidParameterValue(f"Invalid region: {source_region}")
    dest = req.get("DestinationRegion") or region
    if dest != region:
        raise errors.InvalidParameterValue(
            f"The destination region {dest} must be the region the request is made in ({region})")
    src = get(backend, source_region, req["SourceSnapshotId"])
    if not can_use(src, backend.account_id):
        raise lookup.not_found("snap", src.id)
    if src.state != SnapshotState.COMPLETED:
        raise errors.IncorrectState(f"Snapshot '{src.id}' is not completed.")
    ebs_encryption.check_dependency(req)
    encryption = ebs_encryption.for_copy(backend, region, src, req.get("Encrypted"), req.get("KmsKeyId"))
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "snapshot")
    description = req.get("Description") or f"[Copied {src.id} from {source_region}]"
    return copy_record(backend, src, region, description, tags, encryption=encryption)


def copy_tagged(backend: Backend, region: str, req: Mapping[str, Any]) -> tuple[Record, dict[str, str]]:
    """CopySnapshot; returns the copy and its tags (the answer shows them)."""
    rec = copy(backend, region, req)
    return rec, tag_service.of(backend, rec.id)


def copy_record(backend: Backend, src: Record[SnapshotData], region: str, description: str,
                tags: Mapping[str, str] | None = None, then: Then = None,
                encryption: Mapping[str, Any] | None = None) -> Record[SnapshotData]:
    """A copy of ``src``: in its lineage (``encryption`` None: as ``src`` is), or re-encrypted."""
    rec = new_snapshot(backend, region, volume_id="vol-ffffffff", size=src.data["VolumeSize"],
                       description=description, boot=boot_data_of_snapshot(backend, src), tags=tags, source=src,
                       encryption=ebs_encryption.inherited(src) if encryption is None else encryption)
    backend.runtime.copy_snapshot(src.id, rec.id, then)
    return backend.store.get(rec.id) or rec


def _permission_changes(mods: Mapping[str, Any] | None, op: str | None, user_ids: Sequence[str],
                        groups: Sequence[str]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    add = list((mods or {}).get("Add") or [])
    remove = list((mods or {}).get("Remove") or [])
    extra = [{"UserId": u} for u in user_ids] + [{"Group": g} for g in groups]
    if extra:
        if op not in ("add", "remove"):
            raise errors.MissingParameter("OperationType")
        (add if op == "add" else remove).extend(extra)
    for p in add + remove:
        if p.get("Group") not in (None, "all"):
            raise errors.InvalidParameterValue(f"Invalid group: {p.get('Group')}")
    return add, remove


def apply_permissions(current: list[dict[str, str]], add: list[dict[str, str]],
                      remove: list[dict[str, str]]) -> list[dict[str, str]]:
    def key(p: Mapping[str, Any]) -> tuple[str | None, str | None]:
        return p.get("UserId"), p.get("Group")

    out = {key(p): {k: v for k, v in p.items() if k in ("UserId", "Group") and v} for p in current}
    for p in add:
        out[key(p)] = {k: v for k, v in p.items() if k in ("UserId", "Group") and v}
    for p in remove:
        out.pop(key(p), None)
    return list(out.values())


def modify_attribute(backend: Backend, region: str, req: Mapping[str, Any]) -> None:
    rec = get(backend, region, req["SnapshotId"])
    if rec.data.get("OwnerId") != backend.account_id:
        raise errors.UnauthorizedOperation()
    attribute = req.get("Attribute") or "createVolumePermission"
    if attribute != "createVolumePermission":
        raise errors.InvalidParameterValue(f"Value ({attribute}) for parameter attribute is invalid.")
    add, remove = _permission_changes(req.get("CreateVolumePermission"), req.get("OperationType"),
                                      req.get("UserIds") or [], req.get("GroupNames") or [])

    def change(r: Record) -> None:
        r.data["CreateVolumePermissions"] = apply_permissions(r.data.get("CreateVolumePermissions") or [],
                                                              add, remove)

    vols.mutate(backend, rec.id, change)


def describe_attribute(backend: Backend, region: str, snapshot_id: str, attribute: str) -> dict[str, Any]:
    rec = get(backend, region, snapshot_id)
    if attribute == "createVolumePermission":
        return {"SnapshotId": rec.id, "CreateVolumePermissions": list(rec.data.get("CreateVolumePermissions") or [])}
    if attribute == "productCodes":
        return {"SnapshotId": rec.id, "ProductCodes": []}
    raise errors.InvalidParameterValue(f"Value ({attribute}) for parameter attribute is invalid.")
