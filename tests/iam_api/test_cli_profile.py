"""A CLI profile with ``role_arn`` + ``source_profile`` works against ec2d: the AWS CLI assumes the
role with the source profile's key (STS AssumeRole on ec2d) and signs with the session it gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from iam_api_lib import keys_of
from loopback_api import LoopbackApi

AWS = str(Path(sys.executable).parent / "aws")


def _aws(api: LoopbackApi, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
                "HOME": str(tmp_path)})
    return subprocess.run([AWS, "--output", "json", *args], env=env, capture_output=True, text=True, timeout=120)


def test_role_arn_with_source_profile(api: LoopbackApi, iam, tmp_path: Path) -> None:
    account = api.backend.account_id
    iam.create_user(UserName="cli-user")
    key = keys_of(iam.create_access_key(UserName="cli-user"))
    role_arn = iam.create_role(RoleName="cli-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Principal": {"AWS": f"arn:aws:iam::{account}:user/cli-user"}}]}))[
        "Role"]["Arn"]
    root = api.root
    (tmp_path / "creds").write_text(f"[ec2d]\naws_access_key_id = {key['aws_access_key_id']}\n"
                                    f"aws_secret_access_key = {key['aws_secret_access_key']}\n"
                                    f"[root]\naws_access_key_id = {root['aws_access_key_id']}\n"
                                    f"aws_secret_access_key = {root['aws_secret_access_key']}\n")
    (tmp_path / "config").write_text(
        f"[profile ec2d]\nregion = us-west-2\nendpoint_url = {api.url}\n\n"
        f"[profile root]\nregion = us-west-2\nendpoint_url = {api.url}\n\n"
        f"[profile ops]\nrole_arn = {role_arn}\nsource_profile = ec2d\nrole_session_name = cli-session\n"
        f"region = us-west-2\nendpoint_url = {api.url}\n")
    base = _aws(api, tmp_path, "--profile", "ec2d", "sts", "get-caller-identity")
    assert base.returncode == 0, base.stderr
    assert json.loads(base.stdout)["Arn"] == f"arn:aws:iam::{account}:user/cli-user"
    out = _aws(api, tmp_path, "--profile", "ops", "sts", "get-caller-identity")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"] == f"arn:aws:sts::{account}:assumed-role/cli-role/cli-session"
    # the CLI decodes IAM's URL-encoded documents as botocore does
    role = _aws(api, tmp_path, "--profile", "root", "iam", "get-role", "--role-name", "cli-role")
    assert role.returncode == 0, role.stderr
    assert json.loads(role.stdout)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{account}:user/cli-user"}
    # the role has no policy: IAM refuses it what it refuses any caller no policy allows
    denied = _aws(api, tmp_path, "--profile", "ops", "iam", "list-roles")
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    iam.delete_role(RoleName="cli-role")
    iam.delete_access_key(UserName="cli-user", AccessKeyId=key["aws_access_key_id"])
    iam.delete_user(UserName="cli-user")
