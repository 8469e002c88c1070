"""EC2's API obeys IAM policies: managed read-only access, resource tags, explicit denies, DryRun,
tags required at creation, ec2:Region, session policies, the encoded authorization message and
STS DecodeAuthorizationMessage; root keeps every right."""

from __future__ import annotations

import json
import re
from typing import Any

from enforced_api import EnforcedApi, keys_of, refused

READ_ONLY = "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"
ENCODED = re.compile(r"Encoded authorization failure message: ([A-Za-z0-9_-]+)$")


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str = "*", **condition: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return st


def unauthorized(call: Any, **kwargs: Any) -> str:
    """The message of an UnauthorizedOperation 403 (asserted)."""
    status, code, message = refused(call, **kwargs)
    assert (status, code) == (403, "UnauthorizedOperation"), (status, code, message)
    assert message.startswith("You are not authorized to perform this operation. User: ")
    return message


def test_read_only_user_describes_but_may_not_launch_or_stop(api: EnforcedApi, ec2, image_id: str,
                                                                team_instances: dict[str, str]) -> None:
    account = api.backend.account_id
    user = api.client("ec2", api.user("reader", managed=(READ_ONLY,)))
    seen = {i["InstanceId"] for r in user.describe_instances()["Reservations"] for i in r["Instances"]}
    assert set(team_instances.values()) <= seen
    assert user.describe_volumes()["Volumes"] and user.describe_vpcs()["Vpcs"]
    message = unauthorized(user.run_instances, ImageId=image_id, MinCount=1, MaxCount=1)
    assert f"User: arn:aws:iam::{account}:user/reader is not authorized to perform: ec2:RunInstances on resource: " \
           f"arn:aws:ec2:us-east-1:{account}:instance/* because no identity-based policy allows the " \
           "ec2:RunInstances action. Encoded authorization failure message: " in message
    a = team_instances["a"]
    message = unauthorized(user.stop_instances, InstanceIds=[a])
    assert f"on resource: arn:aws:ec2:us-east-1:{account}:instance/{a} because" in message
    encoded = ENCODED.search(message)
    assert encoded is not None and "ec2:StopInstances" not in encoded.group(1)  # opaque
    # the user may not decode it (no sts:DecodeAuthorizationMessage); root may
    status, code, _ = refused(api.client("sts", api.user("reader2", managed=(READ_ONLY,))).decode_authorization_message,
                              EncodedMessage=encoded.group(1))
    assert (status, code) == (403, "AccessDenied")
    decoder = api.client("sts", api.user("decoder", inline=doc(allow("sts:DecodeAuthorizationMessage"))))
    as_decoder = decoder.decode_authorization_message(EncodedMessage=encoded.group(1))["DecodedMessage"]
    decoded = json.loads(api.client("sts").decode_authorization_message(EncodedMessage=encoded.group(1))["DecodedMessage"])
    assert json.loads(as_decoder) == decoded
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["action"] == "ec2:StopInstances"
    assert decoded["context"]["resource"] == f"arn:aws:ec2:us-east-1:{account}:instance/{a}"
    assert decoded["context"]["principal"]["arn"] == f"arn:aws:iam::{account}:user/reader"
    keys = {c["key"]: c["values"]["items"][0]["value"] for c in decoded["context"]["conditions"]["items"]}
    assert keys["ec2:ResourceTag/team"] == "a" and keys["ec2:Region"] == "us-east-1"
    assert keys["aws:SourceIp"] == "127.0.0.1" and keys["aws:username"] == "reader"
    status, code, _ = refused(api.client("sts").decode_authorization_message, EncodedMessage=encoded.group(1)[:-4] + "AAAA")
    assert (status, code) == (400, "InvalidAuthorizationMessageException")
    assert ec2.describe_instances(InstanceIds=[a])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"


