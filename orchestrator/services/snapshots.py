"""EBS snapshots: CreateSnapshot, CreateSnapshots, DeleteSnapshot, DescribeSnapshots, CopySnapshot,
Modify/DescribeSnapshotAttribute, and the garbage collection of layers.

A snapshot is a storage layer with the same id (``snap-...``): ``storage.snapshot_volume`` freezes
the volume's current top (live, through libvirt, when the volume is in a running domain; several
volumes of one instance at the same instant for CreateSnapshots/CreateImage). Snapshots are
region-scoped: a volume in any zone of the region can be made from one (an O(1) overlay).

Reference counting: the layer files themselves are the truth. ``storage.users_of`` reads the qcow2
headers, so a layer is in use while any volume or other layer (a later snapshot of a volume made
from it, a copy in another region) builds on it; the store adds the users the files cannot show
(AMIs that list the snapshot, volumes still ``creating`` from it). DeleteSnapshot refuses
(``InvalidSnapshot.InUse``) while an AMI uses the snapshot; otherwise the record leaves the API at
once (state ``deleted``, hidden) and its layer is deleted as soon as nothing builds on it:
``collect_garbage`` runs after every delete of a volume, snapshot or image and retries the layers
still needed.

Snapshots made from an instance's volumes record the instance's AMI boot data (direct-boot
kernel, initrd, command line, login user): RegisterImage from such a snapshot inherits them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors, ids
from orchestrator.services import images, instances
from orchestrator.services import tags as tag_service
from orchestrator.services import volumes as vols
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record, StateConflict

log = logging.getLogger("ec2d.snapshots")

SNAPSHOT = "snapshot"
DELETED = "deleted"  # internal: gone from the API, layer kept until nothing builds on it
BOOT_KEYS = ("kernel", "initrd", "cmdline", "login_user", "BootMode", "ImdsSupport", "SourceImageId")


# ---------------------------------------------------------------------------------------------
# lookups and rendering


def get(backend: Backend, region: str, snapshot_id: str) -> Record:
    ids.check(snapshot_id, "snap")
    rec = backend.store.get(snapshot_id, SNAPSHOT)
    if rec is None or rec.region != region or rec.state == DELETED:
        raise ids.KINDS["snap"].not_found_error(snapshot_id)
    return rec


def can_use(rec: Record, account_id: str) -> bool:
    d = rec.data
    perms = d.get("CreateVolumePermissions") or []
    return (d.get("OwnerId") == account_id or bool(d.get("published")) or bool(d.get("Public"))
            or any(p.get("Group") == "all" or p.get("UserId") == account_id for p in perms))


def visible(backend: Backend, region: str, account_id: str) -> list[Record]:
    return [r for r in backend.store.list(SNAPSHOT, region) if r.state != DELETED and can_use(r, account_id)]


def describe(backend: Backend, rec: Record, tags: Mapping[str, str]) -> dict[str, Any]:
    d = rec.data
    out: dict[str, Any] = {
        "SnapshotId": rec.id, "VolumeId": d.get("VolumeId") or "vol-ffffffff", "State": rec.state,
        "Progress": d.get("Progress") or ("100%" if rec.state == "completed" else "0%"),
        "StartTime": d["StartTime"], "OwnerId": d["OwnerId"], "OwnerAlias": d.get("OwnerAlias"),
        "Description": d.get("Description") or "", "VolumeSize": d["VolumeSize"],
        "Encrypted": bool(d.get("Encrypted")), "StorageTier": d.get("StorageTier") or "standard",
        "Tags": tag_service.tag_list(tags),
    }
    if d.get("StateMessage"):
        out["StateMessage"] = d["StateMessage"]
    if d.get("CompletionTime"):
        out["CompletionTime"] = d["CompletionTime"]
    if d.get("FullSnapshotSizeInBytes") is not None:
        out["FullSnapshotSizeInBytes"] = d["FullSnapshotSizeInBytes"]
    return out


def info(backend: Backend, rec: Record, tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``SnapshotInfo`` shape (CreateSnapshots)."""
    full = describe(backend, rec, tags)
    keys = ("Description", "Tags", "Encrypted", "VolumeId", "State", "VolumeSize", "StartTime", "Progress",
            "OwnerId", "SnapshotId")
    return {k: full[k] for k in keys} | {"AvailabilityZone": rec.data.get("AvailabilityZone")}


