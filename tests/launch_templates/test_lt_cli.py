"""The AWS CLI's launch-template commands as their documentation uses them: JSON
``--launch-template-data``, ``--versions '$Latest' '$Default'``, ``run-instances --launch-template``
in shorthand, and the error an unknown template gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lt_api
from lt_api import instance, tags

api, ec2, image = lt_api.api, lt_api.ec2, lt_api.image  # the fixtures
AWS = str(Path(sys.executable).parent / "aws")


def _cli(api: Any, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
                "AWS_ACCESS_KEY_ID": api.root["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": api.root["aws_secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1"})
    return subprocess.run([AWS, "--endpoint-url", api.url, "--output", "json", "ec2", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def _ok(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout)) if out.stdout.strip() else {}


def test_cli_create_describe_run_delete(api: Any, ec2: Any, image: str, tmp_path: Path) -> None:
    data = {"ImageId": image, "InstanceType": "t3.micro",
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "via", "Value": "cli"}]}]}
    made = _ok(_cli(api, tmp_path, "create-launch-template", "--launch-template-name", "cli-lt",
                    "--version-description", "one", "--launch-template-data", json.dumps(data)))["LaunchTemplate"]
    tid = made["LaunchTemplateId"]
    _ok(_cli(api, tmp_path, "create-launch-template-version", "--launch-template-id", tid, "--source-version", "1",
             "--launch-template-data", '{"InstanceType": "t3.small"}'))
    _ok(_cli(api, tmp_path, "modify-launch-template", "--launch-template-id", tid, "--default-version", "2"))
    listed = _ok(_cli(api, tmp_path, "describe-launch-template-versions", "--launch-template-id", tid,
                      "--versions", "$Latest", "$Default"))["LaunchTemplateVersions"]
    assert [(v["VersionNumber"], v["DefaultVersion"]) for v in listed] == [(2, True), (2, True)]
    assert listed[0]["LaunchTemplateData"]["InstanceType"] == "t3.small"
    run = _ok(_cli(api, tmp_path, "run-instances", "--launch-template", "LaunchTemplateName=cli-lt,Version=1"))
    iid = run["Instances"][0]["InstanceId"]
    got = instance(ec2, iid)
    assert got["InstanceType"] == "t3.micro"
    assert tags(got) == {"via": "cli", "aws:ec2launchtemplate:id": tid, "aws:ec2launchtemplate:version": "1"}
    kept = _ok(_cli(api, tmp_path, "delete-launch-template-versions", "--launch-template-id", tid, "--versions", "2"))
    assert kept["SuccessfullyDeletedLaunchTemplateVersions"] == []
    assert kept["UnsuccessfullyDeletedLaunchTemplateVersions"][0]["ResponseError"]["Code"] == "unexpectedError"
    _ok(_cli(api, tmp_path, "delete-launch-template", "--launch-template-id", tid))
    missing = _cli(api, tmp_path, "describe-launch-template-versions", "--launch-template-name", "cli-lt")
    assert missing.returncode != 0
    assert ("An error occurred (InvalidLaunchTemplateName.NotFoundException) when calling the "
            "DescribeLaunchTemplateVersions operation: The specified launch template, with template name cli-lt, "
            "does not exist.") in missing.stderr
    ec2.terminate_instances(InstanceIds=[iid])
