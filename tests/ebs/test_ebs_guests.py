"""EBS with real guests: data moves between zones through snapshots, machines through AMIs, and
AMIs between regions; the zone rule, VolumeInUse, and snapshots outliving their AMI.

ec2d-tiny t3.nano guests shared by the ordered tests of this module: ``a`` in us-east-1a from
the published image, ``b`` in us-east-1b from an AMI made of ``a`` (CreateImage, live), ``west`` in
us-west-2a from that AMI copied to us-west-2, and one in us-east-1c from an AMI registered from
the kept root snapshot (stopped, given a volume, started). All are terminated and every volume,
snapshot, image and layer removed by the last test (the fixture's teardown is the safety net).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2d_server import tiny_image
from guests import Guest, instance_netns, private_key, ssh
from waiting import until

Ctx = dict[str, Any]

def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return info.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def world(ec2d) -> Iterator[Ctx]:
    east, west = ec2d.client(region="us-east-1"), ec2d.client(region="us-west-2")
    name = f"ebs-{uuid.uuid4().hex[:6]}"
    ctx: Ctx = {"east": east, "west": west, "ec2d": ec2d, "instances": {}, "name": name}
    for client, key in ((east, "key_east"), (west, "key_west")):
        made = client.create_key_pair(KeyName=name)
        ctx[key] = private_key(made["KeyMaterial"])
    yield ctx
    for region, client in (("us-east-1", east), ("us-west-2", west)):
        ids = [i for i, r in ctx["instances"].items() if r == region]
        if ids:
            client.terminate_instances(InstanceIds=ids)
    for region, client in (("us-east-1", east), ("us-west-2", west)):
        ids = [i for i, r in ctx["instances"].items() if r == region]
        if ids:
            client.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        for vol in client.describe_volumes()["Volumes"]:
            if vol["State"] == "available":
                client.delete_volume(VolumeId=vol["VolumeId"])
        for image in client.describe_images(Owners=["self"])["Images"]:
            client.deregister_image(ImageId=image["ImageId"])
        for snap in client.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
            client.delete_snapshot(SnapshotId=snap["SnapshotId"])
        client.delete_key_pair(KeyName=name)


def launch(ctx: Ctx, region: str, image_id: str, zone: str) -> dict[str, Any]:
    client = ctx["east"] if region == "us-east-1" else ctx["west"]
    inst = client.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                KeyName=ctx["name"], Placement={"AvailabilityZone": zone})["Instances"][0]
    ctx["instances"][inst["InstanceId"]] = region
    return inst


def login(ctx: Ctx, inst: dict[str, Any], region: str = "us-east-1") -> Guest:
    client = ctx["east"] if region == "us-east-1" else ctx["west"]
    client.get_waiter("instance_running").wait(InstanceIds=[inst["InstanceId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    key = ctx["key_east"] if region == "us-east-1" else ctx["key_west"]
    return ssh(instance_netns(ctx["ec2d"], inst), inst["PrivateIpAddress"], key)


def attached(ec2: Any, volume_id: str) -> bool:
    vol = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return vol["State"] == "in-use" and vol["Attachments"][0]["State"] == "attached"


def guest_disk(guest: Guest, volume_id: str) -> str:
    """The guest's device for the volume, found by its virtio serial (the id without the dash)."""
    serial = volume_id.replace("-", "")[:20]
    script = (f"for d in /sys/block/vd*; do [ \"$(cat $d/serial 2>/dev/null)\" = {serial} ] && "
              f"echo /dev/${{d##*/}}; done; true")
    return until(f"{volume_id} in the guest", lambda: guest.run(script).strip(), timeout=300)


