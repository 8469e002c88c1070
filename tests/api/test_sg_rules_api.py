"""Security-group rules through boto3 (fake drivers, in process): bulk authorize/revoke all or
nothing, the per-group rule limit, rule descriptions updated by permission or by rule id,
ModifySecurityGroupRules, rule tags on ``sgr-`` ids (TagSpecifications, Create/Delete/DescribeTags,
DescribeSecurityGroupRules' filters), and the errors EC2 gives for each, with its messages."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi, api_only


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with api_only(tmp_path_factory.mktemp("sgr"), {"us-east-1": ["a", "b"]}) as server:
        yield server


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


@pytest.fixture
def group(ec2: Any) -> Iterator[str]:
    gid = ec2.create_security_group(GroupName=f"sgr-{uuid.uuid4().hex[:8]}", Description="rules")["GroupId"]
    yield gid
    ec2.delete_security_group(GroupId=gid)


def refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def rules(ec2: Any, group_id: str, egress: bool | None = False, **kw: Any) -> list[dict[str, Any]]:
    found = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}], **kw)
    return [r for r in found["SecurityGroupRules"] if egress is None or r["IsEgress"] == egress]


def tcp(port: int, *cidrs: str, **extra: Any) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": c} for c in cidrs], **extra}


def firewall_group(api: LoopbackApi, group_id: str) -> Any:
    """The group as the VPC's (fake, same-compiler) firewall last received it."""
    assert api.runtime is not None
    fake = api.runtime.parts.firewall
    for _vpc, _ports, groups in fake.state.values():
        if group_id in groups:
            return groups[group_id]
    return None


def test_bulk_authorize_adds_every_range_of_every_permission(api: LoopbackApi, ec2: Any, group: str) -> None:
    out = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        tcp(22, "10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"),
        tcp(443, "192.168.0.0/16", "172.16.0.0/12"),
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.9.0.0/16"}],
         "UserIdGroupPairs": [{"GroupId": group, "Description": "self"}]},
    ])["SecurityGroupRules"]
    assert len(out) == 7
    got = sorted((r["IpProtocol"], r["FromPort"], r.get("CidrIpv4") or r["ReferencedGroupInfo"]["GroupId"])
                 for r in rules(ec2, group))
    assert got == sorted([("tcp", 22, "10.0.0.0/24"), ("tcp", 22, "10.0.1.0/24"), ("tcp", 22, "10.0.2.0/24"),
                          ("tcp", 443, "192.168.0.0/16"), ("tcp", 443, "172.16.0.0/12"),
                          ("udp", 53, "10.9.0.0/16"), ("udp", 53, group)])
    compiled = firewall_group(api, group)
    assert compiled is not None and len(compiled.ingress) == 7  # the firewall received every one of them
    [shown] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    pairs = [p for perm in shown["IpPermissions"] for p in perm["UserIdGroupPairs"]]
    assert pairs == [{"Description": "self", "GroupId": group, "UserId": api.backend.account_id}]
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[tcp(22, "10.0.0.0/24", "10.0.2.0/24"),
                                                                     tcp(443, "172.16.0.0/12")])
    assert sorted(r.get("CidrIpv4", "") for r in rules(ec2, group)) == ["", "10.0.1.0/24", "10.9.0.0/16",
                                                                         "192.168.0.0/16"]
    assert len(firewall_group(api, group).ingress) == 4


def test_bulk_authorize_is_all_or_nothing(ec2: Any, group: str) -> None:
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(80, "10.1.0.0/16")])
    code, message = refused(ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=[
        tcp(22, "10.2.0.0/16", "10.3.0.0/16"), tcp(80, "10.4.0.0/16", "10.1.0.0/16")])
    assert (code, message) == ("InvalidPermission.Duplicate",
                               'the specified rule "peer: 10.1.0.0/16, TCP, from port: 80, to port: 80, ALLOW" '
                               "already exists")
    code, message = refused(ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=[
        tcp(22, "10.2.0.0/16"), tcp(23, "10.0.0.0/33")])
    assert (code, message) == ("InvalidParameterValue", "CIDR block 10.0.0.0/33 is malformed")
    assert [r["CidrIpv4"] for r in rules(ec2, group)] == ["10.1.0.0/16"]  # nothing of either call was added
    code, _ = refused(ec2.revoke_security_group_ingress, GroupId=group, IpPermissions=[
        tcp(80, "10.1.0.0/16"), tcp(81, "10.1.0.0/16")])
    assert code == "InvalidPermission.NotFound"
    assert [r["CidrIpv4"] for r in rules(ec2, group)] == ["10.1.0.0/16"]  # nor removed


