"""VPCs, subnets and security groups through boto3: the model, EC2's errors, and the real
network namespace behind each VPC."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return info.value.response["Error"]["Code"]


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_default_vpc_per_region(ec2d) -> None:
    for region, zones in (("us-east-1", "abc"), ("us-west-2", "abc")):
        ec2 = ec2d.client(region=region)
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        assert vpc["CidrBlock"] == "172.31.0.0/16"
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
        assert sorted((s["AvailabilityZone"], s["CidrBlock"], s["DefaultForAz"]) for s in subnets) == [
            (f"{region}{z}", f"172.31.{16 * i}.0/20", True) for i, z in enumerate(zones)]
        assert subnets[0]["AvailableIpAddressCount"] <= 4091
        assert f"{ec2d.config.prefix}-{vpc['VpcId']}" in namespaces()
        attrs = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
        assert attrs[0]["AttributeValues"][0]["AttributeValue"] == vpc["VpcId"]


def test_vpc_and_subnet_lifecycle(ec2d, ec2) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "lab"}]}])["Vpc"]
    ns = f"{ec2d.config.prefix}-{vpc['VpcId']}"
    assert ns in namespaces() and vpc["Tags"] == [{"Key": "Name", "Value": "lab"}]
    sub = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.20.1.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    assert (sub["AvailabilityZone"], sub["AvailableIpAddressCount"], sub["MapPublicIpOnLaunch"]) == (
        "us-east-1b", 251, False)
    bridges = subprocess.run(["ip", "-n", ns, "-br", "addr"], capture_output=True, text=True, check=True).stdout
    assert "10.20.1.1/24" in bridges  # the subnet's gateway lives on its bridge in the VPC namespace
    with pytest.raises(ClientError) as info:
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.20.1.128/25")
    assert code(info) == "InvalidSubnet.Conflict"
    with pytest.raises(ClientError) as info:
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.99.0.0/24")
    assert code(info) == "InvalidSubnet.Range"
    with pytest.raises(ClientError) as info:
        ec2.create_vpc(CidrBlock="10.0.0.0/8")
    assert code(info) == "InvalidVpc.Range"
    with pytest.raises(ClientError) as info:
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    assert code(info) == "DependencyViolation"
    ec2.modify_subnet_attribute(SubnetId=sub["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    assert ec2.describe_subnets(SubnetIds=[sub["SubnetId"]])["Subnets"][0]["MapPublicIpOnLaunch"] is True
    ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsHostnames={"Value": True})
    assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"]["Value"] is True
    ec2.delete_subnet(SubnetId=sub["SubnetId"])
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    assert ns not in namespaces()
    with pytest.raises(ClientError) as info:
        ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])
    assert code(info) == "InvalidVpcID.NotFound"


def test_security_group_rules(ec2) -> None:
    name = f"web-{uuid.uuid4().hex[:6]}"
    gid = ec2.create_security_group(GroupName=name, Description="web servers")["GroupId"]
    other = ec2.create_security_group(GroupName=name + "-lb", Description="load balancers")["GroupId"]
    with pytest.raises(ClientError) as info:
        ec2.create_security_group(GroupName=name, Description="again")
    assert code(info) == "InvalidGroup.Duplicate"
    added = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": other}]}])
    assert len(added["SecurityGroupRules"]) == 2
    with pytest.raises(ClientError) as info:
        ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=22, ToPort=22,
                                             CidrIp="10.0.0.0/8")
    assert code(info) == "InvalidPermission.Duplicate"
    group = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert {(p["IpProtocol"], p.get("FromPort")) for p in group["IpPermissions"]} == {("tcp", 22), ("tcp", 80)}
    assert group["IpPermissionsEgress"][0]["IpProtocol"] == "-1"  # new groups allow all egress
    found = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.group-id", "Values": [other]}])
    assert [g["GroupId"] for g in found["SecurityGroups"]] == [gid]
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
    assert len(rules) == 3 and sum(r["IsEgress"] for r in rules) == 1
    with pytest.raises(ClientError) as info:
        ec2.delete_security_group(GroupId=other)  # referenced by gid's rule
    assert code(info) == "DependencyViolation"
    ec2.revoke_security_group_ingress(GroupId=gid, SecurityGroupRuleIds=[
        r["SecurityGroupRuleId"] for r in added["SecurityGroupRules"] if r.get("ReferencedGroupInfo")])
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    with pytest.raises(ClientError) as info:
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert code(info) == "InvalidPermission.NotFound"
    assert ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]["IpPermissions"] == []
    ec2.delete_security_group(GroupId=other)
    ec2.delete_security_group(GroupName=name)
    default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    with pytest.raises(ClientError) as info:
        ec2.delete_security_group(GroupId=default[0]["GroupId"])
    assert code(info) == "CannotDelete"
    with pytest.raises(ClientError) as info:
        ec2.describe_security_groups(GroupIds=["sg-0123456789abcdef0"])
    assert code(info) == "InvalidGroup.NotFound"
    with pytest.raises(ClientError) as info:
        ec2.authorize_security_group_ingress(GroupId=default[0]["GroupId"], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert code(info) == "InvalidParameterValue"
