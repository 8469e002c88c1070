"""Snapshot benchmark: CreateSnapshot-equivalent (``Qcow2Storage.snapshot_volume`` on a detached
volume, i.e. ``qcow2.freeze_top``) and CreateVolume-from-snapshot (``create_volume(from_layer=)``)
on 1 GiB and 100 GiB sparse volumes holding the same data, beside a full ``qemu-img convert``
copy (what a naive snapshot would do).

    .venv/bin/python bench/snapshot.py [--runs N] [--data-mib M] [--dir DIR] [--api]

Part 1 uses the storage driver directly. Part 2 (``--api``) runs a real ec2d (with its runtime,
under a throw-away ``ec2db<hex>`` prefix, swept afterwards) and times the EC2 calls through boto3:
CreateSnapshot until DescribeSnapshots says ``completed`` and CreateVolume-from-snapshot until
DescribeVolumes says ``available``, for 1 GiB and 100 GiB volumes holding the same data (written
into the detached volume's file with qemu-io), beside the driver-level figures of part 1.
Everything is made in a temporary directory and removed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestrator.drivers.storage import qcow2  # noqa: E402
from orchestrator.drivers.storage.volumes import Qcow2Storage  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30
CHUNKS = 16


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


def write_data(path: Path, size: int, data_mib: int) -> None:
    """``data_mib`` MiB of pattern data in CHUNKS pieces spread over the whole virtual disk."""
    chunk = data_mib * MiB // CHUNKS
    cmds: list[str] = []
    for i in range(CHUNKS):
        off = (size // CHUNKS) * i
        cmds += ["-c", f"write -P {0x40 + i:#x} {off} {chunk}"]
    subprocess.run(["qemu-io", "-f", "qcow2", *cmds, str(path)], check=True, capture_output=True)


def fmt_ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:8.1f} ms (min {min(xs) * 1000:6.1f}, max {max(xs) * 1000:6.1f})"


def one_run(storage: Qcow2Storage, size: int, data_mib: int, tag: str, i: int,
            res: dict[str, list[float]]) -> None:
    vid, lid, cid = f"vol-{tag}-{i}", f"snap-{tag}-{i}", f"vol-{tag}-{i}-clone"
    vol = storage.create_volume(vid, size)
    write_data(vol, size, data_mib)

    before = tree_bytes(storage.root)
    t0 = time.perf_counter()
    storage.snapshot_volume(vid, lid)
    res["snap"].append(time.perf_counter() - t0)
    res["snap_growth"].append(tree_bytes(storage.root) - before)

    before = tree_bytes(storage.root)
    t0 = time.perf_counter()
    storage.create_volume(cid, None, from_layer=lid)
    res["clone"].append(time.perf_counter() - t0)
    res["clone_growth"].append(tree_bytes(storage.root) - before)

    copy = storage.root / f"naive-{tag}-{i}.qcow2"
    t0 = time.perf_counter()
    qcow2.flatten(storage.volume_path(vid), copy)  # qemu-img convert -O qcow2: a full copy
    res["copy"].append(time.perf_counter() - t0)
    res["copy_growth"].append(qcow2.allocated_bytes(copy))
    copy.unlink()
    storage.delete_volume(cid)
    storage.delete_volume(vid)
    storage.delete_layer(lid)


def report(tag: str, size: int, data_mib: int, runs: int, res: dict[str, list[float]]) -> None:
    med = statistics.median
    print(f"  {tag:>4} volume ({size // GiB} GiB virtual, {data_mib} MiB written, {runs} runs, median):")
    for label, key in (("CreateSnapshot (freeze_top)", "snap"), ("CreateVolume from snapshot", "clone"),
                       ("naive full copy (qemu-img convert)", "copy")):
        print(f"    {label:36}{fmt_ms(res[key])}   disk growth {med(res[key + '_growth']) / MiB:8.2f} MiB")


def _until(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("ec2d did not settle")
        time.sleep(0.005)


def api_section(tmp: Path, runs: int, data_mib: int) -> None:
    """Time CreateSnapshot and CreateVolume-from-snapshot through the EC2 API of a real ec2d."""
    import socket

    import boto3
    from botocore.config import Config as BotoConfig

    from orchestrator.config import Config
    from orchestrator.hostscope import sweep
    from orchestrator.server import run
    from orchestrator.services.credentials import load_or_create

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = Config(data_dir=tmp / "ec2d", listen=f"127.0.0.1:{port}", prefix=f"ec2db{secrets.token_hex(2)}")
    loop = asyncio.new_event_loop()
    ready, stop_box = threading.Event(), {}

    def serve() -> None:
        async def go() -> None:
            stop_box["stop"] = asyncio.Event()
            started = asyncio.Event()
            task = asyncio.create_task(run(config, ready=started, stop=stop_box["stop"]))
            await started.wait()
            ready.set()
            await task

        loop.run_until_complete(go())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        if not ready.wait(300):
            raise TimeoutError("ec2d did not start")
        creds = load_or_create(config.credentials_path)
        ec2: Any = boto3.client("ec2", region_name="us-east-1", endpoint_url=config.endpoint_url,
                                aws_access_key_id=creds.access_key_id,
                                aws_secret_access_key=creds.secret_access_key,
                                config=BotoConfig(retries={"max_attempts": 1}))

        def vol_state(vid: str) -> str:
            return ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"]

        def snap_state(sid: str) -> str:
            return ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]["State"]

        res: dict[str, dict[str, list[float]]] = {"1g": {"snap": [], "clone": []}, "100g": {"snap": [], "clone": []}}
        for _ in range(runs):
            for tag, gib in (("1g", 1), ("100g", 100)):
                vid = ec2.create_volume(AvailabilityZone="us-east-1a", Size=gib, VolumeType="gp3")["VolumeId"]
                _until(lambda v=vid: vol_state(v) == "available")
                path = next((config.data_dir / "storage" / "volumes" / vid).glob("gen-*.qcow2"))
                write_data(path, gib * GiB, data_mib)
                t0 = time.perf_counter()
                sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
                _until(lambda s=sid: snap_state(s) == "completed")
                res[tag]["snap"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                cid = ec2.create_volume(AvailabilityZone="us-east-1b", SnapshotId=sid)["VolumeId"]
                _until(lambda c=cid: vol_state(c) == "available")
                res[tag]["clone"].append(time.perf_counter() - t0)
                for v in (cid, vid):
                    ec2.delete_volume(VolumeId=v)
                ec2.delete_snapshot(SnapshotId=sid)
        print(f"  through the EC2 API (boto3 -> ec2d, polling Describe* every 5 ms; {runs} runs, median):")
        for tag in ("1g", "100g"):
            print(f"    {tag:>4} {'CreateSnapshot -> completed':38}{fmt_ms(res[tag]['snap'])}")
            print(f"    {tag:>4} {'CreateVolume(SnapshotId) -> available':38}{fmt_ms(res[tag]['clone'])}")
        med = statistics.median
        print(f"    snapshot time 100 GiB / 1 GiB via API      {med(res['100g']['snap']) / med(res['1g']['snap']):6.2f}x")
    finally:
        if "stop" in stop_box:
            loop.call_soon_threadsafe(stop_box["stop"].set)
        thread.join(60)
        sweep(config.prefix)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--data-mib", type=int, default=64)
    ap.add_argument("--dir", type=Path, default=None, help="parent of the temporary storage root")
    ap.add_argument("--api", action="store_true", help="also time the EC2 API calls on a real ec2d")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ec2d-bench-snapshot-", dir=a.dir))
    try:
        storage = Qcow2Storage(tmp / "storage")
        print(f"ec2d snapshot bench (storage driver called directly) - {qcow2.QEMU_IMG}, "
              f"root {storage.root}")
        sizes = {"1g": GiB, "100g": 100 * GiB}
        results = {tag: {k: [] for k in ("snap", "clone", "copy", "snap_growth", "clone_growth", "copy_growth")}
                   for tag in sizes}
        for i in range(a.runs):  # interleaved, so both sizes see the same background load
            for tag, size in sizes.items():
                one_run(storage, size, a.data_mib, tag, i, results[tag])
        for tag, size in sizes.items():
            report(tag, size, a.data_mib, a.runs, results[tag])
        small = {k: statistics.median(v) for k, v in results["1g"].items()}
        big = {k: statistics.median(v) for k, v in results["100g"].items()}
        print("  ratios:")
        print(f"    snapshot time 100 GiB / 1 GiB            {big['snap'] / small['snap']:6.2f}x  (size-independent ~1x)")
        print(f"      (fastest run 100 GiB / 1 GiB:           "
              f"{min(results['100g']['snap']) / min(results['1g']['snap']):6.2f}x, less sensitive to host load)")
        print(f"    volume-from-snapshot 100 GiB / 1 GiB     {big['clone'] / small['clone']:6.2f}x")
        print(f"    naive copy / snapshot, 1 GiB             {small['copy'] / small['snap']:6.1f}x")
        print(f"    naive copy / snapshot, 100 GiB           {big['copy'] / big['snap']:6.1f}x")
        if a.api:
            api_section(tmp, a.runs, a.data_mib)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
