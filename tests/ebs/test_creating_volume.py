"""A volume in ``creating`` (API-only, fake drivers): what EC2 allows on it works - tags
(CreateTags and the TagSpecifications of CreateVolume), DescribeVolumes and its filters,
DescribeVolumeStatus - and what needs an ``available`` volume answers IncorrectState as EC2 does
(AttachVolume, DeleteVolume - "The volume must be in the available state" -, ModifyVolume,
CreateSnapshot). The volume's file is made by the runtime's background job, which runs only once
the test awaits: until then the volume is held in ``creating``."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_only import in_loop, opened_backend, reaches
from test_ebs_api import call, code_of

from orchestrator.runtime.core import Runtime
from orchestrator.services.backend import Backend

ZONE = "us-east-1a"


@pytest.fixture()
def backend(tmp_path: Path):
    with opened_backend(tmp_path, image=True) as b:
        yield b


def test_what_a_creating_volume_allows(backend: Backend) -> None:
    in_loop(backend, lambda runtime: creating_volume(backend, runtime))


async def creating_volume(backend: Backend, runtime: Runtime) -> None:
    await runtime.jobs.settle()  # the start-up's recovery is over: nothing else makes the file
    tiny = next(i["ImageId"] for i in call(backend, "DescribeImages", {"Owners": ["ec2d"]})["Images"]
                if i["Name"].startswith("ec2d-tiny"))
    iid = call(backend, "RunInstances", {"ImageId": tiny, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano",
                                         "Placement": {"AvailabilityZone": ZONE}})["Instances"][0]["InstanceId"]
    await reaches(backend, iid, "running")
    out = call(backend, "CreateVolume", {"AvailabilityZone": ZONE, "Size": 2, "VolumeType": "gp3",
                                         "TagSpecifications": [{"ResourceType": "volume",
                                                                "Tags": [{"Key": "born", "Value": "creating"}]}]})
    vid = out["VolumeId"]
    assert out["State"] == "creating" and out["Tags"] == [{"Key": "born", "Value": "creating"}]
    call(backend, "CreateTags", {"Resources": [vid], "Tags": [{"Key": "Name", "Value": "early"}]})
    shown = call(backend, "DescribeVolumes", {"Filters": [{"Name": "status", "Values": ["creating"]},
                                                          {"Name": "tag:Name", "Values": ["early"]}]})["Volumes"]
    assert [(v["VolumeId"], v["State"]) for v in shown] == [(vid, "creating")]
    assert {t["Key"] for t in shown[0]["Tags"]} == {"born", "Name"}
    status = call(backend, "DescribeVolumeStatus", {"VolumeIds": [vid]})["VolumeStatuses"][0]
    assert status["VolumeStatus"]["Status"] == "insufficient-data"
    assert code_of(backend, "AttachVolume", {"VolumeId": vid, "InstanceId": iid, "Device": "/dev/sdf"}) \
        == "IncorrectState"
    assert code_of(backend, "DeleteVolume", {"VolumeId": vid}) == "IncorrectState"
    assert code_of(backend, "ModifyVolume", {"VolumeId": vid, "Size": 4}) == "IncorrectState"
    assert code_of(backend, "CreateSnapshot", {"VolumeId": vid}) == "IncorrectState"
    call(backend, "DeleteTags", {"Resources": [vid], "Tags": [{"Key": "born"}]})
    assert backend.store.get(vid).state == "creating"  # nothing above waited for the file
    await reaches(backend, vid, "available")
    assert runtime.parts.storage.volume_size(vid) == 2 * 1024**3
    call(backend, "AttachVolume", {"VolumeId": vid, "InstanceId": iid, "Device": "/dev/sdf"})
    tags = call(backend, "DescribeVolumes", {"VolumeIds": [vid]})["Volumes"][0]["Tags"]
    assert tags == [{"Key": "Name", "Value": "early"}]
