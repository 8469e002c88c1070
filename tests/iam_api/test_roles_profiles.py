"""IAM roles, their inline policies and instance profiles through boto3: documents come back
URL-encoded on the wire and decoded by botocore, one role per profile, IAM's DeleteConflicts, and the
RoleExists / InstanceProfileExists waiters."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest
from iam_api_lib import refused
from loopback_api import LoopbackApi

TRUST_EC2 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
S3_READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"],
                                                   "Resource": "*"}]}


def test_create_get_list_delete_role(api: LoopbackApi, iam) -> None:
    account = api.backend.account_id
    role = iam.create_role(RoleName="web", Path="/app/", AssumeRolePolicyDocument=json.dumps(TRUST_EC2),
                           Description="web servers", MaxSessionDuration=7200,
                           Tags=[{"Key": "env", "Value": "test"}])["Role"]
    assert role["Arn"] == f"arn:aws:iam::{account}:role/app/web" and re.fullmatch(r"AROA[A-Z2-7]{17}", role["RoleId"])
    assert role["AssumeRolePolicyDocument"] == TRUST_EC2  # botocore decodes IAM's URL-encoded JSON
    got = iam.get_role(RoleName="web")["Role"]
    assert (got["MaxSessionDuration"], got["Description"], got["Tags"]) == (7200, "web servers",
                                                                             [{"Key": "env", "Value": "test"}])
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/app/")["Roles"]] == ["web"]
    iam.update_assume_role_policy(RoleName="web", PolicyDocument=json.dumps(
        {**TRUST_EC2, "Statement": [{**TRUST_EC2["Statement"][0], "Sid": "Ec2"}]}))
    assert iam.get_role(RoleName="web")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Sid"] == "Ec2"
    iam.update_role(RoleName="web", MaxSessionDuration=3600)
    assert iam.get_role(RoleName="web")["Role"]["MaxSessionDuration"] == 3600
    iam.tag_role(RoleName="web", Tags=[{"Key": "owner", "Value": "me"}])
    iam.untag_role(RoleName="web", TagKeys=["env"])
    assert iam.list_role_tags(RoleName="web")["Tags"] == [{"Key": "owner", "Value": "me"}]
    iam.delete_role(RoleName="web")
    assert refused(iam.get_role, RoleName="web") == (404, "NoSuchEntity", "The role with name web cannot be found.")


def test_documents_are_url_encoded_on_the_wire(api: LoopbackApi) -> None:
    raw = api.client("iam")
    seen: list[bytes] = []
    raw.meta.events.register("before-parse.iam.GetRole", lambda response_dict, **_: seen.append(
        response_dict["body"]))
    raw.create_role(RoleName="wire", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    raw.get_role(RoleName="wire")
    body = seen[-1].decode()
    encoded = re.search(r"<AssumeRolePolicyDocument>(.*)</AssumeRolePolicyDocument>", body).group(1)
    assert encoded.startswith("%7B%22Version%22") and json.loads(urllib.parse.unquote(encoded)) == TRUST_EC2
    raw.delete_role(RoleName="wire")


def test_role_errors(api: LoopbackApi, iam) -> None:
    iam.create_role(RoleName="r1", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    assert refused(iam.create_role, RoleName="R1", AssumeRolePolicyDocument=json.dumps(TRUST_EC2)) == (
        409, "EntityAlreadyExists", "Role with name R1 already exists.")
    status, code, _ = refused(iam.create_role, RoleName="r2", AssumeRolePolicyDocument="{not json")
    assert (status, code) == (400, "MalformedPolicyDocument")
    no_principal = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
    assert refused(iam.create_role, RoleName="r2", AssumeRolePolicyDocument=json.dumps(no_principal))[1] == \
        "MalformedPolicyDocument"
    assert refused(iam.update_assume_role_policy, RoleName="r1", PolicyDocument="[]")[1] == "MalformedPolicyDocument"
    unchecked = api.client("iam", parameter_validation=False)
    assert refused(unchecked.create_role, RoleName="r3", AssumeRolePolicyDocument=json.dumps(TRUST_EC2),
                   MaxSessionDuration=100)[:2] == (400, "ValidationError")
    assert refused(iam.create_role, RoleName="r3", AssumeRolePolicyDocument=json.dumps(TRUST_EC2),
                   MaxSessionDuration=50000)[:2] == (400, "ValidationError")
    assert refused(iam.update_role, RoleName="r1", MaxSessionDuration=43201)[1] == "ValidationError"
    assert refused(unchecked.create_role, RoleName="r3")[:2] == (400, "ValidationError")  # no trust policy
    iam.put_role_policy(RoleName="r1", PolicyName="s3", PolicyDocument=json.dumps(S3_READ))
    assert refused(iam.delete_role, RoleName="r1") == (
        409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
    iam.delete_role_policy(RoleName="r1", PolicyName="s3")
    iam.attach_role_policy(RoleName="r1", PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    assert refused(iam.delete_role, RoleName="r1")[:2] == (409, "DeleteConflict")
    iam.detach_role_policy(RoleName="r1", PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    iam.delete_role(RoleName="r1")
    assert refused(iam.delete_role, RoleName="r1")[:2] == (404, "NoSuchEntity")


def test_inline_role_and_user_policies(iam) -> None:
    iam.create_role(RoleName="inl", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    iam.put_role_policy(RoleName="inl", PolicyName="read", PolicyDocument=json.dumps(S3_READ))
    iam.put_role_policy(RoleName="inl", PolicyName="also", PolicyDocument=json.dumps(S3_READ))
    got = iam.get_role_policy(RoleName="inl", PolicyName="read")
    assert (got["RoleName"], got["PolicyName"], got["PolicyDocument"]) == ("inl", "read", S3_READ)
    assert iam.list_role_policies(RoleName="inl")["PolicyNames"] == ["also", "read"]
    assert refused(iam.get_role_policy, RoleName="inl", PolicyName="nope") == (
        404, "NoSuchEntity", "The role policy with name nope cannot be found.")
    assert refused(iam.put_role_policy, RoleName="inl", PolicyName="bad", PolicyDocument='{"Statement": []}')[1] == \
        "MalformedPolicyDocument"
    assert refused(iam.put_role_policy, RoleName="ghost", PolicyName="p", PolicyDocument=json.dumps(S3_READ))[1] == \
        "NoSuchEntity"
    for name in ("read", "also"):
        iam.delete_role_policy(RoleName="inl", PolicyName=name)
    assert refused(iam.delete_role_policy, RoleName="inl", PolicyName="read")[1] == "NoSuchEntity"
    iam.delete_role(RoleName="inl")

    iam.create_user(UserName="inline-user")
    iam.put_user_policy(UserName="inline-user", PolicyName="read", PolicyDocument=json.dumps(S3_READ))
    assert iam.get_user_policy(UserName="inline-user", PolicyName="read")["PolicyDocument"] == S3_READ
    assert iam.list_user_policies(UserName="inline-user")["PolicyNames"] == ["read"]
    assert refused(iam.get_user_policy, UserName="inline-user", PolicyName="x") == (
        404, "NoSuchEntity", "The user policy with name x cannot be found.")
    iam.delete_user_policy(UserName="inline-user", PolicyName="read")
    assert iam.list_user_policies(UserName="inline-user")["PolicyNames"] == []
    iam.delete_user(UserName="inline-user")


def test_instance_profiles(api: LoopbackApi, iam) -> None:
    account = api.backend.account_id
    profile = iam.create_instance_profile(InstanceProfileName="web-profile", Path="/app/")["InstanceProfile"]
    assert profile["Arn"] == f"arn:aws:iam::{account}:instance-profile/app/web-profile"
    assert re.fullmatch(r"AIPA[A-Z2-7]{17}", profile["InstanceProfileId"]) and profile["Roles"] == []
    assert refused(iam.create_instance_profile, InstanceProfileName="web-profile") == (
        409, "EntityAlreadyExists", "Instance Profile web-profile already exists.")
    role = iam.create_role(RoleName="web-role", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))["Role"]
    iam.create_role(RoleName="other-role", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    iam.add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web-role")
    got = iam.get_instance_profile(InstanceProfileName="web-profile")["InstanceProfile"]
    assert [r["RoleId"] for r in got["Roles"]] == [role["RoleId"]]
    assert got["Roles"][0]["AssumeRolePolicyDocument"] == TRUST_EC2
    assert refused(iam.add_role_to_instance_profile, InstanceProfileName="web-profile", RoleName="other-role") == (
        409, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
    assert [p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName="web-role")[
        "InstanceProfiles"]] == ["web-profile"]
    assert iam.list_instance_profiles_for_role(RoleName="other-role")["InstanceProfiles"] == []
    assert [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]] == ["web-profile"]
    assert refused(iam.delete_role, RoleName="web-role") == (
        409, "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
    assert refused(iam.delete_instance_profile, InstanceProfileName="web-profile")[:2] == (409, "DeleteConflict")
    assert refused(iam.remove_role_from_instance_profile, InstanceProfileName="web-profile",
                   RoleName="other-role")[1] == "NoSuchEntity"
    iam.remove_role_from_instance_profile(InstanceProfileName="web-profile", RoleName="web-role")
    iam.delete_instance_profile(InstanceProfileName="web-profile")
    assert refused(iam.get_instance_profile, InstanceProfileName="web-profile") == (
        404, "NoSuchEntity", "Instance Profile web-profile cannot be found.")
    iam.delete_role(RoleName="web-role")
    iam.delete_role(RoleName="other-role")


def test_role_and_profile_waiters(iam) -> None:
    fast = {"Delay": 1, "MaxAttempts": 2}
    iam.create_role(RoleName="waited", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    iam.create_instance_profile(InstanceProfileName="waited")
    iam.get_waiter("role_exists").wait(RoleName="waited", WaiterConfig=fast)
    iam.get_waiter("instance_profile_exists").wait(InstanceProfileName="waited", WaiterConfig=fast)
    for waiter, args in (("role_exists", {"RoleName": "never"}),
                         ("instance_profile_exists", {"InstanceProfileName": "never"})):
        with pytest.raises(Exception, match="Max attempts exceeded"):
            iam.get_waiter(waiter).wait(WaiterConfig=fast, **args)
    iam.delete_instance_profile(InstanceProfileName="waited")
    iam.delete_role(RoleName="waited")


def test_iam_signed_for_any_region(api: LoopbackApi) -> None:
    """The backend serves only us-west-2; IAM clients sign for us-east-1 (or their own region)."""
    for region in ("us-east-1", "eu-west-1"):
        assert api.client("iam", region=region).list_roles()["ResponseMetadata"]["HTTPStatusCode"] == 200