def test_tag_conditioned_stop_and_dry_run(api: EnforcedApi, ec2, team_instances: dict[str, str]) -> None:
    a, b = team_instances["a"], team_instances["b"]
    user = api.client("ec2", api.user("team-a", inline=doc(
        allow("ec2:DescribeInstances"),
        allow(["ec2:StopInstances", "ec2:StartInstances"], "arn:aws:ec2:*:*:instance/*",
              StringEquals={"ec2:ResourceTag/team": "a"}))))
    # DryRun answers from the same evaluation
    assert refused(user.stop_instances, InstanceIds=[a], DryRun=True)[:2] == (412, "DryRunOperation")
    assert f"instance/{b} because" in unauthorized(user.stop_instances, InstanceIds=[b], DryRun=True)
    # a request naming an allowed and a refused instance is refused as a whole
    assert f"instance/{b} because" in unauthorized(user.stop_instances, InstanceIds=[a, b])
    states = {i["InstanceId"]: i["State"]["Name"]
              for r in ec2.describe_instances(InstanceIds=[a, b])["Reservations"] for i in r["Instances"]}
    assert states == {a: "running", b: "running"}
    unauthorized(user.stop_instances, InstanceIds=[b])
    assert user.stop_instances(InstanceIds=[a])["StoppingInstances"][0]["InstanceId"] == a
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[a], WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    user.start_instances(InstanceIds=[a])
    ec2.get_waiter("instance_running").wait(InstanceIds=[a], WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})


def test_explicit_deny_beats_allow(api: EnforcedApi, team_instances: dict[str, str]) -> None:
    user = api.client("ec2", api.user("no-terminate", inline=doc(
        allow("ec2:*"), {"Effect": "Deny", "Action": "ec2:TerminateInstances", "Resource": "*"})))
    message = unauthorized(user.terminate_instances, InstanceIds=[team_instances["b"]], DryRun=True)
    assert "with an explicit deny in an identity-based policy" in message
    decoded = json.loads(api.client("sts").decode_authorization_message(
        EncodedMessage=message.rsplit(" ", 1)[-1])["DecodedMessage"])
    assert decoded["explicitDeny"] is True
    assert decoded["matchedStatements"]["items"][0]["effect"] == "DENY"
    assert refused(user.stop_instances, InstanceIds=[team_instances["b"]], DryRun=True)[1] == "DryRunOperation"


