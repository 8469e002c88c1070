"""Helpers for tests/enforcement: IAM enforcement through boto3 against ec2d's API app on loopback, on the fake-driver runtime in
this process (instances move pending -> running -> stopped as with real drivers; nothing is made on
the host). Users, roles and policies are made through the IAM API with the root key."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi

from orchestrator.services.backend import Backend

T = TypeVar("T")
REGIONS = {"us-east-1": ["a", "b"], "us-west-2": ["a"]}


class EnforcedApi(LoopbackApi):
    """The API app and the fake runtime on loopback (``loopback_api``)."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(backend, runtime=True)

    def user(self, name: str, *, managed: tuple[str, ...] = (), inline: dict[str, Any] | None = None) -> dict[str, str]:
        """A new IAM user with these policies; its access key as boto3 credentials."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        for arn in managed:
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
        if inline is not None:
            iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(inline))
        return keys_of(iam.create_access_key(UserName=name))


def keys_of(created: dict[str, Any]) -> dict[str, str]:
    c = created.get("AccessKey") or created["Credentials"]
    out = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"]}
    if "SessionToken" in c:
        out["aws_session_token"] = c["SessionToken"]
    return out


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def wait_for(check: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout:.0f}s for {what}")
        time.sleep(0.05)
    return value