# ---------------------------------------------------------------------------------------------
# boot data (for RegisterImage)


def boot_data_of_volume(backend: Backend, vol: Record) -> dict[str, Any]:
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


def boot_data_of_image(image: Record) -> dict[str, Any]:
    d = image.data
    return {"kernel": d.get("kernel"), "initrd": d.get("initrd"), "cmdline": d.get("cmdline"),
            "login_user": d.get("login_user"), "BootMode": d.get("BootMode"),
            "ImdsSupport": d.get("ImdsSupport"), "SourceImageId": image.id}


def boot_data_of_snapshot(backend: Backend, snap: Record) -> dict[str, Any]:
    if snap.data.get("boot"):
        return dict(snap.data["boot"])
    if snap.data.get("published"):  # the root snapshot of an ec2d image: its AMI knows
        for image in backend.store.list(images.IMAGE, snap.region):
            bdm = image.data.get("BlockDeviceMappings") or []
            if image.data.get("published") and bdm and bdm[0].get("Ebs", {}).get("SnapshotId") == snap.id:
                return boot_data_of_image(image)
    return {}


# ---------------------------------------------------------------------------------------------
# create


def _new_record(backend: Backend, region: str, vol: Record, description: str, tags: Mapping[str, str]) -> Record:
    rec = Record(id=ids.new_id("snap"), type=SNAPSHOT, region=region, state="pending", data={
        "VolumeId": vol.id, "VolumeSize": int(vol.data["Size"]), "Description": description,
        "OwnerId": backend.account_id, "Progress": "0%", "StartTime": vols.now_iso(), "Encrypted": False,
        "StorageTier": "standard", "AvailabilityZone": vol.data["AvailabilityZone"],
        "boot": boot_data_of_volume(backend, vol), "CreateVolumePermissions": [],
    })
    backend.store.insert(rec)
    if tags:
        backend.store.set_tags(rec.id, SNAPSHOT, region, dict(tags))
    return rec


def _snapshottable(vol: Record) -> None:
    if vol.state not in ("available", "in-use"):
        raise errors.IncorrectState(f"The volume '{vol.id}' is in state '{vol.state}'.")


def create(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
    vol = vols.get(backend, region, req["VolumeId"])
    _snapshottable(vol)
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "snapshot")
    with backend.store.transaction():
        rec = _new_record(backend, region, vol, req.get("Description") or "", tags)
    start(backend, [(vol.id, rec.id)])
    return backend.store.get(rec.id) or rec


def create_for_instance(backend: Backend, region: str, req: Mapping[str, Any]) -> list[Record]:
    spec = req["InstanceSpecification"]
    inst = instances.get(backend, region, spec["InstanceId"])
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
            out.append(_new_record(backend, region, vol, req.get("Description") or "", own))
    start(backend, [(v.id, s.id) for v, s in zip(picked, out, strict=True)], instance_id=inst.id)
    return [backend.store.get(s.id) or s for s in out]


def start(backend: Backend, pairs: Sequence[tuple[str, str]], instance_id: str | None = None,
          then: Any = None) -> None:
    """Freeze the volumes ``(volume_id, snapshot_id)`` in the background (together, atomically,
    when they are attached to one running domain); ``then(ok)`` runs afterwards."""
    if not vols.spawn(backend, lambda: _freeze(backend, list(pairs), instance_id, then)):
        for _, sid in pairs:
            _complete(backend, sid, None)
        if then is not None:
            then(True)


