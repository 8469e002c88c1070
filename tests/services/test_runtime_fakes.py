"""The runtime's contracts on fake drivers (fast): a launch that fails anywhere leaves nothing
behind and ends terminated with a reason; states follow the table; the reconciler removes
domains nobody owns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orchestrator.config import Config
from orchestrator.drivers.compute.driver import ComputeError
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.network.vpc import FakeVpcNetwork
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.images.cache import ensure_image
from orchestrator.imds.fake import FakeImds
from orchestrator.runtime.core import Runtime
from orchestrator.server import publisher
from orchestrator.services import bootstrap, images, instances
from orchestrator.services.backend import Backend


@pytest.fixture()
def world(tmp_path: Path):
    config = Config(data_dir=tmp_path, prefix="ec2dtfake", instances=False)
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    compute, storage, imds = FakeCompute(), FakeStorage(), FakeImds()
    networks = {r: FakeVpcNetwork("ec2dtfake", r) for r in config.regions}
    runtime = Runtime(backend, compute, networks, storage, imds, "qemu", open_listener=lambda ns: object(),
                      publish_images=publisher(backend))
    backend.runtime = runtime
    yield backend, runtime, compute, storage, networks
    backend.close()


def run(coro):
    return asyncio.get_event_loop_policy().new_event_loop().run_until_complete(coro)


async def launch(backend: Backend, runtime: Runtime, **kw) -> list[str]:
    await runtime.open()
    image = next(i for i in images.visible(backend, "us-east-1", backend.account_id)
                 if i.data["image_name"] == "ec2d-tiny")
    out = instances.run(backend, "us-east-1", {"ImageId": image.id, "MinCount": kw.get("n", 1),
                                               "MaxCount": kw.get("n", 1), "InstanceType": "t3.nano"})
    ids = [i["InstanceId"] for i in out["Instances"]]
    for _ in range(200):
        await asyncio.sleep(0.01)
        if not [t for t in runtime.tasks if t not in runtime.jobs.loops]:
            break
    return ids


def test_launch_and_terminate_on_fakes(world) -> None:
    backend, runtime, compute, storage, networks = world

    async def go() -> None:
        [iid] = await launch(backend, runtime)
        rec = backend.store.get(iid)
        assert rec.state == "running"
        assert compute.state(runtime.domain_name(iid)).value == "running"
        assert rec.data["BlockDeviceMappings"][0]["VolumeId"] in storage.list_volumes()
        vpc = networks["us-east-1"].vpcs[rec.data["VpcId"]]
        assert any(lease.ip == rec.data["PrivateIpAddress"] for lease in vpc.leases)
        instances.request(backend, "us-east-1", [iid], instances.Request.TERMINATE)
        await asyncio.gather(*[t for t in runtime.tasks if t not in runtime.jobs.loops])
        assert backend.store.get(iid).state == "terminated"
        assert storage.list_volumes() == []
        assert not any(lease.ip == rec.data["PrivateIpAddress"] for lease in vpc.leases)
        await runtime.close()

    run(go())


@pytest.mark.parametrize("where", ["spawn", "create_volume", "plug_port"])
def test_failed_launch_cleans_up_everything(world, where: str) -> None:
    backend, runtime, compute, storage, networks = world
    if where == "spawn":
        compute.fail_next("spawn", ComputeError("no memory for you"))
    elif where == "create_volume":
        storage.fail_next("create_volume", OSError("disk full"))
    else:
        def broken(*args: object) -> None:
            raise RuntimeError("tap vanished")
        networks["us-east-1"].plug_port = broken  # type: ignore[method-assign]

    async def go() -> None:
        [iid] = await launch(backend, runtime)
        rec = backend.store.get(iid)
        assert rec.state == "terminated"
        assert rec.data["StateReason"]["Code"] == "Server.InternalError"
        assert compute.list_domains("ec2dtfake-") == []
        assert storage.list_volumes() == []
        assert backend.store.list("volume", "us-east-1") == []
        assert backend.store.get(rec.data["NetworkInterfaceId"]) is None  # the address is free again
        await runtime.close()

    run(go())


def test_reconcile_removes_unknown_domains(world) -> None:
    backend, runtime, compute, storage, networks = world
    from orchestrator.drivers.compute.config import DomainConfig

    compute.spawn(DomainConfig(name="ec2dtfake-i-0123456789abcdef0", uuid="ec200000-0000-4000-8000-000000000000",
                               memory_mib=64))

    async def go() -> None:
        await runtime.open()
        assert compute.list_domains("ec2dtfake-") == []
        await runtime.close()

    run(go())