@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_sixty_rules_per_direction(ec2: Any, group: str, direction: str) -> None:
    authorize = getattr(ec2, f"authorize_security_group_{direction}")
    present = len(rules(ec2, group, egress=direction == "egress"))
    cidrs = [f"10.{i // 250}.{i % 250}.0/24" for i in range(61 - present)]
    code, message = refused(authorize, GroupId=group, IpPermissions=[tcp(22, *cidrs)])
    assert (code, message) == ("RulesPerSecurityGroupLimitExceeded",
                               "The maximum number of rules per security group has been reached.")
    assert len(rules(ec2, group, egress=direction == "egress")) == present
    authorize(GroupId=group, IpPermissions=[tcp(22, *cidrs[:-1])])  # exactly 60: accepted
    assert len(rules(ec2, group, egress=direction == "egress")) == 60
    code, _ = refused(authorize, GroupId=group, IpPermissions=[tcp(22, cidrs[-1])])
    assert code == "RulesPerSecurityGroupLimitExceeded"
    other = "ingress" if direction == "egress" else "egress"
    getattr(ec2, f"authorize_security_group_{other}")(GroupId=group, IpPermissions=[tcp(25, "10.200.0.0/16")])


def test_update_descriptions_by_permission_and_by_rule_id(ec2: Any, group: str) -> None:
    [a, b] = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {**tcp(22, "10.0.0.0/8"), "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "old"}]},
        tcp(443, "0.0.0.0/0")])["SecurityGroupRules"]
    [egress] = ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[tcp(5432, "10.5.0.0/16")])[
        "SecurityGroupRules"]
    ec2.update_security_group_rule_descriptions_ingress(GroupId=group, IpPermissions=[
        {**tcp(22, "10.0.0.0/8"), "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh from the office"}]}])
    ec2.update_security_group_rule_descriptions_ingress(GroupId=group, SecurityGroupRuleDescriptions=[
        {"SecurityGroupRuleId": b["SecurityGroupRuleId"], "Description": "https"}])
    ec2.update_security_group_rule_descriptions_egress(GroupId=group, SecurityGroupRuleDescriptions=[
        {"SecurityGroupRuleId": egress["SecurityGroupRuleId"], "Description": "postgres"}])
    by_id = {r["SecurityGroupRuleId"]: r.get("Description") for r in rules(ec2, group, egress=None)}
    assert (by_id[a["SecurityGroupRuleId"]], by_id[b["SecurityGroupRuleId"]],
            by_id[egress["SecurityGroupRuleId"]]) == ("ssh from the office", "https", "postgres")
    [shown] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert {r["CidrIp"]: r.get("Description") for p in shown["IpPermissions"] for r in p["IpRanges"]} == {
        "10.0.0.0/8": "ssh from the office", "0.0.0.0/0": "https"}
    # a rule that does not exist, an egress rule named on the ingress call, a bad description
    assert refused(ec2.update_security_group_rule_descriptions_ingress, GroupId=group,
                   IpPermissions=[tcp(23, "10.0.0.0/8")]) == (
        "InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
    assert refused(ec2.update_security_group_rule_descriptions_ingress, GroupId=group,
                   SecurityGroupRuleDescriptions=[{"SecurityGroupRuleId": egress["SecurityGroupRuleId"],
                                                   "Description": "x"}]) == (
        "InvalidSecurityGroupRuleId.NotFound",
        f"The security group rule ID '{egress['SecurityGroupRuleId']}' does not exist")
    code, _ = refused(ec2.update_security_group_rule_descriptions_egress, GroupId=group,
                      SecurityGroupRuleDescriptions=[{"SecurityGroupRuleId": egress["SecurityGroupRuleId"],
                                                      "Description": "bad\x7f"}])
    assert code == "InvalidParameterValue"
    assert refused(ec2.update_security_group_rule_descriptions_ingress, GroupId=group) == (
        "MissingParameter", "The request must contain the parameter IpPermissions")
    assert rules(ec2, group, egress=True)[-1]["Description"] == "postgres"  # unchanged by the refusals


def test_modify_security_group_rules_keeps_the_id(api: LoopbackApi, ec2: Any, group: str) -> None:
    [rule, other] = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        tcp(22, "10.0.0.0/8"), tcp(80, "10.0.0.0/8")])["SecurityGroupRules"]
    rid = rule["SecurityGroupRuleId"]
    ec2.modify_security_group_rules(GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": rid, "SecurityGroupRule": {
        "IpProtocol": "udp", "FromPort": 1000, "ToPort": 2000, "CidrIpv4": "192.168.1.7/24", "Description": "moved"}}])
    [now] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert (now["IpProtocol"], now["FromPort"], now["ToPort"], now["CidrIpv4"], now["Description"], now["IsEgress"]) == (
        "udp", 1000, 2000, "192.168.1.0/24", "moved", False)
    compiled = firewall_group(api, group)
    assert {(r.protocol, r.from_port, r.to_port, r.cidrs) for r in compiled.ingress} == {
        ("udp", 1000, 2000, ("192.168.1.0/24",)), ("tcp", 80, 80, ("10.0.0.0/8",))}
    same_as_other = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIpv4": "10.0.0.0/8"}
    code, _ = refused(ec2.modify_security_group_rules, GroupId=group, SecurityGroupRules=[
        {"SecurityGroupRuleId": rid, "SecurityGroupRule": same_as_other}])
    assert code == "InvalidPermission.Duplicate"
    assert refused(ec2.modify_security_group_rules, GroupId=group, SecurityGroupRules=[
        {"SecurityGroupRuleId": rid, "SecurityGroupRule": {**same_as_other, "CidrIpv4": "10.0.0.0/40"}}]) == (
        "InvalidParameterValue", "CIDR block 10.0.0.0/40 is malformed")
    code, _ = refused(ec2.modify_security_group_rules, GroupId=group, SecurityGroupRules=[
        {"SecurityGroupRuleId": "sgr-0123456789abcdef0", "SecurityGroupRule": same_as_other}])
    assert code == "InvalidSecurityGroupRuleId.NotFound"
    code, _ = refused(ec2.modify_security_group_rules, GroupId=group, SecurityGroupRules=[
        {"SecurityGroupRuleId": rid, "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1}}])
    assert code == "InvalidParameterValue"
    [still] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert still["CidrIpv4"] == "192.168.1.0/24" and other["SecurityGroupRuleId"] != rid


def test_rule_tags(ec2: Any, group: str) -> None:
    out = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(22, "10.0.0.0/8", "10.1.0.0/16")],
                                               TagSpecifications=[{"ResourceType": "security-group-rule",
                                                                   "Tags": [{"Key": "team", "Value": "red"}]}])
    [a, b] = [r["SecurityGroupRuleId"] for r in out["SecurityGroupRules"]]
    assert all(r["Tags"] == [{"Key": "team", "Value": "red"}] for r in out["SecurityGroupRules"])
    ec2.create_tags(Resources=[b], Tags=[{"Key": "env", "Value": "prod"}])
    by_tag = ec2.describe_security_group_rules(Filters=[{"Name": "tag:env", "Values": ["prod"]}])["SecurityGroupRules"]
    assert [r["SecurityGroupRuleId"] for r in by_tag] == [b]
    assert sorted(r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "tag-key", "Values": ["team"]}])["SecurityGroupRules"]) == sorted([a, b])
    assert [r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "security-group-rule-id", "Values": [a]}])["SecurityGroupRules"]] == [a]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [b]}])["Tags"]
    assert {(t["ResourceType"], t["Key"], t["Value"]) for t in tags} == {
        ("security-group-rule", "team", "red"), ("security-group-rule", "env", "prod")}
    ec2.delete_tags(Resources=[b], Tags=[{"Key": "team"}])
    [shown] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[b])["SecurityGroupRules"]
    assert shown["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert refused(ec2.create_tags, Resources=["sgr-0123456789abcdef0"], Tags=[{"Key": "k", "Value": "v"}]) == (
        "InvalidSecurityGroupRuleId.NotFound", "The security group rule ID 'sgr-0123456789abcdef0' does not exist")
    code, _ = refused(ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=[tcp(23, "10.0.0.0/8")],
                      TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert code == "InvalidParameterValue"
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[b])  # its tags go with it
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [b]}])["Tags"] == []


