"""libvirtd unreachable, on fake drivers (fast, deterministic): requests that need the hypervisor
get a retryable ``ServiceUnavailable`` (503) at once and change nothing; running instances stay
running; when the driver reports it reconnected, the runtime re-reads libvirt and catches up on
what it missed (a domain that died during the outage ends ``stopped`` with a reason)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fake_world import open_backend

from orchestrator.domain import errors
from orchestrator.drivers.compute.driver import HypervisorUnavailable, PowerState
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.network.vpc import FakeVpcNetwork
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.imds.fake import FakeImds
from orchestrator.runtime.core import Runtime
from orchestrator.server import publisher
from orchestrator.services import images, instances
from orchestrator.services.backend import Backend


@pytest.fixture()
def world(tmp_path: Path):
    backend = open_backend(tmp_path)
    storage = FakeStorage()
    compute = FakeCompute()
    rt = Runtime(backend, compute, {"us-east-1": FakeVpcNetwork("ec2dtfake", "us-east-1")}, storage, FakeImds(),
                 "qemu", open_listener=lambda ns: object(),
                 publish_images=publisher(backend))
    backend.runtime = rt
    yield backend, rt, compute
    backend.close()


async def settle(runtime: Runtime) -> None:
    while busy := [t for t in runtime.tasks if t not in runtime.jobs.loops and not t.done()]:
        await asyncio.wait(busy)


def run_one(backend: Backend) -> str:
    image = next(i for i in images.visible(backend, "us-east-1", backend.account_id)
                 if i.data["image_name"] == "ec2d-tiny")
    return instances.run(backend, "us-east-1", {"ImageId": image.id, "MinCount": 1, "MaxCount": 1,
                                                "InstanceType": "t3.nano"})["Instances"][0]["InstanceId"]


def test_outage_gives_retryable_errors_and_recovery_catches_up(world) -> None:
    backend, rt, compute = world

    async def go() -> None:
        await rt.open()
        keep, dies = run_one(backend), run_one(backend)
        await settle(rt)
        assert {backend.store.get(i).state for i in (keep, dies)} == {"running"}
        count = len(backend.store.list("instance", "us-east-1"))

        compute.outage()
        compute.domains[rt.domain_name(dies)].state = PowerState.SHUTOFF  # died; its event is lost
        for call in (lambda: run_one(backend),
                     lambda: instances.request(backend, "us-east-1", [keep], instances.Request.STOP)):
            with pytest.raises(errors.ServiceUnavailable) as caught:
                call()
            assert caught.value.status == 503 and caught.value.code == "ServiceUnavailable"
        assert len(backend.store.list("instance", "us-east-1")) == count  # nothing half-made
        assert backend.store.get(keep).state == "running"

        compute.recover()  # the driver reconnected: the runtime re-reads libvirt
        await asyncio.sleep(0)
        await settle(rt)
        assert backend.store.get(keep).state == "running"
        gone = backend.store.get(dies)
        assert gone.state == "stopped" and gone.data["StateReason"]["Code"] == "Server.InternalError"
        again = run_one(backend)
        await settle(rt)
        assert backend.store.get(again).state == "running"
        await rt.close()

    asyncio.run(go())


def test_launch_interrupted_by_an_outage_stays_pending_and_finishes_after(world) -> None:
    backend, rt, compute = world

    async def go() -> None:
        await rt.open()
        compute.fail_next("spawn", HypervisorUnavailable("libvirtd went away"))
        iid = run_one(backend)
        await settle(rt)
        assert backend.store.get(iid).state == "pending"  # not terminated: not the instance's fault
        compute.recover()
        await asyncio.sleep(0)
        await settle(rt)
        assert backend.store.get(iid).state == "running"
        await rt.close()

    asyncio.run(go())
