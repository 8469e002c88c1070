"""Guests cannot exhaust the host's storage: volume sizes are bounded per type as on EC2
(CreateVolume, ModifyVolume, RunInstances root and data mappings), device names are checked at
the API, and thin volumes are accounted against the data dir's filesystem: a request that does not
fit gets InsufficientVolumeCapacity and leaves nothing behind. Driven by boto3 against a real
API-only ec2d; the accounting runs on a tmpfs of known size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2d_server import RunningEc2d, start_ec2d, tiny_image
from small_fs import small_filesystem

GIB = 1024**3


def error(call: Any, **kw: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]




def world(ec2: Any) -> tuple[list[str], list[str], list[str]]:
    """Ids of every instance, volume and network interface (what a failed call must not add)."""
    instances = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    volumes = [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]
    enis = [n["NetworkInterfaceId"] for n in ec2.describe_network_interfaces()["NetworkInterfaces"]]
    return sorted(instances), sorted(volumes), sorted(enis)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    server = start_ec2d(tmp_path_factory.mktemp("limits"), instances=False)
    yield server
    server.stop()


def run(ec2: Any, image: str, mappings: list[dict[str, Any]]) -> dict[str, Any]:
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                             BlockDeviceMappings=mappings)


def test_volume_sizes_are_bounded_per_type(api: RunningEc2d) -> None:
    ec2 = api.client()
    z = "us-east-1a"
    assert error(ec2.create_volume, AvailabilityZone=z, Size=20000, VolumeType="gp2") == (
        "InvalidParameterValue", "Volume of 20000GiB is too large for volume type gp2; maximum is 16384GiB")
    assert error(ec2.create_volume, AvailabilityZone=z, Size=65537, VolumeType="gp3") == (
        "InvalidParameterValue", "Volume of 65537GiB is too large for volume type gp3; maximum is 65536GiB")
    assert error(ec2.create_volume, AvailabilityZone=z, Size=1025, VolumeType="standard")[1].endswith(
        "maximum is 1024GiB")
    assert error(ec2.create_volume, AvailabilityZone=z, Size=3, VolumeType="io1", Iops=100) == (
        "InvalidParameterValue", "The volume size is invalid for io1 volumes: 3 GiB. io1 volumes must be at least "
        "4 GiB in size. Please specify a volume size above the minimum limit.")
    assert error(ec2.create_volume, AvailabilityZone=z, Size=124, VolumeType="sc1")[0] == "InvalidParameterValue"
    vol = ec2.create_volume(AvailabilityZone=z, Size=1, VolumeType="gp2")["VolumeId"]
    # (a volume still ``creating`` cannot be modified: wait, as a user would, however slow the host)
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig={"Delay": 0.5, "MaxAttempts": 600})
    assert error(ec2.modify_volume, VolumeId=vol, Size=16385) == (
        "InvalidParameterValue", "Volume of 16385GiB is too large for volume type gp2; maximum is 16384GiB")
    ec2.delete_volume(VolumeId=vol)


def test_run_instances_checks_mappings_at_the_api(api: RunningEc2d) -> None:
    ec2 = api.client()
    image = tiny_image(ec2)
    root = ec2.describe_images(ImageIds=[image])["Images"][0]["RootDeviceName"]
    before = world(ec2)
    cases = [
        ([{"DeviceName": root, "Ebs": {"VolumeSize": 20000, "VolumeType": "gp2"}}],
         ("InvalidParameterValue", "Volume of 20000GiB is too large for volume type gp2; maximum is 16384GiB")),
        ([{"DeviceName": root, "Ebs": {"VolumeSize": 70000}}],  # the AMI's gp3
         ("InvalidParameterValue", "Volume of 70000GiB is too large for volume type gp3; maximum is 65536GiB")),
        ([{"DeviceName": root, "Ebs": {"VolumeType": "st1"}}],
         ("InvalidParameterValue", None)),  # below st1's 125 GiB minimum
        ([{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2000, "VolumeType": "standard"}}],
         ("InvalidParameterValue", "Volume of 2000GiB is too large for volume type standard; maximum is 1024GiB")),
        ([{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1, "VolumeType": "gp9"}}],
         ("InvalidParameterValue", None)),
        ([{"DeviceName": "/dev/vdb", "Ebs": {"VolumeSize": 1}}],
         ("InvalidBlockDeviceMapping", "Invalid device name /dev/vdb")),
        ([{"DeviceName": "/dev/sdf/../sda", "Ebs": {"VolumeSize": 1}}],
         ("InvalidBlockDeviceMapping", "Invalid device name /dev/sdf/../sda")),
        ([{"DeviceName": "", "Ebs": {"VolumeSize": 1}}],
         ("InvalidBlockDeviceMapping", "Missing device name")),
        ([{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}}, {"DeviceName": "/dev/xvdf", "Ebs": {"VolumeSize": 2}}],
         ("InvalidBlockDeviceMapping", "The device 'xvdf' is used in more than one block-device mapping")),
        ([{"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 1}}, {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 1}}],
         ("InvalidBlockDeviceMapping", "The device 'sdg' is used in more than one block-device mapping")),
    ]
    for mappings, (code, message) in cases:
        got = error(run, ec2=ec2, image=image, mappings=mappings)
        assert got[0] == code, (mappings, got)
        if message is not None:
            assert got[1] == message, (mappings, got)
    assert world(ec2) == before  # nothing half-made by any refused launch
    ok = run(ec2, image, [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}},
                          {"DeviceName": "/dev/xvdg", "Ebs": {"VolumeSize": 1, "VolumeType": "gp2"}}])
    iid = ok["Instances"][0]["InstanceId"]
    assert len(ok["Instances"][0]["BlockDeviceMappings"]) == 3
    ec2.terminate_instances(InstanceIds=[iid])


def test_thin_volumes_are_accounted_against_the_filesystem(tmp_path: Path) -> None:
    """On a 64 MiB tmpfs with overcommit 1024 the volumes may promise about 60 GiB in all."""
    with small_filesystem(tmp_path, "64m") as mnt:
        server = start_ec2d(mnt / "data", instances=False, storage_overcommit=1024.0, storage_reserve_mib=0)
        try:
            ec2 = server.client()
            image = tiny_image(ec2)
            z = "us-east-1a"
            big = ec2.create_volume(AvailabilityZone=z, Size=40)["VolumeId"]
            ec2.get_waiter("volume_available").wait(VolumeIds=[big], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            before = world(ec2)
            code, message = error(ec2.create_volume, AvailabilityZone=z, Size=30)
            assert code == "InsufficientVolumeCapacity" and "a 30 GiB volume" in message, message
            assert error(ec2.modify_volume, VolumeId=big, Size=80)[0] == "InsufficientVolumeCapacity"
            code, message = error(run, ec2=ec2, image=image,
                                  mappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 30}}])
            assert code == "InsufficientVolumeCapacity", message
            # MaxCount above what fits launches what fits; MinCount above it launches nothing
            assert error(ec2.run_instances, ImageId=image, MinCount=3, MaxCount=3, InstanceType="t3.nano",
                         BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 8}}])[0] \
                == "InsufficientVolumeCapacity"
            assert world(ec2) == before
            assert ec2.describe_volumes(VolumeIds=[big])["Volumes"][0]["Size"] == 40
            ec2.modify_volume(VolumeId=big, Size=45)  # growth that fits is fine

            ec2.delete_volume(VolumeId=big)
            small = ec2.create_volume(AvailabilityZone=z, Size=30)["VolumeId"]
            ec2.get_waiter("volume_available").wait(VolumeIds=[small], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            launched = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=5, InstanceType="t3.nano",
                                         BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 8}}])
            # 30 GiB held; each instance holds its root (the AMI's size) + 8 GiB
            assert 1 <= len(launched["Instances"]) < 5
            ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in launched["Instances"]])
            ec2.delete_volume(VolumeId=small)
        finally:
            server.stop()
