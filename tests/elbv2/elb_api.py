"""Helpers of the ELBv2 tests: an API-only ec2d on loopback with the fake-driver runtime (the
fake load-balancer driver reports every server UP once applied), the default VPC's subnets, and
instance records placed in a subnet (targets without booting anything)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from api_only import opened_backend
from loopback_api import LoopbackApi
from record_samples import sample

from orchestrator.drivers.loadbalancer.fake import FakeLoadBalancerDriver
from orchestrator.store.sqlite import Record

REGION = "us-east-1"


@contextmanager
def elb_api(data_dir: Path) -> Iterator[LoopbackApi]:
    with opened_backend(data_dir) as backend:
        api = LoopbackApi(backend, runtime=True).start()
        try:
            yield api
        finally:
            api.stop()


def fake_driver(api: LoopbackApi) -> FakeLoadBalancerDriver:
    assert api.runtime is not None
    driver = api.runtime.load_balancers.driver
    assert isinstance(driver, FakeLoadBalancerDriver)
    return driver


def default_subnets(ec2: Any) -> list[dict[str, Any]]:
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return sorted(subnets, key=lambda s: s["AvailabilityZone"])


def place_instance(api: LoopbackApi, instance_id: str, subnet: dict[str, Any], ip: str,
                   state: str = "running") -> None:
    """An instance record in ``subnet`` (as RunInstances leaves one), moved to ``state``."""
    store = api.backend.store
    store.insert(Record(id=instance_id, type="instance", region=REGION, state="pending", data=sample(
        "instance", SubnetId=subnet["SubnetId"], VpcId=subnet["VpcId"], AvailabilityZone=subnet["AvailabilityZone"],
        PrivateIpAddress=ip)))
    if state != "pending":
        store.transition(instance_id, "pending", "running")
    if state in ("stopping", "stopped"):
        store.transition(instance_id, "running", "stopping")
        if state == "stopped":
            store.transition(instance_id, "stopping", "stopped")
