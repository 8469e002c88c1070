"""IAM policies on managed prefix lists: the ``prefix-list`` ARN of the id a request names, the
list's tags (``aws:ResourceTag``) and the tags it is created with (``aws:RequestTag``)."""

from __future__ import annotations

from typing import Any

from enforced_api import EnforcedApi, refused


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_prefix_list_actions_obey_arns_and_tags(api: EnforcedApi, ec2: Any) -> None:
    account = api.backend.account_id
    arn = f"arn:aws:ec2:us-east-1:{account}:prefix-list/"
    mine = ec2.create_managed_prefix_list(PrefixListName="pl-mine", AddressFamily="IPv4", MaxEntries=2, TagSpecifications=[
        {"ResourceType": "prefix-list", "Tags": [{"Key": "team", "Value": "net"}]}])["PrefixList"]["PrefixListId"]
    other = ec2.create_managed_prefix_list(PrefixListName="pl-other", AddressFamily="IPv4",
                                           MaxEntries=2)["PrefixList"]["PrefixListId"]
    user = api.client("ec2", api.user("pl-editor", inline=doc(
        {"Effect": "Allow", "Action": ["ec2:ModifyManagedPrefixList", "ec2:GetManagedPrefixListEntries"],
         "Resource": f"{arn}*", "Condition": {"StringEquals": {"aws:ResourceTag/team": "net"}}},
        {"Effect": "Allow", "Action": "ec2:CreateManagedPrefixList", "Resource": f"{arn}*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "net"}}},
        {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": f"{arn}*",  # tagging at creation, as on EC2
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateManagedPrefixList"}}},
        {"Effect": "Allow", "Action": "ec2:DescribeManagedPrefixLists", "Resource": "*"})))
    assert user.modify_managed_prefix_list(PrefixListId=mine, AddEntries=[{"Cidr": "10.0.0.0/8"}])["PrefixList"]
    status, code, message = refused(user.modify_managed_prefix_list, PrefixListId=other,
                                    AddEntries=[{"Cidr": "10.0.0.0/8"}])
    assert (status, code) == (403, "UnauthorizedOperation") and f"on resource: {arn}{other} " in message
    assert {p["PrefixListId"] for p in user.describe_managed_prefix_lists()["PrefixLists"]} >= {mine, other}
    assert refused(user.create_managed_prefix_list, PrefixListName="untagged", AddressFamily="IPv4",
                   MaxEntries=1)[1] == "UnauthorizedOperation"
    made = user.create_managed_prefix_list(PrefixListName="tagged", AddressFamily="IPv4", MaxEntries=1, TagSpecifications=[
        {"ResourceType": "prefix-list", "Tags": [{"Key": "team", "Value": "net"}]}])["PrefixList"]["PrefixListId"]
    assert refused(user.delete_managed_prefix_list, PrefixListId=made)[1] == "UnauthorizedOperation"
    for pl in (mine, other, made):
        ec2.delete_managed_prefix_list(PrefixListId=pl)
