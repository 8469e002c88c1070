"""Every action ec2d implements: the handler's output, serialized to XML by ec2d and parsed back
by botocore's own EC2 parser, is exactly what the handler returned."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.parsers import create_parser

from orchestrator.api.context import RequestContext
from orchestrator.api.protocol import XmlSerializer, service_model
from orchestrator.api.registry import HANDLERS
from orchestrator.config import Config
from orchestrator.services.backend import Backend

State = dict[str, Any]
Sample = Callable[[State], dict[str, Any]]

ED25519_PUB = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test"

# Ordered: later samples use what earlier ones returned (state["CreateKeyPair"] ...).
SAMPLES: list[tuple[str, Sample]] = [
    ("DescribeRegions", lambda s: {}),
    ("DescribeRegions", lambda s: {"RegionNames": ["us-west-2"]}),
    ("DescribeAvailabilityZones", lambda s: {}),
    ("DescribeAccountAttributes", lambda s: {}),
    ("DescribeInstanceTypes", lambda s: {"MaxResults": 5}),
    ("CreateKeyPair", lambda s: {"KeyName": "rt-rsa", "TagSpecifications": [
        {"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "blue"}]}]}),
    ("CreateKeyPair", lambda s: {"KeyName": "rt-ed", "KeyType": "ed25519", "KeyFormat": "ppk"}),
    ("ImportKeyPair", lambda s: {"KeyName": "rt-imported", "PublicKeyMaterial": ED25519_PUB}),
    ("DescribeKeyPairs", lambda s: {"IncludePublicKey": True}),
    ("CreateTags", lambda s: {"Resources": [s["CreateKeyPair"]["KeyPairId"]], "Tags": [{"Key": "a", "Value": "1"}]}),
    ("DescribeTags", lambda s: {"MaxResults": 5}),
    ("DeleteTags", lambda s: {"Resources": [s["CreateKeyPair"]["KeyPairId"]], "Tags": [{"Key": "a"}]}),
    ("DeleteKeyPair", lambda s: {"KeyName": "rt-imported"}),
]


def normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if v is not None and k != "ResponseMetadata"}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


@pytest.fixture()
def backend(tmp_path: Path):
    b = Backend.open(Config(data_dir=tmp_path))
    yield b
    b.close()


def test_every_registered_action_has_a_sample() -> None:
    assert set(HANDLERS) <= {name for name, _ in SAMPLES}


def test_handler_output_survives_botocore_parsing(backend: Backend) -> None:
    model = service_model()
    parser = create_parser("ec2")
    state: State = {}
    for name, sample in SAMPLES:
        op = model.operation_model(name)
        ctx = RequestContext("req-rt", name, "us-east-1", backend.account_id, "AKIA", backend)
        result = HANDLERS[name](ctx, sample(state)) or {}
        state.setdefault(name, result)
        body = XmlSerializer().response(op, result, "req-rt")
        parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)
        assert parsed["ResponseMetadata"]["RequestId"] == "req-rt"
        assert normalize(parsed) == normalize(result), name