def _complete(backend: Backend, snapshot_id: str, failure: str | None, usage: int | None = None) -> None:
    changes: dict[str, Any] = {"Progress": "100%", "CompletionTime": vols.now_iso()}
    if usage is not None:
        changes["FullSnapshotSizeInBytes"] = usage
    if failure:
        changes = {"StateMessage": failure, "Progress": "0%"}
    try:
        backend.store.transition(snapshot_id, "pending", "error" if failure else "completed", changes)
    except StateConflict:
        log.warning("%s left pending before it completed", snapshot_id)


async def _freeze(backend: Backend, pairs: list[tuple[str, str]], instance_id: str | None, then: Any) -> None:
    from orchestrator.drivers.storage.volumes import VolumeNotFound

    rt = backend.runtime
    by_instance: dict[str, str] = {}
    for vid, _ in pairs:
        vol = backend.store.get(vid)
        att = vols.attachment(vol) if vol else None
        if att:
            by_instance[vid] = att["InstanceId"]
    lock_keys = sorted(vid for vid, _ in pairs) + sorted(set(by_instance.values()) | ({instance_id} if instance_id else set()))
    ok = True
    async with vols.Locks(backend, *lock_keys):
        live: dict[str, list[tuple[str, str, str]]] = {}
        offline: list[tuple[str, str]] = []
        for vid, sid in pairs:
            vol = backend.store.get(vid)
            att = vols.attachment(vol) if vol else None
            if att and await rt._call(vols.domain_running, backend, att["InstanceId"]):
                name = rt.domain_name(att["InstanceId"])
                config = await rt._call(rt.compute.get_config, name)
                target = vols.target_of(att["Device"])
                if config.disk(target) is not None:
                    live.setdefault(name, []).append((vid, sid, target))
                    continue
            offline.append((vid, sid))
        for name, items in live.items():
            try:
                await rt._call(rt.storage.snapshot_volumes_live, name, items)
            except Exception as exc:
                log.exception("live snapshot of %s failed", name)
                ok = False
                for _, sid, _ in items:
                    _complete(backend, sid, str(exc))
                continue
            for _, sid, _ in items:
                _complete(backend, sid, None, await _usage(backend, sid))
        for vid, sid in offline:
            try:
                await rt._call(rt.storage.snapshot_volume, vid, sid)
            except VolumeNotFound:
                # deleted before the freeze ran (e.g. with its instance, DeleteOnTermination): not a fault
                log.warning("snapshot %s of %s failed: the volume was deleted first", sid, vid)
                ok = False
                _complete(backend, sid, "The volume was deleted before its snapshot was taken.")
                continue
            except Exception as exc:
                log.exception("snapshot of %s failed", vid)
                ok = False
                _complete(backend, sid, str(exc))
                continue
            _complete(backend, sid, None, await _usage(backend, sid))
        await _keep_chains_shallow(backend, [vid for vid, _ in pairs], live)
    if then is not None:
        then(ok)


async def _keep_chains_shallow(backend: Backend, volume_ids: list[str],
                               live: dict[str, list[tuple[str, str, str]]]) -> None:
    """Past ``max_chain_depth`` layers, flatten the volume (online by block stream when attached to a
    running instance, so the guest sees no downtime); snapshots keep their own layers."""
    from orchestrator.drivers.storage.volumes import VolumeNotFound

    rt = backend.runtime
    limit = backend.config.max_chain_depth
    attached = {vid: (name, target) for name, items in live.items() for vid, _, target in items}
    for vid in volume_ids:
        try:
            depth = await rt._call(rt.storage.chain_depth, vid)
            if depth > limit:
                log.info("%s: chain depth %d > %d, flattening", vid, depth, limit)
                await rt._call(rt.storage.flatten_volume, vid, attached.get(vid))
        except VolumeNotFound:
            continue  # deleted meanwhile: nothing to flatten
        except Exception:
            log.exception("flattening %s failed (it keeps working on its deep chain)", vid)


async def _usage(backend: Backend, layer_id: str) -> int | None:
    rt = backend.runtime
    try:
        return int(await rt._call(rt.storage.usage, layer_id))
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------
# delete and garbage collection


