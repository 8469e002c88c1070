"""State write latency: SQLite WAL with synchronous=FULL (ec2d's choice) vs NORMAL.

    .venv/bin/python bench/store.py [--writes 2000] [--dir /var/lib/ec2d-bench]

Each write is one store transaction as the API makes them (an insert, a compare-and-swap
transition, a tag write, an update). Prints p50/p99/mean per write and writes/s for both levels,
on the filesystem of ``--dir`` (default: a temp dir under /var/tmp, i.e. the root disk; tmpfs
shows no difference since fsync is a no-op there). FULL fsyncs the WAL at every commit, so an
acknowledged API call survives a power loss; NORMAL fsyncs only at checkpoints.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.store.sqlite import Record, Store


def run(path: Path, synchronous: str, writes: int) -> list[float]:
    store = Store(path)
    store._db.execute(f"PRAGMA synchronous={synchronous}")
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == {"NORMAL": 1, "FULL": 2}[synchronous]
    ops: list[Callable[[int], None]] = [
        lambda n: store.insert(Record(id=f"vol-{n:017x}", type="volume", region="us-east-1", state="creating",
                                      data={"Size": 8, "AvailabilityZone": "us-east-1a", "n": n})),
        lambda n: store.transition(f"vol-{n - 1:017x}", "creating", "available"),
        lambda n: store.set_tags(f"vol-{n - 2:017x}", "volume", "us-east-1", {"Name": f"v{n}", "team": "bench"}),
        lambda n: store.update(_bump(store, f"vol-{n - 3:017x}")),
    ]
    times = []
    for n in range(writes):
        op = ops[n % 4]
        index = n - n % 4  # every op of a group of 4 works on the volume inserted first
        started = time.perf_counter()
        op(index + n % 4)
        times.append(time.perf_counter() - started)
    store.close()
    return times


def _bump(store: Store, rid: str) -> Record:
    rec = store.get(rid)
    assert rec is not None
    rec.data["bumped"] = True
    return rec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="ec2d-store-bench-", dir=args.dir or "/var/tmp"))
    try:
        fs = shutil.disk_usage(base)
        print(f"state writes, {args.writes} transactions each, on {base} ({fs.total // 2**30} GiB filesystem)")
        print(f"{'synchronous':<12} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'writes/s':>9}")
        for level in ("FULL", "NORMAL"):
            times = run(base / f"{level}.db", level, args.writes)
            q = statistics.quantiles(times, n=100)
            mean = statistics.fmean(times)
            print(f"{level:<12} {q[49] * 1e3:8.3f} {q[98] * 1e3:8.3f} {mean * 1e3:8.3f} {1 / mean:9.0f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
