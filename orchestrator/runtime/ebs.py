"""EBS work: volume files, hot-plug of disks, online grow, snapshots (live and offline), layer
copies, garbage collection of layers, and recovery of work a restart interrupted.

Runs in the runtime's job model: the request has already moved the record (``creating``,
``attaching``, ``detaching``, ``deleting``); the work here holds the locks of the volumes, then
of the instances (the instance work holds the instance's lock, so an attach never races a
launch), calls the drivers in the thread pool and settles the record.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from orchestrator.domain.lifecycle import AttachmentState
from orchestrator.domain.states import VolumeState
from orchestrator.drivers.compute.designer import DiskEncryption, design_disk, ec2_device_to_target
from orchestrator.drivers.compute.driver import PowerState
from orchestrator.drivers.storage.driver import LayerInUse, VolumeNotFound
from orchestrator.runtime import records as rec
from orchestrator.runtime.parts import Parts
from orchestrator.runtime.port import Then
from orchestrator.runtime.records import complete_modification, complete_snapshot, store_users
from orchestrator.runtime.volume_keys import disk_encryption, forget_secret
from orchestrator.runtime.vpc import VpcNetworks
from orchestrator.store.sqlite import Record, StateConflict

log = logging.getLogger("ec2d.volumes")
V = VolumeState
GIB = 1024**3
GC_LOCK = "ebs:garbage-collection"
Live = dict[str, list[tuple[str, str, str]]]  # domain -> [(volume, snapshot, target)]


class Ebs:
    def __init__(self, parts: Parts, vpcs: VpcNetworks) -> None:
        self.parts = parts
        self.jobs = parts.jobs
        self.vpcs = vpcs
        self.store = parts.model.store
        self.storage = parts.storage

    # ------------------------------------------------------------------ helpers
    def domain_running(self, instance_id: str) -> bool:
        p = self.parts
        return bool(p.compute.state(p.domain_name(instance_id)) == PowerState.RUNNING)

    async def disk_in_domain(self, instance_id: str, device: str) -> tuple[str, str] | None:
        """``(domain, target)`` when the instance's running domain has the device's disk."""
        if not await self.jobs.call(self.domain_running, instance_id):
            return None
        name, target = self.parts.domain_name(instance_id), ec2_device_to_target(device)
        config = await self.jobs.call(self.parts.compute.get_config, name)
        return (name, target) if config.disk(target) is not None else None

    def refresh_metadata(self, instance_id: str) -> None:
        """The metadata service lists block-device-mapping/ebsN from the instance's mappings."""
        inst = self.store.get(instance_id)
        if inst is not None:
            self.vpcs.refresh(inst.region, inst.data["VpcId"])

    def encryption(self, volume_id: str) -> DiskEncryption | None:
        p = self.parts
        return disk_encryption(self.store, p.prefix, p.compute, self.storage, volume_id)

    # ------------------------------------------------------------------ volumes
    async def create_files(self, volume_id: str) -> None:
        async with self.jobs.holding(volume_id):
            vol = self.store.get(volume_id)
            if vol is None or vol.state != V.CREATING:  # made already (by the recovery after a restart)
                return
            if vol.data.get("Encrypted") and not vol.data.get("DataKey"):
                # its KMS key names no key: as on AWS, the volume goes away (InvalidVolume.NotFound)
                log.warning("%s: KMS key %s is not usable; the volume is deleted", volume_id, vol.data.get("KmsKeyId"))
                self.store.delete(volume_id)
                return
            try:
                await self.jobs.call(self.storage.create_volume, volume_id, int(vol.data["Size"]) * GIB,
                                     vol.data.get("SnapshotId") or None, shared=bool(vol.data.get("MultiAttachEnabled")))
            except Exception as exc:
                log.exception("%s: create failed", volume_id)
                rec.move_volume(self.store, volume_id, V.CREATING, V.ERROR, {"StatusMessage": str(exc)})
                return
            rec.move_volume(self.store, volume_id, V.CREATING, V.AVAILABLE)

    async def delete_files(self, volume_id: str) -> None:
        async with self.jobs.holding(volume_id):
            vol = self.store.get(volume_id)
            await self.jobs.call(self.storage.delete_volume, volume_id)
            self.store.delete(volume_id)
        if vol is not None:
            await self.jobs.call(forget_secret, self.store, self.parts.prefix, self.parts.compute, vol)
        await self.collect_garbage()

    async def plug(self, volume_id: str, instance_id: str, device: str) -> None:
        p = self.parts
        target = ec2_device_to_target(device)
        async with self.jobs.holding(volume_id, instance_id):
            try:
                if await self.jobs.call(self.domain_running, instance_id):
                    name = p.domain_name(instance_id)
                    config = await self.jobs.call(p.compute.get_config, name)
                    if config.disk(target) is None:  # a launch may have designed it in already
                        path = await self.jobs.call(self.storage.volume_path, volume_id)
                        enc = await self.jobs.call(self.encryption, volume_id)
                        await self.jobs.call(p.compute.attach_disk, name,
                                             design_disk(str(path), target, volume_id, encryption=enc))
            except Exception:
                log.exception("%s: attach to %s failed", volume_id, instance_id)
                rec.finish_detach(self.store, volume_id, instance_id)
                return
            rec.set_attachment_state(self.store, volume_id, AttachmentState.ATTACHED, instance_id)
        self.refresh_metadata(instance_id)

    async def unplug(self, volume_id: str, instance_id: str, device: str, force: bool) -> None:
        async with self.jobs.holding(volume_id, instance_id):
            found = await self.disk_in_domain(instance_id, device)
            if found is not None:
                name, target = found
                gone = await self.jobs.call(self.parts.compute.detach_disk, name, target, 5.0 if force else 60.0)
                if not gone and not force:
                    # The guest still holds the disk: EC2's "busy". The volume stays in-use (never
                    # two writers); DetachVolume again, with Force, or a stop ends it.
                    log.warning("%s: guest %s did not release %s; attachment busy", volume_id, instance_id, target)
                    rec.set_attachment_state(self.store, volume_id, AttachmentState.BUSY, instance_id)
                    return
                if not gone:
                    log.warning("%s: force-detached from %s while the guest still held it", volume_id, instance_id)
            rec.finish_detach(self.store, volume_id, instance_id)
        self.refresh_metadata(instance_id)

    async def apply_modification(self, volume_id: str) -> None:
        vol = self.store.get(volume_id)
        if vol is None:
            return
        atts = list(vol.data.get("Attachments") or [])
        async with self.jobs.holding(volume_id, *sorted(a["InstanceId"] for a in atts)):
            vol = self.store.get(volume_id)
            if vol is None:
                return
            size = int(vol.data["Modification"]["TargetSize"]) * GIB
            try:
                present = volume_id in await self.jobs.call(self.storage.list_volumes)
                if present and size > await self.jobs.call(self.storage.volume_size, volume_id):
                    await self._grow(volume_id, size, atts)
                shared = bool(vol.data["Modification"].get("TargetMultiAttachEnabled"))
                if present and shared != bool(vol.data.get("MultiAttachEnabled")):
                    if vol.data.get("Attachments"):  # attached since the request: never convert under a guest
                        raise RuntimeError("the volume was attached before Multi-Attach could change")
                    await self.jobs.call(self.storage.set_shared, volume_id, shared)
            except Exception as exc:
                log.exception("%s: resize failed", volume_id)
                complete_modification(self.store, volume_id, str(exc))
                return
            complete_modification(self.store, volume_id)

    async def _grow(self, volume_id: str, size: int, atts: Sequence[Mapping[str, Any]]) -> None:
        """Grow the file, through every running domain holding it (each QEMU learns the new size;
        a Multi-Attach volume may be in several), offline when none runs it."""
        running = [found for a in atts if (found := await self.disk_in_domain(a["InstanceId"], a["Device"]))]
        for attached_to in running or [None]:
            await self.jobs.call(self.storage.resize_volume, volume_id, size, attached_to=attached_to)

    # ------------------------------------------------------------------ snapshots
    async def freeze(self, pairs: Sequence[tuple[str, str]], instance_id: str | None, then: Then) -> None:
        """Freeze ``(volume, snapshot)`` pairs: together (one libvirt call) for the volumes of one
        running domain, offline for the others; then keep the volumes' chains shallow."""
        by_instance: set[str] = {instance_id} if instance_id else set()
        for vid, _ in pairs:
            vol = self.store.get(vid)
            by_instance.update(a["InstanceId"] for a in (vol.data.get("Attachments") or [] if vol else []))
        ok = True
        async with self.jobs.holding(*sorted(vid for vid, _ in pairs), *sorted(by_instance)):
            live: Live = {}
            offline: list[tuple[str, str]] = []
            for vid, sid in pairs:
                vol = self.store.get(vid)
                att = rec.attachment(vol) if vol else None
                if vol is not None and vol.data.get("MultiAttachEnabled"):
                    att = None  # raw, shared: converted while the guests run (storage/raw.py)
                found = await self.disk_in_domain(att["InstanceId"], att["Device"]) if att else None
                if found is not None:
                    live.setdefault(found[0], []).append((vid, sid, found[1]))
                else:
                    offline.append((vid, sid))
            ok = await self._freeze_live(live) and ok
            ok = await self._freeze_offline(offline) and ok
            await self.keep_chains_shallow([vid for vid, _ in pairs], live)
        if then is not None:
            then(ok)

    async def _freeze_live(self, live: Live) -> bool:
        ok = True
        for name, items in live.items():
            try:
                await self.jobs.call(self.storage.snapshot_volumes_live, name, items)
            except Exception as exc:
                log.exception("live snapshot of %s failed", name)
                ok = False
                for _, sid, _ in items:
                    complete_snapshot(self.store, sid, str(exc))
                continue
            for _, sid, _ in items:
                complete_snapshot(self.store, sid, None, await self.usage(sid))
        return ok

    async def _freeze_offline(self, offline: list[tuple[str, str]]) -> bool:
        ok = True
        for vid, sid in offline:
            try:
                await self.jobs.call(self.storage.snapshot_volume, vid, sid)
            except VolumeNotFound:
                # deleted before the freeze ran (e.g. with its instance, DeleteOnTermination): not a fault
                log.warning("snapshot %s of %s failed: the volume was deleted first", sid, vid)
                ok = False
                complete_snapshot(self.store, sid, "The volume was deleted before its snapshot was taken.")
                continue
            except Exception as exc:
                log.exception("snapshot of %s failed", vid)
                ok = False
                complete_snapshot(self.store, sid, str(exc))
                continue
            complete_snapshot(self.store, sid, None, await self.usage(sid))
        return ok

    async def keep_chains_shallow(self, volume_ids: list[str], live: Live) -> None:
        """Past ``max_chain_depth`` layers, flatten the volume (online by block stream when attached to a
        running instance, so the guest sees no downtime); snapshots keep their own layers."""
        limit = self.parts.model.config.max_chain_depth
        attached = {vid: (name, target) for name, items in live.items() for vid, _, target in items}
        for vid in volume_ids:
            try:
                depth = await self.jobs.call(self.storage.chain_depth, vid)
                if depth > limit:
                    log.info("%s: chain depth %d > %d, flattening", vid, depth, limit)
                    await self.jobs.call(self.storage.flatten_volume, vid, attached.get(vid))
            except VolumeNotFound:
                continue  # deleted meanwhile: nothing to flatten
            except Exception:
                log.exception("flattening %s failed (it keeps working on its deep chain)", vid)

    async def usage(self, layer_id: str) -> int | None:
        try:
            return int(await self.jobs.call(self.storage.usage, layer_id))
        except Exception:
            return None

    async def copy(self, source_id: str, snapshot_id: str, then: Then) -> None:
        """A layer with the content of ``source_id`` (CopySnapshot, CopyImage), then completed."""
        copy = self.store.get(snapshot_id)
        failure = None
        if copy is not None and copy.data.get("Encrypted") and not copy.data.get("DataKey"):
            failure = "Given key ID is not accessible"  # as EC2's copy under an unusable KMS key ends
            log.warning("copy %s of %s: KMS key %s is not usable", snapshot_id, source_id, copy.data.get("KmsKeyId"))
        else:
            try:
                await self.jobs.call(self.storage.copy_layer, source_id, snapshot_id)
            except Exception as exc:
                log.exception("copy of %s failed", source_id)
                failure = str(exc)
        if failure is not None:
            complete_snapshot(self.store, snapshot_id, failure)
            if then is not None:
                then(False)
            return
        complete_snapshot(self.store, snapshot_id, None, await self.usage(snapshot_id))
        if then is not None:
            then(True)

    # ------------------------------------------------------------------ layers
    async def collect_garbage(self) -> list[str]:
        """Delete the layers of deleted snapshots nothing builds on any more (and their records);
        returns the ids collected. Deleting one layer can free its parent: repeat until stable."""
        collected: list[str] = []
        async with self.jobs.holding(GC_LOCK):
            while await self._collect_round(collected):
                pass
        if collected:
            log.info("collected layers %s", ", ".join(collected))
        return collected

    async def _collect_round(self, collected: list[str]) -> bool:
        progress = False
        for snap in self.store.list(rec.SNAPSHOT):
            if snap.state != "deleted" or rec.images_using(self.store, snap.id) or store_users(self.store, snap.id):
                continue
            try:
                await self.jobs.call(self.storage.delete_layer, snap.id)
            except LayerInUse:
                continue
            self.store.delete(snap.id)
            collected.append(snap.id)
            progress = True
        return progress

    # ------------------------------------------------------------------ after a restart
    def recover(self) -> Coroutine[Any, Any, None]:
        """Finish what a restart interrupted (once the runtime is open): volumes ``creating``/
        ``deleting``, attachments ``attaching``/``detaching``, modifications, ``pending`` snapshots
        (completed when their layer was made and sealed read-only, else ``error``), ``pending``
        images (settled from their snapshots), then collect garbage. The snapshots are those
        pending when this is called (the work may run later): one a request makes meanwhile is
        its own job's."""
        return self._recover([snap for snap in self.store.list(rec.SNAPSHOT) if snap.state == "pending"])

    async def _recover(self, pending: list[Record]) -> None:
        files = set(await self.jobs.call(self.storage.list_volumes))  # once (not once per volume: O(n^2))
        for vol in self.store.list(rec.VOLUME):
            await self._recover_volume(vol, vol.id in files)
        for snap in pending:
            sealed = await self.jobs.call(self.storage.layer_sealed, snap.id)
            complete_snapshot(self.store, snap.id, None if sealed
                              else "ec2d restarted while the snapshot was being taken")
        for image in self.store.list(rec.IMAGE):
            if image.state == "pending":
                self._settle_image(image)
        await self.collect_garbage()

    async def _recover_volume(self, vol: Record, listed: bool) -> None:
        """``listed``: the volume's files were there when recovery listed them."""
        atts = list(vol.data.get("Attachments") or [])
        if vol.state == "creating" and not atts:
            if listed or vol.id in await self.jobs.call(self.storage.list_volumes):  # made (by now, or before)
                with contextlib.suppress(StateConflict):  # its own create job settled it first
                    rec.move_volume(self.store, vol.id, V.CREATING, V.AVAILABLE)
            else:
                await self.create_files(vol.id)
        elif vol.state == "deleting":
            await self.delete_files(vol.id)
        for att in atts if vol.state == "in-use" else []:  # each attachment of a Multi-Attach volume
            if att["State"] == "attaching" and att["Device"] != rec.root_device(self.store, att["InstanceId"]):
                await self.plug(vol.id, att["InstanceId"], att["Device"])
            elif att["State"] == "detaching":
                await self.unplug(vol.id, att["InstanceId"], att["Device"], True)
        if (vol.data.get("Modification") or {}).get("ModificationState") == "modifying":
            await self.apply_modification(vol.id)

    def _settle_image(self, image: Record) -> None:
        """A ``pending`` AMI whose snapshots all settled: ``available``, or ``failed`` if one did not complete."""
        states = []
        for m in image.data.get("BlockDeviceMappings") or []:
            sid = (m.get("Ebs") or {}).get("SnapshotId")
            snap = self.store.get(sid) if sid else None
            states.append(snap.state if snap else "error")
        if "pending" not in states:
            rec.move_image(self.store, image.id, "pending", "available" if set(states) <= {"completed"} else "failed")
