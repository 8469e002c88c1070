"""Hostile input for Cost Explorer and the Price List: requests generated from botocore's input
shapes (random members, enums, dates in and out of range, nested filter expressions, odd strings)
go through the JSON protocol's parsing and the handler, in process, over a ledger with usage in it.
Every answer is a result or an ``ApiError`` with a code (a 4xx the client can read), never another
exception (a 500)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from botocore.model import Shape
from clock import Clock
from record_samples import sample

from orchestrator.api import registry
from orchestrator.api.context import RequestContext
from orchestrator.api.registry import call
from orchestrator.config import Config
from orchestrator.domain import errors
from orchestrator.services import bootstrap
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

ACTIONS = [("ce", "GetCostAndUsage"), ("ce", "GetCostAndUsageWithResources"), ("ce", "GetCostForecast"),
           ("ce", "GetDimensionValues"), ("pricing", "GetProducts"), ("pricing", "GetAttributeValues"),
           ("pricing", "DescribeServices")]
ROUNDS = 400


def strings(rng: random.Random, now: dt.datetime) -> list[str]:
    day = dt.timedelta(days=1)
    dates = [now.date() + k * day for k in (-40, -2, -1, 0, 1, 2, 20, 400)]
    return ([str(d) for d in dates] + [d.strftime("%Y-%m-%dT%H:00:00Z") for d in dates]
            + ["", "x", "2027-02-30", "2027-01-15T08:30:00Z", "15/01/2027", "NoAZ", "NoInstanceType", "us-east-1",
               "us-east-1a", "t3.micro", "t3", "AmazonEC2", "AmazonVPC", "EC2 - Other", "UnblendedCost",
               "UsageQuantity", "NormalizedUsageAmount", "regionCode", "instanceType", "usagetype", "a,b",
               "\u00e9\u0000", "x" * 300, "bm9wZQ==", "MQ==", "-1", "Amazon Elastic Compute Cloud - Compute"])


def pools(now: dt.datetime) -> dict[str, list[str]]:
    """Plausible values per member name: most requests get past the checks and reach the ledger."""
    today = now.date()
    past = [str(today - dt.timedelta(days=k)) for k in (1, 2, 3, 30)]
    ahead = [str(today + dt.timedelta(days=k)) for k in (1, 2, 5)]
    return {"Start": past + [str(today)] + ahead[:1], "End": [str(today), *ahead[:2]],
            "Metrics": ["UnblendedCost", "UsageQuantity", "BlendedCost", "NormalizedUsageAmount"],
            "Key": ["SERVICE", "USAGE_TYPE", "AZ", "INSTANCE_TYPE", "REGION", "team", "RESOURCE_ID", "LINKED_ACCOUNT"],
            "Values": ["us-east-1", "EC2 - Other", "t3.nano", "NoAZ", "ops", "vol-1", "i-1", "t3"],
            "ServiceCode": ["AmazonEC2", "AmazonVPC", "AmazonS3"],
            "AttributeName": ["instanceType", "regionCode", "usagetype", "volumeApiName", "colour"],
            "Field": ["instanceType", "regionCode", "usagetype", "ServiceCode", "productFamily"],
            "Value": ["t3.micro", "us-east-1", "us-east-1,us-west-2", "Storage", "snap"]}


def value(shape: Shape, rng: random.Random, pool: list[str], depth: int,
          named: dict[str, list[str]] | None = None, name: str = "") -> Any:
    named = named or {}
    kind = shape.type_name
    if kind == "string" and name in named and rng.random() < 0.85:
        return rng.choice(named[name])
    if kind == "structure":
        members = shape.members
        wanted = set(shape.required_members)
        if shape.name == "Expression":  # one operand, as valid ones have; sometimes more
            wanted |= {rng.choice(["And", "Or", "Not", "Dimensions", "Tags", "CostCategories"])
                       for _ in range(1 if rng.random() < 0.85 else 2)}
            if depth > 3:
                wanted = {rng.choice(["Dimensions", "Tags"])}
        else:
            wanted |= {m for m in members if rng.random() < (0.08 if "Token" in m else 0.35)}
        return {m: value(members[m], rng, pool, depth + 1, named, m) for m in wanted}
    if kind == "list":
        return [value(shape.member, rng, pool, depth + 1, named, name) for _ in range(rng.choice([1, 1, 2, 3, 0]))]
    if kind == "map":
        return {rng.choice(pool): value(shape.value, rng, pool, depth + 1, named) for _ in range(rng.randint(0, 2))}
    if kind == "string":
        enum = shape.enum
        if enum and rng.random() < 0.9:
            return rng.choice(enum)
        return rng.choice(pool)
    if kind in ("integer", "long"):
        return rng.choice([0, 1, 2, 5, 100, -1, 10**9])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("double", "float"):
        return rng.random()
    return rng.choice(pool)


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    b = bootstrap.open(Config(data_dir=tmp_path, instances=False))
    clock = Clock(dt.datetime.now(dt.UTC).timestamp() - 7200)
    b.store.clock = clock
    b.store.insert(Record("i-1", "instance", "us-east-1", "pending", sample("instance")))
    b.store.transition("i-1", "pending", "running")
    b.store.insert(Record("vol-1", "volume", "us-east-1", "creating", sample("volume", Size=3)))
    b.store.set_tags("vol-1", "volume", "us-east-1", {"team": "ops"})
    clock.advance(3600)
    b.store.transition("i-1", "running", "stopping")
    clock.advance(3600)
    return b


@pytest.mark.parametrize("service,action", ACTIONS)
def test_generated_requests_get_a_result_or_an_api_error(backend: Backend, service: str, action: str) -> None:
    svc = registry.get_service(service)
    op = svc.protocol.operation(action)
    rng = random.Random(f"{service}:{action}")
    now = dt.datetime.now(dt.UTC)
    pool, named = strings(rng, now), pools(now)
    answered = refused = 0
    for n in range(ROUNDS):
        raw = json.loads(json.dumps(value(op.input_shape, rng, pool, 0, named)))
        ctx = RequestContext(f"req-{n}", action, "us-east-1", backend.account_id, "AKIA", backend, None)
        try:
            args = svc.protocol.parse(op, raw)
            result = asyncio.run(call(svc.handlers[action], ctx, args, service))
        except errors.ApiError as exc:
            assert exc.code and exc.status < 500, (raw, exc)
            refused += 1
            continue
        body = svc.protocol.response(op, result, ctx.request_id)  # serializes without error
        assert json.loads(body) is not None
        answered += 1
    assert answered and refused, (answered, refused)  # both kinds were generated