def test_machine_moves_to_another_zone_through_an_ami(world: Ctx) -> None:
    east = world["east"]
    a = launch(world, "us-east-1", tiny_image(east), "us-east-1a")
    world["a"] = a
    guest = login(world, a)
    guest.run("echo machine-state > /home/ec2-user/machine.txt && "
              "dd if=/dev/urandom of=/home/ec2-user/blob bs=64k count=8 2>/dev/null && sync")
    world["blob_sum"] = guest.run("sha256sum /home/ec2-user/blob").split()[0]
    guest.close()
    image_id = east.create_image(InstanceId=a["InstanceId"], Name=f"{world['name']}-machine", NoReboot=True)["ImageId"]
    east.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    image = east.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["OwnerId"] != "ec2d" and image["RootDeviceName"] == a["RootDeviceName"]
    assert [i["ImageId"] for i in east.describe_images(Owners=["self"])["Images"]] == [image_id]
    root_snap = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snap = east.describe_snapshots(SnapshotIds=[root_snap])["Snapshots"][0]
    assert snap["State"] == "completed" and image_id in snap["Description"]
    world["image"], world["image_snap"] = image_id, root_snap

    b = launch(world, "us-east-1", image_id, "us-east-1b")
    world["b"] = b
    assert b["Placement"]["AvailabilityZone"] == "us-east-1b"
    guest = login(world, b)
    assert guest.run("cat /home/ec2-user/machine.txt").strip() == "machine-state"
    assert guest.run("sha256sum /home/ec2-user/blob").split()[0] == world["blob_sum"]
    guest.close()


