"""Shared fixtures: a real ec2d API server on loopback with a fresh data dir, and boto3 clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ec2d_server import RunningEc2d, start_ec2d


@pytest.fixture(scope="session")
def ec2d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    server = start_ec2d(tmp_path_factory.mktemp("ec2d-data"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ec2(ec2d: RunningEc2d):
    return ec2d.client()
