"""A published AMI is ``available`` only once it can be launched (fake drivers, deterministic).

The storage's import of the image's layer blocks on an event: until it is released the AMI is
``pending`` and RunInstances gives EC2's ``InvalidAMIID.Unavailable``; once the layer is in, the
AMI is ``available`` and a launch reaches ``running``. Also: a layer that disappeared from storage
takes the AMI back to ``pending`` until it is imported again."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from fake_world import open_backend

from orchestrator.domain import errors
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.network.vpc import FakeVpcNetwork
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.imds.fake import FakeImds
from orchestrator.runtime.core import Runtime
from orchestrator.server import publisher
from orchestrator.services import images, instances
from orchestrator.services.backend import Backend


class GatedStorage(FakeStorage):
    """``import_image`` waits until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def import_image(self, src: Path, layer_id: str, *, link: bool = False) -> Path:
        self.entered.set()
        assert self.release.wait(120), "the test never released the import"
        return super().import_image(src, layer_id, link=link)


@pytest.fixture()
def world(tmp_path: Path):
    backend = open_backend(tmp_path)
    storage = GatedStorage()
    networks = {r: FakeVpcNetwork("ec2dtfake", r) for r in backend.config.regions}
    runtime = Runtime(backend, FakeCompute(), networks, storage, FakeImds(), "qemu", open_listener=lambda ns: object(),
                      publish_images=publisher(backend))
    backend.runtime = runtime
    yield backend, runtime, storage
    backend.close()


def tiny(backend: Backend):
    return next((i for i in backend.store.list(images.IMAGE, "us-east-1") if i.data["image_name"] == "ec2d-tiny"),
                None)


def run_one(backend: Backend, image_id: str) -> str:
    out = instances.run(backend, "us-east-1", {"ImageId": image_id, "MinCount": 1, "MaxCount": 1,
                                               "InstanceType": "t3.nano"})
    return out["Instances"][0]["InstanceId"]


async def settle(runtime: Runtime) -> None:
    while busy := [t for t in runtime.tasks if t not in runtime.jobs.loops]:
        await asyncio.gather(*busy)


def test_ami_is_pending_until_its_layer_is_imported(world) -> None:
    backend, runtime, storage = world

    async def go() -> None:
        opening = asyncio.get_running_loop().create_task(runtime.open())
        await asyncio.to_thread(storage.entered.wait, 60)  # the import has begun and is held
        image = tiny(backend)
        assert image is not None and image.state == "pending"
        with pytest.raises(errors.ApiError) as caught:
            run_one(backend, image.id)
        assert caught.value.code == "InvalidAMIID.Unavailable"
        assert caught.value.message == f"AMI '{image.id}' is pending, and cannot be run"
        assert backend.store.list("instance", "us-east-1") == []  # nothing half-made
        assert images.describe(image, {})["State"] == "pending"

        storage.release.set()
        await opening
        assert tiny(backend).state == "available"
        iid = run_one(backend, image.id)
        await settle(runtime)
        assert backend.store.get(iid).state == "running"
        await runtime.close()

    asyncio.run(go())


def test_missing_layer_makes_the_ami_pending_again(world) -> None:
    backend, runtime, storage = world
    storage.release.set()

    async def go() -> None:
        await runtime.open()
        image = tiny(backend)
        assert image.state == "available"
        layer = image.data["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        del storage.layers[layer]  # e.g. the storage dir was emptied behind ec2d's back
        storage.release.clear()
        storage.entered.clear()
        rescan = asyncio.get_running_loop().create_task(runtime.register_images())
        await asyncio.to_thread(storage.entered.wait, 60)
        assert tiny(backend).state == "pending"
        storage.release.set()
        await rescan
        assert tiny(backend).state == "available" and layer in storage.list_layers()
        await runtime.close()

    asyncio.run(go())
