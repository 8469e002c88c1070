"""Shared fixtures: a real ec2d API server on loopback with a fresh data dir, and boto3 clients."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Every record any test writes is checked against its TypedDict (orchestrator/domain/records.py):
# set before anything opens a store, and inherited by the daemons tests start as subprocesses.
os.environ["EC2D_CHECK_RECORDS"] = "1"
# Auto Scaling's passes and target tracking's datapoints, shortened for the daemons tests start
# (AWS: a minute per datapoint); the tests wait on conditions, never on these figures.
os.environ.setdefault("EC2D_AUTOSCALING_INTERVAL", "2")
os.environ.setdefault("EC2D_AUTOSCALING_METRIC_PERIOD", "5")
# The system status check looks every second and fails a silent boot (or a paused domain) after
# 30 s, then automatic recovery resets it: a guest stuck before its kernel under TCG costs 30 s,
# not the test.
os.environ.setdefault("EC2D_STATUS_CHECK_INTERVAL", "1")
os.environ.setdefault("EC2D_STATUS_CHECK_DEADLINE", "30")

import action_census  # noqa: E402
from ec2d_server import RunningEc2d, start_ec2d  # noqa: E402

CENSUS = action_census.install()  # EC2D_ACTION_CENSUS=FILE: which actions the run answered, on which drivers


def pytest_sessionfinish(session: pytest.Session) -> None:
    if CENSUS:
        action_census.write(CENSUS)


@pytest.fixture(scope="session")
def ec2d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    server = start_ec2d(tmp_path_factory.mktemp("ec2d-data"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ec2(ec2d: RunningEc2d):
    return ec2d.client()
