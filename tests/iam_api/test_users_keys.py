"""IAM users and their access keys through boto3: happy paths, IAM's errors, the UserExists waiter,
and a user's key authenticating (GetCallerIdentity) until it is made Inactive or deleted."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from iam_api_lib import keys_of, refused
from loopback_api import LoopbackApi

from orchestrator.domain.records import IAM_ACCESS_KEY


def test_create_get_list_delete_user(api: LoopbackApi, iam) -> None:
    account = api.backend.account_id
    user = iam.create_user(UserName="alice", Path="/team/", Tags=[{"Key": "team", "Value": "a"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::{account}:user/team/alice"
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", user["UserId"]) and user["Path"] == "/team/"
    assert isinstance(user["CreateDate"], dt.datetime) and user["Tags"] == [{"Key": "team", "Value": "a"}]
    got = iam.get_user(UserName="ALICE")["User"]  # IAM's names are case-insensitive
    assert (got["UserId"], got["UserName"]) == (user["UserId"], "alice")
    iam.create_user(UserName="bob")
    names = [u["UserName"] for u in iam.list_users()["Users"]]
    assert names == ["alice", "bob"]
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]] == ["alice"]
    iam.delete_user(UserName="bob")
    assert refused(iam.get_user, UserName="bob") == (404, "NoSuchEntity", "The user with name bob cannot be found.")
    iam.delete_user(UserName="alice")


def test_user_errors(iam) -> None:
    iam.create_user(UserName="carol")
    assert refused(iam.create_user, UserName="Carol") == (
        409, "EntityAlreadyExists", "User with name Carol already exists.")
    status, code, message = refused(iam.create_user, UserName="bad name")
    assert (status, code) == (400, "ValidationError")
    assert message == ("1 validation error detected: Value 'bad name' at 'userName' failed to satisfy "
                       "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    assert refused(iam.create_user, UserName="x", Path="nopath")[1] == "ValidationError"
    assert refused(iam.create_user, UserName="y" * 65)[1] == "ValidationError"
    assert refused(iam.delete_user, UserName="nobody")[:2] == (404, "NoSuchEntity")
    key = iam.create_access_key(UserName="carol")["AccessKey"]
    assert refused(iam.delete_user, UserName="carol") == (
        409, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
    iam.delete_access_key(UserName="carol", AccessKeyId=key["AccessKeyId"])
    iam.put_user_policy(UserName="carol", PolicyName="p", PolicyDocument=ALLOW_ALL)
    assert refused(iam.delete_user, UserName="carol")[:2] == (409, "DeleteConflict")
    iam.delete_user_policy(UserName="carol", PolicyName="p")
    iam.attach_user_policy(UserName="carol", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert refused(iam.delete_user, UserName="carol") == (
        409, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
    iam.detach_user_policy(UserName="carol", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.delete_user(UserName="carol")


def test_user_tags(iam) -> None:
    iam.create_user(UserName="tagged")
    iam.tag_user(UserName="tagged", Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}])
    iam.tag_user(UserName="tagged", Tags=[{"Key": "a", "Value": "one"}])
    assert iam.list_user_tags(UserName="tagged")["Tags"] == [{"Key": "a", "Value": "one"}, {"Key": "b", "Value": "2"}]
    iam.untag_user(UserName="tagged", TagKeys=["a"])
    assert iam.list_user_tags(UserName="tagged")["Tags"] == [{"Key": "b", "Value": "2"}]
    assert refused(iam.tag_user, UserName="tagged", Tags=[{"Key": f"k{n}", "Value": ""} for n in range(50)])[1] == \
        "LimitExceeded"
    assert refused(iam.list_user_tags, UserName="ghost")[1] == "NoSuchEntity"
    iam.delete_user(UserName="tagged")


def test_pagination(iam) -> None:
    for n in range(5):
        iam.create_user(UserName=f"page{n}", Path="/page/")
    first = iam.list_users(PathPrefix="/page/", MaxItems=2)
    assert first["IsTruncated"] and [u["UserName"] for u in first["Users"]] == ["page0", "page1"]
    second = iam.list_users(PathPrefix="/page/", MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in second["Users"]] == ["page2", "page3"]
    paged = [u["UserName"] for p in iam.get_paginator("list_users").paginate(PathPrefix="/page/",
                                                                                PaginationConfig={"PageSize": 2})
             for u in p["Users"]]
    assert paged == [f"page{n}" for n in range(5)]
    for n in range(5):
        iam.delete_user(UserName=f"page{n}")


def test_user_exists_waiter(iam) -> None:
    iam.create_user(UserName="waited")
    iam.get_waiter("user_exists").wait(UserName="waited", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    with pytest.raises(Exception, match="Max attempts exceeded"):
        iam.get_waiter("user_exists").wait(UserName="never", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    iam.delete_user(UserName="waited")


def test_access_keys(api: LoopbackApi, iam) -> None:
    iam.create_user(UserName="keyed")
    created = iam.create_access_key(UserName="keyed")["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", created["AccessKeyId"]) and len(created["SecretAccessKey"]) == 40
    assert created["Status"] == "Active" and created["UserName"] == "keyed"
    listed = iam.list_access_keys(UserName="keyed")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [created["AccessKeyId"]] and "SecretAccessKey" not in listed[0]
    # the secret is stored sealed: not in the database's text
    record = api.backend.store.get(created["AccessKeyId"], IAM_ACCESS_KEY)
    assert created["SecretAccessKey"] not in repr(record.data)
    second = iam.create_access_key(UserName="keyed")["AccessKey"]
    assert refused(iam.create_access_key, UserName="keyed") == (
        409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
    assert refused(iam.update_access_key, UserName="keyed", AccessKeyId="AKIAAAAAAAAAAAAAAAAA",
                   Status="Inactive") == (404, "NoSuchEntity",
                                          "The Access Key with id AKIAAAAAAAAAAAAAAAAA cannot be found.")
    iam.delete_access_key(UserName="keyed", AccessKeyId=second["AccessKeyId"])
    iam.delete_access_key(UserName="keyed", AccessKeyId=created["AccessKeyId"])
    assert iam.list_access_keys(UserName="keyed")["AccessKeyMetadata"] == []
    assert refused(iam.list_access_keys, UserName="nobody")[1] == "NoSuchEntity"
    assert refused(iam.create_access_key)[1] == "ValidationError"  # root names no user of its own
    iam.delete_user(UserName="keyed")


def test_a_users_key_authenticates_until_inactive_or_deleted(api: LoopbackApi, iam) -> None:
    account = api.backend.account_id
    user = iam.create_user(UserName="dana")["User"]
    key = iam.create_access_key(UserName="dana")
    sts = api.client("sts", keys_of(key))
    who = sts.get_caller_identity()
    assert (who["Arn"], who["UserId"], who["Account"]) == (f"arn:aws:iam::{account}:user/dana", user["UserId"], account)
    # an IAM user with no policy may not call EC2 (nor IAM) but may ask who it is
    assert refused(api.client("ec2", keys_of(key), region="us-west-2").describe_vpcs)[:2] == (
        403, "UnauthorizedOperation")
    assert refused(api.client("iam", keys_of(key)).list_users)[:2] == (403, "AccessDenied")
    key_id = key["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="dana", AccessKeyId=key_id, Status="Inactive")
    assert iam.list_access_keys(UserName="dana")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert refused(sts.get_caller_identity)[:2] == (403, "InvalidClientTokenId")
    iam.update_access_key(UserName="dana", AccessKeyId=key_id, Status="Active")
    assert sts.get_caller_identity()["Arn"].endswith(":user/dana")
    iam.delete_access_key(UserName="dana", AccessKeyId=key_id)
    assert refused(sts.get_caller_identity)[:2] == (403, "InvalidClientTokenId")
    iam.delete_user(UserName="dana")


ALLOW_ALL = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