def test_rule_tags_go_with_their_group(ec2: Any) -> None:
    gid = ec2.create_security_group(GroupName=f"gone-{uuid.uuid4().hex[:8]}", Description="gone")["GroupId"]
    [rule] = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp(22, "10.0.0.0/8")], TagSpecifications=[
        {"ResourceType": "security-group-rule", "Tags": [{"Key": "k", "Value": "v"}]}])["SecurityGroupRules"]
    ec2.delete_security_group(GroupId=gid)
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rule["SecurityGroupRuleId"]]}])["Tags"] == []


def test_create_security_group_without_description(api: LoopbackApi) -> None:
    raw = api.client("ec2", parameter_validation=False)
    assert refused(raw.create_security_group, GroupName="no-description") == (
        "MissingParameter", "The request must contain the parameter GroupDescription")


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "300.1.1.1/8", "10.0.0.0", "10.0.0.0/-1"])
def test_invalid_cidr_in_a_rule(ec2: Any, group: str, cidr: str) -> None:
    for call in (ec2.authorize_security_group_ingress, ec2.authorize_security_group_egress):
        assert refused(call, GroupId=group, IpPermissions=[tcp(22, cidr)]) == (
            "InvalidParameterValue", f"CIDR block {cidr} is malformed")


def test_describe_security_groups_accepts_every_documented_filter(ec2: Any, group: str) -> None:
    other = ec2.create_security_group(GroupName=f"peer-{uuid.uuid4().hex[:8]}", Description="peer")["GroupId"]
    try:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": other}]}])
        name = ec2.describe_security_groups(GroupIds=[other])["SecurityGroups"][0]["GroupName"]
        found = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.group-name", "Values": [name]}])
        assert [g["GroupId"] for g in found["SecurityGroups"]] == [group]
        account = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["OwnerId"]
        found = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.user-id", "Values": [account]},
                                                      {"Name": "ip-permission.to-port", "Values": ["5432"]}])
        assert [g["GroupId"] for g in found["SecurityGroups"]] == [group]
        doc = ec2.meta.service_model.operation_model("DescribeSecurityGroups").input_shape.members[
            "Filters"].documentation
        names = re.findall(r"<code>([a-z0-9.\-]+)</code> -", doc)
        assert len(names) > 20
        for filter_name in names:  # each is accepted (no InvalidParameterValue)
            ec2.describe_security_groups(Filters=[{"Name": filter_name, "Values": ["*"]}])
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": other}]}])
    finally:
        ec2.delete_security_group(GroupId=other)


