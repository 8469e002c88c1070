"""``ec2d serve`` without instances runs the real runtime on the fake drivers: records move as EC2
moves them (an instance ``pending`` -> ``running``, a volume ``creating`` -> ``available``), so the
boto3 waiters real clients use work; and nothing is made on the host (no namespace, no run dir, no
storage file)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ec2d_server import RunningEc2d, start_ec2d, tiny_image

from orchestrator.images.cache import ensure_image

FAST = {"Delay": 1, "MaxAttempts": 120}  # the waiters poll each second (boto3's default is 15)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    data = tmp_path_factory.mktemp("api-only") / "data"
    server = start_ec2d(data, instances=False, build_images=False, regions={"us-east-1": ["a", "b"]})
    ensure_image("ec2d-tiny", server.config.cache_dir)  # already cached on a test host: a hash check
    yield server
    server.stop()




def test_waiters_see_instances_and_volumes_settle(api: RunningEc2d) -> None:
    ec2 = api.client()
    out = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=2, MaxCount=2, InstanceType="t3.nano",
                            Placement={"AvailabilityZone": "us-east-1a"})
    ids = [i["InstanceId"] for i in out["Instances"]]
    assert {i["State"]["Name"] for i in out["Instances"]} == {"pending"}
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig=FAST)
    ec2.get_waiter("instance_status_ok").wait(InstanceIds=ids, WaiterConfig=FAST)

    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)
    assert vol["State"] == "creating"
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig=FAST)
    ec2.attach_volume(VolumeId=vol["VolumeId"], InstanceId=ids[0], Device="/dev/sdf")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig=FAST)
    snap = ec2.create_snapshot(VolumeId=vol["VolumeId"])
    assert snap["State"] == "pending"
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap["SnapshotId"]], WaiterConfig=FAST)

    ec2.stop_instances(InstanceIds=[ids[0]])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[ids[0]], WaiterConfig=FAST)
    ec2.start_instances(InstanceIds=[ids[0]])
    ec2.get_waiter("instance_running").wait(InstanceIds=[ids[0]], WaiterConfig=FAST)
    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=FAST)
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig=FAST)  # detached
    ec2.delete_volume(VolumeId=vol["VolumeId"])
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig=FAST)


def test_nothing_is_made_on_the_host(api: RunningEc2d) -> None:
    ec2 = api.client()
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24", AvailabilityZone="us-east-1b")
    ec2.create_volume(AvailabilityZone="us-east-1b", Size=1)
    prefix = api.config.prefix
    assert prefix is not None
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in namespaces
    assert not Path(f"/run/{prefix}").exists()
    assert not (api.config.data_dir / "storage").exists()  # the fake storage keeps its files in memory


def test_a_restart_keeps_instances_volumes_and_snapshots(tmp_path: Path) -> None:
    """The store outlives the fakes' memory: after a restart a running instance is still running
    (libvirt's domains outlive ec2d), a volume attaches and a snapshot makes volumes, as their files
    would still be there with the real drivers."""
    data = tmp_path / "data"
    server = start_ec2d(data, instances=False, build_images=False, regions={"us-east-1": ["a"]})
    try:
        ec2 = server.client()
        vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=2)["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=FAST)
        snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
        ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig=FAST)
        kept = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1,
                                 InstanceType="t3.nano")["Instances"][0]["InstanceId"]
        ec2.get_waiter("instance_running").wait(InstanceIds=[kept], WaiterConfig=FAST)
    finally:
        server.stop()
    server = start_ec2d(data, instances=False, build_images=False, regions={"us-east-1": ["a"]})
    try:
        ec2 = server.client()
        iid = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1,
                                InstanceType="t3.nano")["Instances"][0]["InstanceId"]
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
        ec2.attach_volume(VolumeId=vol, InstanceId=iid, Device="/dev/sdf")
        ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol], Filters=[
            {"Name": "attachment.status", "Values": ["attached"]}], WaiterConfig=FAST)
        again = ec2.create_volume(AvailabilityZone="us-east-1a", SnapshotId=snap)["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[again], WaiterConfig=FAST)
        assert ec2.describe_volumes(VolumeIds=[again])["Volumes"][0]["Size"] == 2

        assert ec2.describe_instances(InstanceIds=[kept])["Reservations"][0]["Instances"][0]["State"]["Name"] \
            == "running"
        ec2.stop_instances(InstanceIds=[kept])  # stops because asked to, not as a domain found dead
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[kept], WaiterConfig=FAST)
        reason = ec2.describe_instances(InstanceIds=[kept])["Reservations"][0]["Instances"][0]["StateReason"]
        assert reason["Code"] == "Client.UserInitiatedShutdown", reason
    finally:
        server.stop()
