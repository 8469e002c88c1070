"""Encrypted EBS volumes with a real guest: what the guest writes to an encrypted volume is not
in clear in any file on the host (while an unencrypted control volume's file shows it), and the
data travels through encrypted snapshots - to another zone and back, and through a copy
re-encrypted under another KMS key - and reads back in the guest.

One ec2d-tiny t3.nano guest in us-east-1a is shared by the module; every instance, volume,
snapshot and key pair is removed by the fixture's teardown.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guests import Guest, instance_netns, private_key, ssh
from waiting import until

from orchestrator.drivers.storage import qcow2

Ctx = dict[str, Any]
ZONE, OTHER_ZONE = "us-east-1a", "us-east-1b"
OTHER_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
WAIT = {"Delay": 1, "MaxAttempts": 300}


@pytest.fixture(scope="module")
def world(ec2d) -> Iterator[Ctx]:
    ec2 = ec2d.client(region="us-east-1")
    name = f"enc-{uuid.uuid4().hex[:6]}"
    made = ec2.create_key_pair(KeyName=name)
    images = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"]
    image = max(images, key=lambda i: i["CreationDate"])["ImageId"]
    inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=name,
                             Placement={"AvailabilityZone": ZONE})["Instances"][0]
    ctx: Ctx = {"ec2": ec2, "ec2d": ec2d, "inst": inst, "key": private_key(made["KeyMaterial"]),
                "storage": Path(ec2d.config.data_dir) / "storage", "volumes": [], "snapshots": []}
    try:
        yield ctx
    finally:
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[inst["InstanceId"]], WaiterConfig=WAIT)
        for vid in ctx["volumes"]:
            vol = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [vid]}])["Volumes"]
            if vol and vol[0]["State"] == "available":
                ec2.delete_volume(VolumeId=vid)
        for sid in ctx["snapshots"]:
            ec2.delete_snapshot(SnapshotId=sid)
        ec2.delete_key_pair(KeyName=name)


def login(ctx: Ctx) -> Guest:
    ec2, inst = ctx["ec2"], ctx["inst"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[inst["InstanceId"]], WaiterConfig=WAIT)
    return ssh(instance_netns(ctx["ec2d"], inst), inst["PrivateIpAddress"], ctx["key"])


def new_volume(ctx: Ctx, **kw: Any) -> dict[str, Any]:
    vol = ctx["ec2"].create_volume(AvailabilityZone=kw.pop("AvailabilityZone", ZONE), **kw)
    ctx["volumes"].append(vol["VolumeId"])
    ctx["ec2"].get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig=WAIT)
    return vol


def new_snapshot(ctx: Ctx, volume_id: str) -> dict[str, Any]:
    snap = ctx["ec2"].create_snapshot(VolumeId=volume_id)
    ctx["snapshots"].append(snap["SnapshotId"])
    ctx["ec2"].get_waiter("snapshot_completed").wait(SnapshotIds=[snap["SnapshotId"]], WaiterConfig=WAIT)
    return snap


def attach(ctx: Ctx, guest: Guest, volume_id: str, device: str) -> str:
    """Attach and return the guest's device for it (found by its virtio serial)."""
    ec2 = ctx["ec2"]
    ec2.attach_volume(VolumeId=volume_id, InstanceId=ctx["inst"]["InstanceId"], Device=device)
    until(f"{volume_id} attached", lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0][
        "Attachments"][0]["State"] == "attached")
    serial = volume_id.replace("-", "")[:20]
    script = (f"for d in /sys/block/vd*; do [ \"$(cat $d/serial 2>/dev/null)\" = {serial} ] && "
              f"echo /dev/${{d##*/}}; done; true")
    return until(f"{volume_id} in the guest", lambda: guest.run(script).strip())


def detach(ctx: Ctx, volume_id: str) -> None:
    ctx["ec2"].detach_volume(VolumeId=volume_id)
    ctx["ec2"].get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=WAIT)


def host_files(ctx: Ctx, resource_id: str) -> list[Path]:
    """The qcow2 files a volume (every generation) or a snapshot layer has on the host."""
    root: Path = ctx["storage"]
    return sorted((root / "volumes" / resource_id).glob("gen-*.qcow2")) + \
        sorted((root / "layers").glob(f"{resource_id}.qcow2"))


def in_clear(files: list[Path], marker: bytes) -> bool:
    assert files
    return any(marker in f.read_bytes() for f in files)