def test_request_tag_required_at_creation(api: EnforcedApi, ec2) -> None:
    user = api.client("ec2", api.user("tagger", inline=doc(
        allow("ec2:CreateVolume", "arn:aws:ec2:*:*:volume/*", StringEquals={"aws:RequestTag/team": "a"}),
        allow("ec2:CreateTags", "arn:aws:ec2:*:*:volume/*", StringEquals={"ec2:CreateAction": "CreateVolume"}))))
    message = unauthorized(user.create_volume, AvailabilityZone="us-east-1a", Size=1)
    assert "ec2:CreateVolume on resource: arn:aws:ec2:us-east-1:" in message and ":volume/* because" in message

    def spec(team: str) -> list[dict[str, Any]]:
        return [{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": team}]}]

    unauthorized(user.create_volume, AvailabilityZone="us-east-1a", Size=1, TagSpecifications=spec("b"))
    made = user.create_volume(AvailabilityZone="us-east-1a", Size=1, TagSpecifications=spec("a"))
    assert {"Key": "team", "Value": "a"} in made["Tags"]
    ec2.delete_volume(VolumeId=made["VolumeId"]) if ec2.get_waiter("volume_available").wait(
        VolumeIds=[made["VolumeId"]], WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}) is None else None
    # without CreateTags for the create call, tagging at creation is refused
    untagger = api.client("ec2", api.user("no-create-tags", inline=doc(allow("ec2:CreateVolume"))))
    assert "ec2:CreateTags on resource" in unauthorized(untagger.create_volume, AvailabilityZone="us-east-1a",
                                                        Size=1, TagSpecifications=spec("a"), DryRun=True)
    assert refused(untagger.create_volume, AvailabilityZone="us-east-1a", Size=1, DryRun=True)[1] == "DryRunOperation"


def test_region_condition(api: EnforcedApi) -> None:
    creds = api.user("east-only", inline=doc(allow("ec2:Describe*", StringEquals={"ec2:Region": "us-east-1"})))
    assert api.client("ec2", creds).describe_vpcs()["Vpcs"]
    message = unauthorized(api.client("ec2", creds, region="us-west-2").describe_vpcs)
    assert "ec2:DescribeVpcs on resource: * because" in message
    west = api.client("ec2", api.user("requested-west", inline=doc(
        allow("ec2:DescribeVpcs", StringEquals={"aws:RequestedRegion": "us-west-2"}))), region="us-west-2")
    assert west.describe_vpcs()["Vpcs"]


def test_session_policy_narrows_an_assumed_role(api: EnforcedApi) -> None:
    iam, account = api.client("iam"), api.backend.account_id
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName="ops", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.attach_role_policy(RoleName="ops", PolicyArn=READ_ONLY)
    sts = api.client("sts")
    full = api.client("ec2", keys_of(sts.assume_role(RoleArn=role["Arn"], RoleSessionName="full")))
    assert full.describe_volumes()["Volumes"] is not None and full.describe_vpcs()["Vpcs"]
    narrow = api.client("ec2", keys_of(sts.assume_role(
        RoleArn=role["Arn"], RoleSessionName="narrow", Policy=json.dumps(doc(allow("ec2:DescribeVpcs"))))))
    assert narrow.describe_vpcs()["Vpcs"]
    message = unauthorized(narrow.describe_volumes)
    assert f"User: arn:aws:sts::{account}:assumed-role/ops/narrow is not authorized" in message
    assert "because no session policy allows the ec2:DescribeVolumes action" in message
    # a session policy never widens the role's rights
    wide = api.client("ec2", keys_of(sts.assume_role(
        RoleArn=role["Arn"], RoleSessionName="wide", Policy=json.dumps(doc(allow("ec2:*"))))))
    assert "no identity-based policy allows the ec2:CreateVpc action" in unauthorized(
        wide.create_vpc, CidrBlock="10.9.0.0/16")


def test_instance_identity_is_refused_and_root_does_everything(api: EnforcedApi, ec2,
                                                                 team_instances: dict[str, str]) -> None:
    c = api.backend.sessions.for_owner(team_instances["a"])
    identity = api.client("ec2", {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key,
                                  "aws_session_token": c.token})
    assert refused(identity.describe_instances)[:2] == (403, "UnauthorizedOperation")
    assert refused(identity.stop_instances, InstanceIds=[team_instances["a"]], DryRun=True)[:2] == (
        403, "UnauthorizedOperation")
    # root: DryRun and real calls on anything, whatever the users' policies
    assert refused(ec2.terminate_instances, InstanceIds=list(team_instances.values()), DryRun=True)[1] == \
        "DryRunOperation"
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    ec2.delete_vpc(VpcId=vpc)


def test_iam_changes_apply_at_once(api: EnforcedApi, ec2, team_instances: dict[str, str]) -> None:
    """Keys and policies are cached between requests; every IAM write (and tag change) shows at once."""
    iam = api.client("iam")
    creds = api.user("changing", inline=doc(allow("ec2:DescribeVpcs")))
    user = api.client("ec2", creds)
    assert user.describe_vpcs()["Vpcs"]
    iam.attach_user_policy(UserName="changing", PolicyArn=READ_ONLY)
    assert user.describe_volumes()["Volumes"] is not None
    iam.delete_user_policy(UserName="changing", PolicyName="inline")
    iam.detach_user_policy(UserName="changing", PolicyArn=READ_ONLY)
    unauthorized(user.describe_vpcs)
    iam.put_user_policy(UserName="changing", PolicyName="stop", PolicyDocument=json.dumps(doc(
        allow("ec2:StopInstances", "arn:aws:ec2:*:*:instance/*", StringEquals={"ec2:ResourceTag/team": "c"}))))
    b = team_instances["b"]
    unauthorized(user.stop_instances, InstanceIds=[b], DryRun=True)
    ec2.create_tags(Resources=[b], Tags=[{"Key": "team", "Value": "c"}])
    try:
        assert refused(user.stop_instances, InstanceIds=[b], DryRun=True)[1] == "DryRunOperation"
    finally:
        ec2.create_tags(Resources=[b], Tags=[{"Key": "team", "Value": "b"}])
    unauthorized(user.stop_instances, InstanceIds=[b], DryRun=True)
    iam.update_access_key(UserName="changing", AccessKeyId=creds["aws_access_key_id"], Status="Inactive")
    assert refused(user.describe_vpcs)[:2] == (401, "AuthFailure")
