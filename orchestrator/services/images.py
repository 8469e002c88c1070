"""AMIs: the images ec2d publishes (built from Debian packages, or imported by the user) and the
images users make. Region-scoped, like on EC2: a published image is registered in every region.

A published image becomes, per region, an ``ami-`` record and the ``snap-`` record of its root
snapshot (whose layer is the cached disk). Ids are derived from the region and the image's cache
key, so they are stable across restarts and data dirs.

As on EC2 an AMI is ``available`` only once it can be launched: with a runtime, a new image is
registered ``pending``; the runtime imports its layer into storage and then moves it to
``available`` (``runtime/startup.py``; RunInstances on a pending AMI gives ``InvalidAMIID.Unavailable``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain.lifecycle import ImageState, SnapshotState
from orchestrator.domain.records import ImageData, SnapshotData
from orchestrator.images.cache import ImageArtifact, list_images
from orchestrator.services import lookup
from orchestrator.services import tags as tag_service
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

log = logging.getLogger("ec2d.images")

IMAGE = "image"
SNAPSHOT = "snapshot"
PUBLISHER = "ec2d"  # OwnerId and ImageOwnerAlias of the images ec2d publishes
GIB = 1024**3


def _derived_id(prefix: str, *parts: str) -> str:
    return f"{prefix}-{hashlib.sha256('/'.join(parts).encode()).hexdigest()[:17]}"


def published_image_id(region: str, artifact: ImageArtifact) -> str:
    return _derived_id("ami", region, artifact.name, artifact.key)


def _size_gib(virtual_size: int) -> int:
    return max(1, math.ceil(virtual_size / GIB))


def register_artifact(backend: Backend, region: str, artifact: ImageArtifact, launchable: bool = True) -> Record[ImageData]:
    """Make ``artifact`` a public AMI in ``region`` (idempotent): ``available`` at once when
    ``launchable`` (nothing launches without a runtime), else ``pending`` until the runtime imported its layer."""
    image_id = published_image_id(region, artifact)
    existing = backend.store.get(image_id, IMAGE)
    if existing is not None:
        return existing
    m = artifact.manifest
    snapshot_id = _derived_id("snap", region, artifact.name, artifact.key, "root")
    size_gib = _size_gib(int(m.get("virtual_size") or artifact.disk.stat().st_size))
    built = m.get("built_at") or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    root_device = m.get("root_device") or "/dev/xvda"
    with backend.store.transaction():
        if backend.store.get(snapshot_id) is None:
            backend.store.insert(Record[SnapshotData](
                id=snapshot_id, type=SNAPSHOT, region=region, state=str(SnapshotState.COMPLETED),
                data={
                    "VolumeId": "vol-ffffffff",
                    "VolumeSize": size_gib,
                    "Description": f"Root snapshot of {artifact.name} ({artifact.key[:12]})",
                    "OwnerId": PUBLISHER,
                    "OwnerAlias": PUBLISHER,
                    "Progress": "100%",
                    "StartTime": built,
                    "Encrypted": False,
                    "StorageTier": "standard",
                    "layer_path": str(artifact.disk),
                    "published": True,
                },
            ))
        record = Record[ImageData](
            id=image_id, type=IMAGE, region=region, state=str(ImageState.AVAILABLE if launchable else ImageState.PENDING),
            data={
                "Name": f"{artifact.name}-{artifact.key[:12]}",
                "Description": m.get("description") or artifact.name,
                "ImageLocation": f"{PUBLISHER}/{artifact.name}-{artifact.key[:12]}",
                "OwnerId": PUBLISHER,
                "ImageOwnerAlias": PUBLISHER,
                "Public": True,
                "CreationDate": built,
                "Architecture": m.get("architecture", "x86_64"),
                "VirtualizationType": "hvm",
                "Hypervisor": "xen",
                "RootDeviceType": "ebs",
                "RootDeviceName": root_device,
                "EnaSupport": bool(m.get("ena_support", True)),
                "BootMode": m.get("boot_mode", "legacy-bios"),
                "ImdsSupport": m.get("imds_support"),
                "BlockDeviceMappings": [{
                    "DeviceName": root_device,
                    "Ebs": {"SnapshotId": snapshot_id, "VolumeSize": size_gib, "DeleteOnTermination": True,
                            "VolumeType": "gp3", "Encrypted": False, "Iops": 3000, "Throughput": 125},
                }],
                "image_name": artifact.name,
                "image_key": artifact.key,
                "kernel": str(artifact.kernel) if artifact.kernel else None,
                "initrd": str(artifact.initrd) if artifact.initrd else None,
                "cmdline": artifact.kernel_cmdline,
                "login_user": m.get("login_user"),
                "published": True,
            },
        )
        backend.store.insert(record)
    log.info("registered %s as %s in %s", artifact.name, image_id, region)
    return record


def sync_published(backend: Backend, launchable: bool = True) -> list[Record]:
    """Register every cached image in every region (called at start and after builds/imports).
    ``launchable=False`` (the runtime): new AMIs start ``pending`` until their layer is imported."""
    out = []
    for artifact in list_images(backend.config.cache_dir):
        for region in backend.config.regions:
            out.append(register_artifact(backend, region, artifact, launchable))
    return out


def get(backend: Backend, region: str, image_id: str) -> Record[ImageData]:
    return lookup.image(backend, region, image_id)


def visible(backend: Backend, region: str, account_id: str) -> list[Record]:
    return [r for r in backend.store.list(IMAGE, region) if r.state != ImageState.DEREGISTERED
            and (r.data.get("Public") or r.data.get("OwnerId") == account_id)]


def owner_matches(record: Record, owners: Sequence[str], account_id: str,
                  alias_key: str = "ImageOwnerAlias") -> bool:
    """Whether one of ``owners`` (an account id, an alias, ``self`` or ``amazon``) owns the AMI (or,
    with ``alias_key="OwnerAlias"``, the snapshot)."""
    owner = record.data.get("OwnerId")
    for o in owners:
        if o == "self" and owner == account_id:
            return True
        if o in (owner, record.data.get(alias_key)):
            return True
        if o == "amazon" and owner == PUBLISHER:  # ec2d's own images stand where Amazon's do
            return True
    return False


def describe(record: Record[ImageData], tags: Mapping[str, str]) -> dict[str, Any]:
    d = record.data
    out = {k: d.get(k) for k in (
        "Name", "Description", "ImageLocation", "OwnerId", "ImageOwnerAlias", "Public", "CreationDate",
        "Architecture", "VirtualizationType", "Hypervisor", "RootDeviceType", "RootDeviceName",
        "EnaSupport", "BootMode", "ImdsSupport", "BlockDeviceMappings", "StateReason")}
    out.update({"ImageId": record.id, "State": record.state, "ImageType": "machine",
                "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances",
                **tag_service.tags_member(tags)})
    return out
