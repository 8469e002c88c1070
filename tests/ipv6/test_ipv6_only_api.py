"""IPv6-only subnets through boto3 on an API-only server (fake drivers): CreateSubnet Ipv6Native,
what DescribeSubnets shows, their attributes, interfaces and instances with IPv6 addresses only,
and EC2's errors for what an IPv6-only subnet refuses."""

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
    made = ec2.create_vpc(CidrBlock="10.71.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    yield made
    vid = made["VpcId"]
    insts = [i["InstanceId"] for r in ec2.describe_instances(Filters=[{"Name": "vpc-id", "Values": [vid]}])[
        "Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    if insts:
        ec2.terminate_instances(InstanceIds=insts)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=insts, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vid]}])["Subnets"]:
        for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])[
                "NetworkInterfaces"]:
            ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    ec2.delete_vpc(VpcId=vid)


def a64(vpc: dict[str, Any], n: int = 0) -> str:
    block = ipaddress.IPv6Network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    return str(list(block.subnets(new_prefix=64))[n]) if n < 4 else ""


@pytest.fixture
def v6only(ec2: Any, vpc: dict[str, Any]) -> dict[str, Any]:
    return ec2.create_subnet(VpcId=vpc["VpcId"], Ipv6Native=True, Ipv6CidrBlock=a64(vpc))["Subnet"]


def test_create_ipv6_only_subnet_shows_as_ec2_does(ec2: Any, vpc: dict[str, Any], v6only: dict[str, Any]) -> None:
    (shown,) = ec2.describe_subnets(SubnetIds=[v6only["SubnetId"]])["Subnets"]
    for s in (v6only, shown):
        assert "CidrBlock" not in s
        assert s["Ipv6Native"] is True and s["AssignIpv6AddressOnCreation"] is True
        assert s["AvailableIpAddressCount"] == 0 and s["MapPublicIpOnLaunch"] is False
        assert s["EnableDns64"] is False
        assert s["PrivateDnsNameOptionsOnLaunch"] == {"HostnameType": "resource-name",
                                                      "EnableResourceNameDnsARecord": False,
                                                      "EnableResourceNameDnsAAAARecord": False}
        assert [a["Ipv6CidrBlock"] for a in s["Ipv6CidrBlockAssociationSet"]] == [a64(vpc)]
    native = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                           {"Name": "ipv6-native", "Values": ["true"]}])["Subnets"]
    assert [s["SubnetId"] for s in native] == [v6only["SubnetId"]]
    dual = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.71.1.0/24", Ipv6CidrBlock=a64(vpc, 1))["Subnet"]
    assert dual["Ipv6Native"] is False and dual["PrivateDnsNameOptionsOnLaunch"]["HostnameType"] == "ip-name"


def test_create_ipv6_only_subnet_errors(ec2: Any, vpc: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc["VpcId"], Ipv6Native=True, Ipv6CidrBlock=a64(vpc), CidrBlock="10.71.2.0/24")
    assert error(e)[0] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc["VpcId"], Ipv6Native=True, CidrBlock="10.71.2.0/24")
    assert error(e) == ("MissingParameter", "The request must contain the parameter ipv6CidrBlock")
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc["VpcId"], Ipv6CidrBlock=a64(vpc))  # without Ipv6Native: IPv4 too
    assert error(e) == ("MissingParameter", "The request must contain the parameter cidrBlock")
    v4 = ec2.create_vpc(CidrBlock="10.72.0.0/16")["Vpc"]
    try:
        with pytest.raises(ClientError) as e:
            ec2.create_subnet(VpcId=v4["VpcId"], Ipv6Native=True, Ipv6CidrBlock=a64(vpc))
        assert error(e)[0] == "InvalidSubnet.Range"
    finally:
        ec2.delete_vpc(VpcId=v4["VpcId"])
    assert not ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]


