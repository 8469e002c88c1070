"""``ec2d serve`` (API-only: fake drivers, nothing on the host) keeps IAM and STS across a restart:
an IAM user's key and an assumed role's session still authenticate after the daemon restarts on
the same data dir."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig
from ec2d_server import RunningEc2d, start_ec2d
from iam_api_lib import keys_of


def _client(server: RunningEc2d, service: str, creds: dict[str, str] | None = None):
    return boto3.client(service, region_name="us-east-1", endpoint_url=server.config.endpoint_url,
                        config=BotoConfig(retries={"max_attempts": 1}), **(creds or server.credentials))


def test_keys_and_sessions_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_ec2d(data, instances=False, build_images=False, regions={"us-east-1": ["a"]})
    try:
        iam = _client(server, "iam")
        account = _client(server, "sts").get_caller_identity()["Account"]
        iam.create_user(UserName="kept")
        user_key = keys_of(iam.create_access_key(UserName="kept"))
        role_arn = iam.create_role(RoleName="kept", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                   "Principal": {"AWS": f"arn:aws:iam::{account}:user/kept"}}]}))[
            "Role"]["Arn"]
        session = keys_of(_client(server, "sts", user_key).assume_role(RoleArn=role_arn, RoleSessionName="restart"))
    finally:
        server.stop()
    server = start_ec2d(data, instances=False, build_images=False, regions={"us-east-1": ["a"]})
    try:
        assert _client(server, "sts", user_key).get_caller_identity()["Arn"] == f"arn:aws:iam::{account}:user/kept"
        assert _client(server, "sts", session).get_caller_identity()["Arn"] == \
            f"arn:aws:sts::{account}:assumed-role/kept/restart"
    finally:
        server.stop()
