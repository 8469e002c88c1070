"""docs/ec2-actions.md says what ec2d serves: it is what scripts/ec2_support_table.py renders from
botocore's model and the registry today, and over the wire no registered EC2 action ever gets the
protocol's "not supported by ec2d yet" answer, while the actions it lists as refused do.

(Every registered action also answers a minimal valid request without an error, UnsupportedOperation
included: its round-trip sample in tests/api/test_roundtrip.py.)"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi, api_only

from orchestrator.api.handlers import load_all
from orchestrator.api.registry import get_service

ROOT = Path(__file__).resolve().parents[2]
NOT_SERVED = "is not supported by ec2d yet."


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ec2_support_table", ROOT / "scripts" / "ec2_support_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ec2_support_table", module)
    spec.loader.exec_module(module)
    return module


def test_the_committed_table_is_up_to_date() -> None:
    table = script()
    assert (ROOT / "docs" / "ec2-actions.md").read_text() == table.render(), (
        "docs/ec2-actions.md is out of date: PYTHONPATH=. .venv/bin/python scripts/ec2_support_table.py")


def test_the_table_counts_what_the_registry_serves() -> None:
    load_all()
    served = set(get_service("ec2").handlers)
    text = (ROOT / "docs" / "ec2-actions.md").read_text()
    assert f"| served by ec2d | {len(served)} |" in text
    rows = {line.split("|")[1].strip() for line in text.split("## Refused")[0].splitlines()
            if line.startswith("| ") and line.split("|")[1].strip()[:1].isupper()}
    assert served <= rows and "ModifySecurityGroupRules" in rows


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with api_only(tmp_path_factory.mktemp("support")) as server:
        yield server


# botocore itself needs these before it sends the request (CopySnapshot's presigned URL)
CLIENT_SIDE = {"CopySnapshot": {"SourceRegion": "us-east-1"}}


def _answer(ec2: Any, action: str) -> tuple[int, str, str]:
    try:
        out = ec2._make_api_call(action, dict(CLIENT_SIDE.get(action, {})))
    except ClientError as e:
        return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"],
                e.response["Error"]["Message"])
    return out["ResponseMetadata"]["HTTPStatusCode"], "", ""


def test_no_registered_action_is_answered_as_not_served(api: LoopbackApi) -> None:
    """Each registered action with an empty request: its own answer (often MissingParameter), never
    the protocol's not-served error, never a 5xx."""
    load_all()
    ec2 = api.client("ec2", parameter_validation=False)
    wrong = {}
    for action in sorted(get_service("ec2").handlers):
        status, code, message = _answer(ec2, action)
        if status >= 500 or NOT_SERVED in message:
            wrong[action] = (status, code, message)
    assert wrong == {}


def test_refused_actions_answer_unsupported_operation(api: LoopbackApi) -> None:
    """The refused actions the model lets be called without parameters answer EC2's
    UnsupportedOperation with ec2d's sentence (a sample of every tenth, whatever is served by then)."""
    load_all()
    ec2 = api.client("ec2", parameter_validation=False)
    model = ec2.meta.service_model
    served = set(get_service("ec2").handlers)
    callable_bare = [a for a in sorted(model.operation_names) if a not in served
                     and not (model.operation_model(a).input_shape is not None
                              and model.operation_model(a).input_shape.required_members)]
    sample = callable_bare[::10]
    assert len(sample) >= 10
    for action in sample:
        assert _answer(ec2, action) == (400, "UnsupportedOperation", f"The action {action} {NOT_SERVED}"), action