def test_encrypted_volume_data_is_not_readable_from_the_host(world: Ctx) -> None:
    ec2 = world["ec2"]
    marker = f"EC2D-SECRET-MARKER-{secrets.token_hex(12)}".encode()
    world["marker"] = marker
    default = ec2.get_ebs_default_kms_key_id()["KmsKeyId"]
    assert re.fullmatch(r"arn:aws:kms:us-east-1:\d{12}:key/[0-9a-f-]{36}", default)

    enc = new_volume(world, Size=1, Encrypted=True)
    plain = new_volume(world, Size=1)
    assert (enc["Encrypted"], enc["KmsKeyId"], plain["Encrypted"]) == (True, default, False)
    world["enc"] = enc["VolumeId"]

    guest = login(world)
    try:
        for vid, device in ((enc["VolumeId"], "/dev/sdf"), (plain["VolumeId"], "/dev/sdg")):
            dev = attach(world, guest, vid, device)
            # the marker many times over, written straight to the block device, flushed
            guest.run(f"for i in $(seq 64); do printf '%s' '{marker.decode()}'; done | "
                      f"sudo dd of={dev} bs=4096 conv=fsync,sync 2>/dev/null && sync")
            assert guest.run(f"sudo head -c {len(marker)} {dev}").encode() == marker
    finally:
        guest.close()

    # the host: the control volume's file shows the marker, the encrypted one's does not
    assert in_clear(host_files(world, plain["VolumeId"]), marker)
    enc_files = host_files(world, enc["VolumeId"])
    assert not in_clear(enc_files, marker)
    assert all(qcow2.read_header(f).encrypted for f in enc_files)
    detach(world, plain["VolumeId"])

    # a snapshot of the attached encrypted volume (live): encrypted, under the same key, not in clear
    snap = new_snapshot(world, enc["VolumeId"])
    shown = ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0]
    assert (shown["Encrypted"], shown["KmsKeyId"]) == (True, default)
    layer = host_files(world, snap["SnapshotId"])
    assert layer and qcow2.read_header(layer[0]).encrypted and not in_clear(layer, marker)
    world["snap"] = snap["SnapshotId"]
    detach(world, enc["VolumeId"])


def test_encrypted_snapshots_carry_the_data_across_zones_and_keys(world: Ctx) -> None:
    ec2, marker = world["ec2"], world["marker"]
    # to another zone: a volume from the encrypted snapshot (encrypted without asking)...
    away = new_volume(world, AvailabilityZone=OTHER_ZONE, SnapshotId=world["snap"])
    assert away["Encrypted"] is True and away["AvailabilityZone"] == OTHER_ZONE
    assert not in_clear(host_files(world, away["VolumeId"]), marker)
    # ... and back to the guest's zone through a snapshot of that volume
    back_snap = new_snapshot(world, away["VolumeId"])
    back = new_volume(world, SnapshotId=back_snap["SnapshotId"])
    # a copy re-encrypted under another KMS key (a standalone file, not sharing the source's layers)
    copy = ec2.copy_snapshot(SourceRegion="us-east-1", SourceSnapshotId=world["snap"], Encrypted=True,
                             KmsKeyId=OTHER_KEY)
    world["snapshots"].append(copy["SnapshotId"])
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[copy["SnapshotId"]], WaiterConfig=WAIT)
    copied = ec2.describe_snapshots(SnapshotIds=[copy["SnapshotId"]])["Snapshots"][0]
    assert copied["Encrypted"] is True and copied["KmsKeyId"].endswith(f":key/{OTHER_KEY}")
    copy_layer = host_files(world, copy["SnapshotId"])
    assert qcow2.read_header(copy_layer[0]).backing_file is None and not in_clear(copy_layer, marker)
    recrypted = new_volume(world, SnapshotId=copy["SnapshotId"])
    assert recrypted["KmsKeyId"] == copied["KmsKeyId"]

    guest = login(world)
    try:
        for vid, device in ((back["VolumeId"], "/dev/sdh"), (recrypted["VolumeId"], "/dev/sdi")):
            dev = attach(world, guest, vid, device)
            assert guest.run(f"sudo head -c {len(marker) * 64} {dev}").encode() == marker * 64, vid
    finally:
        guest.close()
    for vid in (back["VolumeId"], recrypted["VolumeId"]):
        detach(world, vid)


def test_deleted_volumes_take_their_keys_out_of_the_hypervisor(world: Ctx) -> None:
    """While an encrypted volume of a lineage exists libvirt holds its (private, ephemeral)
    secret; once the last one is deleted the secret is gone. Nothing in libvirt shows a value."""
    libvirt = pytest.importorskip("libvirt")
    ec2, usage = world["ec2"], f"{world['ec2d'].config.prefix}-ebs-key-"
    conn = libvirt.open("qemu:///system")
    try:
        def ours() -> list[Any]:
            return [s for s in conn.listAllSecrets(0) if (s.usageID() or "").startswith(usage)]

        held = ours()
        assert held  # the encrypted volumes attached earlier
        for secret in held:
            with pytest.raises(libvirt.libvirtError):
                secret.value()  # private: not readable back
        for vid in world["volumes"]:
            if ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available":
                ec2.delete_volume(VolumeId=vid)
        until("the lineages' secrets to go", lambda: not ours(), timeout=120)
    finally:
        conn.close()