def test_data_moves_to_another_zone_through_a_snapshot(world: Ctx) -> None:
    east, a, b = world["east"], world["a"], world["b"]
    vol = east.create_volume(AvailabilityZone="us-east-1a", Size=1, VolumeType="gp3",
                             TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "data"}]}])
    assert vol["State"] == "creating" and vol["Tags"] == [{"Key": "Name", "Value": "data"}]
    east.get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    att = east.attach_volume(VolumeId=vol["VolumeId"], InstanceId=a["InstanceId"], Device="/dev/sdf")
    assert att["State"] == "attaching" and att["Device"] == "/dev/sdf"
    until("attached", lambda: attached(east, vol["VolumeId"]), timeout=300)
    world["vol_a"] = vol["VolumeId"]
    found = east.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [a["InstanceId"]]},
                                           {"Name": "status", "Values": ["in-use"]}])["Volumes"]
    assert vol["VolumeId"] in [v["VolumeId"] for v in found] and len(found) == 2

    guest = login(world, a)
    dev = guest_disk(guest, vol["VolumeId"])
    guest.run(f"sudo mke2fs -q {dev} && sudo mkdir -p /mnt/data && sudo mount {dev} /mnt/data && "
              "sudo dd if=/dev/urandom of=/mnt/data/a.bin bs=64k count=16 2>/dev/null && "
              "echo before | sudo tee /mnt/data/note.txt >/dev/null && sync")
    before = guest.run("sha256sum /mnt/data/a.bin").split()[0]
    snap = east.create_snapshot(VolumeId=vol["VolumeId"], Description="data at t0")
    east.get_waiter("snapshot_completed").wait(SnapshotIds=[snap["SnapshotId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    guest.run("sudo dd if=/dev/urandom of=/mnt/data/a.bin bs=64k count=1 conv=notrunc 2>/dev/null && "
              "echo after | sudo tee /mnt/data/note.txt >/dev/null && "
              "echo later | sudo tee /mnt/data/later.txt >/dev/null && sync")
    assert guest.run("sha256sum /mnt/data/a.bin").split()[0] != before
    guest.close()

    copy = east.create_volume(AvailabilityZone="us-east-1b", SnapshotId=snap["SnapshotId"])
    assert copy["Size"] == 1 and copy["SnapshotId"] == snap["SnapshotId"]
    east.get_waiter("volume_available").wait(VolumeIds=[copy["VolumeId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    east.attach_volume(VolumeId=copy["VolumeId"], InstanceId=b["InstanceId"], Device="/dev/xvdg")
    until("attached", lambda: attached(east, copy["VolumeId"]), timeout=300)
    guest = login(world, b)
    dev = guest_disk(guest, copy["VolumeId"])
    guest.run(f"sudo mkdir -p /mnt/data && sudo mount {dev} /mnt/data")
    assert guest.run("sha256sum /mnt/data/a.bin").split()[0] == before
    assert guest.run("cat /mnt/data/note.txt").strip() == "before"
    assert guest.run("ls /mnt/data").split() == ["a.bin", "lost+found", "note.txt"]
    guest.run("sudo umount /mnt/data")
    guest.close()
    world["vol_b"], world["data_snap"] = copy["VolumeId"], snap["SnapshotId"]


def test_zone_rule_and_volume_in_use(world: Ctx) -> None:
    east = world["east"]
    with pytest.raises(ClientError) as info:
        east.attach_volume(VolumeId=world["vol_a"], InstanceId=world["a"]["InstanceId"], Device="/dev/sdh")
    assert code(info) == "VolumeInUse"  # already attached (to a)
    spare = east.create_volume(AvailabilityZone="us-east-1a", Size=1)
    east.get_waiter("volume_available").wait(VolumeIds=[spare["VolumeId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    with pytest.raises(ClientError) as info:
        east.attach_volume(VolumeId=spare["VolumeId"], InstanceId=world["b"]["InstanceId"], Device="/dev/sdh")
    assert code(info) == "InvalidVolume.ZoneMismatch"
    with pytest.raises(ClientError) as info:
        east.delete_volume(VolumeId=world["vol_b"])
    assert code(info) == "VolumeInUse"
    east.delete_volume(VolumeId=spare["VolumeId"])
    # detach (hot-unplug) and delete work once it is free
    det = east.detach_volume(VolumeId=world["vol_b"])
    assert det["State"] == "detaching"
    east.get_waiter("volume_available").wait(VolumeIds=[world["vol_b"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    east.delete_volume(VolumeId=world["vol_b"])
    until("deleted", lambda: world["vol_b"] not in [v["VolumeId"] for v in east.describe_volumes()["Volumes"]],
          timeout=300)


def test_online_grow_and_crash_consistent_instance_snapshots(world: Ctx) -> None:
    east, a = world["east"], world["a"]
    mod = east.modify_volume(VolumeId=world["vol_a"], Size=2)["VolumeModification"]
    assert (mod["OriginalSize"], mod["TargetSize"], mod["ModificationState"]) == (1, 2, "modifying")
    until("modified", lambda: east.describe_volumes_modifications(VolumeIds=[world["vol_a"]])[
        "VolumesModifications"][0]["ModificationState"] == "completed", timeout=300)
    assert east.describe_volumes(VolumeIds=[world["vol_a"]])["Volumes"][0]["Size"] == 2
    guest = login(world, a)
    dev = guest_disk(guest, world["vol_a"])
    assert int(guest.run(f"cat /sys/block/{dev[5:]}/size")) * 512 == 2 * 1024**3  # the guest sees it at once
    guest.close()
    made = east.create_snapshots(InstanceSpecification={"InstanceId": a["InstanceId"]}, Description="both",
                                 CopyTagsFromSource="volume")["Snapshots"]
    assert sorted(s["VolumeId"] for s in made) == sorted([_root_volume(east, a["InstanceId"]), world["vol_a"]])
    east.get_waiter("snapshot_completed").wait(SnapshotIds=[s["SnapshotId"] for s in made],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    data = next(s for s in made if s["VolumeId"] == world["vol_a"])
    assert east.describe_snapshots(SnapshotIds=[data["SnapshotId"]])["Snapshots"][0]["Tags"] == [
        {"Key": "Name", "Value": "data"}]
    for s in made:
        east.delete_snapshot(SnapshotId=s["SnapshotId"])


def _root_volume(ec2: Any, instance_id: str) -> str:
    inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]


def test_ami_copied_to_another_region_launches(world: Ctx) -> None:
    west = world["west"]
    copied = west.copy_image(SourceRegion="us-east-1", SourceImageId=world["image"],
                             Name=f"{world['name']}-west")["ImageId"]
    west.get_waiter("image_available").wait(ImageIds=[copied], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    image = west.describe_images(ImageIds=[copied])["Images"][0]
    snap_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert snap_id != world["image_snap"]
    assert west.describe_snapshots(SnapshotIds=[snap_id])["Snapshots"][0]["State"] == "completed"
    inst = launch(world, "us-west-2", copied, "us-west-2a")
    guest = login(world, inst, "us-west-2")
    assert guest.run("cat /home/ec2-user/machine.txt").strip() == "machine-state"
    assert guest.run("sha256sum /home/ec2-user/blob").split()[0] == world["blob_sum"]
    md = guest.run(". /usr/lib/ec2d-tiny/functions; imds_token; imds_get meta-data/placement/region")
    assert md.strip() == "us-west-2"
    guest.close()


def test_snapshots_outlive_their_ami(world: Ctx) -> None:
    east = world["east"]
    with pytest.raises(ClientError) as info:
        east.delete_snapshot(SnapshotId=world["image_snap"])
    assert code(info) == "InvalidSnapshot.InUse"
    east.deregister_image(ImageId=world["image"])
    with pytest.raises(ClientError) as info:
        east.describe_images(ImageIds=[world["image"]])
    assert code(info) == "InvalidAMIID.NotFound"
    mine = {s["SnapshotId"] for s in east.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert world["image_snap"] in mine and world["data_snap"] in mine
    # RegisterImage from the kept root snapshot boots the same machine's disk again (kernel inherited)
    again = east.register_image(Name=f"{world['name']}-again", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": world["image_snap"]}}])["ImageId"]
    assert east.describe_images(ImageIds=[again])["Images"][0]["State"] == "available"
    inst = launch(world, "us-east-1", again, "us-east-1c")
    guest = login(world, inst)
    assert guest.run("cat /home/ec2-user/machine.txt").strip() == "machine-state"
    guest.close()
    # attaching to a stopped instance is recorded and the disk is there at the next start
    east.stop_instances(InstanceIds=[inst["InstanceId"]])
    east.get_waiter("instance_stopped").wait(InstanceIds=[inst["InstanceId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    data = east.create_volume(AvailabilityZone="us-east-1c", SnapshotId=world["data_snap"])["VolumeId"]
    east.get_waiter("volume_available").wait(VolumeIds=[data], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    east.attach_volume(VolumeId=data, InstanceId=inst["InstanceId"], Device="/dev/sdf")
    until("attached", lambda: attached(east, data), timeout=300)
    east.start_instances(InstanceIds=[inst["InstanceId"]])
    guest = login(world, inst)
    dev = guest_disk(guest, data)
    guest.run(f"sudo mkdir -p /mnt/data && sudo mount {dev} /mnt/data")
    assert guest.run("cat /mnt/data/note.txt").strip() == "before"
    guest.close()
    east.terminate_instances(InstanceIds=[inst["InstanceId"]])
    east.deregister_image(ImageId=again)
    east.delete_snapshot(SnapshotId=world["image_snap"])  # b's root volume still builds on its layer
    mine = {s["SnapshotId"] for s in east.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert world["image_snap"] not in mine
    with pytest.raises(ClientError) as info:
        east.describe_snapshots(SnapshotIds=[world["image_snap"]])
    assert code(info) == "InvalidSnapshot.NotFound"
    layers = world["ec2d"].config.data_dir / "storage" / "layers"
    assert (layers / f"{world['image_snap']}.qcow2").exists()  # kept while b's root volume uses it
    # b still runs on it
    guest = login(world, world["b"])
    assert guest.run("cat /home/ec2-user/machine.txt").strip() == "machine-state"
    guest.close()


def test_cleanup_collects_every_layer(world: Ctx) -> None:
    """Terminate the guests, delete what is left: every layer of the run's snapshots goes away."""
    east, west = world["east"], world["west"]
    made = {s["SnapshotId"] for c in (east, west) for s in c.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    made.add(world["image_snap"])
    for region, client in (("us-east-1", east), ("us-west-2", west)):
        ids = [i for i, r in world["instances"].items() if r == region]
        client.terminate_instances(InstanceIds=ids)
        client.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    world["instances"].clear()
    for client in (east, west):
        for image in client.describe_images(Owners=["self"])["Images"]:
            client.deregister_image(ImageId=image["ImageId"], DeleteAssociatedSnapshots=True)
        for vol in client.describe_volumes()["Volumes"]:
            client.delete_volume(VolumeId=vol["VolumeId"])
        for snap in client.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
            client.delete_snapshot(SnapshotId=snap["SnapshotId"])
        until("volumes gone", lambda c=client: not c.describe_volumes()["Volumes"], timeout=300)
    layers = world["ec2d"].config.data_dir / "storage" / "layers"
    until("layers collected", lambda: not [s for s in made if (layers / f"{s}.qcow2").exists()], timeout=300)
