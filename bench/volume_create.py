"""CreateVolume (empty, no SnapshotId) until DescribeVolumes says ``available``, through boto3 on a
real ec2d (its runtime on the real drivers: the storage driver's qemu-img; tests/ec2d_server.py).

    .venv/bin/python bench/volume_create.py [--volumes N] [--type gp3] [--multi-attach]

Prints p50/p99 over N volumes of: the CreateVolume call alone, CreateVolume -> ``available``
(DescribeVolumes polled back to back), and how many answers already said ``available``. Each
volume is deleted once measured; everything made is removed at the exit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from ec2d_server import start_ec2d  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] * 1000


def line(label: str, xs: list[float]) -> str:
    return (f"  {label:34} p50 {pct(xs, 50):7.1f} ms   p99 {pct(xs, 99):7.1f} ms   "
            f"mean {statistics.mean(xs) * 1000:7.1f} ms")


def measure(ec2: Any, n: int, kw: dict[str, Any]) -> tuple[list[float], list[float], int]:
    call: list[float] = []
    ready: list[float] = []
    at_once = 0
    for _ in range(n):
        t0 = time.perf_counter()
        out = ec2.create_volume(AvailabilityZone="us-east-1a", Size=4, **kw)
        call.append(time.perf_counter() - t0)
        at_once += out["State"] == "available"
        state = out["State"]
        while state != "available":
            if state == "error":
                raise SystemExit(f"{out['VolumeId']} failed")
            state = ec2.describe_volumes(VolumeIds=[out["VolumeId"]])["Volumes"][0]["State"]
        ready.append(time.perf_counter() - t0)
        ec2.delete_volume(VolumeId=out["VolumeId"])  # the host's volume capacity is small
    return call, ready, at_once


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--volumes", type=int, default=50)
    ap.add_argument("--type", default="gp3")
    ap.add_argument("--multi-attach", action="store_true", help="io2 Multi-Attach volumes (raw files)")
    a = ap.parse_args()
    kw: dict[str, Any] = {"VolumeType": a.type}
    if a.multi_attach:
        kw = {"VolumeType": "io2", "Iops": 100, "MultiAttachEnabled": True}
    with tempfile.TemporaryDirectory(prefix="ec2d-bench-volume-") as tmp:
        server = start_ec2d(Path(tmp) / "data")
        try:
            call, ready, at_once = measure(server.client(), a.volumes, kw)
        finally:
            server.stop()
    print(f"{a.volumes} empty 4 GiB {kw['VolumeType']} volumes{' (Multi-Attach)' if a.multi_attach else ''}:")
    print(line("CreateVolume call", call))
    print(line("CreateVolume -> available", ready))
    print(f"  answered 'available' at once        {at_once}/{a.volumes}")


if __name__ == "__main__":
    main()
