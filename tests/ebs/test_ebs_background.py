"""The background half of the EBS services against in-memory drivers (FakeStorage, FakeCompute)
and the real runtime on them: state moves, layer reference counting and garbage collection, restart
recovery. Fast: no libvirt, no qemu-img."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from record_samples import sample

from orchestrator.config import Config
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.network.vpc import FakeVpcNetwork
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.runtime.core import Runtime
from orchestrator.services import bootstrap, snapshots, volumes
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

GIB = 1024**3


class NoImds:
    async def add_listener(self, key: str, sock: object) -> None: ...
    async def remove_listener(self, key: str) -> None: ...
    def set_instances(self, key: str, table: dict) -> None: ...


@pytest.fixture()
def backend(tmp_path: Path):
    """A backend whose runtime is the real one on in-memory drivers (not opened: only the EBS work runs)."""
    b = bootstrap.open(Config(data_dir=tmp_path, prefix="ec2dtfake", instances=False))
    b.runtime = Runtime(b, FakeCompute(), {r: FakeVpcNetwork("ec2dtfake", r) for r in b.config.regions},
                        FakeStorage(), NoImds(), "qemu")
    yield b
    b.close()


def state(backend: Backend, rid: str) -> str | None:
    rec = backend.store.get(rid)
    return rec.state if rec else None


def test_layers_live_while_something_builds_on_them(backend: Backend) -> None:
    rt: Runtime = backend.runtime

    async def go() -> None:
        vol = volumes.create(backend, "us-east-1", {"AvailabilityZone": "us-east-1a", "Size": 2})
        assert vol.state == "creating"
        await rt.settle()
        assert state(backend, vol.id) == "available" and rt.storage.volume_size(vol.id) == 2 * GIB
        rt.storage.write(vol.id, 0, b"t0")
        snap = snapshots.create(backend, "us-east-1", {"VolumeId": vol.id})
        assert snap.state == "pending"
        await rt.settle()
        assert state(backend, snap.id) == "completed" and snap.id in rt.storage.list_layers()
        rt.storage.write(vol.id, 0, b"t1")
        copy = volumes.create(backend, "us-east-1", {"AvailabilityZone": "us-east-1c", "SnapshotId": snap.id})
        await rt.settle()
        assert rt.storage.read(copy.id, 0) == b"t0" and rt.storage.read(vol.id, 0) == b"t1"
        # deleting the snapshot hides it but keeps the layer both volumes build on
        snapshots.delete(backend, "us-east-1", snap.id)
        await rt.settle()
        assert state(backend, snap.id) == snapshots.DELETED and snap.id in rt.storage.list_layers()
        assert snap.id not in [r.id for r in snapshots.visible(backend, "us-east-1", backend.account_id)]
        volumes.delete(backend, "us-east-1", copy.id)
        await rt.settle()
        assert snap.id in rt.storage.list_layers()  # the first volume still builds on it
        volumes.delete(backend, "us-east-1", vol.id)
        await rt.settle()
        assert snap.id not in rt.storage.list_layers() and backend.store.get(snap.id) is None
        assert rt.storage.list_volumes() == []

    asyncio.run(go())


def test_modify_grows_the_file(backend: Backend) -> None:
    rt: Runtime = backend.runtime

    async def go() -> None:
        vol = volumes.create(backend, "us-east-1", {"AvailabilityZone": "us-east-1a", "Size": 1})
        await rt.settle()
        mod = volumes.modify(backend, "us-east-1", {"VolumeId": vol.id, "Size": 3})
        assert mod["ModificationState"] == "modifying" and mod["OriginalSize"] == 1
        await rt.settle()
        rec = backend.store.get(vol.id)
        assert rec is not None and rec.data["Size"] == 3
        assert rec.data["Modification"]["ModificationState"] == "completed"
        assert rt.storage.volume_size(vol.id) == 3 * GIB

    asyncio.run(go())


def test_recover_finishes_interrupted_work(backend: Backend) -> None:
    rt: Runtime = backend.runtime

    async def go() -> None:
        base = sample("volume", CreateTime=volumes.now_iso())
        backend.store.insert(Record(id="vol-00000000000000001", type="volume", region="us-east-1",
                                    state="creating", data={**base, "Size": 1}))
        backend.store.insert(Record(id="vol-00000000000000002", type="volume", region="us-east-1",
                                    state="creating", data={**base, "Size": 1}))
        backend.store.transition("vol-00000000000000002", "creating", "available")  # made before the crash
        rt.storage.create_volume("vol-00000000000000002", GIB)
        rt.storage.snapshot_volume("vol-00000000000000002", "snap-00000000000000001")
        snap = sample("snapshot", VolumeId="vol-00000000000000002", VolumeSize=1, OwnerId=backend.account_id,
                      StartTime=volumes.now_iso())
        backend.store.insert(Record(id="snap-00000000000000001", type="snapshot", region="us-east-1",
                                    state="pending", data=snap))
        backend.store.insert(Record(id="snap-00000000000000002", type="snapshot", region="us-east-1",
                                    state="pending", data=snap))
        await rt.ebs.recover()
        await rt.settle()
        assert state(backend, "vol-00000000000000001") == "available"
        assert "vol-00000000000000001" in rt.storage.list_volumes()
        assert state(backend, "snap-00000000000000001") == "completed"
        assert state(backend, "snap-00000000000000002") == "error"

    asyncio.run(go())
