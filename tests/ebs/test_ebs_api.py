"""The EBS/AMI actions without a runtime (records settle at once): every output survives
botocore's parser, and the validation answers with EC2's codes."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.parsers import create_parser

from orchestrator.api import errors
from orchestrator.api.context import RequestContext
from orchestrator.api.protocol import XmlSerializer, format_timestamp, parse_timestamp, service_model
from orchestrator.api.registry import HANDLERS
from orchestrator.config import Config
from orchestrator.domain.states import InstanceState
from orchestrator.images.cache import ensure_image
from orchestrator.services import images, instances
from orchestrator.services.backend import Backend

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
S = InstanceState
State = dict[str, Any]
Sample = Callable[[State], dict[str, Any]]


def tiny(s: State) -> str:
    return next(i["ImageId"] for i in s["DescribeImages"]["Images"] if i["Name"].startswith("ec2d-tiny"))


def inst(s: State) -> str:
    return s["RunInstances"]["Instances"][0]["InstanceId"]


# The samples the roundtrip test needs for these actions (same form as tests/api/test_roundtrip.py).
SAMPLES: list[tuple[str, Sample]] = [
    ("DescribeImages", lambda s: {"Owners": ["ec2d"]}),
    ("RunInstances", lambda s: {"ImageId": tiny(s), "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano",
                                "Placement": {"AvailabilityZone": "us-east-1a"}}),
    ("CreateVolume", lambda s: {"AvailabilityZone": "us-east-1a", "Size": 1, "VolumeType": "gp3",
                                "TagSpecifications": [{"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "v"}]}]}),
    ("AttachVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"], "InstanceId": inst(s),
                                "Device": "/dev/sdf"}),
    ("ModifyVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"], "Size": 2}),
    ("DescribeVolumesModifications", lambda s: {"VolumeIds": [s["CreateVolume"]["VolumeId"]]}),
    ("DescribeVolumeStatus", lambda s: {}),
    ("CreateSnapshot", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"], "Description": "rt",
                                  "TagSpecifications": [{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}]}),
    ("CreateSnapshots", lambda s: {"InstanceSpecification": {"InstanceId": inst(s)}, "CopyTagsFromSource": "volume"}),
    ("DescribeSnapshots", lambda s: {"OwnerIds": ["self"]}),
    ("ModifySnapshotAttribute", lambda s: {"SnapshotId": s["CreateSnapshot"]["SnapshotId"],
                                           "Attribute": "createVolumePermission", "OperationType": "add",
                                           "UserIds": ["123456789012"]}),
    ("DescribeSnapshotAttribute", lambda s: {"SnapshotId": s["CreateSnapshot"]["SnapshotId"],
                                             "Attribute": "createVolumePermission"}),
    ("CopySnapshot", lambda s: {"SourceRegion": "us-east-1", "SourceSnapshotId": s["CreateSnapshot"]["SnapshotId"]}),
    ("DetachVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"]}),
    ("CreateImage", lambda s: {"InstanceId": inst(s), "Name": "rt-image", "NoReboot": True}),
    ("RegisterImage", lambda s: {"Name": "rt-registered", "RootDeviceName": "/dev/xvda", "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": s["CreateSnapshots"]["Snapshots"][0]["SnapshotId"]}}]}),
    ("CopyImage", lambda s: {"SourceRegion": "us-east-1", "SourceImageId": s["CreateImage"]["ImageId"],
                             "Name": "rt-copy"}),
    ("ModifyImageAttribute", lambda s: {"ImageId": s["CreateImage"]["ImageId"],
                                        "LaunchPermission": {"Add": [{"UserId": "123456789012"}]}}),
    ("DescribeImageAttribute", lambda s: {"ImageId": s["CreateImage"]["ImageId"], "Attribute": "launchPermission"}),
    ("ResetImageAttribute", lambda s: {"ImageId": s["CreateImage"]["ImageId"], "Attribute": "launchPermission"}),
    ("DeregisterImage", lambda s: {"ImageId": s["RegisterImage"]["ImageId"], "DeleteAssociatedSnapshots": True}),
    ("DeleteSnapshot", lambda s: {"SnapshotId": s["CreateSnapshot"]["SnapshotId"]}),
    ("DeleteVolume", lambda s: {"VolumeId": s["CreateVolume"]["VolumeId"]}),
]


def normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if v is not None and k != "ResponseMetadata"}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, str) and ISO.match(value):
        return format_timestamp(parse_timestamp(value))
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


@pytest.fixture()
def backend(tmp_path: Path):
    b = Backend.open(Config(data_dir=tmp_path, instances=False))
    ensure_image("ec2d-tiny", b.config.cache_dir)
    images.sync_published(b)
    yield b
    b.close()


def call(backend: Backend, name: str, req: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    ctx = RequestContext("req-ebs", name, region, backend.account_id, "AKIA", backend)
    return HANDLERS[name](ctx, req) or {}


def code_of(backend: Backend, name: str, req: dict[str, Any], region: str = "us-east-1") -> str:
    with pytest.raises(errors.Ec2Error) as info:
        call(backend, name, req, region)
    return info.value.code


def test_outputs_survive_botocore_parsing(backend: Backend) -> None:
    model = service_model()
    parser = create_parser("ec2")
    state: State = {}
    for name, sample in SAMPLES:
        op = model.operation_model(name)
        req = sample(state)
        region = "us-west-2" if name in ("CopySnapshot", "CopyImage") else "us-east-1"
        result = call(backend, name, req, region)
        state.setdefault(name, result)
        if name == "RunInstances":
            instances.transition(backend, inst(state), S.PENDING, S.RUNNING)
        body = XmlSerializer().response(op, result, "req-ebs")
        parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)
        assert normalize(parsed) == normalize(result), name
    copied = call(backend, "DescribeImages", {"ImageIds": [state["CopyImage"]["ImageId"]]}, "us-west-2")["Images"][0]
    assert copied["State"] == "available" and copied["Name"] == "rt-copy"
    mine = call(backend, "DescribeImages", {"Owners": ["self"]})["Images"]
    assert [i["Name"] for i in mine] == ["rt-image"]


def test_validation_codes(backend: Backend) -> None:
    a = call(backend, "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 1})
    assert a["State"] == "available" and a["VolumeType"] == "gp2" and a["Iops"] == 100
    with pytest.raises(errors.Ec2Error) as info:
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
    r = call(backend, "RunInstances", {"ImageId": tiny_id, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano",
                                       "Placement": {"AvailabilityZone": "us-east-1b"}})
    iid = r["Instances"][0]["InstanceId"]
    assert code_of(backend, "AttachVolume", {"VolumeId": a["VolumeId"], "InstanceId": iid, "Device": "/dev/sdf"}) \
        == "InvalidVolume.ZoneMismatch"
    b = call(backend, "CreateVolume", {"AvailabilityZone": "us-east-1b", "Size": 1})
    assert code_of(backend, "AttachVolume", {"VolumeId": b["VolumeId"], "InstanceId": iid, "Device": "/dev/sdf"}) \
        == "IncorrectState"  # pending
    instances.transition(backend, iid, S.PENDING, S.RUNNING)
    call(backend, "AttachVolume", {"VolumeId": b["VolumeId"], "InstanceId": iid, "Device": "/dev/sdf"})
    assert code_of(backend, "DeleteVolume", {"VolumeId": b["VolumeId"]}) == "VolumeInUse"
    c = call(backend, "CreateVolume", {"AvailabilityZone": "us-east-1b", "Size": 1})
    assert code_of(backend, "AttachVolume", {"VolumeId": c["VolumeId"], "InstanceId": iid, "Device": "/dev/xvdf"}) \
        == "InvalidParameterValue"  # /dev/xvdf is the same slot as /dev/sdf
    assert code_of(backend, "DetachVolume", {"VolumeId": c["VolumeId"]}) == "IncorrectState"
    vols = call(backend, "DescribeVolumes", {"Filters": [{"Name": "attachment.instance-id", "Values": [iid]}]})
    assert len(vols["Volumes"]) == 2
    assert code_of(backend, "ModifyVolume", {"VolumeId": b["VolumeId"], "Size": 0}) == "InvalidParameterValue"
    snap = call(backend, "CreateSnapshot", {"VolumeId": b["VolumeId"]})
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
