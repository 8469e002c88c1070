"""DescribeInstanceTypeOfferings (by region, zone and zone id; filters; pages) and
DescribeInstanceTypes' filters through boto3, and every listed type launched (fake drivers, in
process): the hypervisor gets the type's vCPUs and memory."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi

from orchestrator.config import Config
from orchestrator.domain import instance_types
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images

REGIONS = {"us-east-1": ["a", "b", "c"], "eu-west-1": ["a", "b"]}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    # every type must fit once on any test host (the largest has 64 GiB): capacity is not the point here
    config = Config(data_dir=tmp_path_factory.mktemp("types"), instances=False, regions=REGIONS,
                    memory_overcommit=64.0)
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    images.sync_published(backend)
    server = LoopbackApi(backend, runtime=True).start()
    yield server
    server.stop()
    backend.close()


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


def offerings(ec2: Any, **kw: Any) -> list[tuple[str, str, str]]:
    out, token = [], None
    while True:
        page = ec2.describe_instance_type_offerings(**kw, **({"NextToken": token} if token else {}))
        out += [(o["InstanceType"], o["LocationType"], o["Location"]) for o in page["InstanceTypeOfferings"]]
        token = page.get("NextToken")
        if not token:
            return out


def test_offerings_by_region_zone_and_zone_id(ec2: Any, api: LoopbackApi) -> None:
    catalogue = sorted(instance_types.CATALOGUE)
    assert offerings(ec2) == [(t, "region", "us-east-1") for t in catalogue]
    assert offerings(ec2, LocationType="region", MaxResults=5) == [(t, "region", "us-east-1") for t in catalogue]
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert len(zones) == 3
    by_zone = offerings(ec2, LocationType="availability-zone", MaxResults=7)
    assert sorted(by_zone) == sorted((t, "availability-zone", z["ZoneName"]) for t in catalogue for z in zones)
    by_id = offerings(ec2, LocationType="availability-zone-id")
    assert sorted(by_id) == sorted((t, "availability-zone-id", z["ZoneId"]) for t in catalogue for z in zones)
    eu = api.client("ec2", region="eu-west-1")
    assert {o[2] for o in offerings(eu, LocationType="availability-zone")} == {"eu-west-1a", "eu-west-1b"}
    assert offerings(ec2, LocationType="outpost") == []  # ec2d has no Outposts


def test_offering_filters(ec2: Any, api: LoopbackApi) -> None:
    got = offerings(ec2, LocationType="availability-zone", Filters=[
        {"Name": "instance-type", "Values": ["t3.*", "m5.large"]}, {"Name": "location", "Values": ["us-east-1b"]}])
    want = sorted(t for t in instance_types.CATALOGUE if t.startswith("t3.") or t == "m5.large")
    assert got == [(t, "availability-zone", "us-east-1b") for t in want]
    assert offerings(ec2, Filters=[{"Name": "location", "Values": ["us-west-2"]}]) == []
    raw = api.client("ec2", parameter_validation=False)
    for bad in ({"Filters": [{"Name": "vcpu", "Values": ["2"]}]}, {"MaxResults": 4}, {"MaxResults": 1001}):
        with pytest.raises(ClientError) as info:
            raw.describe_instance_type_offerings(**bad)
        assert info.value.response["Error"]["Code"] == "InvalidParameterValue", bad
        if "Filters" in bad:
            assert info.value.response["Error"]["Message"] == "The filter 'vcpu' is invalid"


def types(ec2: Any, *filters: tuple[str, list[str]]) -> list[str]:
    out, token = [], None
    while True:
        page = ec2.describe_instance_types(Filters=[{"Name": n, "Values": v} for n, v in filters],
                                           **({"NextToken": token} if token else {}))
        out += [t["InstanceType"] for t in page["InstanceTypes"]]
        token = page.get("NextToken")
        if not token:
            return sorted(out)


def test_instance_type_filters(ec2: Any) -> None:
    cat = instance_types.CATALOGUE
    assert types(ec2, ("instance-type", ["c5.*"])) == sorted(t for t in cat if t.startswith("c5."))
    assert types(ec2, ("vcpu-info.default-vcpus", ["4"])) == sorted(t for t, i in cat.items() if i.vcpus == 4)
    assert types(ec2, ("memory-info.size-in-mib", ["16384"])) == sorted(
        t for t, i in cat.items() if i.memory_mib == 16384)
    assert types(ec2, ("processor-info.supported-architecture", ["x86_64"])) == sorted(cat)
    assert types(ec2, ("processor-info.supported-architecture", ["arm64"])) == []
    assert types(ec2, ("current-generation", ["true"])) == sorted(cat)
    assert types(ec2, ("free-tier-eligible", ["true"])) == ["t2.micro", "t3.micro"]
    assert types(ec2, ("burstable-performance-supported", ["false"])) == sorted(
        t for t, i in cat.items() if not i.burstable)
    assert types(ec2, ("hypervisor", ["xen"])) == sorted(t for t in cat if t.startswith("t2."))
    assert types(ec2, ("vcpu-info.valid-cores", ["4"]), ("network-info.ena-support", ["required"])) == sorted(
        t for t, i in cat.items() if i.cores >= 4 and i.family != "t2")
    assert types(ec2, ("processor-info.sustained-clock-speed-in-ghz", ["3.4"])) == sorted(
        t for t in cat if t.startswith("c5."))
    assert types(ec2, ("ebs-info.nvme-support", ["unsupported"]), ("dedicated-hosts-supported", ["false"])) == sorted(
        t for t in cat if t.startswith("t2."))
    assert types(ec2, ("nitro-tpm-support", ["unsupported"]), ("instance-storage-supported", ["false"])) == sorted(cat)
    assert types(ec2, ("instance-storage-info.disk.count", ["*"])) == []  # EBS only: no disk to match
    with pytest.raises(ClientError) as info:
        ec2.describe_instance_types(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert info.value.response["Error"] == {"Code": "InvalidParameterValue",
                                            "Message": "The filter 'no-such-filter' is invalid"}


def _until_state(ec2: Any, iid: str, state: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"] != state:
        assert time.monotonic() < deadline, f"{iid} never {state}"
        time.sleep(0.05)


def test_every_listed_type_launches(ec2: Any, api: LoopbackApi) -> None:
    image = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"][0]
    listed = types(ec2)
    assert listed == sorted(instance_types.CATALOGUE)
    assert runtime_types(ec2, api, image["ImageId"], listed) == listed


def runtime_types(ec2: Any, api: LoopbackApi, image_id: str, listed: list[str]) -> list[str]:
    """Launch each type in turn (one at a time: capacity counts running instances); each must
    run with its type's vCPUs and memory on the hypervisor, then is terminated."""
    assert api.runtime is not None
    launched = []
    for name in listed:
        [inst] = ec2.run_instances(ImageId=image_id, InstanceType=name, MinCount=1, MaxCount=1)["Instances"]
        iid = inst["InstanceId"]
        _until_state(ec2, iid, "running")
        shown = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        config = api.runtime.compute.get_config(api.runtime.domain_name(iid))
        itype = instance_types.CATALOGUE[name]
        assert (shown["InstanceType"], config.vcpus, config.memory_mib) == (name, itype.vcpus, itype.memory_mib)
        ec2.terminate_instances(InstanceIds=[iid])
        _until_state(ec2, iid, "terminated")
        launched.append(name)
    return launched


def _documented_filters(ec2: Any, action: str) -> list[str]:
    """The filter names botocore's documentation of ``action`` lists."""
    doc = ec2.meta.service_model.operation_model(action).input_shape.members["Filters"].documentation
    return re.findall(r"<code>([a-z0-9.\-]+)</code> -", doc)


@pytest.mark.parametrize("action,method", [("DescribeInstanceTypes", "describe_instance_types"),
                                           ("DescribeInstanceTypeOfferings", "describe_instance_type_offerings")])
def test_every_documented_filter_is_accepted(ec2: Any, action: str, method: str) -> None:
    names = _documented_filters(ec2, action)
    assert len(names) >= (50 if action == "DescribeInstanceTypes" else 2)
    for name in names:
        getattr(ec2, method)(Filters=[{"Name": name, "Values": ["*"]}])  # no InvalidParameterValue
