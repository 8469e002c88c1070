"""Volumes stay on shallow qcow2 chains: past max_chain_depth a background job flattens them,
while their snapshots keep working."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from ec2d_server import start_ec2d


def chain(path: Path) -> list[dict]:
    out = subprocess.run(["qemu-img", "info", "-U", "--backing-chain", "--output=json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def wait(ec2, snapshot_id: str) -> None:
    for _ in range(100):
        if ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] == "completed":
            return
        time.sleep(0.1)
    raise AssertionError(f"{snapshot_id} did not complete")


def test_deep_chains_are_flattened(tmp_path: Path) -> None:
    server = start_ec2d(tmp_path / "data", max_chain_depth=3)
    try:
        ec2 = server.client()
        vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        vol_dir = server.config.data_dir / "storage" / "volumes" / vol
        snaps = []
        for n in range(3):
            snaps.append(ec2.create_snapshot(VolumeId=vol, Description=f"s{n}")["SnapshotId"])
            wait(ec2, snaps[-1])
            if n < 2:
                assert len(chain(max(vol_dir.glob("gen-*.qcow2")))) == n + 2  # grows by one layer per snapshot
        deadline = time.monotonic() + 180
        while len(chain(max(vol_dir.glob("gen-*.qcow2")))) > 1:  # 4 > 3: flattened in the background
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # the snapshots are intact: a volume made from the oldest one is usable
        from_old = ec2.create_volume(AvailabilityZone="us-east-1b", SnapshotId=snaps[0])["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[from_old], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        for v in (vol, from_old):
            ec2.delete_volume(VolumeId=v)
        for s in snaps:
            ec2.delete_snapshot(SnapshotId=s)
    finally:
        server.stop()
