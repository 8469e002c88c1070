"""Snapshot benchmark: CreateSnapshot-equivalent (``Qcow2Storage.snapshot_volume`` on a detached
volume, i.e. ``qcow2.freeze_top``) and CreateVolume-from-snapshot (``create_volume(from_layer=)``)
on 1 GiB and 100 GiB sparse volumes holding the same data, beside a full ``qemu-img convert``
copy (what a naive snapshot would do).

    .venv/bin/python bench/snapshot.py [--runs N] [--data-mib M] [--dir DIR]

Uses the storage driver directly (the EC2 API for snapshots does not exist yet, so API/HTTP
overhead is not included). Everything is made in a temporary directory and removed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--data-mib", type=int, default=64)
    ap.add_argument("--dir", type=Path, default=None, help="parent of the temporary storage root")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ec2d-bench-snapshot-", dir=a.dir))
    try:
        storage = Qcow2Storage(tmp / "storage")
        print(f"ec2d snapshot bench (storage driver called directly; no API yet) - {qcow2.QEMU_IMG}, "
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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
