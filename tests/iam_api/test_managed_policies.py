"""Managed policies through boto3: the account's own (versions, default version, attachments,
deletion rules, the PolicyExists waiter) and AWS's shipped documents (ListPolicies Scope=AWS,
GetPolicy/GetPolicyVersion by ARN, attachable to users and roles, read-only)."""

from __future__ import annotations

import json
import re

import pytest
from iam_api_lib import refused
from loopback_api import LoopbackApi

EC2_READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}
TRUST_EC2 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"


def test_local_policy_lifecycle(api: LoopbackApi, iam) -> None:
    account = api.backend.account_id
    created = iam.create_policy(PolicyName="ec2-read", Path="/ops/", PolicyDocument=json.dumps(EC2_READ),
                                Description="describe only")["Policy"]
    arn = created["Arn"]
    assert arn == f"arn:aws:iam::{account}:policy/ops/ec2-read" and re.fullmatch(r"ANPA[A-Z2-7]{17}", created["PolicyId"])
    assert (created["DefaultVersionId"], created["AttachmentCount"], created["IsAttachable"]) == ("v1", 0, True)
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert got["Description"] == "describe only" and got["PolicyName"] == "ec2-read"
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert (version["Document"], version["IsDefaultVersion"]) == (EC2_READ, True)
    v2_doc = {**EC2_READ, "Statement": [{**EC2_READ["Statement"][0], "Action": "ec2:DescribeInstances"}]}
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(v2_doc), SetAsDefault=True)["PolicyVersion"]
    assert (v2["VersionId"], v2["IsDefaultVersion"]) == ("v2", True)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v2", "v1"]
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    assert refused(iam.delete_policy_version, PolicyArn=arn, VersionId="v1") == (
        409, "DeleteConflict", "Cannot delete the default version of a policy.")
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(EC2_READ))
    status, code, message = refused(iam.create_policy_version, PolicyArn=arn, PolicyDocument=json.dumps(EC2_READ))
    assert (status, code) == (409, "LimitExceeded") and message.startswith("A managed policy can have up to 5 versions")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    v6 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(EC2_READ))["PolicyVersion"]
    assert v6["VersionId"] == "v6"  # IAM never reuses a version number
    assert refused(iam.get_policy_version, PolicyArn=arn, VersionId="v2")[:2] == (404, "NoSuchEntity")
    assert refused(iam.set_default_policy_version, PolicyArn=arn, VersionId="v9")[1] == "NoSuchEntity"
    assert refused(iam.delete_policy, PolicyArn=arn)[:2] == (409, "DeleteConflict")  # versions left
    for v in ("v3", "v4", "v5", "v6"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    iam.delete_policy(PolicyArn=arn)
    assert refused(iam.get_policy, PolicyArn=arn) == (404, "NoSuchEntity", f"Policy {arn} was not found.")


def test_policy_errors(api: LoopbackApi, iam) -> None:
    iam.create_policy(PolicyName="dup", PolicyDocument=json.dumps(EC2_READ))
    assert refused(iam.create_policy, PolicyName="dup", PolicyDocument=json.dumps(EC2_READ)) == (
        409, "EntityAlreadyExists", "A policy called dup already exists. Duplicate names are not allowed.")
    assert refused(iam.create_policy, PolicyName="bad", PolicyDocument='{"Version": "2012-10-17"}')[:2] == (
        400, "MalformedPolicyDocument")
    trust_as_identity = json.dumps(TRUST_EC2)  # a Principal has no place in an identity policy
    assert refused(iam.create_policy, PolicyName="bad", PolicyDocument=trust_as_identity)[1] == "MalformedPolicyDocument"
    arn = f"arn:aws:iam::{api.backend.account_id}:policy/dup"
    iam.delete_policy(PolicyArn=arn)
    assert refused(iam.delete_policy, PolicyArn=arn)[:2] == (404, "NoSuchEntity")
    assert refused(iam.create_policy_version, PolicyArn=S3_FULL, PolicyDocument=json.dumps(EC2_READ))[1] == \
        "InvalidInput"


def test_attach_detach_and_counts(api: LoopbackApi, iam) -> None:
    arn = iam.create_policy(PolicyName="attached", PolicyDocument=json.dumps(EC2_READ))["Policy"]["Arn"]
    iam.create_role(RoleName="holder", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    iam.create_user(UserName="holder")
    iam.attach_role_policy(RoleName="holder", PolicyArn=arn)
    iam.attach_role_policy(RoleName="holder", PolicyArn=S3_FULL)
    iam.attach_user_policy(UserName="holder", PolicyArn=arn)
    assert iam.list_attached_role_policies(RoleName="holder")["AttachedPolicies"] == [
        {"PolicyName": "AmazonS3FullAccess", "PolicyArn": S3_FULL}, {"PolicyName": "attached", "PolicyArn": arn}]
    assert iam.list_attached_user_policies(UserName="holder")["AttachedPolicies"] == [
        {"PolicyName": "attached", "PolicyArn": arn}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2
    assert refused(iam.delete_policy, PolicyArn=arn) == (409, "DeleteConflict", "Cannot delete a policy attached to entities.")
    local_only = iam.list_policies(Scope="Local", OnlyAttached=True)["Policies"]
    assert [p["Arn"] for p in local_only] == [arn]
    missing = f"arn:aws:iam::{api.backend.account_id}:policy/missing"
    assert refused(iam.attach_role_policy, RoleName="holder", PolicyArn=missing) == (
        404, "NoSuchEntity", f"Policy {missing} does not exist or is not attachable.")
    assert refused(iam.attach_user_policy, UserName="holder", PolicyArn="not-an-arn:xxxxxxxxxxxxxxx")[:2] == (
        400, "InvalidInput")
    assert refused(iam.detach_user_policy, UserName="holder", PolicyArn=S3_FULL)[1] == "NoSuchEntity"
    assert refused(iam.attach_role_policy, RoleName="ghost", PolicyArn=arn)[1] == "NoSuchEntity"
    iam.detach_role_policy(RoleName="holder", PolicyArn=arn)
    iam.detach_role_policy(RoleName="holder", PolicyArn=S3_FULL)
    iam.detach_user_policy(UserName="holder", PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    iam.delete_policy(PolicyArn=arn)
    iam.delete_role(RoleName="holder")
    iam.delete_user(UserName="holder")


def test_aws_managed_policies(iam) -> None:
    listed = iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]
    arns = {p["Arn"] for p in listed}
    assert {S3_FULL, "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "arn:aws:iam::aws:policy/AmazonEC2FullAccess",
            "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::aws:policy/AdministratorAccess"} <= arns
    assert iam.list_policies(Scope="Local")["Policies"] == []
    got = iam.get_policy(PolicyArn=S3_FULL)["Policy"]
    assert got["PolicyName"] == "AmazonS3FullAccess" and got["PolicyId"].startswith("ANPA")
    version = iam.get_policy_version(PolicyArn=S3_FULL, VersionId=got["DefaultVersionId"])["PolicyVersion"]
    statements = version["Document"]["Statement"]
    assert any("s3:*" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]) for s in statements)
    iam.get_waiter("policy_exists").wait(PolicyArn=S3_FULL, WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    with pytest.raises(Exception, match="Max attempts exceeded"):
        iam.get_waiter("policy_exists").wait(PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy",
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    everything = [p["Arn"] for page in iam.get_paginator("list_policies").paginate(
        PaginationConfig={"PageSize": 5}) for p in page["Policies"]]
    assert len(everything) == len(set(everything)) == len(listed)
