"""DescribeInstances and DescribeVolumes answer their filters the same whether or not the store
narrows first (``domain/narrowing.py``): through boto3 (fake drivers, in process), every filter set
below gets exactly the items the unfiltered answer holds that match it, in the same order and
pages; named ids are never narrowed away into a NotFound; a bad filter is still EC2's error."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "launch_templates"))
import lt_api  # noqa: E402  (the fixtures: API with the fake runtime and ec2d-tiny published)
from lt_api import refused  # noqa: E402

api, ec2, image = lt_api.api, lt_api.ec2, lt_api.image
TYPES = ["t3.nano", "t3.micro"]


@pytest.fixture(scope="module")
def fleet(ec2: Any, image: str) -> Iterator[dict[str, list[str]]]:
    """12 instances (tags group g0-g2, team t0/t1; two types; three stopped) and 6 volumes."""
    made: dict[str, list[str]] = {"instances": [], "volumes": []}
    for g in range(3):
        out = ec2.run_instances(ImageId=image, MinCount=4, MaxCount=4, InstanceType=TYPES[g % 2])["Instances"]
        made["instances"] += [i["InstanceId"] for i in out]
    for n, iid in enumerate(made["instances"]):
        ec2.create_tags(Resources=[iid], Tags=[{"Key": "group", "Value": f"g{n // 4}"},
                                               {"Key": "team", "Value": f"t{n % 2}"}])
    ec2.get_waiter("instance_running").wait(InstanceIds=made["instances"], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    ec2.stop_instances(InstanceIds=made["instances"][1:4])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=made["instances"][1:4], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    for n in range(6):
        vol = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a",
                                TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": f"t{n % 3}"}]}])
        made["volumes"].append(vol["VolumeId"])
    ec2.get_waiter("volume_available").wait(VolumeIds=made["volumes"], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    yield made
    ec2.terminate_instances(InstanceIds=made["instances"])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=made["instances"], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    for vol in made["volumes"]:
        ec2.delete_volume(VolumeId=vol)


def matches(item: dict[str, Any], filters: list[dict[str, Any]], getters: dict[str, Any]) -> bool:
    """The client's own reading of EC2's filters (``*`` and ``?`` as in fnmatch, no ``[``)."""
    tags = {t["Key"]: t["Value"] for t in item.get("Tags") or []}
    for f in filters:
        name = f["Name"]
        got = ([tags[name[4:]]] if name[4:] in tags else []) if name.startswith("tag:") else [getters[name](item)]
        if not any(fnmatch.fnmatchcase(v, p) for v in got for p in f["Values"]):
            return False
    return True


INSTANCE_GETTERS = {"instance-state-name": lambda i: i["State"]["Name"], "instance-type": lambda i: i["InstanceType"]}
INSTANCE_FILTERS = [
    [{"Name": "tag:group", "Values": ["g1"]}],
    [{"Name": "tag:group", "Values": ["g0", "g2"]}, {"Name": "tag:team", "Values": ["t1"]}],
    [{"Name": "tag:group", "Values": ["g*"]}, {"Name": "tag:team", "Values": ["t?"]}],
    [{"Name": "tag:group", "Values": ["nope"]}],
    [{"Name": "tag:group", "Values": ["g0"]}, {"Name": "tag:group", "Values": ["g1"]}],
    [{"Name": "instance-state-name", "Values": ["running"]}],
    [{"Name": "instance-state-name", "Values": ["stopped", "running"]}, {"Name": "instance-type", "Values": ["t3.micro"]}],
    [{"Name": "instance-state-name", "Values": ["stop*"]}, {"Name": "tag:team", "Values": ["t0"]}],
    [{"Name": "instance-type", "Values": ["t3.nano"]}, {"Name": "instance-type", "Values": ["t3.micro"]}],
]


def all_instances(ec2: Any, mine: list[str], **kw: Any) -> list[dict[str, Any]]:
    return [i for r in ec2.describe_instances(**kw)["Reservations"] for i in r["Instances"] if i["InstanceId"] in mine]


@pytest.mark.parametrize("filters", INSTANCE_FILTERS)
def test_describe_instances_filters_answer_as_without_narrowing(ec2: Any, fleet: dict[str, list[str]],
                                                               filters: list[dict[str, Any]]) -> None:
    mine = fleet["instances"]
    everything = all_instances(ec2, mine)
    assert len(everything) == 12
    expected = [i["InstanceId"] for i in everything if matches(i, filters, INSTANCE_GETTERS)]
    assert [i["InstanceId"] for i in all_instances(ec2, mine, Filters=filters)] == expected
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters, PaginationConfig={"PageSize": 5})
    assert [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"] if i["InstanceId"] in mine] \
        == expected


def test_named_ids_and_bad_filters(ec2: Any, fleet: dict[str, list[str]]) -> None:
    stopped = fleet["instances"][1]
    got = ec2.describe_instances(InstanceIds=[stopped], Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    assert got["Reservations"] == []
    vol = fleet["volumes"][0]
    assert ec2.describe_volumes(VolumeIds=[vol], Filters=[{"Name": "status", "Values": ["in-use"]}])["Volumes"] == []
    assert refused(ec2.describe_instances, Filters=[{"Name": "tag:group", "Values": ["g1"]},
                                                    {"Name": "no-such-filter", "Values": ["x"]}])[0] == "InvalidParameterValue"
    assert refused(ec2.describe_volumes, Filters=[{"Name": "tag:team", "Values": ["t0"]},
                                                  {"Name": "no-such-filter", "Values": ["x"]}])[0] == "InvalidParameterValue"


VOLUME_GETTERS = {"status": lambda v: v["State"]}


@pytest.mark.parametrize("filters", [
    [{"Name": "tag:team", "Values": ["t1"]}],
    [{"Name": "status", "Values": ["available"]}, {"Name": "tag:team", "Values": ["t0", "t2"]}],
    [{"Name": "status", "Values": ["in-use"]}],
    [{"Name": "status", "Values": ["avail*"]}, {"Name": "tag:team", "Values": ["t?"]}],
])
def test_describe_volumes_filters_answer_as_without_narrowing(ec2: Any, fleet: dict[str, list[str]],
                                                             filters: list[dict[str, Any]]) -> None:
    def mine(**kw: Any) -> list[dict[str, Any]]:
        return [v for v in ec2.describe_volumes(**kw)["Volumes"] if v["VolumeId"] in fleet["volumes"]]
    expected = [v["VolumeId"] for v in mine() if matches(v, filters, VOLUME_GETTERS)]
    assert [v["VolumeId"] for v in mine(Filters=filters)] == expected
