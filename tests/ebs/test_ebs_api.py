"""The EBS/AMI actions in API-only mode (the runtime on the fake drivers: records settle in the
background, as in EC2) answer bad input with EC2's codes. (Their outputs' botocore round trip is in tests/api/test_roundtrip.py with every action.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_only import in_loop, opened_backend, reaches

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import HANDLERS
from orchestrator.domain import errors
from orchestrator.runtime.core import Runtime
from orchestrator.services.backend import Backend


@pytest.fixture()
def backend(tmp_path: Path):
    with opened_backend(tmp_path, image=True) as b:
        yield b


def call(backend: Backend, name: str, req: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    ctx = RequestContext("req-ebs", name, region, backend.account_id, "AKIA", backend)
    return HANDLERS[name](ctx, req) or {}


def code_of(backend: Backend, name: str, req: dict[str, Any], region: str = "us-east-1") -> str:
    with pytest.raises(errors.ApiError) as info:
        call(backend, name, req, region)
    return info.value.code


def test_validation_codes(backend: Backend) -> None:
    in_loop(backend, lambda runtime: validation_codes(backend, runtime))


async def validation_codes(backend: Backend, runtime: Runtime) -> None:
    a = call(backend, "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 1})
    assert a["State"] == "creating" and a["VolumeType"] == "gp2" and a["Iops"] == 100
    await reaches(backend, a["VolumeId"], "available")
    with pytest.raises(errors.ApiError) as info:
        call(backend, "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 20000, "VolumeType": "gp2"})
    assert info.value.code == "InvalidParameterValue"
    assert info.value.message == "Volume of 20000GiB is too large for volume type gp2; maximum is 16384GiB"
    assert code_of(backend, "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 10, "VolumeType": "st1"}) \
        == "InvalidParameterValue"
    assert code_of(backend, "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 10, "VolumeType": "gp2",
                                             "Iops": 500}) == "InvalidParameterCombination"
    assert code_of(backend, "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 10, "VolumeType": "io1"}) \
        == "MissingParameter"
    assert code_of(backend, "CreateVolume", {"AvailabilityZone": "us-east-1z", "Size": 1}) == "InvalidParameterValue"
    assert code_of(backend, "DeleteVolume", {"VolumeId": "vol-12345678901234567"}) == "InvalidVolume.NotFound"
    assert code_of(backend, "DeleteVolume", {"VolumeId": "vol-nope"}) == "InvalidVolumeID.Malformed"
    assert code_of(backend, "DeleteSnapshot", {"SnapshotId": "snap-12345678901234567"}) == "InvalidSnapshot.NotFound"
    assert code_of(backend, "DeregisterImage", {"ImageId": "ami-12345678901234567"}) == "InvalidAMIID.NotFound"
    assert code_of(backend, "RegisterImage", {"Name": "x-no-root", "BlockDeviceMappings": [
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}}], "RootDeviceName": "/dev/xvda"}) \
        == "InvalidBlockDeviceMapping"
    tiny_id = next(i["ImageId"] for i in call(backend, "DescribeImages", {"Owners": ["ec2d"]})["Images"]
                   if i["Name"].startswith("ec2d-tiny"))
    b = call(backend, "CreateVolume", {"AvailabilityZone": "us-east-1b", "Size": 1})
    c = call(backend, "CreateVolume", {"AvailabilityZone": "us-east-1b", "Size": 1})
    await reaches(backend, b["VolumeId"], "available")
    await reaches(backend, c["VolumeId"], "available")
    r = call(backend, "RunInstances", {"ImageId": tiny_id, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano",
                                       "Placement": {"AvailabilityZone": "us-east-1b"}})
    iid = r["Instances"][0]["InstanceId"]
    # no await since RunInstances: the launch has not run yet, the instance is still pending
    assert code_of(backend, "AttachVolume", {"VolumeId": b["VolumeId"], "InstanceId": iid, "Device": "/dev/sdf"}) \
        == "IncorrectState"  # pending
    assert code_of(backend, "AttachVolume", {"VolumeId": a["VolumeId"], "InstanceId": iid, "Device": "/dev/sdf"}) \
        == "InvalidVolume.ZoneMismatch"
    await reaches(backend, iid, "running")
    call(backend, "AttachVolume", {"VolumeId": b["VolumeId"], "InstanceId": iid, "Device": "/dev/sdf"})
    assert code_of(backend, "DeleteVolume", {"VolumeId": b["VolumeId"]}) == "VolumeInUse"
    assert code_of(backend, "AttachVolume", {"VolumeId": c["VolumeId"], "InstanceId": iid, "Device": "/dev/xvdf"}) \
        == "InvalidParameterValue"  # /dev/xvdf is the same slot as /dev/sdf
    assert code_of(backend, "DetachVolume", {"VolumeId": c["VolumeId"]}) == "IncorrectState"
    vols = call(backend, "DescribeVolumes", {"Filters": [{"Name": "attachment.instance-id", "Values": [iid]}]})
    assert len(vols["Volumes"]) == 2
    assert code_of(backend, "ModifyVolume", {"VolumeId": b["VolumeId"], "Size": 0}) == "InvalidParameterValue"
    snap = call(backend, "CreateSnapshot", {"VolumeId": b["VolumeId"]})
    assert snap["State"] == "pending"
    await reaches(backend, snap["SnapshotId"], "completed")
    ami = call(backend, "RegisterImage", {"Name": "uses-snap", "RootDeviceName": "/dev/xvda", "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap["SnapshotId"]}}]})
    assert code_of(backend, "DeleteSnapshot", {"SnapshotId": snap["SnapshotId"]}) == "InvalidSnapshot.InUse"
    assert code_of(backend, "RegisterImage", {"Name": "uses-snap", "RootDeviceName": "/dev/xvda",
                                              "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {
                                                  "SnapshotId": snap["SnapshotId"]}}]}) == "InvalidAMIName.Duplicate"
    call(backend, "DeregisterImage", {"ImageId": ami["ImageId"]})
    left = call(backend, "DescribeSnapshots", {"OwnerIds": ["self"]})["Snapshots"]
    assert snap["SnapshotId"] in [s["SnapshotId"] for s in left]
    call(backend, "DeleteSnapshot", {"SnapshotId": snap["SnapshotId"]})
    assert code_of(backend, "DescribeSnapshots", {"SnapshotIds": [snap["SnapshotId"]]}) == "InvalidSnapshot.NotFound"
