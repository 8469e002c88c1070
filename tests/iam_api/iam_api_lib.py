"""Small boto3 helpers for the IAM/STS tests (the server: ``loopback_api.LoopbackApi``)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def refused(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def keys_of(created: dict[str, Any]) -> dict[str, str]:
    """boto3 credentials from a CreateAccessKey or AssumeRole answer."""
    c = created.get("AccessKey") or created["Credentials"]
    out = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"]}
    if "SessionToken" in c:
        out["aws_session_token"] = c["SessionToken"]
    return out
