"""Managed prefix lists through boto3 (fake drivers, in process): shapes, versions and states,
EC2's errors, rules naming a list (DescribeSecurityGroups/Rules, the rule quota counting the
list's MaxEntries), the firewall following ModifyManagedPrefixList before it answers, and
DeleteManagedPrefixList refused while a rule names the list."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_only import fake_runtime, opened_backend
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi, api_only

from orchestrator.services import prefix_lists


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with api_only(tmp_path_factory.mktemp("pl")) as server:
        yield server


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


def refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def new_list(ec2: Any, *cidrs: str, size: int = 5, **extra: Any) -> dict[str, Any]:
    return ec2.create_managed_prefix_list(
        PrefixListName=f"pl-test-{uuid.uuid4().hex[:8]}", AddressFamily="IPv4", MaxEntries=size,
        Entries=[{"Cidr": c, "Description": f"d {c}"} for c in cidrs], **extra)["PrefixList"]


@pytest.fixture
def group(ec2: Any) -> Iterator[str]:
    gid = ec2.create_security_group(GroupName=f"pl-{uuid.uuid4().hex[:8]}", Description="pl rules")["GroupId"]
    yield gid
    ec2.delete_security_group(GroupId=gid)


def firewall_cidrs(api: LoopbackApi, group_id: str) -> set[str]:
    """The CIDRs of the group's ingress rules as the VPC's (fake, same-compiler) firewall last got them."""
    assert api.runtime is not None
    for _vpc, _ports, groups in api.runtime.parts.firewall.state.values():
        if group_id in groups:
            return {c for r in groups[group_id].ingress for c in r.cidrs}
    raise AssertionError(f"{group_id} not synced")


def test_create_describe_entries_shapes(ec2: Any) -> None:
    made = new_list(ec2, "10.1.0.0/24", "10.0.0.9/8", size=3, TagSpecifications=[
        {"ResourceType": "prefix-list", "Tags": [{"Key": "team", "Value": "net"}]}])
    pl = made["PrefixListId"]
    assert pl.startswith("pl-") and made["AddressFamily"] == "IPv4" and made["MaxEntries"] == 3
    assert made["Version"] == 1 and made["State"] in ("create-in-progress", "create-complete")
    assert made["PrefixListArn"].endswith(f":prefix-list/{pl}") and made["Tags"] == [{"Key": "team", "Value": "net"}]
    found = ec2.describe_managed_prefix_lists(PrefixListIds=[pl])["PrefixLists"]
    assert [(f["PrefixListId"], f["State"], f["OwnerId"]) for f in found] == [(pl, "create-complete", made["OwnerId"])]
    by_name = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name",
                                                          "Values": [made["PrefixListName"]]}])["PrefixLists"]
    assert [f["PrefixListId"] for f in by_name] == [pl]
    by_tag = ec2.describe_managed_prefix_lists(Filters=[{"Name": "tag:team", "Values": ["net"]}])["PrefixLists"]
    assert pl in [f["PrefixListId"] for f in by_tag]
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=pl)["Entries"]
    assert entries == [{"Cidr": "10.0.0.0/8", "Description": "d 10.0.0.9/8"},
                       {"Cidr": "10.1.0.0/24", "Description": "d 10.1.0.0/24"}]  # network address, sorted
    page = ec2.get_managed_prefix_list_entries(PrefixListId=pl, MaxResults=1)
    assert len(page["Entries"]) == 1 and page["NextToken"]
    assert ec2.get_managed_prefix_list_associations(PrefixListId=pl)["PrefixListAssociations"] == []
    again = new_list(ec2, "10.9.0.0/16", ClientToken="tok-" + pl)
    assert new_list(ec2, "10.9.0.0/16", ClientToken="tok-" + pl)["PrefixListId"] == again["PrefixListId"]
    for p in (pl, again["PrefixListId"]):
        assert ec2.delete_managed_prefix_list(PrefixListId=p)["PrefixList"]["State"] == "delete-complete"
    assert refused(ec2.describe_managed_prefix_lists, PrefixListIds=[pl])[0] == "InvalidPrefixListID.NotFound"


def test_create_errors(ec2: Any) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    code, msg = refused(ec2.create_managed_prefix_list, PrefixListName=name, AddressFamily="IPv6", MaxEntries=2)
    assert code == "UnsupportedOperation" and "IPv4 only" in msg
    assert refused(ec2.create_managed_prefix_list, PrefixListName=name, AddressFamily="IPv4", MaxEntries=1,
                   Entries=[{"Cidr": "10.0.0.0/24"}, {"Cidr": "10.0.1.0/24"}])[0] == "PrefixListMaxEntriesExceeded"
    assert refused(ec2.create_managed_prefix_list, PrefixListName=name, AddressFamily="IPv4", MaxEntries=2,
                   Entries=[{"Cidr": "10.0.0.300/24"}])[0] == "InvalidParameterValue"
    assert refused(ec2.create_managed_prefix_list, PrefixListName="com.amazonaws.x", AddressFamily="IPv4",
                   MaxEntries=2)[0] == "InvalidParameterValue"
    assert refused(ec2.create_managed_prefix_list, PrefixListName=name, AddressFamily="IPv4",
                   MaxEntries=0)[0] == "InvalidParameterValue"
    assert refused(ec2.get_managed_prefix_list_entries, PrefixListId="pl-nope")[0] == "InvalidPrefixListId.Malformed"
    assert refused(ec2.get_managed_prefix_list_entries,
                   PrefixListId="pl-0123456789abcdef0")[0] == "InvalidPrefixListID.NotFound"


def test_modify_versions_restore_and_errors(ec2: Any) -> None:
    made = new_list(ec2, "10.0.0.0/24", size=3)
    pl = made["PrefixListId"]
    out = ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=1, AddEntries=[{"Cidr": "10.0.1.0/24"}],
                                         RemoveEntries=[{"Cidr": "10.0.0.0/24"}])["PrefixList"]
    assert out["Version"] == 2 and out["State"] == "modify-complete"
    assert refused(ec2.modify_managed_prefix_list, PrefixListId=pl, CurrentVersion=1,
                   AddEntries=[{"Cidr": "10.0.2.0/24"}]) == (
        "PrefixListVersionMismatch", "The prefix list has the incorrect version number.")
    assert refused(ec2.modify_managed_prefix_list, PrefixListId=pl, CurrentVersion=2,
                   AddEntries=[{"Cidr": "10.0.1.0/24"}])[0] == "InvalidPrefixListModification"
    assert refused(ec2.modify_managed_prefix_list, PrefixListId=pl, CurrentVersion=2,
                   RemoveEntries=[{"Cidr": "10.7.0.0/24"}])[0] == "InvalidPrefixListModification"
    assert refused(ec2.modify_managed_prefix_list, PrefixListId=pl, MaxEntries=4,
                   AddEntries=[{"Cidr": "10.0.2.0/24"}])[0] == "InvalidParameterCombination"
    assert refused(ec2.modify_managed_prefix_list, PrefixListId=pl, CurrentVersion=2, AddEntries=[
        {"Cidr": f"10.0.{i}.0/24"} for i in (2, 3, 4)])[0] == "PrefixListMaxEntriesExceeded"
    renamed = ec2.modify_managed_prefix_list(PrefixListId=pl, PrefixListName="renamed", MaxEntries=6)["PrefixList"]
    assert (renamed["PrefixListName"], renamed["MaxEntries"], renamed["Version"]) == ("renamed", 6, 2)
    assert ec2.get_managed_prefix_list_entries(PrefixListId=pl, TargetVersion=1)["Entries"] == [
        {"Cidr": "10.0.0.0/24", "Description": "d 10.0.0.0/24"}]
    restored = ec2.restore_managed_prefix_list_version(PrefixListId=pl, PreviousVersion=1, CurrentVersion=2)
    assert restored["PrefixList"]["Version"] == 3 and restored["PrefixList"]["State"] == "restore-complete"
    assert [e["Cidr"] for e in ec2.get_managed_prefix_list_entries(PrefixListId=pl)["Entries"]] == ["10.0.0.0/24"]
    assert refused(ec2.get_managed_prefix_list_entries, PrefixListId=pl, TargetVersion=9)[0] == "InvalidParameterValue"
    ec2.delete_managed_prefix_list(PrefixListId=pl)


def test_rule_naming_a_list_follows_it(api: LoopbackApi, ec2: Any, group: str) -> None:
    pl = new_list(ec2, "10.20.0.0/24", size=4)["PrefixListId"]
    perm = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
            "PrefixListIds": [{"PrefixListId": pl, "Description": "web from list"}]}
    [rule] = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[perm])["SecurityGroupRules"]
    assert rule["PrefixListId"] == pl and "CidrIpv4" not in rule and rule["Description"] == "web from list"
    shown = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    assert shown == [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [], "Ipv6Ranges": [],
                      "PrefixListIds": [{"Description": "web from list", "PrefixListId": pl}], "UserIdGroupPairs": []}]
    by_filter = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.prefix-list-id", "Values": [pl]}])
    assert [g["GroupId"] for g in by_filter["SecurityGroups"]] == [group]
    assert firewall_cidrs(api, group) == {"10.20.0.0/24"}
    assert refused(ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=[perm])[0] == \
        "InvalidPermission.Duplicate"
    assert ec2.get_managed_prefix_list_associations(PrefixListId=pl)["PrefixListAssociations"] == [
        {"ResourceId": group, "ResourceOwner": rule["GroupOwnerId"]}]
    ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=1, AddEntries=[{"Cidr": "10.21.0.0/24"}])
    assert firewall_cidrs(api, group) == {"10.20.0.0/24", "10.21.0.0/24"}  # followed before the answer
    ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=2, RemoveEntries=[{"Cidr": "10.20.0.0/24"}])
    assert firewall_cidrs(api, group) == {"10.21.0.0/24"}
    code, msg = refused(ec2.delete_managed_prefix_list, PrefixListId=pl)
    assert code == "DependencyViolation" and group in msg
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[perm])
    assert firewall_cidrs(api, group) == set()
    ec2.delete_managed_prefix_list(PrefixListId=pl)


def test_rule_quota_counts_max_entries(ec2: Any, group: str) -> None:
    big = new_list(ec2, "10.30.0.0/24", size=51)["PrefixListId"]
    small = new_list(ec2, "10.31.0.0/24", size=5)["PrefixListId"]

    def via(pl: str, port: int) -> dict[str, Any]:
        return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "PrefixListIds": [{"PrefixListId": pl}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[via(big, 1)])
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[via(small, 2)])  # 56 of 60
    assert refused(ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=[via(small, 3)]) == (
        "RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group has been reached.")
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[  # 60 of 60: 4 single rules fit
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "10.9.9.9/32"}]} for p in range(4, 8)])
    # growing a referenced list past the group's quota fails as EC2's does: modify-failed, the group named
    failed = ec2.modify_managed_prefix_list(PrefixListId=small, MaxEntries=6)["PrefixList"]
    assert failed["State"] == "modify-failed" and group in failed["StateMessage"] and failed["MaxEntries"] == 5
    ok = ec2.modify_managed_prefix_list(PrefixListId=small, MaxEntries=4)["PrefixList"]
    assert ok["State"] == "modify-complete" and ok["MaxEntries"] == 4 and "StateMessage" not in ok
    for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]:
        if not r["IsEgress"]:
            ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[r["SecurityGroupRuleId"]])
    for pl in (big, small):
        ec2.delete_managed_prefix_list(PrefixListId=pl)


def test_unknown_list_in_a_rule_and_aws_managed_lists(ec2: Any, group: str) -> None:
    perm = {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "PrefixListIds": [{"PrefixListId": "pl-0123456789abcdef0"}]}
    assert refused(ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=[perm])[0] == \
        "InvalidPrefixListID.NotFound"
    # the AWS-managed lists: S3's (tests/vpc_endpoints/test_vpc_endpoints_api.py)
    assert [p["PrefixListName"] for p in ec2.describe_prefix_lists()["PrefixLists"]] == ["com.amazonaws.us-east-1.s3"]
    assert refused(ec2.describe_prefix_lists, PrefixListIds=["pl-0123456789abcdef0"])[0] == \
        "InvalidPrefixListID.NotFound"


def test_a_list_left_in_progress_is_settled_at_start_up(tmp_path: Path) -> None:
    """ec2d stopped between recording a modification and the VPCs following it: the next start
    applies every VPC's firewall from the store, then the list completes."""
    with opened_backend(tmp_path) as backend:
        pl, _ = prefix_lists.create_tagged(backend, "us-east-1", {
            "PrefixListName": "left", "AddressFamily": "IPv4", "MaxEntries": 2, "Entries": []})
        record, moving = prefix_lists.modify(backend, "us-east-1", {"PrefixListId": pl.id,
                                                                   "AddEntries": [{"Cidr": "10.0.0.0/8"}]})
        assert moving and record.state == "modify-in-progress"

        async def start() -> None:
            async with fake_runtime(backend):
                pass
        asyncio.run(start())
        found = backend.store.get(pl.id)
        assert found is not None and (found.state, found.data["Version"]) == ("modify-complete", 2)


