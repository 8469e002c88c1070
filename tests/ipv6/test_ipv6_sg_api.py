"""Security-group rules for IPv6 through boto3 on an API-only server: Ipv6Ranges (::/0, /128s,
canonical form), ICMPv6 with and without type/code, duplicates and revokes, DescribeSecurityGroupRules'
CidrIpv6, the ::/0 egress rule EC2 gives the groups of a VPC with IPv6 (and only those)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError


def _egress(ec2: Any, gid: str) -> list[tuple[str, str]]:
    (g,) = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    return sorted([(p["IpProtocol"], r["CidrIp"]) for p in g["IpPermissionsEgress"] for r in p["IpRanges"]]
                  + [(p["IpProtocol"], r["CidrIpv6"]) for p in g["IpPermissionsEgress"] for r in p["Ipv6Ranges"]])


def _default_group(ec2: Any, vpc_id: str) -> str:
    (g,) = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                 {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    return str(g["GroupId"])


@pytest.fixture
def dual(ec2: Any) -> Iterator[dict[str, str]]:
    vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    gid = ec2.create_security_group(GroupName="v6", Description="v6", VpcId=vpc)["GroupId"]
    yield {"vpc": vpc, "group": gid}
    ec2.delete_security_group(GroupId=gid)
    ec2.delete_vpc(VpcId=vpc)


def test_groups_of_a_dual_stack_vpc_allow_all_ipv6_out(ec2: Any, dual: dict[str, str]) -> None:
    expected = [("-1", "0.0.0.0/0"), ("-1", "::/0")]
    assert _egress(ec2, dual["group"]) == expected
    assert _egress(ec2, _default_group(ec2, dual["vpc"])) == expected
    v4 = ec2.create_vpc(CidrBlock="10.63.0.0/16")["Vpc"]["VpcId"]
    try:
        g4 = ec2.create_security_group(GroupName="v4", Description="v4", VpcId=v4)["GroupId"]
        assert _egress(ec2, g4) == [("-1", "0.0.0.0/0")]
        assert _egress(ec2, _default_group(ec2, v4)) == [("-1", "0.0.0.0/0")]
        assoc = ec2.associate_vpc_cidr_block(VpcId=v4, AmazonProvidedIpv6CidrBlock=True)["Ipv6CidrBlockAssociation"]
        # EC2 opens IPv6 out for the default group only; other groups keep their rules
        assert _egress(ec2, _default_group(ec2, v4)) == [("-1", "0.0.0.0/0"), ("-1", "::/0")]
        assert _egress(ec2, g4) == [("-1", "0.0.0.0/0")]
        ec2.disassociate_vpc_cidr_block(AssociationId=assoc["AssociationId"])
        ec2.delete_security_group(GroupId=g4)
    finally:
        ec2.delete_vpc(VpcId=v4)


def test_ipv6_ranges_authorize_describe_revoke(ec2: Any, dual: dict[str, str]) -> None:
    gid = dual["group"]
    perms = [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
              "Ipv6Ranges": [{"CidrIpv6": "2001:DB8:0:0::5/128", "Description": "one host"},
                             {"CidrIpv6": "2001:db8::1/64"}]},
             {"IpProtocol": "58", "FromPort": 128, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
             {"IpProtocol": "icmpv6", "Ipv6Ranges": [{"CidrIpv6": "2001:db8:1::/48"}]}]
    added = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)["SecurityGroupRules"]
    got = sorted((r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIpv6"], r.get("Description", ""))
                 for r in added)
    assert got == [("icmpv6", -1, -1, "2001:db8:1::/48", ""), ("icmpv6", 128, -1, "::/0", ""),
                   ("tcp", 8080, 8080, "2001:db8::/64", ""), ("tcp", 8080, 8080, "2001:db8::5/128", "one host")]
    assert all("CidrIpv4" not in r for r in added)
    (g,) = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    tcp = [p for p in g["IpPermissions"] if p["IpProtocol"] == "tcp"]
    assert all(p["IpRanges"] == [] for p in tcp)
    assert sorted(r["CidrIpv6"] for p in tcp for r in p["Ipv6Ranges"]) == ["2001:db8::/64", "2001:db8::5/128"]
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
    assert sorted(r["CidrIpv6"] for r in rules if not r["IsEgress"]) == [
        "2001:db8:1::/48", "2001:db8::/64", "2001:db8::5/128", "::/0"]
    found = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.ipv6-cidr", "Values": ["2001:db8::5/128"]}])
    assert [x["GroupId"] for x in found["SecurityGroups"]] == [gid]
    with pytest.raises(ClientError) as dup:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perms[0]])
    assert dup.value.response["Error"]["Code"] == "InvalidPermission.Duplicate"
    assert "2001:db8::5/128" in dup.value.response["Error"]["Message"]
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=perms)
    (g,) = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    assert g["IpPermissions"] == []
    with pytest.raises(ClientError) as gone:
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[perms[1]])
    assert gone.value.response["Error"]["Code"] == "InvalidPermission.NotFound"


def test_ipv6_egress_revoke_and_bad_cidrs(ec2: Any, dual: dict[str, str]) -> None:
    gid = dual["group"]
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[{"IpProtocol": "-1",
                                                                  "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    assert _egress(ec2, gid) == [("-1", "0.0.0.0/0")]
    for bad in ("2001:db8::/129", "10.0.0.0/8", "2001:db8::", "zz::/64"):
        with pytest.raises(ClientError) as err:
            ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "Ipv6Ranges": [{"CidrIpv6": bad}]}])
        assert (err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]) == (
            "InvalidParameterValue", f"CIDR block {bad} is malformed")
    with pytest.raises(ClientError) as err:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "icmpv6", "FromPort": 300, "ToPort": 0, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_modify_rule_to_ipv6(ec2: Any, dual: dict[str, str]) -> None:
    gid = dual["group"]
    (rule,) = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])[
        "SecurityGroupRules"]
    rid = rule["SecurityGroupRuleId"]
    ec2.modify_security_group_rules(GroupId=gid, SecurityGroupRules=[{"SecurityGroupRuleId": rid, "SecurityGroupRule": {
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv6": "2001:db8::/56"}}])
    (now,) = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert now["CidrIpv6"] == "2001:db8::/56" and "CidrIpv4" not in now
    ec2.revoke_security_group_ingress(GroupId=gid, SecurityGroupRuleIds=[rid])


def test_route_tables_show_the_local_ipv6_route(ec2: Any, dual: dict[str, str]) -> None:
    (vpc,) = ec2.describe_vpcs(VpcIds=[dual["vpc"]])["Vpcs"]
    block = vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    local6 = {"DestinationIpv6CidrBlock": block, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}
    (main,) = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [dual["vpc"]]}])["RouteTables"]
    assert [r.get("GatewayId") for r in main["Routes"]][:2] == ["local", "local"] and main["Routes"][1] == local6
    made = ec2.create_route_table(VpcId=dual["vpc"])["RouteTable"]
    try:
        assert local6 in made["Routes"]
        found = ec2.describe_route_tables(Filters=[{"Name": "route.destination-ipv6-cidr-block", "Values": [block]}])
        assert {t["RouteTableId"] for t in found["RouteTables"]} == {main["RouteTableId"], made["RouteTableId"]}
        found = ec2.describe_route_tables(Filters=[{"Name": "route.destination-cidr-block", "Values": ["10.62.0.0/16"]},
                                                   {"Name": "vpc-id", "Values": [dual["vpc"]]}])
        assert len(found["RouteTables"]) == 2
    finally:
        ec2.delete_route_table(RouteTableId=made["RouteTableId"])
