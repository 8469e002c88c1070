"""IPv6 control plane through boto3 on an API-only server (fake drivers): a VPC's Amazon-provided
/56, subnets' /64s, interfaces' and instances' IPv6 addresses, EC2's errors for what is refused."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2d_server import tiny_image


def error(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    e = info.value.response["Error"]
    return str(e["Code"]), str(e["Message"])


@pytest.fixture
def vpc(ec2: Any) -> Iterator[dict[str, Any]]:
    made = ec2.create_vpc(CidrBlock="10.61.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    yield made
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [made["VpcId"]]}])["Subnets"]:
        for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])[
                "NetworkInterfaces"]:
            ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    ec2.delete_vpc(VpcId=made["VpcId"])


def block_of(vpc: dict[str, Any]) -> ipaddress.IPv6Network:
    (assoc,) = vpc["Ipv6CidrBlockAssociationSet"]
    return ipaddress.IPv6Network(assoc["Ipv6CidrBlock"])


def test_create_vpc_gets_a_distinct_56_of_the_pool(ec2: Any, vpc: dict[str, Any]) -> None:
    (assoc,) = vpc["Ipv6CidrBlockAssociationSet"]
    block = block_of(vpc)
    assert block.prefixlen == 56 and block.subnet_of(ipaddress.IPv6Network("2001:db8::/32"))
    assert assoc["AssociationId"].startswith("vpc-cidr-assoc-")
    assert (assoc["Ipv6CidrBlockState"]["State"], assoc["Ipv6Pool"], assoc["NetworkBorderGroup"]) == (
        "associated", "Amazon", "us-east-1")
    shown = ec2.describe_vpcs(Filters=[{"Name": "ipv6-cidr-block-association.ipv6-cidr-block",
                                        "Values": [str(block)]}])["Vpcs"]
    assert [v["VpcId"] for v in shown] == [vpc["VpcId"]]
    other = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]
    try:
        assert "Ipv6CidrBlockAssociationSet" not in other  # EC2 omits it for an IPv4-only VPC
        added = ec2.associate_vpc_cidr_block(VpcId=other["VpcId"], AmazonProvidedIpv6CidrBlock=True)
        got = ipaddress.IPv6Network(added["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"])
        assert got.prefixlen == 56 and not got.overlaps(block)
        gone = ec2.disassociate_vpc_cidr_block(AssociationId=added["Ipv6CidrBlockAssociation"]["AssociationId"])
        assert gone["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
        assert "Ipv6CidrBlockAssociationSet" not in ec2.describe_vpcs(VpcIds=[other["VpcId"]])["Vpcs"][0]
    finally:
        ec2.delete_vpc(VpcId=other["VpcId"])


def test_vpc_block_refusals(ec2: Any, vpc: dict[str, Any]) -> None:
    primary = vpc["CidrBlockAssociationSet"][0]["AssociationId"]
    with pytest.raises(ClientError) as e:
        ec2.disassociate_vpc_cidr_block(AssociationId=primary)
    assert error(e)[0] == "OperationNotPermitted"
    with pytest.raises(ClientError) as e:
        ec2.disassociate_vpc_cidr_block(AssociationId="vpc-cidr-assoc-0123456789abcdef0")
    assert error(e)[0] == "InvalidVpcCidrBlockAssociationID.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.associate_vpc_cidr_block(VpcId=vpc["VpcId"], Ipv6Pool="ipv6pool-ec2-0123456789abcdef0",
                                     Ipv6CidrBlock="2600:1f00::/56")
    assert error(e)[0] == "InvalidPublicIpv6PoolID.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.associate_vpc_cidr_block(VpcId=vpc["VpcId"])
    assert error(e)[0] == "MissingParameter"
    for _ in range(4):
        ec2.associate_vpc_cidr_block(VpcId=vpc["VpcId"], AmazonProvidedIpv6CidrBlock=True)
    with pytest.raises(ClientError) as e:
        ec2.associate_vpc_cidr_block(VpcId=vpc["VpcId"], AmazonProvidedIpv6CidrBlock=True)
    assert error(e)[0] == "CidrLimitExceeded"
    for a in ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][1:]:
        ec2.disassociate_vpc_cidr_block(AssociationId=a["AssociationId"])


def test_subnet_64_inside_the_vpc_block(ec2: Any, vpc: dict[str, Any]) -> None:
    block = block_of(vpc)
    first, second = list(block.subnets(new_prefix=64))[:2]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.61.1.0/24", Ipv6CidrBlock=str(first))["Subnet"]
    (assoc,) = subnet["Ipv6CidrBlockAssociationSet"]
    assert (assoc["Ipv6CidrBlock"], assoc["Ipv6CidrBlockState"]["State"]) == (str(first), "associated")
    for bad in ("2001:db8:ffff:ff00::/64", str(block), "10.0.0.0/24", "nonsense"):
        with pytest.raises(ClientError) as e:
            ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.61.2.0/24", Ipv6CidrBlock=bad)
        assert error(e)[0] == "InvalidSubnet.Range", bad
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.61.2.0/24", Ipv6CidrBlock=str(first))
    assert error(e)[0] == "InvalidSubnet.Conflict"
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"][0][
        "SubnetId"] == subnet["SubnetId"]  # the refused ones left nothing behind
    # the VPC's /56 cannot go while the subnet holds a /64 of it
    with pytest.raises(ClientError) as e:
        ec2.disassociate_vpc_cidr_block(AssociationId=vpc["Ipv6CidrBlockAssociationSet"][0]["AssociationId"])
    assert error(e)[0] == "InvalidCidrBlock.InUse"
    # a second subnet, IPv4-only, gets its /64 later; dissociated, then again
    plain = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.61.2.0/24")["Subnet"]
    added = ec2.associate_subnet_cidr_block(SubnetId=plain["SubnetId"], Ipv6CidrBlock=str(second))
    assoc_id = added["Ipv6CidrBlockAssociation"]["AssociationId"]
    assert assoc_id.startswith("subnet-cidr-assoc-")
    with pytest.raises(ClientError) as e:
        ec2.associate_subnet_cidr_block(SubnetId=plain["SubnetId"], Ipv6CidrBlock=str(second))
    assert error(e)[0] == "InvalidSubnet.Conflict"
    found = ec2.describe_subnets(Filters=[{"Name": "ipv6-cidr-block-association.association-id",
                                           "Values": [assoc_id]}])["Subnets"]
    assert [s["SubnetId"] for s in found] == [plain["SubnetId"]]
    gone = ec2.disassociate_subnet_cidr_block(AssociationId=assoc_id)
    assert gone["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    assert ec2.describe_subnets(SubnetIds=[plain["SubnetId"]])["Subnets"][0]["Ipv6CidrBlockAssociationSet"] == []
    with pytest.raises(ClientError) as e:
        ec2.disassociate_subnet_cidr_block(AssociationId=assoc_id)
    assert error(e)[0] == "InvalidSubnetCidrBlockAssociationID.NotFound"


def test_assign_ipv6_on_creation_and_interface_addresses(ec2: Any, vpc: dict[str, Any]) -> None:
    net = list(block_of(vpc).subnets(new_prefix=64))[0]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.61.1.0/24", Ipv6CidrBlock=str(net))["Subnet"]
    sid = subnet["SubnetId"]
    plain = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"]
    assert plain["Ipv6Addresses"] == []
    ec2.modify_subnet_attribute(SubnetId=sid, AssignIpv6AddressOnCreation={"Value": True})
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["AssignIpv6AddressOnCreation"] is True
    auto = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"]
    assert auto["Ipv6Addresses"] == [{"Ipv6Address": str(net.network_address + 4), "IsPrimaryIpv6": False}]
    got = ec2.assign_ipv6_addresses(NetworkInterfaceId=plain["NetworkInterfaceId"], Ipv6AddressCount=2)
    assert got["AssignedIpv6Addresses"] == [str(net.network_address + 5), str(net.network_address + 6)]
    wanted = str(net.network_address + 0x99)
    ec2.assign_ipv6_addresses(NetworkInterfaceId=plain["NetworkInterfaceId"], Ipv6Addresses=[wanted])
    for bad, want in ((str(net.network_address + 4), "InvalidIPAddress.InUse"),
                      (str(net.network_address + 1), "InvalidParameterValue"),  # the subnet's router
                      ("2001:db8:ffff::5", "InvalidParameterValue")):
        with pytest.raises(ClientError) as e:
            ec2.assign_ipv6_addresses(NetworkInterfaceId=plain["NetworkInterfaceId"], Ipv6Addresses=[bad])
        assert error(e)[0] == want, bad
    found = ec2.describe_network_interfaces(Filters=[{"Name": "ipv6-addresses.ipv6-address",
                                                      "Values": [wanted]}])["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in found] == [plain["NetworkInterfaceId"]]
    # the subnet's /64 cannot go while interfaces hold addresses of it
    with pytest.raises(ClientError) as e:
        ec2.disassociate_subnet_cidr_block(AssociationId=subnet["Ipv6CidrBlockAssociationSet"][0]["AssociationId"])
    assert error(e)[0] == "InvalidCidrBlock.InUse"
    out = ec2.unassign_ipv6_addresses(NetworkInterfaceId=plain["NetworkInterfaceId"], Ipv6Addresses=[wanted])
    assert out["UnassignedIpv6Addresses"] == [wanted]
    with pytest.raises(ClientError) as e:
        ec2.unassign_ipv6_addresses(NetworkInterfaceId=plain["NetworkInterfaceId"], Ipv6Addresses=[wanted])
    assert error(e)[0] == "InvalidParameterValue"
    # an address is free again once unassigned
    again = ec2.assign_ipv6_addresses(NetworkInterfaceId=auto["NetworkInterfaceId"], Ipv6Addresses=[wanted])
    assert again["AssignedIpv6Addresses"] == [wanted]


def test_ipv6_addresses_refused_in_an_ipv4_only_subnet(ec2: Any, vpc: dict[str, Any]) -> None:
    sid = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.61.3.0/24")["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as e:
        ec2.create_network_interface(SubnetId=sid, Ipv6AddressCount=1)
    assert error(e)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.modify_subnet_attribute(SubnetId=sid, AssignIpv6AddressOnCreation={"Value": True})
    assert error(e)[0] == "InvalidParameterValue"


def test_run_instances_with_ipv6_addresses(ec2: Any, vpc: dict[str, Any]) -> None:
    net = list(block_of(vpc).subnets(new_prefix=64))[0]
    sid = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.61.1.0/24", Ipv6CidrBlock=str(net))["Subnet"]["SubnetId"]
    image = tiny_image(ec2)
    launched = ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, InstanceType="t3.micro", SubnetId=sid,
                                 Ipv6AddressCount=1)["Instances"]
    ids = [i["InstanceId"] for i in launched]
    try:
        shown = [a["Ipv6Address"] for i in launched for a in i["NetworkInterfaces"][0]["Ipv6Addresses"]]
        assert sorted(shown) == [str(net.network_address + 4), str(net.network_address + 5)]
        found = ec2.describe_instances(Filters=[{"Name": "network-interface.ipv6-addresses.ipv6-address",
                                                 "Values": [shown[0]]}])["Reservations"]
        assert [i["InstanceId"] for r in found for i in r["Instances"]] == [ids[0]]
        with pytest.raises(ClientError) as e:
            ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, InstanceType="t3.micro", SubnetId=sid,
                              Ipv6Addresses=[{"Ipv6Address": str(net.network_address + 9)}])
        assert error(e)[0] == "InvalidParameterCombination"
    finally:
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def test_a_deleted_vpc_frees_its_block(ec2: Any) -> None:
    made = ec2.create_vpc(CidrBlock="10.63.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = block_of(made)
    ec2.delete_vpc(VpcId=made["VpcId"])
    again = ec2.create_vpc(CidrBlock="10.63.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    try:
        assert block_of(again) == block  # the lowest free /56: the one just released
    finally:
        ec2.delete_vpc(VpcId=again["VpcId"])