def test_modify_security_group_rules_to_a_list_counts_its_size(api: LoopbackApi, ec2: Any, group: str) -> None:
    pl = new_list(ec2, "10.40.0.0/24", size=59)["PrefixListId"]
    made = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "10.9.9.9/32"}]} for p in (1, 2)])
    first, second = (r["SecurityGroupRuleId"] for r in made["SecurityGroupRules"])
    to_list = {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "PrefixListId": pl}
    assert refused(ec2.modify_security_group_rules, GroupId=group, SecurityGroupRules=[
        {"SecurityGroupRuleId": first, "SecurityGroupRule": to_list},
        {"SecurityGroupRuleId": second, "SecurityGroupRule": {**to_list, "FromPort": 2, "ToPort": 2}}])[0] == \
        "RulesPerSecurityGroupLimitExceeded"  # two rules naming a 59-entry list: 118 of 60
    ec2.modify_security_group_rules(GroupId=group, SecurityGroupRules=[  # 59 + 1 = 60: fits
        {"SecurityGroupRuleId": first, "SecurityGroupRule": to_list}])
    [rule] = [r for r in ec2.describe_security_group_rules(SecurityGroupRuleIds=[first])["SecurityGroupRules"]]
    assert rule["PrefixListId"] == pl and "CidrIpv4" not in rule
    assert firewall_cidrs(api, group) == {"10.40.0.0/24", "10.9.9.9/32"}
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[first, second])
    ec2.delete_managed_prefix_list(PrefixListId=pl)
