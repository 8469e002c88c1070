"""Auto Scaling tests without guests: ec2d's API with the fake-driver runtime in this process, on
loopback (``loopback_api``), ec2d-tiny published as an AMI, the controller's interval short (its
correctness never depends on it: every assertion waits on a condition with a deadline). The
target groups are an in-memory ``TargetGroupPort`` whose health the test sets. Fixtures are
imported by the test modules (a conftest.py here would shadow other directories')."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError
from botocore.waiter import WaiterModel, create_waiter_with_client
from loopback_api import LoopbackApi

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images

T = TypeVar("T")
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
INTERVAL = 0.1

# The autoscaling waiters of the AWS SDKs (aws-sdk-go models/apis/autoscaling/2011-01-01/waiters-2.json;
# botocore ships none for autoscaling), so boto3 waits on ec2d as other SDKs would. Their acceptors
# say ``pathAll`` over scalar expressions, which botocore's ``pathAll`` never matches (it wants a
# list): given here as ``path``, which is what the Go SDK's evaluation of them amounts to.
WAITERS = {"version": 2, "waiters": {
    "GroupExists": {"delay": 5, "maxAttempts": 10, "operation": "DescribeAutoScalingGroups", "acceptors": [
        {"argument": "length(AutoScalingGroups)", "expected": 1, "matcher": "path", "state": "success"},
        {"argument": "length(AutoScalingGroups)", "expected": 0, "matcher": "path", "state": "retry"}]},
    "GroupInService": {"delay": 15, "maxAttempts": 40, "operation": "DescribeAutoScalingGroups", "acceptors": [
        {"argument": "contains(AutoScalingGroups[].[length(Instances[?LifecycleState=='InService']) >= MinSize][], "
                     "`false`)", "expected": False, "matcher": "path", "state": "success"},
        {"argument": "contains(AutoScalingGroups[].[length(Instances[?LifecycleState=='InService']) >= MinSize][], "
                     "`false`)", "expected": True, "matcher": "path", "state": "retry"}]},
    "GroupNotExists": {"delay": 15, "maxAttempts": 40, "operation": "DescribeAutoScalingGroups", "acceptors": [
        {"argument": "length(AutoScalingGroups)", "expected": 0, "matcher": "path", "state": "success"},
        {"argument": "length(AutoScalingGroups)", "expected": 1, "matcher": "path", "state": "retry"}]},
}}


def waiter(client: Any, name: str) -> Any:
    return create_waiter_with_client(name, WaiterModel(WAITERS), client)


WAIT = {"Delay": 0.2, "MaxAttempts": 300}  # a minute at most


class MemoryTargetGroups:
    """An in-memory ``TargetGroupPort``: registrations as calls, health as the test sets it."""

    def __init__(self) -> None:
        self.arns: set[str] = set()
        self.targets: dict[str, set[str]] = {}
        self.states: dict[str, str] = {}  # instance id -> state (default "healthy")
        self.calls: list[tuple[str, str, str]] = []  # (register|deregister, arn, instance id)

    def add(self, name: str) -> str:
        arn = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/0123456789abcdef"
        self.arns.add(arn)
        self.targets[arn] = set()
        return arn

    def missing(self, region: str, tg_arns: Sequence[str]) -> list[str]:
        return [a for a in tg_arns if a not in self.arns]

    async def register(self, region: str, tg_arn: str, instance_ids: Sequence[str]) -> None:
        for iid in instance_ids:
            self.targets[tg_arn].add(iid)
            self.calls.append(("register", tg_arn, iid))

    async def deregister(self, region: str, tg_arn: str, instance_ids: Sequence[str]) -> None:
        for iid in instance_ids:
            self.targets[tg_arn].discard(iid)
            self.calls.append(("deregister", tg_arn, iid))

    async def health(self, region: str, tg_arn: str) -> dict[str, str]:
        return {iid: self.states.get(iid, "healthy") for iid in self.targets.get(tg_arn, ())}


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"still waiting after {timeout:.0f}s for {what}"
        time.sleep(0.05)


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str]:
    """(error code, message) of a call that must fail."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("the call succeeded")


def group(asg: Any, name: str) -> dict[str, Any]:
    return dict(asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0])


def in_service(asg: Any, name: str) -> list[dict[str, Any]]:
    return [i for i in group(asg, name)["Instances"] if i["LifecycleState"] == "InService"]


def per_zone(items: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(i["AvailabilityZone"] for i in items)
    return {z: counts.get(z, 0) for z in ZONES}


def settled(asg: Any, name: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The group's instances once exactly ``count`` are InService and none is in another state."""
    def check() -> list[dict[str, Any]] | None:
        found = group(asg, name)["Instances"]
        done = len(found) == count and all(i["LifecycleState"] == "InService" for i in found)
        return found if done else None

    return wait_for(check, f"{name} to settle at {count} InService", timeout)


def ec2_state(ec2: Any, instance_id: str) -> str:
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return str(found["State"]["Name"])


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    config = Config(data_dir=tmp_path_factory.mktemp("asg"), instances=False, autoscaling_interval=INTERVAL)
    config.regions = {"us-east-1": ["a", "b", "c"]}
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    images.sync_published(backend)
    backend.target_groups = MemoryTargetGroups()
    server = LoopbackApi(backend, runtime=True).start()
    yield server
    server.stop()
    backend.close()


@pytest.fixture(scope="module")
def ec2(api: LoopbackApi) -> Any:
    return api.client("ec2")


@pytest.fixture(scope="module")
def asg(api: LoopbackApi) -> Any:
    return api.client("autoscaling")


@pytest.fixture(scope="module")
def tgs(api: LoopbackApi) -> MemoryTargetGroups:
    port = api.backend.target_groups
    assert isinstance(port, MemoryTargetGroups)
    return port


# The fixtures below ask for ``api``, never for ``ec2`` by name: a module that forgot to import this
# module's ``ec2`` would otherwise get the session-wide one of tests/conftest.py (a real ec2d).


@pytest.fixture(scope="module")
def image(api: LoopbackApi) -> str:
    found = api.client("ec2").describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"]
    return str(found[0]["ImageId"])


@pytest.fixture(scope="module")
def subnets(api: LoopbackApi) -> list[str]:
    """The default subnets of the three zones, in zone order."""
    found = api.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in found}
    return [by_zone[z] for z in ZONES]


@pytest.fixture(scope="module")
def launch_config(asg: Any, image: str) -> str:
    asg.create_launch_configuration(LaunchConfigurationName="lc-web", ImageId=image, InstanceType="t3.nano")
    return "lc-web"
