"""Interface VPC endpoints through boto3 (fake drivers, in process): one requester-managed ENI per
subnet, the endpoint's shapes (DnsEntries, Groups, NetworkInterfaceIds), what the VPC's network is
told to serve (addresses, DNS records, security groups), Modify/Delete, EC2's errors,
DescribeVpcEndpointServices. The data plane on a real guest: tests/instances/test_interface_endpoint.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi, api_only

from orchestrator.domain import interface_endpoints as ife

REGION = "us-east-1"
EC2 = f"com.amazonaws.{REGION}.ec2"
STS = f"com.amazonaws.{REGION}.sts"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with api_only(tmp_path_factory.mktemp("ifep"), {REGION: ["a", "b"]}) as server:
        yield server


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


@pytest.fixture
def vpc(ec2: Any) -> Iterator[dict[str, Any]]:
    vpc_id = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.62.{n}.0/24", AvailabilityZone=f"{REGION}{z}")
               ["Subnet"]["SubnetId"] for n, z in ((1, "a"), (2, "b"), (3, "a"))]
    sg = ec2.create_security_group(GroupName="vpce", Description="https", VpcId=vpc_id)["GroupId"]
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                    {"Name": "group-name", "Values": ["default"]}])
    yield {"VpcId": vpc_id, "Subnets": subnets, "Sg": sg, "Default": default["SecurityGroups"][0]["GroupId"]}
    for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]:
        ec2.delete_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"]])
    ec2.delete_security_group(GroupId=sg)
    for s in subnets:
        ec2.delete_subnet(SubnetId=s)
    ec2.delete_vpc(VpcId=vpc_id)


def refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def served(api: LoopbackApi, vpc_id: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The addresses the fake VPC network holds and its DNS records (name, address)."""
    assert api.runtime is not None
    fake = api.runtime.parts.networks[REGION].vpcs[vpc_id]  # type: ignore[attr-defined]
    return {a.ip for a in fake.local}, {(r.name, r.ip) for r in fake.records}


def test_services_list_the_interface_services(ec2: Any) -> None:
    out = ec2.describe_vpc_endpoint_services()
    assert set(out["ServiceNames"]) >= {EC2, STS, f"com.amazonaws.{REGION}.elasticloadbalancing",
                                        f"com.amazonaws.{REGION}.autoscaling", f"com.amazonaws.{REGION}.s3"}
    [detail] = ec2.describe_vpc_endpoint_services(ServiceNames=[EC2])["ServiceDetails"]
    assert detail["ServiceType"] == [{"ServiceType": "Interface"}]
    assert detail["PrivateDnsName"] == f"ec2.{REGION}.amazonaws.com"
    assert detail["BaseEndpointDnsNames"] == [f"ec2.{REGION}.vpce.amazonaws.com"]
    assert detail["AvailabilityZones"] == [f"{REGION}a", f"{REGION}b"]
    interface = ec2.describe_vpc_endpoint_services(Filters=[{"Name": "service-type", "Values": ["Interface"]}])
    assert len(interface["ServiceDetails"]) == len(ife.SERVICES)


def test_create_describe_modify_delete(api: LoopbackApi, ec2: Any, vpc: dict[str, Any]) -> None:
    s1, s2, s3 = vpc["Subnets"]
    e = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc["VpcId"], ServiceName=EC2,
                                SubnetIds=[s1, s2])["VpcEndpoint"]
    vpce = e["VpcEndpointId"]
    assert e["State"] == "available" and e["VpcEndpointType"] == "Interface" and e["PrivateDnsEnabled"] is True
    assert e["SubnetIds"] == [s1, s2] and e["Groups"] == [{"GroupId": vpc["Default"], "GroupName": "default"}]
    assert e["RouteTableIds"] == [] and len(e["NetworkInterfaceIds"]) == 2
    names = [d["DnsName"] for d in e["DnsEntries"]]
    suffix = names[0].split(".")[0].removeprefix(vpce + "-")
    assert names == [f"{vpce}-{suffix}.ec2.{REGION}.vpce.amazonaws.com",
                     f"{vpce}-{suffix}-{REGION}a.ec2.{REGION}.vpce.amazonaws.com",
                     f"{vpce}-{suffix}-{REGION}b.ec2.{REGION}.vpce.amazonaws.com", f"ec2.{REGION}.amazonaws.com"]
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=e["NetworkInterfaceIds"])["NetworkInterfaces"]
    by_subnet = {n["SubnetId"]: n for n in enis}
    for n in enis:
        assert n["InterfaceType"] == "vpc_endpoint" and n["RequesterManaged"] is True and n["Status"] == "in-use"
        assert n["Description"] == f"VPC Endpoint Interface {vpce}" and n["RequesterId"] == ife.REQUESTER
        assert n["Groups"] == [{"GroupId": vpc["Default"], "GroupName": "default"}]
    ip1, ip2 = by_subnet[s1]["PrivateIpAddress"], by_subnet[s2]["PrivateIpAddress"]
    assert ip1.startswith("10.62.1.") and ip2.startswith("10.62.2.")
    addresses, records = served(api, vpc["VpcId"])
    assert addresses == {ip1, ip2}
    assert {(f"ec2.{REGION}.amazonaws.com", ip1), (f"ec2.{REGION}.amazonaws.com", ip2), (names[0], ip1),
            (names[0], ip2), (names[1], ip1), (names[2], ip2)} <= records
    [firewall] = [v for v in api.runtime.parts.firewall.state.values() if v[0] == vpc["VpcId"]]  # type: ignore[union-attr]
    ports = {p.eni_id: p for p in firewall[1]}
    assert ports[by_subnet[s1]["NetworkInterfaceId"]].group_ids == (vpc["Default"],)

    refused_delete = refused(ec2.delete_network_interface, NetworkInterfaceId=by_subnet[s1]["NetworkInterfaceId"])
    assert refused_delete[0] == "InvalidNetworkInterface.InUse"

    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, RemoveSubnetIds=[s1], AddSubnetIds=[s3],
                            AddSecurityGroupIds=[vpc["Sg"]], RemoveSecurityGroupIds=[vpc["Default"]],
                            PrivateDnsEnabled=False)
    [now] = ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce])["VpcEndpoints"]
    assert now["SubnetIds"] == [s2, s3] and now["PrivateDnsEnabled"] is False
    assert now["Groups"] == [{"GroupId": vpc["Sg"], "GroupName": "vpce"}]
    assert by_subnet[s1]["NetworkInterfaceId"] not in now["NetworkInterfaceIds"]
    assert refused(ec2.describe_network_interfaces, NetworkInterfaceIds=[by_subnet[s1]["NetworkInterfaceId"]])[0] \
        == "InvalidNetworkInterfaceID.NotFound"
    addresses, records = served(api, vpc["VpcId"])
    assert ip1 not in addresses and ip2 in addresses and len(addresses) == 2
    assert not any(name == f"ec2.{REGION}.amazonaws.com" for name, _ in records)
    assert refused(ec2.delete_security_group, GroupId=vpc["Sg"])[0] == "DependencyViolation"
    assert refused(ec2.delete_subnet, SubnetId=s2)[0] == "DependencyViolation"

    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])["Unsuccessful"] == []
    assert ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "NetworkInterfaces"] == []
    addresses, records = served(api, vpc["VpcId"])
    assert addresses == set() and not any(name.endswith("vpce.amazonaws.com") for name, _ in records)


