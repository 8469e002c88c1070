"""EBS Multi-Attach, EC2's rules (pure): which volumes may enable it, how many instances share one,
and what ModifyVolume may change on them.

From the EBS user guide's Multi-Attach page: only Provisioned IOPS SSD (io1, io2) volumes; up to 16
(Nitro) instances of the volume's Availability Zone; one attachment per instance; never a boot
volume; Multi-Attach cannot be enabled or disabled while the volume is attached; the size, type and
IOPS of an io1 Multi-Attach volume cannot change; only io2 may enable or disable it after creation
(ModifyVolume, while unattached: ec2d converts the file, qcow2 <-> raw). On the host a Multi-Attach volume is a raw file
opened by every attached guest's QEMU with ``share-rw`` (libvirt ``<shareable/>``), because qcow2's
metadata cannot have two writers (QEMU's image locking refuses it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.domain import errors

TYPES = ("io1", "io2")
MAX_ATTACHMENTS = 16


def check_create(volume_type: str, encrypted: bool) -> None:
    """CreateVolume with ``MultiAttachEnabled``."""
    if volume_type not in TYPES:
        raise errors.InvalidParameterCombination(
            f"Multi-Attach is supported only on io1 and io2 volumes; the volume type is {volume_type}.")
    if encrypted:
        # LUKS-in-raw would share, but ec2d's key handling (one lineage chain per qcow2 backing
        # chain, the libvirt secret per domain) is built for qcow2 files: refused, not half made.
        raise errors.InvalidParameterCombination(
            "ec2d does not support Multi-Attach on encrypted volumes; create it unencrypted.")


def check_instance(volume_id: str, instance_type: str, nitro: bool) -> None:
    """AttachVolume of a Multi-Attach volume: only to instances built on the Nitro System."""
    if not nitro:
        raise errors.ApiError(f"The Multi-Attach volume {volume_id} can be attached only to instances built on "
                              f"the Nitro System; {instance_type} is not.", code="UnsupportedOperation")


def check_attach(volume_id: str, instance_id: str, attachments: Sequence[Mapping[str, Any]]) -> None:
    """AttachVolume to an instance of the volume's zone while the volume is ``in-use`` elsewhere."""
    if any(a["InstanceId"] == instance_id for a in attachments):
        raise errors.ApiError(f"{volume_id} is already attached to instance {instance_id}", code="VolumeInUse")
    if len(attachments) >= MAX_ATTACHMENTS:
        raise errors.ApiError(
            f"{volume_id} is already attached to {MAX_ATTACHMENTS} instances, the Multi-Attach limit",
            code="AttachmentLimitExceeded")


def check_modify(volume_id: str, current: Mapping[str, Any], target_type: str, wanted: bool | None,
                 attached: bool, changes_other: bool) -> bool:
    """ModifyVolume on a volume: the ``MultiAttachEnabled`` it will have. ``wanted``: the request's
    ``MultiAttachEnabled`` (None: not given); ``changes_other``: size, type, IOPS or throughput change."""
    enabled = bool(current.get("MultiAttachEnabled"))
    target = enabled if wanted is None else bool(wanted)
    if target != enabled:
        if attached:
            raise errors.InvalidParameterCombination(
                f"Multi-Attach cannot be enabled or disabled while {volume_id} is attached to an instance.")
        if current["VolumeType"] != "io2" or target_type != "io2":
            raise errors.InvalidParameterCombination(
                "Multi-Attach can be enabled or disabled after creation only on io2 volumes.")
        check_create("io2", bool(current.get("Encrypted")))
    if enabled and changes_other and current["VolumeType"] == "io1":
        raise errors.InvalidParameterCombination(
            f"The size, type and IOPS of the io1 Multi-Attach volume {volume_id} cannot be modified.")
    if target and target_type not in TYPES:
        raise errors.InvalidParameterCombination(
            f"Multi-Attach is supported only on io1 and io2 volumes; the volume type is {target_type}.")
    return target


def attachment_of(attachments: Sequence[Mapping[str, Any]], instance_id: str) -> Mapping[str, Any] | None:
    return next((a for a in attachments if a["InstanceId"] == instance_id), None)