def images_using(backend: Backend, snapshot_id: str) -> list[str]:
    rec = backend.store.get(snapshot_id)
    region = rec.region if rec else None
    out = []
    for image in backend.store.list(images.IMAGE, region):
        if image.state == "deregistered":
            continue
        for m in image.data.get("BlockDeviceMappings") or []:
            if (m.get("Ebs") or {}).get("SnapshotId") == snapshot_id:
                out.append(image.id)
    return out


def delete(backend: Backend, region: str, snapshot_id: str) -> None:
    rec = get(backend, region, snapshot_id)
    users = images_using(backend, snapshot_id)
    if users:
        raise errors.Ec2Error(f"The snapshot {snapshot_id} is currently in use by {users[0]}",
                              code="InvalidSnapshot.InUse")
    if rec.data.get("OwnerId") != backend.account_id:
        raise errors.UnauthorizedOperation()
    if rec.state == "pending":
        raise errors.IncorrectState(f"Snapshot '{snapshot_id}' is still pending.")
    backend.store.transition(snapshot_id, [rec.state], DELETED)
    backend.store.delete_tags(snapshot_id)
    if not vols.spawn(backend, lambda: collect_garbage(backend)):
        backend.store.delete(snapshot_id)


def _store_users(backend: Backend, snapshot_id: str) -> bool:
    """Users the layer files cannot show yet: volumes still being created from it."""
    return any(v.state == "creating" and v.data.get("SnapshotId") == snapshot_id
               for v in backend.store.list(vols.VOLUME))


async def collect_garbage(backend: Backend) -> list[str]:
    """Delete the layers of deleted snapshots nothing builds on any more (and their records);
    returns the ids collected. Deleting one layer can free its parent: repeat until stable."""
    from orchestrator.drivers.storage.volumes import LayerInUse

    rt = backend.runtime
    collected: list[str] = []
    progress = True
    async with vols.Locks(backend, "ebs:garbage-collection"):
        while progress:
            progress = await _collect_round(backend, rt, collected, LayerInUse)
    if collected:
        log.info("collected layers %s", ", ".join(collected))
    return collected


async def _collect_round(backend: Backend, rt: Any, collected: list[str], layer_in_use: type[Exception]) -> bool:
    progress = False
    for rec in backend.store.list(SNAPSHOT):
        if rec.state != DELETED or images_using(backend, rec.id) or _store_users(backend, rec.id):
            continue
        try:
            await rt._call(rt.storage.delete_layer, rec.id)
        except layer_in_use:
            continue
        backend.store.delete(rec.id)
        collected.append(rec.id)
        progress = True
    return progress


async def recover(backend: Backend) -> None:
    """Finish what a restart interrupted (call once the runtime is open): volumes ``creating``/
    ``deleting``, attachments ``attaching``/``detaching``, modifications, ``pending`` snapshots
    (completed when their layer was made and sealed read-only, else ``error``), ``pending``
    images (settled from their snapshots), then collect garbage."""
    rt = backend.runtime
    for vol in backend.store.list(vols.VOLUME):
        att = vols.attachment(vol)
        present = vol.id in await rt._call(rt.storage.list_volumes)
        if vol.state == "creating" and not vols.attachment(vol):
            if present:
                vols.move(backend, vol.id, vols.V.CREATING, vols.V.AVAILABLE)
            else:
                await vols._create_files(backend, vol.id)
        elif vol.state == "deleting":
            await vols._delete_files(backend, vol.id)
        elif att and att["State"] == "attaching" and att["Device"] != _root_device(backend, att["InstanceId"]):
            await vols._plug(backend, vol.id, att["InstanceId"], att["Device"])
        elif att and att["State"] == "detaching":
            await vols._unplug(backend, vol.id, att["InstanceId"], att["Device"], True)
        if (vol.data.get("Modification") or {}).get("ModificationState") == "modifying":
            await vols._apply_modification(backend, vol.id)
    for snap in backend.store.list(SNAPSHOT):
        if snap.state == "pending":
            _complete(backend, snap.id, None if await rt._call(_layer_sealed, rt.storage, snap.id)
                      else "ec2d restarted while the snapshot was being taken")
    for image in backend.store.list(images.IMAGE):
        if image.state != "pending":
            continue
        states = []
        for m in image.data.get("BlockDeviceMappings") or []:
            sid = (m.get("Ebs") or {}).get("SnapshotId")
            rec = backend.store.get(sid) if sid else None
            states.append(rec.state if rec else "error")
        if "pending" not in states:
            try:
                backend.store.transition(image.id, "pending", "available" if set(states) <= {"completed"} else "failed")
            except StateConflict:
                pass
    await collect_garbage(backend)


