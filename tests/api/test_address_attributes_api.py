"""Describe/Modify/ResetAddressAttribute through boto3 (fake drivers, in process): the attribute's
shapes (the change ``PENDING`` in the answer, done once every VPC resolver of the region has the
record), EC2's errors, and the record handed to every VPC's resolver (the real resolver answering
it: tests/instances/test_address_ptr.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loopback_api import LoopbackApi, api_only
from test_vpc_cidrs_api import network, refused

from orchestrator.drivers.network.vpc.driver import HostRecord


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with api_only(tmp_path_factory.mktemp("ptr")) as server:
        yield server


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


@pytest.fixture
def eip(ec2: Any) -> Iterator[dict[str, str]]:
    made = ec2.allocate_address(Domain="vpc")
    yield made
    ec2.release_address(AllocationId=made["AllocationId"])


def default_ptr(ip: str) -> str:
    return f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com."


def test_modify_describe_reset(api: LoopbackApi, ec2: Any, eip: dict[str, str]) -> None:
    alloc, ip = eip["AllocationId"], eip["PublicIp"]
    vpc = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
    try:
        shown = ec2.describe_addresses_attribute(AllocationIds=[alloc], Attribute="domain-name")["Addresses"]
        assert shown == [{"PublicIp": ip, "AllocationId": alloc, "PtrRecord": default_ptr(ip)}]
        out = ec2.modify_address_attribute(AllocationId=alloc, DomainName="Mail.Example.com")["Address"]
        assert out == {"PublicIp": ip, "AllocationId": alloc, "PtrRecord": default_ptr(ip),
                       "PtrRecordUpdate": {"Value": "mail.example.com.", "Status": "PENDING"}}
        done = ec2.describe_addresses_attribute(AllocationIds=[alloc])["Addresses"][0]
        assert done == {"PublicIp": ip, "AllocationId": alloc, "PtrRecord": "mail.example.com."}
        assert alloc in [a["AllocationId"] for a in ec2.describe_addresses_attribute()["Addresses"]]
        # every VPC's resolver of the region got the record (the default VPC's too)
        fake = network(api)
        for vpc_id in (vpc, *(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"])):
            assert HostRecord("mail.example.com", ip) in fake.vpcs[vpc_id].records, vpc_id
        assert "PtrRecord" not in ec2.describe_addresses(AllocationIds=[alloc])["Addresses"][0]
        reset = ec2.reset_address_attribute(AllocationId=alloc, Attribute="domain-name")["Address"]
        assert reset["PtrRecord"] == "mail.example.com." and reset["PtrRecordUpdate"] == {
            "Value": default_ptr(ip), "Status": "PENDING"}
        assert ec2.describe_addresses_attribute(AllocationIds=[alloc])["Addresses"][0]["PtrRecord"] == default_ptr(ip)
        assert not any(r.ip == ip for r in fake.vpcs[vpc].records)
    finally:
        ec2.delete_vpc(VpcId=vpc)


@pytest.mark.parametrize("name", ["nodot", "bad_label.example.com", "-x.example.com", "a..b.com", "x" * 64 + ".com"])
def test_bad_domain_names(ec2: Any, eip: dict[str, str], name: str) -> None:
    code, msg = refused(ec2.modify_address_attribute, AllocationId=eip["AllocationId"], DomainName=name)
    assert code == "InvalidParameterValue" and "DomainName" in msg


def test_unknown_and_missing(ec2: Any) -> None:
    missing = "eipalloc-0123456789abcdef0"
    assert refused(ec2.modify_address_attribute, AllocationId=missing, DomainName="a.example.com") == (
        "InvalidAllocationID.NotFound", f"The allocation ID '{missing}' does not exist")
    assert refused(ec2.describe_addresses_attribute, AllocationIds=["eipalloc-zz"])[0] == \
        "InvalidAllocationID.Malformed"
    assert refused(ec2.reset_address_attribute, AllocationId=missing, Attribute="domain-name")[0] == \
        "InvalidAllocationID.NotFound"
    assert refused(ec2.modify_address_attribute, AllocationId=missing)[0] == "MissingParameter"
