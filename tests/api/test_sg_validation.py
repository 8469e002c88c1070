"""Security-group rules are validated at the API with EC2's errors and the firewall compiler's own
check, so no rule the API accepts can break the VPC's firewall (issue 9: ``CidrIp=::/0`` or an
ICMP type above 255 used to be stored and then brick the VPC and ec2d's start)."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError


def _perm(**kw):
    perm = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    perm.update(kw)
    return {k: v for k, v in perm.items() if v is not None}


BAD = [
    (_perm(IpRanges=[{"CidrIp": "::/0"}]), "InvalidParameterValue", "CIDR block ::/0 is malformed"),
    (_perm(IpRanges=[{"CidrIp": "10.0.0.0/33"}]), "InvalidParameterValue", "CIDR block 10.0.0.0/33 is malformed"),
    (_perm(IpRanges=[{"CidrIp": "10.0.0.1"}]), "InvalidParameterValue", "CIDR block 10.0.0.1 is malformed"),
    (_perm(IpRanges=[{"CidrIp": "banana"}]), "InvalidParameterValue", "CIDR block banana is malformed"),
    (_perm(IpRanges=[], Ipv6Ranges=[{"CidrIpv6": "10.0.0.0/8"}]), "InvalidParameterValue",
     "CIDR block 10.0.0.0/8 is malformed"),
    (_perm(IpRanges=[], Ipv6Ranges=[{"CidrIpv6": "2001:db8::/129"}]), "InvalidParameterValue",
     "CIDR block 2001:db8::/129 is malformed"),
    (_perm(IpProtocol="icmp", FromPort=256, ToPort=0), "InvalidParameterValue", "ICMP type (256) out of range"),
    (_perm(IpProtocol="icmp", FromPort=8, ToPort=65535), "InvalidParameterValue", "ICMP code (65535) out of range"),
    (_perm(IpProtocol="icmp", FromPort=-2, ToPort=-1), "InvalidParameterValue", "ICMP type (-2) out of range"),
    (_perm(IpProtocol="icmp", FromPort=-1, ToPort=3), "InvalidParameterValue", "ICMP code (3) out of range"),
    (_perm(IpProtocol="icmp", FromPort=None, ToPort=None), "InvalidParameterValue",
     "Invalid value 'Must specify both from and to ports with ICMP.' for portRange."),
    (_perm(FromPort=None), "InvalidParameterValue",
     "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange."),
    (_perm(FromPort=-1, ToPort=-1), "InvalidPermission.Malformed", "TCP/UDP port (-1) out of range"),
    (_perm(IpProtocol="udp", FromPort=1, ToPort=65536), "InvalidPermission.Malformed",
     "TCP/UDP port (65536) out of range"),
    (_perm(FromPort=90, ToPort=80), "InvalidParameterValue", "for portRange"),
    (_perm(IpProtocol="256"), "InvalidParameterValue", "Invalid value '256' for IP protocol. Unknown protocol."),
    (_perm(IpProtocol="-2"), "InvalidParameterValue", "Invalid value '-2' for IP protocol. Unknown protocol."),
    (_perm(IpProtocol="foo"), "InvalidParameterValue", "Invalid value 'foo' for IP protocol. Unknown protocol."),
    (_perm(IpRanges=[]), "MissingParameter", " specification: include "),
    (_perm(IpRanges=[], PrefixListIds=[{"PrefixListId": "pl-nothex"}]), "InvalidPrefixListId.Malformed", "pl-nothex"),
    (_perm(IpRanges=[], PrefixListIds=[{"PrefixListId": "pl-0123abcd"}]), "InvalidPrefixListID.NotFound",
     "pl-0123abcd"),
    (_perm(IpRanges=[{"CidrIp": "10.0.0.0/8", "Description": "bad\x7f"}]), "InvalidParameterValue",
     "Invalid rule description"),
    (_perm(IpRanges=[{"CidrIp": "10.0.0.0/8", "Description": "x" * 256}]), "InvalidParameterValue",
     "Invalid rule description"),
]


@pytest.fixture(scope="module")
def group(ec2):
    gid = ec2.create_security_group(GroupName=f"val-{uuid.uuid4().hex[:6]}", Description="validation")["GroupId"]
    yield gid
    ec2.delete_security_group(GroupId=gid)


@pytest.mark.parametrize("perm,code,message", BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_bad_permission_is_refused_with_ec2_error(ec2, group, perm, code, message, direction) -> None:
    call = getattr(ec2, f"authorize_security_group_{direction}")
    with pytest.raises(ClientError) as info:
        call(GroupId=group, IpPermissions=[perm])
    err = info.value.response["Error"]
    assert (err["Code"], message in err["Message"]) == (code, True), err
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    assert [(r["IsEgress"], r["IpProtocol"]) for r in rules] == [(True, "-1")]  # nothing was stored


def test_legacy_cidr_ipv6_refused_on_authorize_and_revoke(ec2, group) -> None:
    for call in (ec2.authorize_security_group_ingress, ec2.revoke_security_group_ingress):
        with pytest.raises(ClientError) as info:
            call(GroupId=group, IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="::/0")
        assert info.value.response["Error"] == {"Code": "InvalidParameterValue",
                                                "Message": "CIDR block ::/0 is malformed"}


def _nft_rules(ec2d, vpc_id: str) -> str:
    ns = f"{ec2d.config.prefix}-{vpc_id}"
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", "ec2d_sg"],
                          capture_output=True, text=True, check=True).stdout


def test_accepted_rules_are_stored_canonically_and_reach_the_kernel(ec2d, ec2, group) -> None:
    added = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "6", "FromPort": 1, "ToPort": 65535, "IpRanges": [{"CidrIp": "100.68.0.18/18"}]},
        {"IpProtocol": "icmp", "FromPort": 255, "ToPort": 255, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.2.0.0/16"}]},
        {"IpProtocol": "47", "IpRanges": [{"CidrIp": "10.3.0.0/16", "Description": "gre (a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*)"}]},
        {"IpProtocol": "ICMPv6", "FromPort": -1, "ToPort": -1, "UserIdGroupPairs": [{"GroupId": group}]},
    ])["SecurityGroupRules"]
    got = sorted((r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIpv4")) for r in added)
    assert got == sorted([("tcp", 1, 65535, "100.68.0.0/18"), ("icmp", 255, 255, "10.1.0.0/16"),
                          ("icmp", 8, -1, "10.2.0.0/16"), ("47", -1, -1, "10.3.0.0/16"), ("icmpv6", -1, -1, None)])
    vpc = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["VpcId"]
    text = _nft_rules(ec2d, vpc)
    hexid = group.split("-", 1)[1]
    assert "100.68.0.0/18 . tcp . 1-65535" in text and "10.1.0.0/16 . 255 . 255" in text, text
    assert f"g_{hexid}_in" in text
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[r["SecurityGroupRuleId"] for r in added])
    assert "100.68.0.0/18" not in _nft_rules(ec2d, vpc)


def test_same_permission_twice_in_one_request(ec2, group) -> None:
    perm = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}
    with pytest.raises(ClientError) as info:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[perm, perm])
    assert info.value.response["Error"] == {"Code": "InvalidParameterValue",
                                            "Message": "The same permission must not appear multiple times"}


def test_bulk_rules_and_a_modified_rule_reach_the_kernel(ec2d, ec2, group) -> None:
    """Several permissions with several ranges each in one call, then ModifySecurityGroupRules and
    a bulk revoke: the VPC's real nftables ruleset follows each call before it answers (the ranges
    are apart: nft would show adjacent ones merged)."""
    added = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8081,
         "IpRanges": [{"CidrIp": "10.61.0.0/16"}, {"CidrIp": "10.72.0.0/16"}, {"CidrIp": "10.83.0.0/16"}]},
        {"IpProtocol": "udp", "FromPort": 5353, "ToPort": 5353,
         "IpRanges": [{"CidrIp": "10.64.0.0/16"}, {"CidrIp": "10.95.0.0/16"}]},
    ])["SecurityGroupRules"]
    vpc = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["VpcId"]
    text = _nft_rules(ec2d, vpc)
    for cidr in ("10.61.0.0/16", "10.72.0.0/16", "10.83.0.0/16"):
        assert f"{cidr} . tcp . 8080-8081" in text, text
    for cidr in ("10.64.0.0/16", "10.95.0.0/16"):
        assert f"{cidr} . udp . 5353" in text, text
    moved = next(r for r in added if r.get("CidrIpv4") == "10.61.0.0/16")
    ec2.modify_security_group_rules(GroupId=group, SecurityGroupRules=[{
        "SecurityGroupRuleId": moved["SecurityGroupRuleId"],
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 9090, "ToPort": 9090, "CidrIpv4": "10.99.0.0/16"}}])
    text = _nft_rules(ec2d, vpc)
    assert "10.61.0.0/16" not in text and "10.99.0.0/16 . tcp . 9090" in text, text
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[r["SecurityGroupRuleId"] for r in added])
    text = _nft_rules(ec2d, vpc)
    assert not any(cidr in text for cidr in ("10.61.", "10.72.", "10.83.", "10.64.", "10.95.", "10.99.")), text
