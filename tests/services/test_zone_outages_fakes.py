"""A zone outage at the EC2 level on fake drivers (fast): the impaired zone's running instance
loses power (stopped, its volume kept), StartInstances and RunInstances into the zone fail with
InsufficientInstanceCapacity, a launch queued before the outage ends terminated with
Server.InsufficientInstanceCapacity, a launch that names no zone goes to one with capacity, and
after the restore the instance starts again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orchestrator.config import Config
from orchestrator.domain import errors
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.network.vpc import FakeVpcNetwork
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.images.cache import ensure_image
from orchestrator.imds.fake import FakeImds
from orchestrator.runtime import zone_states
from orchestrator.runtime.core import Runtime
from orchestrator.server import publisher
from orchestrator.services import bootstrap, images, instances

A, B, C = "us-east-1a", "us-east-1b", "us-east-1c"


@pytest.fixture()
def world(tmp_path: Path):
    config = Config(data_dir=tmp_path, prefix="ec2dtfake", instances=False, regions={"us-east-1": ["a", "b", "c"]},
                    status_check_interval=3600)
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    compute, storage = FakeCompute(), FakeStorage()
    runtime = Runtime(backend, compute, {"us-east-1": FakeVpcNetwork("ec2dtfake", "us-east-1")}, storage,
                      FakeImds(), "qemu", open_listener=lambda ns: object(), publish_images=publisher(backend))
    backend.runtime = runtime
    yield backend, runtime, compute, storage
    backend.close()


def request(backend, zone: str | None = None) -> dict:
    image = next(i for i in images.visible(backend, "us-east-1", backend.account_id)
                 if i.data["image_name"] == "ec2d-tiny")
    req = {"ImageId": image.id, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano"}
    if zone:
        req["Placement"] = {"AvailabilityZone": zone}
    return req


def test_an_impaired_zone_powers_its_instances_off_and_refuses_launches(world) -> None:
    backend, runtime, compute, storage = world
    store = backend.store

    async def go() -> None:
        await runtime.open()
        iid = instances.run(backend, "us-east-1", request(backend, C))["Instances"][0]["InstanceId"]
        await runtime.settle()
        assert store.get(iid).state == "running"
        root = store.get(iid).data["BlockDeviceMappings"][0]["VolumeId"]

        pending = instances.run(backend, "us-east-1", request(backend, C))["Instances"][0]["InstanceId"]
        zone_states.set_state(store, C, zone_states.IMPAIRED)  # the outage comes before that launch runs
        runtime.zone_outages.enforce()
        await runtime.settle()
        lost = store.get(iid)
        assert lost.state == "stopped" and lost.data["StateReason"] == zone_states.POWER_LOSS
        assert compute.state(runtime.domain_name(iid)).value == "absent"
        assert root in storage.list_volumes()  # the volume keeps its data
        failed = store.get(pending)
        assert failed.state == "terminated"
        assert failed.data["StateReason"]["Code"] == "Server.InsufficientInstanceCapacity"

        with pytest.raises(errors.InsufficientInstanceCapacity, match=rf"capacity in the Availability Zone you "
                           rf"requested \({C}\)\. .* choosing {A}, {B}\.$"):
            instances.run(backend, "us-east-1", request(backend, C))
        with pytest.raises(errors.InsufficientInstanceCapacity):
            instances.request(backend, "us-east-1", [iid], instances.Request.START)
        zone_states.set_state(store, A, zone_states.IMPAIRED)
        anywhere = instances.run(backend, "us-east-1", request(backend))["Instances"][0]
        assert anywhere["Placement"]["AvailabilityZone"] == B  # EC2 picks a zone with capacity

        zone_states.set_state(store, A, zone_states.AVAILABLE)
        zone_states.set_state(store, C, zone_states.AVAILABLE)
        instances.request(backend, "us-east-1", [iid], instances.Request.START)
        await runtime.settle()
        assert store.get(iid).state == "running"
        await runtime.close()

    asyncio.run(go())
