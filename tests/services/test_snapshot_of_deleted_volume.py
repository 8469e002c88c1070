"""Found by ``bench/fuzz.py --runtime``: CreateSnapshot of an instance's root volume just before the
instance terminated (DeleteOnTermination) logged tracebacks when the freeze ran after the volume's
deletion. The snapshot ends ``error`` with a reason; the daemon logs a warning, not a traceback."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from orchestrator.config import Config
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.network.vpc import FakeVpcNetwork
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.runtime.core import Runtime
from orchestrator.server import publisher
from orchestrator.services import bootstrap, snapshots, volumes


def test_snapshot_of_a_volume_deleted_before_the_freeze_is_an_error_not_a_traceback(tmp_path: Path, caplog) -> None:
    config = Config(data_dir=tmp_path, prefix="ec2dtfake", instances=False)
    backend = bootstrap.open(config)
    storage = FakeStorage()
    networks = {r: FakeVpcNetwork("ec2dtfake", r) for r in config.regions}
    runtime = Runtime(backend, FakeCompute(), networks, storage, object(), "qemu", open_listener=lambda ns: object(),
                      publish_images=publisher(backend))
    backend.runtime = runtime

    async def go() -> str:
        vol = volumes.create(backend, "us-east-1", {"AvailabilityZone": "us-east-1a", "Size": 1})
        for _ in range(500):  # the volume's file is made in the background
            if vol.id in storage.list_volumes() and backend.store.get(vol.id).state == "available":
                break
            await asyncio.sleep(0.01)
        storage.delete_volume(vol.id)  # gone before the freeze runs, as with a terminating instance
        snap = snapshots.create(backend, "us-east-1", {"VolumeId": vol.id})
        for _ in range(500):
            if backend.store.get(snap.id).state != "pending":
                break
            await asyncio.sleep(0.01)
        return snap.id

    try:
        with caplog.at_level(logging.WARNING):
            snap_id = asyncio.new_event_loop().run_until_complete(go())
        rec = backend.store.get(snap_id)
        assert rec.state == "error"
        assert rec.data["StateMessage"] == "The volume was deleted before its snapshot was taken."
        assert not [r for r in caplog.records if r.exc_info]
        assert any("deleted first" in r.getMessage() for r in caplog.records)
    finally:
        backend.close()
