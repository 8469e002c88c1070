"""Subnet CIDR reservations through boto3 (fake drivers, in process, ec2d-tiny published): shapes,
filters, tags and EC2's checks; in a tiny /28 subnet, launches and ENIs take only the addresses no
reservation holds (``InsufficientFreeAddressesInSubnet`` once those are gone), an address of an
``explicit`` reservation may still be asked for by address, one of a ``prefix`` reservation not."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "launch_templates"))
import lt_api  # noqa: E402  (the fixtures: API with the fake runtime and ec2d-tiny published)
from lt_api import refused  # noqa: E402

api, ec2, image = lt_api.api, lt_api.ec2, lt_api.image


@pytest.fixture
def tiny(ec2: Any) -> Iterator[dict[str, str]]:
    """A VPC with one /28 subnet: 16 addresses, EC2 keeps 5 (.0-.3 and .15)."""
    vpc = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.90.1.0/28", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    made: dict[str, Any] = {"vpc": vpc, "subnet": subnet, "instances": [], "enis": []}
    yield made
    if made["instances"]:
        ec2.terminate_instances(InstanceIds=made["instances"])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=made["instances"],
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    for eni in made["enis"]:
        ec2.delete_network_interface(NetworkInterfaceId=eni)
    ec2.delete_subnet(SubnetId=subnet)  # its reservations go with it
    ec2.delete_vpc(VpcId=vpc)


def launch(ec2: Any, image: str, tiny: dict[str, Any], **extra: Any) -> dict[str, Any]:
    inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                             SubnetId=tiny["subnet"], **extra)["Instances"][0]
    tiny["instances"].append(inst["InstanceId"])
    return dict(inst)


def free_count(ec2: Any, subnet: str) -> int:
    return int(ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"])


def test_create_get_filter_delete(ec2: Any, tiny: dict[str, str]) -> None:
    made = ec2.create_subnet_cidr_reservation(
        SubnetId=tiny["subnet"], Cidr="10.90.1.8/29", ReservationType="explicit", Description="appliances",
        TagSpecifications=[{"ResourceType": "subnet-cidr-reservation", "Tags": [{"Key": "team", "Value": "net"}]}],
    )["SubnetCidrReservation"]
    scr = made["SubnetCidrReservationId"]
    assert scr.startswith("scr-") and made["Cidr"] == "10.90.1.8/29" and made["ReservationType"] == "explicit"
    assert made["SubnetId"] == tiny["subnet"] and made["Description"] == "appliances"
    assert made["Tags"] == [{"Key": "team", "Value": "net"}] and made["OwnerId"]
    other = ec2.create_subnet_cidr_reservation(SubnetId=tiny["subnet"], Cidr="10.90.1.4/30",
                                               ReservationType="prefix")["SubnetCidrReservation"]
    got = ec2.get_subnet_cidr_reservations(SubnetId=tiny["subnet"])
    assert {r["SubnetCidrReservationId"] for r in got["SubnetIpv4CidrReservations"]} == {
        scr, other["SubnetCidrReservationId"]}
    assert got["SubnetIpv6CidrReservations"] == []
    by_type = ec2.get_subnet_cidr_reservations(SubnetId=tiny["subnet"], Filters=[
        {"Name": "reservationType", "Values": ["prefix"]}])["SubnetIpv4CidrReservations"]
    assert [r["Cidr"] for r in by_type] == ["10.90.1.4/30"]
    by_tag = ec2.get_subnet_cidr_reservations(SubnetId=tiny["subnet"], Filters=[
        {"Name": "tag:team", "Values": ["net"]}, {"Name": "subnet-id", "Values": [tiny["subnet"]]}])
    assert [r["SubnetCidrReservationId"] for r in by_tag["SubnetIpv4CidrReservations"]] == [scr]
    gone = ec2.delete_subnet_cidr_reservation(SubnetCidrReservationId=scr)["DeletedSubnetCidrReservation"]
    assert gone["SubnetCidrReservationId"] == scr and gone["Cidr"] == "10.90.1.8/29"
    assert refused(ec2.delete_subnet_cidr_reservation, SubnetCidrReservationId=scr) == (
        "InvalidSubnetCidrReservationID.NotFound", f"The subnet CIDR reservation ID '{scr}' does not exist")
    assert refused(ec2.delete_subnet_cidr_reservation, SubnetCidrReservationId="scr-nope")[0] == \
        "InvalidSubnetCidrReservationID.Malformed"


@pytest.mark.parametrize(("cidr", "rtype", "why"), [
    ("10.90.2.0/28", "explicit", "is not within the CIDR block 10.90.1.0/28"),
    ("10.90.1.0/24", "explicit", "is not within"),
    ("10.90.1.3/28", "explicit", "is not a valid CIDR block"),  # host bits set
    ("nonsense", "prefix", "is not a valid CIDR block"),
    ("2001:db8::/64", "prefix", "has no IPv6 CIDR block"),
    ("10.90.1.0/29", "both", "Valid values: prefix, explicit"),
])
def test_checks(ec2: Any, tiny: dict[str, str], cidr: str, rtype: str, why: str) -> None:
    code, msg = refused(ec2.create_subnet_cidr_reservation, SubnetId=tiny["subnet"], Cidr=cidr, ReservationType=rtype)
    assert code == "InvalidParameterValue" and why in msg


def test_overlap_and_unknown_subnet(ec2: Any, tiny: dict[str, str]) -> None:
    ec2.create_subnet_cidr_reservation(SubnetId=tiny["subnet"], Cidr="10.90.1.8/29", ReservationType="explicit")
    code, msg = refused(ec2.create_subnet_cidr_reservation, SubnetId=tiny["subnet"], Cidr="10.90.1.12/30",
                        ReservationType="prefix")
    assert code == "InvalidParameterValue" and "overlaps the existing reservation 10.90.1.8/29" in msg
    assert refused(ec2.create_subnet_cidr_reservation, SubnetId="subnet-0123456789abcdef0", Cidr="10.90.1.8/29",
                   ReservationType="prefix")[0] == "InvalidSubnetID.NotFound"
    assert refused(ec2.get_subnet_cidr_reservations, SubnetId="subnet-0123456789abcdef0")[0] == \
        "InvalidSubnetID.NotFound"


def test_launches_take_only_unreserved_addresses(ec2: Any, image: str, tiny: dict[str, Any]) -> None:
    assert free_count(ec2, tiny["subnet"]) == 11
    ec2.create_subnet_cidr_reservation(SubnetId=tiny["subnet"], Cidr="10.90.1.8/29", ReservationType="explicit")
    assert free_count(ec2, tiny["subnet"]) == 4  # .4-.7: the reservation holds .8-.14 (.15 is EC2's)
    got = [launch(ec2, image, tiny)["PrivateIpAddress"] for _ in range(3)]
    eni = ec2.create_network_interface(SubnetId=tiny["subnet"])["NetworkInterface"]
    tiny["enis"].append(eni["NetworkInterfaceId"])
    assert sorted([*got, eni["PrivateIpAddress"]]) == ["10.90.1.4", "10.90.1.5", "10.90.1.6", "10.90.1.7"]
    assert free_count(ec2, tiny["subnet"]) == 0
    code, _ = refused(ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                      SubnetId=tiny["subnet"])
    assert code == "InsufficientFreeAddressesInSubnet"
    assert refused(ec2.assign_private_ip_addresses, NetworkInterfaceId=eni["NetworkInterfaceId"],
                   SecondaryPrivateIpAddressCount=1)[0] == "InsufficientFreeAddressesInSubnet"
    # an explicit reservation's address may be asked for by address
    chosen = launch(ec2, image, tiny, PrivateIpAddress="10.90.1.9")
    assert chosen["PrivateIpAddress"] == "10.90.1.9"
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni["NetworkInterfaceId"], PrivateIpAddresses=["10.90.1.10"])


def test_prefix_reservation_addresses_are_never_assigned(ec2: Any, image: str, tiny: dict[str, Any]) -> None:
    ec2.create_subnet_cidr_reservation(SubnetId=tiny["subnet"], Cidr="10.90.1.4/30", ReservationType="prefix")
    code, msg = refused(ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                        SubnetId=tiny["subnet"], PrivateIpAddress="10.90.1.5")
    assert code == "InvalidParameterValue" and "prefix CIDR reservation" in msg
    assert launch(ec2, image, tiny)["PrivateIpAddress"] == "10.90.1.8"  # the lowest outside .4-.7


def test_one_launch_of_many_reads_the_subnet_once_and_takes_the_lowest_free(
        ec2: Any, image: str, tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """RunInstances of N gives the N lowest free addresses in launch order (past an ENI's address
    and a reservation), reading the subnet's used addresses as often for N instances as for one."""
    from orchestrator.services import vpcs
    reads: list[str] = []
    real = vpcs.used_addresses

    def counted(backend: Any, subnet: Any) -> set[str]:
        reads.append(subnet.id)
        return real(backend, subnet)
    monkeypatch.setattr(vpcs, "used_addresses", counted)
    eni = ec2.create_network_interface(SubnetId=tiny["subnet"], PrivateIpAddress="10.90.1.5")["NetworkInterface"]
    tiny["enis"].append(eni["NetworkInterfaceId"])
    ec2.create_subnet_cidr_reservation(SubnetId=tiny["subnet"], Cidr="10.90.1.12/30", ReservationType="explicit")
    reads.clear()
    assert launch(ec2, image, tiny)["PrivateIpAddress"] == "10.90.1.4"
    one = len(reads)
    reads.clear()
    many = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=10, InstanceType="t3.nano",
                             SubnetId=tiny["subnet"])["Instances"]
    tiny["instances"].extend(i["InstanceId"] for i in many)
    assert len(reads) == one  # not once per instance
    assert [i["PrivateIpAddress"] for i in sorted(many, key=lambda i: i["AmiLaunchIndex"])] == \
        ["10.90.1.6", "10.90.1.7", "10.90.1.8", "10.90.1.9", "10.90.1.10", "10.90.1.11"]  # all that was free
    assert free_count(ec2, tiny["subnet"]) == 0
