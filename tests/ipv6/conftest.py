"""The API modules of tests/ipv6 share this pair: an API-only ec2d per module and its boto3 client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import RunningEc2d, start_ec2d


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[RunningEc2d]:
    s = start_ec2d(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]), instances=False)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ec2(server: RunningEc2d) -> Any:
    return server.client()
