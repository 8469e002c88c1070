"""Multi-Attach on real guests: one io2 volume attached to two running ec2d-tiny instances of one
zone is one block device - what the first writes with O_DIRECT the second reads with O_DIRECT;
detaching it from one leaves the other attached and working; a gp3 volume refuses a second
attachment with EC2's VolumeInUse."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2d_server import tiny_image
from guests import Guest, private_key
from test_ebs_guests import code, guest_disk, launch, login
from waiting import until

ZONE = "us-east-1c"
Ctx = dict[str, Any]


@pytest.fixture(scope="module")
def pair(ec2d) -> Iterator[Ctx]:
    """Two running instances in ZONE (a key pair of a unique name); all removed at the end."""
    east = ec2d.client(region="us-east-1")
    name = f"multi-{uuid.uuid4().hex[:6]}"
    ctx: Ctx = {"east": east, "ec2d": ec2d, "instances": {}, "name": name, "volumes": [],
                "snapshots": []}
    ctx["key_east"] = private_key(east.create_key_pair(KeyName=name)["KeyMaterial"])
    try:
        image = tiny_image(east)
        ctx["a"], ctx["b"] = (launch(ctx, "us-east-1", image, ZONE) for _ in range(2))
        east.get_waiter("instance_running").wait(InstanceIds=list(ctx["instances"]),
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        yield ctx
    finally:
        ids = list(ctx["instances"])
        if ids:
            east.terminate_instances(InstanceIds=ids)
            east.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        for vid in ctx["volumes"]:
            until(f"{vid} free", lambda vid=vid: east.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"]
                  == "available", timeout=120)
            east.delete_volume(VolumeId=vid)
        for sid in ctx["snapshots"]:
            east.delete_snapshot(SnapshotId=sid)
        east.delete_key_pair(KeyName=name)


def attachments(ec2: Any, volume_id: str) -> dict[str, str]:
    vol = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return {a["InstanceId"]: a["State"] for a in vol["Attachments"]}


def write_direct(guest: Guest, dev: str, marker: str, block: int) -> None:
    """``marker`` padded to 4 KiB at 4 KiB block ``block`` of the raw device, bypassing the page cache."""
    guest.run(f"printf '%-4096s' '{marker}' | sudo dd of={dev} bs=4096 seek={block} count=1 "
              "iflag=fullblock oflag=direct conv=notrunc,fsync")  # busybox dd: no oflag=sync, fsync instead


def read_direct(guest: Guest, dev: str, block: int) -> str:
    return guest.run(f"sudo dd if={dev} bs=4096 skip={block} count=1 iflag=direct 2>/dev/null").strip()


def test_one_io2_volume_shared_by_two_guests(pair: Ctx) -> None:
    east = pair["east"]
    a_id, b_id = pair["a"]["InstanceId"], pair["b"]["InstanceId"]
    vol = east.create_volume(AvailabilityZone=ZONE, Size=4, VolumeType="io2", Iops=100, MultiAttachEnabled=True)
    vid = vol["VolumeId"]
    pair["volumes"].append(vid)
    assert vol["MultiAttachEnabled"] is True
    east.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    guest_a, guest_b = login(pair, pair["a"]), login(pair, pair["b"])
    try:
        east.attach_volume(VolumeId=vid, InstanceId=a_id, Device="/dev/sdf")
        east.attach_volume(VolumeId=vid, InstanceId=b_id, Device="/dev/sdg")
        until("both attached", lambda: attachments(east, vid) == {a_id: "attached", b_id: "attached"})
        dev_a, dev_b = guest_disk(guest_a, vid), guest_disk(guest_b, vid)
        marker = f"multi-attach-{uuid.uuid4().hex}"
        write_direct(guest_a, dev_a, marker, 7)
        assert read_direct(guest_b, dev_b, 7) == marker
        back = f"reply-{uuid.uuid4().hex}"
        write_direct(guest_b, dev_b, back, 9)
        assert read_direct(guest_a, dev_a, 9) == back
        # io2 grows while shared: every guest sees the new size (each QEMU is told)
        east.modify_volume(VolumeId=vid, Size=5)
        for guest, dev in ((guest_a, dev_a), (guest_b, dev_b)):
            until(f"5 GiB in {dev}", lambda g=guest, d=dev: g.run(f"cat /sys/block/{d[5:]}/size").strip()
                  == str(5 * 1024**3 // 512))
        # a snapshot of the shared volume while both guests hold it, and a Multi-Attach volume from it
        sid = east.create_snapshot(VolumeId=vid)["SnapshotId"]
        pair["snapshots"].append(sid)
        east.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        copy = east.create_volume(AvailabilityZone=ZONE, SnapshotId=sid, VolumeType="io2", Iops=100,
                                  MultiAttachEnabled=True)["VolumeId"]
        pair["volumes"].append(copy)
        east.get_waiter("volume_available").wait(VolumeIds=[copy], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        assert east.describe_volumes(VolumeIds=[copy])["Volumes"][0]["Size"] == 5
        east.attach_volume(VolumeId=copy, InstanceId=b_id, Device="/dev/sdi")
        dev_copy = guest_disk(guest_b, copy)
        assert read_direct(guest_b, dev_copy, 7) == marker and read_direct(guest_b, dev_copy, 9) == back
        east.detach_volume(VolumeId=copy, InstanceId=b_id)

        # detaching from a leaves b attached, and b keeps reading and writing the device
        out = east.detach_volume(VolumeId=vid, InstanceId=a_id)
        assert out["InstanceId"] == a_id
        until("a detached", lambda: attachments(east, vid) == {b_id: "attached"})
        assert east.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "in-use"
        until("the disk gone from a", lambda: not guest_a.run(
            f"grep -l {vid.replace('-', '')[:20]} /sys/block/vd*/serial 2>/dev/null; true").strip())
        later = f"after-detach-{uuid.uuid4().hex}"
        write_direct(guest_b, dev_b, later, 11)
        assert read_direct(guest_b, dev_b, 11) == later and read_direct(guest_b, dev_b, 7) == marker
        east.detach_volume(VolumeId=vid, InstanceId=b_id)
        until("available", lambda: east.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available")
    finally:
        guest_a.close()
        guest_b.close()


def test_gp3_refuses_a_second_attachment(pair: Ctx) -> None:
    east = pair["east"]
    a_id, b_id = pair["a"]["InstanceId"], pair["b"]["InstanceId"]
    vid = east.create_volume(AvailabilityZone=ZONE, Size=1, VolumeType="gp3")["VolumeId"]
    pair["volumes"].append(vid)
    east.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    east.attach_volume(VolumeId=vid, InstanceId=a_id, Device="/dev/sdh")
    with pytest.raises(ClientError) as info:
        east.attach_volume(VolumeId=vid, InstanceId=b_id, Device="/dev/sdh")
    assert code(info) == "VolumeInUse"
    assert info.value.response["Error"]["Message"] == f"{vid} is already attached to an instance"
    with pytest.raises(ClientError) as info:
        east.create_volume(AvailabilityZone=ZONE, Size=4, VolumeType="gp3", MultiAttachEnabled=True)
    assert code(info) == "InvalidParameterCombination"
    until("attached", lambda: attachments(east, vid) == {a_id: "attached"})
    east.detach_volume(VolumeId=vid)


def test_io2_enabled_later_by_modify_volume_is_shared(pair: Ctx) -> None:
    """ModifyVolume MultiAttachEnabled on an unattached io2 volume: its data (written through one
    guest before) is then on one device both guests share."""
    east = pair["east"]
    a_id, b_id = pair["a"]["InstanceId"], pair["b"]["InstanceId"]
    vid = east.create_volume(AvailabilityZone=ZONE, Size=4, VolumeType="io2", Iops=100)["VolumeId"]
    pair["volumes"].append(vid)
    east.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    guest_a, guest_b = login(pair, pair["a"]), login(pair, pair["b"])
    try:
        east.attach_volume(VolumeId=vid, InstanceId=a_id, Device="/dev/sdj")
        with pytest.raises(ClientError) as info:
            east.modify_volume(VolumeId=vid, MultiAttachEnabled=True)
        assert code(info) == "InvalidParameterCombination"  # not while attached
        marker = f"before-{uuid.uuid4().hex}"
        write_direct(guest_a, guest_disk(guest_a, vid), marker, 3)
        east.detach_volume(VolumeId=vid)
        until("available", lambda: east.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available")
        east.modify_volume(VolumeId=vid, MultiAttachEnabled=True)
        until("modified", lambda: east.describe_volumes_modifications(VolumeIds=[vid])["VolumesModifications"][0][
            "ModificationState"] == "completed")
        assert east.describe_volumes(VolumeIds=[vid])["Volumes"][0]["MultiAttachEnabled"] is True
        east.attach_volume(VolumeId=vid, InstanceId=a_id, Device="/dev/sdj")
        east.attach_volume(VolumeId=vid, InstanceId=b_id, Device="/dev/sdj")
        until("both attached", lambda: attachments(east, vid) == {a_id: "attached", b_id: "attached"})
        dev_a, dev_b = guest_disk(guest_a, vid), guest_disk(guest_b, vid)
        assert read_direct(guest_b, dev_b, 3) == marker
        later = f"shared-{uuid.uuid4().hex}"
        write_direct(guest_b, dev_b, later, 4)
        assert read_direct(guest_a, dev_a, 4) == later
        for iid in (a_id, b_id):
            east.detach_volume(VolumeId=vid, InstanceId=iid)
    finally:
        guest_a.close()
        guest_b.close()