def test_iam_authorizes_rule_tags_on_the_rule_arn(api: LoopbackApi, ec2: Any, group: str) -> None:
    """CreateTags on an sgr- id is evaluated on the rule's ARN (security-group-rule/ID), with its tags."""
    [rule] = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(22, "10.0.0.0/8")],
                                                  TagSpecifications=[{"ResourceType": "security-group-rule",
                                                                      "Tags": [{"Key": "team", "Value": "red"}]}])[
        "SecurityGroupRules"]
    rid = rule["SecurityGroupRuleId"]
    iam = api.client("iam")
    user = f"sgr-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "arn:aws:ec2:*:*:security-group-rule/*",
         "Condition": {"StringEquals": {"ec2:ResourceTag/team": "red"}}}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = api.client("ec2", {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]})
    as_user.create_tags(Resources=[rid], Tags=[{"Key": "env", "Value": "prod"}])
    code, _ = refused(as_user.create_tags, Resources=[group], Tags=[{"Key": "env", "Value": "prod"}])
    assert code == "UnauthorizedOperation"
    ec2.create_tags(Resources=[rid], Tags=[{"Key": "team", "Value": "blue"}])
    code, _ = refused(as_user.create_tags, Resources=[rid], Tags=[{"Key": "env", "Value": "dev"}])
    assert code == "UnauthorizedOperation"
    [shown] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert shown["Tags"] == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "blue"}]
