"""S3 obeys IAM: an IAM user or an assumed role may do in S3 what its policies allow (the AWS-managed
AmazonS3FullAccess / AmazonS3ReadOnlyAccess as the study notes use them), and nothing without one;
the same keys work for ec2d's other APIs. Real engine behind ec2d's front."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from ec2d_server import RunningEc2d
from s3lib import s3_client

FULL, READ_ONLY = "arn:aws:iam::aws:policy/AmazonS3FullAccess", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def user_s3(s3d: RunningEc2d, *policies: str, name: str = "") -> Any:
    """An S3 client with the keys of a new IAM user (``name``) who has ``policies`` attached."""
    iam = s3d.client("iam")
    name = name or f"u-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    for arn in policies:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.client("s3", region_name="us-east-1", endpoint_url=s3d.config.endpoint_url,
                        config=BotoConfig(retries={"max_attempts": 1}),
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def bucket(s3d: RunningEc2d) -> str:
    name = f"pol-{uuid.uuid4().hex[:8]}"
    root = s3_client(s3d)
    root.create_bucket(Bucket=name)
    root.put_object(Bucket=name, Key="x", Body=b"from the host")
    return name


def test_full_access_puts_gets_lists_and_deletes(s3d: RunningEc2d, bucket: str) -> None:
    s3 = user_s3(s3d, FULL)
    s3.put_object(Bucket=bucket, Key="up", Body=b"uploaded")
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]} >= {"x", "up"}
    s3.delete_object(Bucket=bucket, Key="up")


def test_read_only_reads_and_cannot_write(s3d: RunningEc2d, bucket: str) -> None:
    s3 = user_s3(s3d, READ_ONLY)
    assert s3.get_object(Bucket=bucket, Key="x")["Body"].read() == b"from the host"
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="nope", Body=b"-")
    assert code(denied) == "AccessDenied"
    with pytest.raises(ClientError):
        s3_client(s3d).head_object(Bucket=bucket, Key="nope")  # nothing was stored


def test_no_policy_no_access(s3d: RunningEc2d, bucket: str) -> None:
    s3 = user_s3(s3d)
    for call in (lambda: s3.get_object(Bucket=bucket, Key="x"), lambda: s3.list_buckets()):
        with pytest.raises(ClientError) as denied:
            call()
        assert code(denied) == "AccessDenied"


def test_an_explicit_deny_on_a_prefix_beats_full_access(s3d: RunningEc2d, bucket: str) -> None:
    iam, name = s3d.client("iam"), f"u-{uuid.uuid4().hex[:8]}"
    s3 = user_s3(s3d, FULL, name=name)
    iam.put_user_policy(UserName=name, PolicyName="no-secret", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*",
                                                 "Resource": f"arn:aws:s3:::{bucket}/secret/*"}]}))
    s3.put_object(Bucket=bucket, Key="open/a", Body=b"a")
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="secret/a", Body=b"a")
    assert code(denied) == "AccessDenied"


def test_an_assumed_role_reaches_s3_with_its_session_keys(s3d: RunningEc2d, bucket: str) -> None:
    iam, account = s3d.client("iam"), s3d.client("sts").get_caller_identity()["Account"]
    role = f"r-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}))
    iam.attach_role_policy(RoleName=role, PolicyArn=READ_ONLY)
    creds = s3d.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                                           RoleSessionName="reader")["Credentials"]
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=s3d.config.endpoint_url,
                      config=BotoConfig(retries={"max_attempts": 1}), aws_access_key_id=creds["AccessKeyId"],
                      aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    assert s3.get_object(Bucket=bucket, Key="x")["Body"].read() == b"from the host"
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="role-put", Body=b"-")
    assert code(denied) == "AccessDenied"