def _root_device(backend: Backend, instance_id: str) -> str | None:
    inst = backend.store.get(instance_id)
    return inst.data["RootDeviceName"] if inst else None


def _layer_sealed(storage: Any, layer_id: str) -> bool:
    """A layer is finished once the driver made it read-only (the last step of every snapshot)."""
    try:
        path = storage.layer_path(layer_id)
    except Exception:
        return False
    try:
        return not os.stat(path).st_mode & 0o222
    except (OSError, TypeError):
        return True  # a driver without files (fake): it exists, so it is done


# ---------------------------------------------------------------------------------------------
# copy (another region) and attributes


def copy_layer(storage: Any, source_id: str, layer_id: str) -> None:
    """A new layer with the same content: a hard link of the immutable layer file (O(1); its
    header names the same absolute backing file, so the chain and ``users_of`` still hold), or a
    full copy where the driver has no layer directory."""
    src = storage.layer_path(source_id)
    layers_dir = getattr(storage, "layers_dir", None)
    if layers_dir is None:
        storage.import_image(src, layer_id)
        return
    dst = layers_dir / f"{layer_id}.qcow2"
    if dst.exists():
        return
    os.link(src, dst)


def copy(backend: Backend, region: str, req: Mapping[str, Any]) -> Record:
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
        raise ids.KINDS["snap"].not_found_error(src.id)
    if src.state != "completed":
        raise errors.IncorrectState(f"Snapshot '{src.id}' is not completed.")
    if req.get("Encrypted"):
        raise errors.Ec2Error("ec2d does not encrypt EBS snapshots", code="UnsupportedOperation")
    tags = tag_service.tags_from_specifications(req.get("TagSpecifications"), "snapshot")
    description = req.get("Description") or f"[Copied {src.id} from {source_region}]"
    return copy_record(backend, src, region, description, tags)


def copy_record(backend: Backend, src: Record, region: str, description: str,
                tags: Mapping[str, str] | None = None, then: Any = None) -> Record:
    rec = Record(id=ids.new_id("snap"), type=SNAPSHOT, region=region, state="pending", data={
        "VolumeId": "vol-ffffffff", "VolumeSize": src.data["VolumeSize"], "Description": description,
        "OwnerId": backend.account_id, "Progress": "0%", "StartTime": vols.now_iso(), "Encrypted": False,
        "StorageTier": "standard", "boot": boot_data_of_snapshot(backend, src), "CreateVolumePermissions": [],
        "SourceSnapshotId": src.id, "SourceRegion": src.region,
    })
    with backend.store.transaction():
        backend.store.insert(rec)
        if tags:
            backend.store.set_tags(rec.id, SNAPSHOT, region, dict(tags))

    async def work() -> None:
        rt = backend.runtime
        try:
            await rt._call(copy_layer, rt.storage, src.id, rec.id)
        except Exception as exc:
            log.exception("copy of %s failed", src.id)
            _complete(backend, rec.id, str(exc))
            if then is not None:
                then(False)
            return
        _complete(backend, rec.id, None, await _usage(backend, rec.id))
        if then is not None:
            then(True)

    if not vols.spawn(backend, work):
        _complete(backend, rec.id, None)
        if then is not None:
            then(True)
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
