"""Launch-template tests without guests: ec2d's API with the fake-driver runtime in this process,
on loopback (``loopback_api``), ec2d-tiny published as an AMI. Fixtures are imported by the test
modules (a conftest.py here would shadow other directories' when several are named at once)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images

EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str]:
    """(error code, message) of a call that must fail."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("the call succeeded")


def user_client(api: LoopbackApi, iam: Any, name: str, *statements: dict[str, Any]) -> Any:
    """An EC2 client signed by a new IAM user whose inline policy holds ``statements``."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return api.client("ec2", {"aws_access_key_id": key["AccessKeyId"],
                              "aws_secret_access_key": key["SecretAccessKey"]})


def make_profile(iam: Any, name: str) -> str:
    """An instance profile ``name`` with a role of the same name; the role's ARN."""
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))["Role"]["Arn"]
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return str(role_arn)


def instance(ec2: Any, instance_id: str) -> dict[str, Any]:
    return dict(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0])


def tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    config = Config(data_dir=tmp_path_factory.mktemp("lt"), instances=False, regions={"us-east-1": ["a", "b"]})
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    images.sync_published(backend)
    server = LoopbackApi(backend, runtime=True).start()
    yield server
    server.stop()
    backend.close()


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


@pytest.fixture(scope="module")
def iam(api: LoopbackApi) -> Any:
    return api.client("iam")


@pytest.fixture(scope="module")
def image(ec2: Any) -> str:
    found = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"]
    return str(found[0]["ImageId"])