def test_ipv6_only_subnet_attributes(ec2: Any, v6only: dict[str, Any]) -> None:
    sid = v6only["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=sid, EnableResourceNameDnsAAAARecordOnLaunch={"Value": True})
    ec2.modify_subnet_attribute(SubnetId=sid, EnableDns64={"Value": True})
    ec2.modify_subnet_attribute(SubnetId=sid, PrivateDnsHostnameTypeOnLaunch="resource-name")
    (s,) = ec2.describe_subnets(SubnetIds=[sid])["Subnets"]
    assert s["EnableDns64"] is True and s["PrivateDnsNameOptionsOnLaunch"]["EnableResourceNameDnsAAAARecord"] is True
    refused = [dict(PrivateDnsHostnameTypeOnLaunch="ip-name"), dict(MapPublicIpOnLaunch={"Value": True}),
               dict(EnableResourceNameDnsARecordOnLaunch={"Value": True}),
               dict(AssignIpv6AddressOnCreation={"Value": False})]
    for kwargs in refused:
        with pytest.raises(ClientError) as e:
            ec2.modify_subnet_attribute(SubnetId=sid, **kwargs)
        assert error(e)[0] == "InvalidParameterValue", kwargs
    (assoc,) = s["Ipv6CidrBlockAssociationSet"]
    with pytest.raises(ClientError) as e:
        ec2.disassociate_subnet_cidr_block(AssociationId=assoc["AssociationId"])
    assert error(e)[0] == "InvalidCidrBlock.InUse"


def test_interfaces_in_an_ipv6_only_subnet_have_ipv6_only(ec2: Any, v6only: dict[str, Any]) -> None:
    eni = ec2.create_network_interface(SubnetId=v6only["SubnetId"])["NetworkInterface"]
    assert "PrivateIpAddress" not in eni and eni["PrivateIpAddresses"] == []
    (addr,) = eni["Ipv6Addresses"]
    assert ipaddress.IPv6Address(addr["Ipv6Address"]) in ipaddress.IPv6Network(
        v6only["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    for kwargs in (dict(PrivateIpAddress="10.71.0.10"), dict(Ipv6AddressCount=0)):
        with pytest.raises(ClientError) as e:
            ec2.create_network_interface(SubnetId=v6only["SubnetId"], **kwargs)
        assert error(e)[0] == "InvalidParameterValue", kwargs
    with pytest.raises(ClientError) as e:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni["NetworkInterfaceId"], SecondaryPrivateIpAddressCount=1)
    assert error(e)[0] == "InvalidParameterValue"


def test_instances_in_an_ipv6_only_subnet(ec2: Any, v6only: dict[str, Any]) -> None:
    image = tiny_image(ec2)
    (inst,) = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                SubnetId=v6only["SubnetId"])["Instances"]
    (r,) = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"]
    for i in (inst, r["Instances"][0]):
        assert "PrivateIpAddress" not in i and "PublicIpAddress" not in i
        assert i["PrivateDnsName"] == f"{i['InstanceId']}.ec2.internal"
        assert i["PrivateDnsNameOptions"]["HostnameType"] == "resource-name"
        (nic,) = i["NetworkInterfaces"]
        (addr,) = nic["Ipv6Addresses"]
        assert i["Ipv6Address"] == addr["Ipv6Address"]
        assert "PrivateIpAddress" not in nic and nic["PrivateIpAddresses"] == []
    for kwargs in (dict(PrivateIpAddress="10.71.0.10"), dict(Ipv6AddressCount=0)):
        with pytest.raises(ClientError) as e:
            ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                              SubnetId=v6only["SubnetId"], **kwargs)
        assert error(e)[0] == "InvalidParameterValue", kwargs
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano", NetworkInterfaces=[
            {"DeviceIndex": 0, "SubnetId": v6only["SubnetId"], "AssociatePublicIpAddress": True}])
    assert error(e)[0] == "InvalidParameterCombination"
    eip = ec2.allocate_address(Domain="vpc")
    try:
        with pytest.raises(ClientError) as e:
            ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])
        assert error(e)[0] == "InvalidParameterValue"
    finally:
        ec2.release_address(AllocationId=eip["AllocationId"])


def test_services_needing_ipv4_are_refused_in_an_ipv6_only_subnet(ec2: Any, v6only: dict[str, Any]) -> None:
    eip = ec2.allocate_address(Domain="vpc")
    try:
        with pytest.raises(ClientError) as e:
            ec2.create_nat_gateway(SubnetId=v6only["SubnetId"], AllocationId=eip["AllocationId"])
        assert error(e)[0] == "InvalidParameterValue"
    finally:
        ec2.release_address(AllocationId=eip["AllocationId"])
    with pytest.raises(ClientError) as e:
        ec2.create_subnet_cidr_reservation(SubnetId=v6only["SubnetId"], Cidr="10.71.0.16/28",
                                           ReservationType="explicit")
    assert error(e)[0] == "InvalidParameterValue"