def test_errors(ec2: Any, vpc: dict[str, Any]) -> None:
    s1, s2, s3 = vpc["Subnets"]
    assert refused(ec2.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=vpc["VpcId"], ServiceName=EC2,
                   SubnetIds=[s1, s3]) == (
        "DuplicateSubnetsInSameZone", f"Found another VPC endpoint subnet in the availability zone of {s3}. VPC "
        "endpoint subnets should be in different availability zones supported by the VPC endpoint service.")
    assert refused(ec2.create_vpc_endpoint, VpcId=vpc["VpcId"], ServiceName=EC2) == (
        "InvalidParameter", "Endpoint type (Gateway) does not match available service types ([Interface]).")
    assert refused(ec2.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=vpc["VpcId"], ServiceName=EC2,
                   RouteTableIds=["rtb-0123456789abcdef0"]) == (
        "InvalidParameter", "Route table IDs are only supported for Gateway type VPC Endpoint.")
    assert refused(ec2.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=vpc["VpcId"],
                   ServiceName="com.amazonaws.eu-west-1.ec2")[0] == "InvalidServiceName"
    assert refused(ec2.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=vpc["VpcId"], ServiceName=EC2,
                   SubnetIds=[s1], DnsOptions={"DnsRecordIpType": "dualstack"})[0] == "UnsupportedOperation"
    assert refused(ec2.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=vpc["VpcId"],
                   ServiceName=f"com.amazonaws.{REGION}.s3", SubnetIds=[s1])[0] == "UnsupportedOperation"
    assert refused(ec2.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=vpc["VpcId"], ServiceName=EC2,
                   SubnetIds=["subnet-0123456789abcdef0"])[0] == "InvalidSubnetID.NotFound"
    assert refused(ec2.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=vpc["VpcId"], ServiceName=EC2,
                   SubnetIds=[s1], SecurityGroupIds=["sg-0123456789abcdef0"])[0] == "InvalidGroup.NotFound"
    first = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc["VpcId"], ServiceName=STS,
                                    SubnetIds=[s1], SecurityGroupIds=[vpc["Sg"]])["VpcEndpoint"]
    assert refused(ec2.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=vpc["VpcId"], ServiceName=STS,
                   SubnetIds=[s2]) == (
        "InvalidParameter", f"private-dns-enabled cannot be set because there is already a conflicting DNS domain "
        f"for sts.{REGION}.amazonaws.com in the VPC {vpc['VpcId']}")
    second = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc["VpcId"], ServiceName=STS,
                                     SubnetIds=[s2], PrivateDnsEnabled=False)["VpcEndpoint"]
    assert second["DnsEntries"][-1]["DnsName"].endswith(".vpce.amazonaws.com")
    assert refused(ec2.modify_vpc_endpoint, VpcEndpointId=first["VpcEndpointId"], AddSubnetIds=[s3])[0] == \
        "DuplicateSubnetsInSameZone"
    assert refused(ec2.modify_vpc_endpoint, VpcEndpointId=first["VpcEndpointId"],
                   RemoveSecurityGroupIds=[vpc["Sg"]]) == (
        "InvalidParameter", "VPC endpoint must have at least one security group.")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[first["VpcEndpointId"], second["VpcEndpointId"]])
    plain = ec2.create_vpc(CidrBlock="10.63.0.0/16")["Vpc"]["VpcId"]
    try:
        assert refused(ec2.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=plain, ServiceName=EC2) == (
            "InvalidParameter", "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC "
            f"attributes set to true for {plain}")
    finally:
        ec2.delete_vpc(VpcId=plain)
